import json

import pytest
import torch

from algosynth.errors import AlgosynthError
from algosynth.models import DTNet, FeedForwardNet
from algosynth.probes import (
    Recovery,
    corrupter,
    corruption_probe,
    derangement,
    moved_mazes,
    moving_goal_probe,
    path_independence_probe,
    save_probe,
)
from algosynth.tasks.mazes import Maze, MazeTask, encode_mazes, shortest_path, unit_view

TASK = MazeTask()


def solve(x: torch.Tensor) -> torch.Tensor:
    """The true one-hot path of each maze picture, by breadth-first search: a perfect model's output."""
    mazes = []
    for red, green, _ in unit_view(x):
        open_units = ((red + green) > 0).numpy()
        start = tuple(int(v) for v in torch.nonzero((green == 1) & (red == 0))[0])
        goal = tuple(int(v) for v in torch.nonzero((red == 1) & (green == 0))[0])
        mazes.append(Maze(open_units, start, goal, shortest_path(open_units, start, goal)))
    targets = encode_mazes(mazes).targets
    return torch.nn.functional.one_hot(targets, 2).permute(0, 3, 1, 2).float()


class Solver(torch.nn.Module):
    """After one step the state is a copy of the one-hot target, whatever it was before."""

    max_iters = None

    def init_state(self, x):
        return torch.zeros(x.shape[0], 2, *x.shape[2:])

    def step(self, x, h):
        return solve(x)

    def readout(self, h):
        return h[:, :2]


class DelayedSolver(Solver):
    """Also counts its steps in a third channel, and answers "no path anywhere" until the count reaches delay."""

    def __init__(self, delay):
        super().__init__()
        self.delay = delay

    def init_state(self, x):
        return torch.zeros(x.shape[0], 3, *x.shape[2:])

    def step(self, x, h):
        return torch.cat([solve(x), h[:, 2:] + 1], dim=1)

    def readout(self, h):
        no_path = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
        return torch.where(h[:, 2:] >= self.delay, h[:, :2], no_path)


class Frozen(Solver):
    """Solves the maze it starts on and never changes its state again."""

    def init_state(self, x):
        return solve(x)

    def step(self, x, h):
        return h


def maze_batch(n=4, seed=0):
    return encode_mazes(TASK.mazes(9, n, seed))


@pytest.mark.parametrize("corrupt_at,before,recovery", [(4, 1.0, Recovery(1.0, 3.0, 3.0)), (2, 0.0, Recovery(None, None, None))])
def test_zeroed_state_recovers_after_exactly_the_models_delay(corrupt_at, before, recovery):
    result = corruption_probe(DelayedSolver(delay=3), TASK, maze_batch(), corrupt_at=corrupt_at, iters=5, mode="zeros")
    assert result.accuracy_before == before
    assert result.accuracy_corrupted == 0.0
    assert result.curve == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert result.recovery == recovery


def test_shuffled_state_answers_another_maze_then_recovers_in_one_step():
    result = corruption_probe(Solver(), TASK, maze_batch(), corrupt_at=1, iters=3, mode="shuffle", seed=5)
    assert (result.accuracy_before, result.accuracy_corrupted) == (1.0, 0.0)
    assert result.curve == [1.0, 1.0, 1.0]
    assert result.recovery == Recovery(1.0, 1.0, 1.0)


def test_noise_without_scale_changes_nothing_and_its_scale_is_relative_to_each_instance():
    result = corruption_probe(DelayedSolver(delay=2), TASK, maze_batch(), corrupt_at=2, iters=2, mode="noise", scale=0.0)
    assert (result.accuracy_corrupted, result.curve, result.recovery) == (1.0, [1.0, 1.0], Recovery(1.0, 1.0, 1.0))
    h = torch.rand(2, 4, 60, 60) * torch.tensor([1.0, 100.0]).view(2, 1, 1, 1)
    noisy = corrupter("noise", 0.5, 2, torch.Generator().manual_seed(0))(h)
    rms = h.pow(2).flatten(1).mean(1).sqrt()
    assert torch.allclose((noisy - h).flatten(1).std(1) / rms, torch.tensor([0.5, 0.5]), atol=0.02)
    again = corrupter("noise", 0.5, 2, torch.Generator().manual_seed(0))(h)
    assert torch.equal(noisy, again)


@pytest.mark.parametrize("n", [2, 3, 7])
def test_derangement_moves_every_instance(n):
    for seed in range(5):
        permutation = derangement(n, torch.Generator().manual_seed(seed))
        assert sorted(permutation.tolist()) == list(range(n))
        assert not (permutation == torch.arange(n)).any()


@pytest.mark.parametrize("move", ["goal", "start"])
def test_moved_mazes_move_one_endpoint_to_another_cell_deterministically(move):
    mazes = TASK.mazes(9, 6, seed=1)
    moved = moved_mazes(mazes, move, seed=3)
    kept, changed = ("start", "goal") if move == "goal" else ("goal", "start")
    for old, new in zip(mazes, moved):
        assert getattr(new, kept) == getattr(old, kept)
        cell = getattr(new, changed)
        assert cell[0] % 2 == 0 and cell[1] % 2 == 0 and cell not in (old.start, old.goal)
        assert (new.open == old.open).all() and new.path == shortest_path(new.open, new.start, new.goal)
    assert [m.goal for m in moved_mazes(mazes, move, seed=3)] == [m.goal for m in moved]
    assert [getattr(m, changed) for m in moved_mazes(mazes, move, seed=4)] != [getattr(m, changed) for m in moved]


def test_moving_the_goal_is_solved_at_once_by_a_solver_and_never_by_a_frozen_state():
    mazes = TASK.mazes(9, 4, seed=2)
    adapts = moving_goal_probe(Solver(), TASK, mazes, move_at=2, iters=3)
    assert (adapts.accuracy_before, adapts.curve, adapts.recovery) == (1.0, [1.0] * 3, Recovery(1.0, 1.0, 1.0))
    stuck = moving_goal_probe(Frozen(), TASK, mazes, move_at=2, iters=3, move="start")
    assert (stuck.accuracy_before, stuck.curve, stuck.recovery) == (1.0, [0.0] * 3, Recovery(0.0, None, None))


def test_a_model_that_ignores_its_state_is_perfectly_path_independent():
    result = path_independence_probe(Solver(), TASK, maze_batch(), iters=2)
    assert list(result.starts) == ["init", "zeros", "noise", "other_maze"]
    assert result.alignment == pytest.approx(1.0)
    for start in result.starts.values():
        assert start.alignment == pytest.approx(1.0) and start.final_accuracy == 1.0


def test_a_frozen_state_keeps_whatever_it_started_from():
    one_maze_thrice = encode_mazes(TASK.mazes(9, 1, seed=0) * 3)
    result = path_independence_probe(Frozen(), TASK, one_maze_thrice, iters=2, starts=("zeros", "other_maze"))
    summary = {name: (s.final_accuracy, round(s.alignment, 6)) for name, s in result.starts.items()}
    assert summary == {"init": (1.0, 1.0), "zeros": (0.0, 0.0), "other_maze": (1.0, 1.0)}
    assert result.alignment == pytest.approx(0.5)
    different = path_independence_probe(Frozen(), TASK, maze_batch(), iters=2, starts=("other_maze",))
    assert different.starts["other_maze"].final_accuracy == 0.0


def test_untrained_dt_net_runs_every_probe_reproducibly_and_saves_json_and_png(tmp_path):
    torch.manual_seed(0)
    model = DTNet(MazeTask.spec, width=8).eval()
    batch = maze_batch(n=3)
    results = [
        corruption_probe(model, TASK, batch, corrupt_at=2, iters=3, mode="noise", seed=1),
        moving_goal_probe(model, TASK, TASK.mazes(9, 3, seed=0), move_at=2, iters=3, seed=1),
        path_independence_probe(model, TASK, batch, iters=3, seed=1),
    ]
    assert results[0].to_dict() == corruption_probe(model, TASK, batch, corrupt_at=2, iters=3, mode="noise", seed=1).to_dict()
    assert [len(r.curve) for r in results[:2]] == [3, 3]
    alignments = {name: s.alignment for name, s in results[2].starts.items()}
    assert alignments["init"] == pytest.approx(1.0) and all(0.0 <= a <= 1.0 + 1e-6 for a in alignments.values())
    for result in results:
        json_path, png_path = save_probe(result, tmp_path)
        assert json_path.name == f"{result.probe}.json"
        assert json.loads(json_path.read_text()) == result.to_dict()
        assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_feed_forward_states_can_be_corrupted_within_its_depth_and_not_beyond():
    model = FeedForwardNet(MazeTask.spec, width=8, depth=3).eval()
    result = corruption_probe(model, TASK, maze_batch(n=2), corrupt_at=1, iters=2, mode="shuffle")
    assert len(result.curve) == 2
    with pytest.raises(AlgosynthError, match="at most 3 iterations, but the probe needs 4"):
        corruption_probe(model, TASK, maze_batch(n=2), corrupt_at=2, iters=2)


@pytest.mark.parametrize("call,message", [
    (lambda: corruption_probe(Solver(), TASK, maze_batch(), corrupt_at=1, iters=1, mode="blur"), "corruption mode 'blur'"),
    (lambda: corruption_probe(Solver(), TASK, maze_batch(n=1), corrupt_at=1, iters=1, mode="shuffle"), "at least 2 instances"),
    (lambda: corruption_probe(Solver(), TASK, maze_batch(), corrupt_at=0, iters=1), "corrupt_at must be at least 1"),
    (lambda: moving_goal_probe(Solver(), TASK, TASK.mazes(9, 1, 0), move_at=1, iters=1, move="walls"), "move 'walls'"),
    (lambda: path_independence_probe(Solver(), TASK, maze_batch(), iters=1, starts=("ones",)), "start 'ones'"),
    (lambda: path_independence_probe(Solver(), TASK, maze_batch(n=1), iters=1, starts=("other_maze",)), "at least 2"),
])
def test_bad_options_are_refused_with_a_clear_error(call, message):
    with pytest.raises(AlgosynthError, match=message):
        call()

"""Tape and grid environments: generators against Python arithmetic and hand-written walkers,
dynamics and rewards on hand-made episodes, scripted ideal heads, rendering and bad input."""

import pytest
import torch

from algosynth.errors import AlgosynthError
from algosynth.tape.env import TapeEnv, join_action
from algosynth.tape.render import render_episode
from algosynth.tape.rollout import rollout
from algosynth.tape.tasks import SYMBOLS, TAPE_TASKS, get_tape_task
from algosynth.tape.user_input import parse_input

LEFT, RIGHT, UP, DOWN = 0, 1, 2, 3


def text(row) -> str:
    return "".join(SYMBOLS[int(s)] for s in row)


def number(digits: str) -> int:
    """A row read least significant digit first."""
    return int(digits[::-1])


def target_digits(episodes, b) -> str:
    return "".join(str(int(v)) for v in episodes.targets[b, : int(episodes.n_out[b])])


def test_same_seed_same_bytes_and_lengths_per_instance():
    for task in TAPE_TASKS.values():
        a, b = task.generate(torch.tensor([1, 4, 7]), 3, 5), task.generate(torch.tensor([1, 4, 7]), 3, 5)
        assert torch.equal(a.grid, b.grid) and torch.equal(a.targets, b.targets), task.name
        assert not torch.equal(a.grid, task.generate(torch.tensor([1, 4, 7]), 3, 6).grid), task.name


@pytest.mark.parametrize("name", ["add2", "add3", "mult"])
def test_arithmetic_targets_match_python_integers(name):
    task = get_tape_task(name)
    episodes = task.generate(torch.tensor([1, 3, 9, 25]), 4, 0)
    for b, n in enumerate([1, 3, 9, 25]):
        rows = [text(row[1 : n + 2]) for row in episodes.grid[b, 1:-1]]
        assert int(episodes.n_out[b]) == n + 1
        if name == "mult":
            expected = number(rows[0]) * int(rows[1][0])
        else:
            expected = sum(number(row) for row in rows)
        assert target_digits(episodes, b) == str(expected).zfill(n + 1)[::-1]


@pytest.mark.parametrize("name, largest", [("add2", 1), ("add3", 1), ("add3", 3)])
def test_easy_addition_keeps_a_full_digit_only_where_a_zigzag_sweep_reads_last(name, largest):
    task, lengths = get_tape_task(name), torch.tensor([1, 2, 30, 5])
    rows = 2 if name == "add2" else 3
    plain = task.generate(lengths, 4, 3)
    unmarked = task.generate(lengths, 4, 3, easy=torch.zeros(4, dtype=torch.bool))
    assert torch.equal(plain.grid, unmarked.grid) and torch.equal(plain.targets, unmarked.targets)
    easy = task.generate(lengths, 4, 3, easy=torch.tensor([True, True, True, False]), easy_max=largest)
    assert torch.equal(easy.grid[3], plain.grid[3])
    small = "0123456789"[: largest + 1]
    last_read_digits, small_digits = [], []
    for b, n in enumerate(lengths[:3].tolist()):
        grid = [text(row[1 : n + 2]) for row in easy.grid[b, 1:-1]]
        assert target_digits(easy, b) == str(sum(number(row) for row in grid)).zfill(n + 1)[::-1]
        for column in range(n):
            last = rows - 1 if column % 2 == 0 else 0  # down the even columns, up the odd ones
            small_digits += [grid[r][column] for r in range(rows) if r != last]
            last_read_digits.append(grid[last][column])
        assert all(row[n] == "0" for row in grid)  # the answer's extra column stays all zeros
    assert len(set(last_read_digits)) >= 8  # 33 draws from 0-9
    assert set(small_digits) == set(small)  # 33 or 66 draws from 0..largest


def test_only_addition_has_an_easy_variant():
    with pytest.raises(AlgosynthError, match="the copy task has no easy variant; only add2, add3 have one"):
        get_tape_task("copy").generate(3, 2, 0, easy=torch.ones(2, dtype=torch.bool))


def follow(grid_rows: list[str], start: tuple[int, int]) -> str:
    """A plain-Python walker: go where the last marker points, collect the digits passed."""
    heading = {"<": (0, -1), ">": (0, 1), "^": (-1, 0), "v": (1, 0)}
    (r, c), direction, out = start, None, ""
    while grid_rows[r][c] != ".":
        if grid_rows[r][c] in heading:
            direction = heading[grid_rows[r][c]]
        else:
            out += grid_rows[r][c]
        r, c = r + direction[0], c + direction[1]
    return out


def test_walk_targets_are_the_digits_along_the_marked_path():
    episodes = get_tape_task("walk").generate(torch.tensor([1, 6, 40]), 3, 2)
    for b in range(3):
        rows = [text(row) for row in episodes.grid[b]]
        assert follow(rows, tuple(int(v) for v in episodes.start[b])) == target_digits(episodes, b)


def test_duplicate_and_repeat_copy_layouts():
    dup = get_tape_task("duplicate").generate(5, 2, 0)
    tape = text(dup.grid[0, 0, 1:11])
    assert tape[0::2] == tape[1::2] == target_digits(dup, 0)
    rep = get_tape_task("repeat_copy").generate(4, 8, 0)
    for b in range(8):
        tape = text(rep.grid[b, 0])
        k, payload = int(tape[1]), tape[3:7]
        assert tape[2] == "|" and tape[7] == "#" and 1 <= k <= 3
        assert target_digits(rep, b) == payload * k


def test_hand_made_copy_episode_rewards_and_end():
    episodes = parse_input(get_tape_task("copy"), "314")
    env = TapeEnv(episodes)
    assert int(env.observe()) == SYMBOLS.index("3")
    rewards = []
    for symbol in (3, 1):
        rewards.append(float(env.step(torch.tensor([join_action(RIGHT, True)]), torch.tensor([symbol])).reward))
    assert rewards == [1.0, 1.0] and not env.done
    step = env.step(torch.tensor([join_action(RIGHT, True)]), torch.tensor([4]))
    assert float(step.reward) == 1.0 and bool(step.done) and bool(env.success)


def test_wrong_symbol_ends_the_episode_without_reward_and_moves_do_not_pay():
    env = TapeEnv(parse_input(get_tape_task("copy"), "314"))
    assert float(env.step(torch.tensor([join_action(RIGHT, False)]), torch.tensor([9])).reward) == 0.0 and not env.done
    assert int(env.observe()) == SYMBOLS.index("1")
    step = env.step(torch.tensor([join_action(LEFT, True)]), torch.tensor([9]))
    assert float(step.reward) == 0.0 and bool(step.done) and not bool(env.success)
    position = env.position.clone()
    env.step(torch.tensor([join_action(RIGHT, True)]), torch.tensor([3]))
    assert torch.equal(env.position, position) and int(env.written) == 0


def test_head_stays_on_the_grid_and_time_runs_out():
    episodes = parse_input(get_tape_task("add2"), "12/34")
    env = TapeEnv(episodes)
    for _ in range(int(episodes.max_steps[0])):
        env.step(torch.tensor([join_action(UP, False)]), torch.tensor([0]))
    assert int(env.position[0, 0]) == 0 and bool(env.done) and not bool(env.success)


@pytest.mark.parametrize("name, ideal", [("copy", lambda n: n), ("reverse", lambda n: 2 * n + 1),
                                         ("add2", lambda n: 2 * (n + 1)), ("add3", lambda n: 3 * (n + 1)),
                                         ("mult", lambda n: n + 3)])
def test_step_budget_is_the_same_multiple_of_the_ideal_steps_at_every_length(name, ideal):
    """A head too slow for the budget at length 1000 must be too slow at the training lengths too."""
    task = get_tape_task(name)
    for n in (1, 2, 10, 1000):
        assert int(task.generate(n, 1, 0).max_steps[0]) == 2 * ideal(n)
        assert int(task.generate(n, 1, 0, slack=1.5).max_steps[0]) == -(-3 * ideal(n) // 2)


class Scripted(torch.nn.Module):
    """An ideal head written by hand, posing as a controller: the symbol it writes is the digit it reads."""

    def __init__(self, task, policy):
        super().__init__()
        self.num_actions, self.policy = task.num_actions, policy

    def step(self, symbol, previous, state):
        action, state = self.policy(symbol, previous, state)
        scores = torch.nn.functional.one_hot(action, self.num_actions).float()
        written = (symbol - 1).clamp(0, 9)
        return scores, torch.nn.functional.one_hot(written, 10).float(), torch.zeros(len(symbol)), state


def _reverse_policy(symbol, previous, state):
    back = symbol == SYMBOLS.index("#") if state is None else state | (symbol == SYMBOLS.index("#"))
    at_marker = symbol == SYMBOLS.index("#")
    return torch.where(back, torch.where(at_marker, join_action(LEFT, False), join_action(LEFT, True)), join_action(RIGHT, False)), back


def _walk_policy(symbol, previous, state):
    heading = torch.full_like(symbol, -1)
    for move, mark in enumerate("<>^v"):
        heading = torch.where(symbol == SYMBOLS.index(mark), move, heading)
    on_digit = heading < 0
    return torch.where(on_digit, 2 * (previous // 2) + 1, 2 * heading), None


def _duplicate_policy(symbol, previous, state):
    wrote = (previous < 4) & (previous % 2 == 1)
    return torch.where(wrote, join_action(RIGHT, False), join_action(RIGHT, True)), None


POLICIES = {"copy": lambda s, p, h: (torch.full_like(s, join_action(RIGHT, True)), None), "reverse": _reverse_policy,
            "walk": _walk_policy, "duplicate": _duplicate_policy}


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_an_ideal_head_earns_one_per_symbol_and_succeeds_at_any_length(name):
    task = get_tape_task(name)
    episodes = task.generate(torch.tensor([1, 2, 7, 60]), 4, 3)
    trajectory = rollout(Scripted(task, POLICIES[name]), episodes, keep_outputs=False)
    assert trajectory.success.all()
    assert torch.equal(trajectory.rewards.sum(0), episodes.n_out.float())


def test_render_shows_the_heads_path():
    task = get_tape_task("reverse")
    episodes = parse_input(task, "314")
    picture = render_episode(episodes, rollout(Scripted(task, _reverse_policy), episodes, keep_outputs=False))
    assert "tape      . 3 1 4 # ." in picture and "left, write 4" in picture
    assert picture.splitlines()[-1].startswith("expected  413   (correct")
    walk = get_tape_task("walk")
    grid = parse_input(walk, ">12v/...3/.54<")
    picture = render_episode(grid, rollout(Scripted(walk, _walk_policy), grid, keep_outputs=False))
    assert "  .>>>v." in picture and "  ....v." in picture and "  ..<<<." in picture and "written   12345" in picture


@pytest.mark.parametrize("name, text, message", [
    ("copy", "31a4", "not in the copy task's alphabet"),
    ("reverse", "", "length 0"),
    ("add2", "12345", "reads a grid"),
    ("mult", "1234", "reads a grid"),
    ("add3", "12/34", "needs 3 rows"),
    ("add2", "12/345", "differ in length"),
    ("mult", "12/34", "single digit"),
    ("walk", "12v/..3", "direction marker"),
    ("walk", ">1v/^2<", "circle"),
    ("duplicate", "3312", "every digit twice"),
    ("repeat_copy", "5|12", "k from 1 to 3"),
])
def test_bad_input_gets_one_clear_message(name, text, message):
    with pytest.raises(AlgosynthError, match=message):
        parse_input(get_tape_task(name), text)


def test_length_zero_and_unknown_task_are_refused():
    with pytest.raises(AlgosynthError, match="at least 1"):
        get_tape_task("copy").generate(0, 2, 0)
    with pytest.raises(AlgosynthError, match="unknown tape task"):
        get_tape_task("sort")

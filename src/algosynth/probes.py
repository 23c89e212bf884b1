"""Robustness probes: does a trained thinker recover from a damaged state, adapt to a changed problem,
and reach the same answer from any starting state?

Every probe drives ``think`` and resumes it with ``state=``; it streams the iterations and keeps
only per-iteration scalars plus the few final states it compares, so probing a large maze for thousands
of iterations costs the memory of one iteration.

- Corruption: think, replace the state with noise, zeros or another instance's state, think on.
- Moving the goal: think, move the maze's goal (or start), keep the state, think on the new maze.
- Path independence (Anil et al. 2022): think from several initial states and compare where the
  states end up.
"""

from __future__ import annotations

import json
import statistics
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from algosynth.errors import AlgosynthError
from algosynth.models import ThinkingModel
from algosynth.tasks.base import Batch, Task
from algosynth.tasks.mazes import Maze, encode_mazes, shortest_path
from algosynth.plots import plt, save_figure
from algosynth.think import map_state, think

CORRUPTIONS = ("noise", "zeros", "shuffle")
MOVES = ("goal", "start")
STARTS = ("zeros", "noise", "other_maze")


# --- States: a tensor, or a tuple holding tensors (the feed-forward baseline's LayeredState) ---


def state_tensors(h: Any) -> Iterator[torch.Tensor]:
    """The tensors of a state, in order."""
    if isinstance(h, torch.Tensor):
        yield h
    elif isinstance(h, tuple):
        for part in h:
            yield from state_tensors(part)


def flat_state(h: Any) -> torch.Tensor:
    """One float vector per instance, ``[B, D]``: what cosine similarity compares."""
    return torch.cat([t.flatten(1).float() for t in state_tensors(h)], dim=1)


def gaussian_like(t: torch.Tensor, scale: float, generator: torch.Generator) -> torch.Tensor:
    """Gaussian noise whose std is ``scale`` times each instance's RMS in ``t``, so it means the same
    at any state magnitude. Drawn on the CPU so a seed gives the same noise on every device."""
    rms = t.float().pow(2).flatten(1).mean(dim=1).sqrt().view(-1, *([1] * (t.dim() - 1)))
    noise = torch.randn(t.shape, generator=generator).to(device=t.device, dtype=t.dtype)
    return scale * rms.to(t.dtype) * noise


def derangement(n: int, generator: torch.Generator) -> torch.Tensor:
    """A random permutation that moves every index, so a shuffled instance never keeps its own state."""
    if n < 2:
        raise AlgosynthError(f"shuffling states across the batch needs at least 2 instances, got {n}; probe more instances")
    order = torch.randperm(n, generator=generator)
    permutation = torch.empty_like(order)
    permutation[order] = order.roll(1)
    return permutation


def corrupter(mode: str, scale: float, n: int, generator: torch.Generator) -> Callable[[Any], Any]:
    """The damage to apply to a state of ``n`` instances: Gaussian noise added ("noise", ``scale``
    relative to the state's RMS), wiped ("zeros"), or each instance given another's state ("shuffle").

    Built before any thinking, so a bad mode or batch fails at once, not after hours of thought.
    """
    check_choice("corruption mode", mode, CORRUPTIONS)
    if mode == "noise":
        return lambda h: map_state(h, lambda t: t + gaussian_like(t, scale, generator))
    if mode == "zeros":
        return lambda h: map_state(h, torch.zeros_like)
    permutation = derangement(n, generator)
    return lambda h: map_state(h, lambda t: t[permutation.to(t.device)])


# --- One streamed run of thinking, reduced to scalars ---


@dataclass
class Trace:
    """What one run of thinking leaves behind.

    ``curve[i]`` is the exact-match accuracy after ``i + 1`` iterations; ``first_right`` holds, per
    instance, the first iteration it was exactly right (0 if never); ``final_right`` whether it is
    right after the last one; ``final_state`` is the only state kept.
    """

    curve: list[float]
    first_right: torch.Tensor
    final_right: torch.Tensor
    final_state: Any


def trace(model: ThinkingModel, task: Task, batch: Batch, iters: int, state: Any = None) -> Trace:
    """Think for ``iters`` iterations (from ``state`` if given) and score every iteration as it streams."""
    accuracy = torch.zeros(iters, device=batch.inputs.device)
    first_right = torch.zeros(len(batch), dtype=torch.long, device=batch.inputs.device)
    for thought in think(model, batch.inputs, iters, state=state):
        right = task.score(thought.logits, batch.targets, batch.mask).exact
        accuracy[thought.t - 1] = right.float().mean()
        first_right = first_right.masked_fill(right & (first_right == 0), thought.t)
    return Trace(accuracy.cpu().tolist(), first_right.cpu(), right.cpu(), thought.state)


@dataclass
class Recovery:
    """Of the instances that should end right: the share that does, and the iterations each took
    to be right for the first time (mean and median over those that end right; None if none)."""

    fraction: float | None
    mean_iterations: float | None
    median_iterations: float | None


def recovery(after: Trace, eligible: torch.Tensor) -> Recovery:
    """Summarise ``after`` over the ``eligible`` instances."""
    if not bool(eligible.any()):
        return Recovery(None, None, None)
    back = eligible & after.final_right
    steps = after.first_right[back].tolist()
    fraction = float(back.sum()) / float(eligible.sum())
    if not steps:
        return Recovery(fraction, None, None)
    return Recovery(fraction, float(statistics.mean(steps)), float(statistics.median(steps)))


# --- Results ---


class ProbeResult(ABC):
    """What every probe result shares: a name for its files, a JSON form and a picture."""

    probe: ClassVar[str]

    def to_dict(self) -> dict:
        return {"probe": self.probe, **asdict(self)}

    @abstractmethod
    def draw(self, ax: plt.Axes) -> None:
        """Draw the result's curves on ``ax``; ``save_probe`` adds the shared axis and frame."""


def draw_recovery_curve(ax: plt.Axes, curve: list[float], before: float, xlabel: str, title: str) -> None:
    """Accuracy after the disturbance, with the accuracy just before it as a dashed reference."""
    ax.plot(range(1, len(curve) + 1), [100 * a for a in curve], label="after")
    ax.axhline(100 * before, linestyle="--", color="grey", label="just before")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(loc="lower right")


@dataclass
class CorruptionResult(ProbeResult):
    """``curve[i]``: accuracy ``i + 1`` iterations after corruption. ``recovery`` is taken over the
    instances solved just before corruption; ``accuracy_corrupted`` is read from the damaged state."""

    probe: ClassVar[str] = "corruption"
    mode: str
    scale: float
    corrupt_at: int
    iters: int
    n: int
    seed: int
    accuracy_before: float
    accuracy_corrupted: float
    curve: list[float]
    recovery: Recovery

    def draw(self, ax: plt.Axes) -> None:
        title = f"Recovery from {self.mode} corruption at iteration {self.corrupt_at}"
        draw_recovery_curve(ax, self.curve, self.accuracy_before, "iterations after corruption", title)


@dataclass
class MovingGoalResult(ProbeResult):
    """``curve[i]``: accuracy on the new target ``i + 1`` iterations after the move; ``recovery`` is
    taken over every instance; ``accuracy_before`` is on the old target at the move."""

    probe: ClassVar[str] = "moving_goal"
    move: str
    move_at: int
    iters: int
    n: int
    seed: int
    accuracy_before: float
    curve: list[float]
    recovery: Recovery

    def draw(self, ax: plt.Axes) -> None:
        title = f"Adapting after the {self.move} moved at iteration {self.move_at}"
        draw_recovery_curve(ax, self.curve, self.accuracy_before, f"iterations after the {self.move} moved", title)


@dataclass
class StartResult:
    """One initial state: accuracy after the last iteration, the mean cosine similarity of its final
    states to those reached from ``init_state``, and its accuracy curve."""

    final_accuracy: float
    alignment: float
    curve: list[float]


@dataclass
class PathIndependenceResult(ProbeResult):
    """``alignment`` is the asymptotic alignment score: the mean of the starts' alignments, the
    model's own ``init_state`` (the reference, listed as "init") left out. 1.0 means every start
    ends in the same state."""

    probe: ClassVar[str] = "path_independence"
    iters: int
    n: int
    seed: int
    noise_scale: float
    alignment: float
    starts: dict[str, StartResult]

    def draw(self, ax: plt.Axes) -> None:
        for name, start in self.starts.items():
            ax.plot(range(1, len(start.curve) + 1), [100 * a for a in start.curve],
                    label=f"{name} (alignment {start.alignment:.3f})")
        ax.set_xlabel("iterations")
        ax.set_title(f"Path independence: alignment {self.alignment:.3f}")
        ax.legend(loc="lower right")


# --- The probes ---


@torch.no_grad()
def corruption_probe(model: ThinkingModel, task: Task, batch: Batch, *, corrupt_at: int, iters: int,
                     mode: str = "noise", scale: float = 1.0, seed: int = 0) -> CorruptionResult:
    """Think ``corrupt_at`` iterations, corrupt the state (see ``corrupter``), think ``iters`` more."""
    check_budget(model, corrupt_at=corrupt_at, iters=iters)
    corrupt = corrupter(mode, scale, len(batch), torch.Generator().manual_seed(seed))
    batch = batch.to(device_of(model))
    before = trace(model, task, batch, corrupt_at)
    damaged = corrupt(before.final_state)
    corrupted = task.score(model.readout(damaged), batch.targets, batch.mask).exact
    after = trace(model, task, batch, iters, state=damaged)
    return CorruptionResult(
        mode=mode, scale=scale, corrupt_at=corrupt_at, iters=iters, n=len(batch), seed=seed,
        accuracy_before=before.curve[-1], accuracy_corrupted=float(corrupted.float().mean()),
        curve=after.curve, recovery=recovery(after, before.final_right),
    )


def moved_mazes(mazes: list[Maze], move: str = "goal", seed: int = 0) -> list[Maze]:
    """Each maze with its goal (or start) moved to another random cell, walls unchanged; the same
    seed moves the same mazes the same way."""
    check_choice("move", move, MOVES)
    generator = torch.Generator().manual_seed(seed)
    return [move_endpoint(maze, move, generator) for maze in mazes]


def move_endpoint(maze: Maze, move: str, generator: torch.Generator) -> Maze:
    """One maze with ``move`` ("goal" or "start") on a random cell that is neither start nor goal."""
    size = maze.open.shape[0]
    cells = [(r, c) for r in range(0, size, 2) for c in range(0, size, 2) if (r, c) not in (maze.start, maze.goal)]
    if not cells:
        raise AlgosynthError(f"a maze of size {size} has no free cell to move the {move} to; use size 3 or more")
    cell = cells[int(torch.randint(len(cells), (1,), generator=generator))]
    start, goal = (maze.start, cell) if move == "goal" else (cell, maze.goal)
    return Maze(maze.open, start, goal, shortest_path(maze.open, start, goal))


@torch.no_grad()
def moving_goal_probe(model: ThinkingModel, task: Task, mazes: list[Maze], *, move_at: int, iters: int,
                      move: str = "goal", seed: int = 0) -> MovingGoalResult:
    """Think ``move_at`` iterations on each maze, move its goal (or start), and think ``iters`` more
    on the new picture from the state reached so far."""
    check_budget(model, move_at=move_at, iters=iters)
    if not mazes:
        raise AlgosynthError("the moving-goal probe got no mazes; pass at least one")
    device = device_of(model)
    original = encode_mazes(mazes).to(device)
    moved = encode_mazes(moved_mazes(mazes, move, seed)).to(device)
    before = trace(model, task, original, move_at)
    after = trace(model, task, moved, iters, state=before.final_state)
    return MovingGoalResult(
        move=move, move_at=move_at, iters=iters, n=len(mazes), seed=seed, accuracy_before=before.curve[-1],
        curve=after.curve, recovery=recovery(after, torch.ones(len(mazes), dtype=torch.bool)),
    )


def initial_state(name: str, model: ThinkingModel, x: torch.Tensor, reference_final: Any, noise_scale: float,
                  generator: torch.Generator) -> Any:
    """A state to start from: zeros or Gaussian noise (std ``noise_scale`` times the RMS of
    ``init_state``) shaped like ``init_state(x)``, or the final state another maze of the batch reached."""
    if name == "other_maze":
        return map_state(reference_final, lambda t: t.roll(1, dims=0))
    init = model.init_state(x)
    if name == "zeros":
        return map_state(init, torch.zeros_like)
    return map_state(init, lambda t: gaussian_like(t, noise_scale, generator))


def start_result(run: Trace, reference_final: torch.Tensor) -> StartResult:
    """Summarise one start against the flattened final states reached from ``init_state``."""
    cosine = torch.nn.functional.cosine_similarity(flat_state(run.final_state), reference_final, dim=1)
    return StartResult(final_accuracy=run.curve[-1], alignment=float(cosine.mean()), curve=run.curve)


@torch.no_grad()
def path_independence_probe(model: ThinkingModel, task: Task, batch: Batch, *, iters: int,
                            starts: Sequence[str] = STARTS, noise_scale: float = 1.0,
                            seed: int = 0) -> PathIndependenceResult:
    """Think ``iters`` iterations from ``init_state`` and from each of ``starts``; compare final states.

    One start is thought through at a time, so the states held do not grow with the number of starts.
    """
    check_budget(model, iters=iters)
    if not starts:
        raise AlgosynthError(f"path independence needs at least one start besides init; choose from {', '.join(STARTS)}")
    for name in starts:
        check_choice("start", name, STARTS)
    if "other_maze" in starts and len(batch) < 2:
        raise AlgosynthError(f"the other_maze start needs at least 2 instances, got {len(batch)}; probe more instances")
    batch = batch.to(device_of(model))
    generator = torch.Generator().manual_seed(seed)
    reference = trace(model, task, batch, iters)
    reference_final = flat_state(reference.final_state)
    results = {"init": start_result(reference, reference_final)}
    for name in starts:
        state = initial_state(name, model, batch.inputs, reference.final_state, noise_scale, generator)
        results[name] = start_result(trace(model, task, batch, iters, state=state), reference_final)
    alignment = statistics.mean(results[name].alignment for name in starts)
    return PathIndependenceResult(iters=iters, n=len(batch), seed=seed, noise_scale=noise_scale, alignment=alignment,
                                  starts=results)


# --- Checks, devices and files ---


def check_choice(what: str, value: str, known: Sequence[str]) -> None:
    if value not in known:
        raise AlgosynthError(f"unknown {what} {value!r}; choose one of: {', '.join(known)}")


def check_budget(model: ThinkingModel, **counts: int) -> None:
    """Every count at least 1, and their sum within the model's depth (feed-forward baselines stop)."""
    for name, count in counts.items():
        if count < 1:
            raise AlgosynthError(f"{name} must be at least 1 iteration, got {count}")
    total, limit = sum(counts.values()), getattr(model, "max_iters", None)
    if limit is not None and total > limit:
        raise AlgosynthError(f"this model can take at most {limit} iterations, but the probe needs {total}; lower the iterations")


def device_of(model: ThinkingModel) -> torch.device:
    """Where the model's weights live (the CPU for a model without any), so probes put data there."""
    parameters = model.parameters() if isinstance(model, torch.nn.Module) else iter(())
    first = next(parameters, None)
    return torch.device("cpu") if first is None else first.device


def save_probe(result: ProbeResult, out_dir: Path, name: str | None = None) -> tuple[Path, Path]:
    """Write ``<name>.json`` and ``<name>.png`` (name defaults to the probe's) into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = name or result.probe
    json_path, png_path = out_dir / f"{stem}.json", out_dir / f"{stem}.png"
    json_path.write_text(json.dumps(result.to_dict(), indent=2))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    result.draw(ax)
    ax.set_ylabel("exact-match accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    return json_path, save_figure(fig, png_path)

"""Extrapolation curves: exact-match accuracy at every test iteration, for every test size.

Accuracy is accumulated per iteration as the thinking loop streams, so memory does not grow with
the number of iterations. From each curve come the peak, the iteration where it is reached, the
accuracy at the budget's end (overthinking shows as end < peak) and, with halting, when and how
well each instance stopped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from algosynth.checkpoints import load_checkpoint, load_weights_into
from algosynth.config import Config, from_dict
from algosynth.models.registry import build_model
from algosynth.tasks import Batch, Task, get_task
from algosynth.think import think
from algosynth.train import pick_device


@dataclass
class SizeResult:
    """One test size's curve and its summary; ``curve[i]`` is the accuracy after ``i + 1`` iterations."""

    size: int
    n: int
    curve: list[float]
    per_position_curve: list[float]
    peak_accuracy: float
    peak_iteration: int
    final_accuracy: float
    halting: dict | None = None


@dataclass
class EvalResult:
    sizes: list[SizeResult] = field(default_factory=list)
    iters: int = 0
    checkpoint: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def evaluate_batch(model, task: Task, batch: Batch, iters: int, halt_after: int | None = None) -> dict:
    """Per-iteration counts of exactly right instances (and summed per-position accuracy) for one batch.

    The counts stay on the batch's device until the end, so the loop never waits on the host.
    """
    exact = torch.zeros(iters, device=batch.inputs.device)
    positions = torch.zeros(iters, device=batch.inputs.device)
    thought = None
    for thought in think(model, batch.inputs, iters, halt_after=halt_after, stop_when_halted=False):
        score = task.score(thought.logits, batch.targets, batch.mask)
        exact[thought.t - 1] = score.exact.sum()
        positions[thought.t - 1] = score.per_position.sum()
    result = {"exact": exact.cpu(), "positions": positions.cpu()}
    if halt_after is not None:
        halted_at = torch.where(thought.halted, thought.halted_at, torch.full_like(thought.halted_at, thought.t))
        right = task.score(thought.answer, batch.targets, batch.mask).exact
        result.update(halted_at=halted_at.cpu(), halted=thought.halted.cpu(), halt_right=right.cpu())
    return result


def evaluate_size(model, task: Task, size: int, n: int, iters: int, batch_size: int, seed: int,
                  device: torch.device, halt_after: int | None = None) -> SizeResult:
    """Accuracy curve on ``n`` fresh instances of ``size``, thought about for ``iters`` iterations."""
    iters = min(iters, model.max_iters or iters)
    data = task.generate(size, n, seed)
    exact = torch.zeros(iters)
    positions = torch.zeros(iters)
    halts: list[dict] = []
    for start in range(0, n, batch_size):
        part = data.select(slice(start, start + batch_size)).to(device)
        result = evaluate_batch(model, task, part, iters, halt_after)
        exact += result["exact"]
        positions += result["positions"]
        halts.append(result)
    curve = (exact / n).tolist()
    peak_iteration = int(torch.tensor(curve).argmax()) + 1
    halting = None
    if halt_after is not None:
        halted_at = torch.cat([h["halted_at"] for h in halts]).float()
        halting = {
            "halt_after": halt_after,
            "accuracy": float(torch.cat([h["halt_right"] for h in halts]).float().mean()),
            "mean_iteration": float(halted_at.mean()),
            "max_iteration": int(halted_at.max()),
            "fraction_halted": float(torch.cat([h["halted"] for h in halts]).float().mean()),
        }
    return SizeResult(size, n, curve, (positions / n).tolist(), curve[peak_iteration - 1], peak_iteration, curve[-1], halting)


def load_model(run_or_checkpoint: Path, device: torch.device | None = None) -> tuple[torch.nn.Module, Config, str]:
    """The model of a run's last checkpoint (or of one checkpoint folder), ready for evaluation."""
    checkpoint = load_checkpoint(run_or_checkpoint, with_training=False)
    config = from_dict(checkpoint.meta["config"])
    device = device or pick_device(config.train.device)
    model = build_model(config.model, get_task(config.task.name).spec)
    load_weights_into(model, checkpoint)
    return model.to(device).eval(), config, str(checkpoint.path)


def evaluate(run_or_checkpoint: Path, sizes: list[int], iters: int, n: int, batch_size: int,
             seed: int = 12345, halt_after: int | None = None, on_size=None) -> EvalResult:
    """Evaluate a trained run at every size; ``on_size`` is called with each SizeResult as it completes."""
    model, config, path = load_model(run_or_checkpoint)
    task = get_task(config.task.name)
    device = next(model.parameters()).device
    result = EvalResult(iters=iters, checkpoint=path)
    for size in sizes:
        size_result = evaluate_size(model, task, size, n, iters, batch_size, seed, device, halt_after)
        result.sizes.append(size_result)
        if on_size is not None:
            on_size(size_result)
    return result

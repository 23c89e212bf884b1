"""Load a trained controller and measure its success rate: the fraction of whole sequences written correctly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from algosynth.checkpoints import Checkpoint, CheckpointError, load_checkpoint, load_weights_into, unprefixed_state
from algosynth.config import Config, from_dict, preset_names
from algosynth.tape.controllers import Controller, build_controller
from algosynth.tape.rollout import one_thread, rollout
from algosynth.tape.tasks import TAPE_TASKS, TapeTask, get_tape_task

KEPT = "best_pass."  # prefix, in a checkpoint's training state, of the weights validation (rl.select_size) has kept so far


def training_hint(task: str) -> str:
    """How to train a controller for ``task``, naming its shipped presets (not every task has a
    feed-forward one: 3-row addition, for one, is a path of three presets)."""
    name = get_tape_task(task).name
    presets = [p for p in preset_names() if p.startswith(f"tape_{name}_")]
    return f"algosynth train {presets[0]}" if len(presets) == 1 else f"algosynth train PRESET, PRESET one of {', '.join(presets)}"


def is_tape_run(path: Path) -> bool:
    """Whether a run directory, checkpoint folder or shipped model holds a tape controller."""
    return load_checkpoint(path, with_training=False).meta["config"]["task"]["name"] in TAPE_TASKS


def load_controller(path: Path, task: str | None = None, kept: bool = False) -> tuple[Controller, Config, TapeTask]:
    """The controller of a tape run; with ``task``, refuse a checkpoint trained on another task.

    With ``kept``, the weights validation has kept so far instead of the checkpoint's: a run stopped
    before its end holds its best-scoring weights only there, and they are the ones it would end with."""
    checkpoint = load_checkpoint(path, with_training=kept)
    config = from_dict(checkpoint.meta["config"])
    trained = config.task.name
    if trained not in TAPE_TASKS:
        raise CheckpointError(f"{path} holds a {config.model.name} model for {trained}, not a tape controller; give a tape run (algosynth train tape_copy_ff)")
    if task is not None and get_tape_task(task) is not TAPE_TASKS[trained]:
        raise CheckpointError(f"{path} was trained on {trained} with a {config.model.name} controller, not on tape_{get_tape_task(task).name}; "
                              f"give a checkpoint of that task ({training_hint(task)})")
    controller = build_controller(config.model, TAPE_TASKS[trained])
    load_weights_into(controller, _with_kept_weights(path, checkpoint, config) if kept else checkpoint)
    return controller.eval(), config, TAPE_TASKS[trained]


def _with_kept_weights(path: Path, checkpoint: Checkpoint, config: Config) -> Checkpoint:
    """The checkpoint with its kept weights in place of its own, or one line on why it has none."""
    if checkpoint.training is None:
        raise CheckpointError(f"{path} is an exported model without training state, so it holds no kept weights; drop --kept")
    if not config.rl.select_size:
        raise CheckpointError(f"{path} was trained without validation (rl.select_size is 0), so it keeps no weights; drop --kept")
    weights = unprefixed_state(checkpoint.training, KEPT)
    if not weights:
        raise CheckpointError(f"{path} has kept no weights yet: no validation at length {config.rl.select_size} has scored above 0; "
                              "drop --kept or train on")
    return replace(checkpoint, weights=weights)


def kept_at(path: Path) -> dict:
    """Which weights validation kept: the pass and epoch they come from and their validation score."""
    pass_number, score, epoch = load_checkpoint(path, with_training=False).meta["best"]
    return {"pass": pass_number, "epoch": epoch, "validation": score}


@dataclass
class SizeResult:
    size: int
    n: int
    success_rate: float
    symbols_written: float


@torch.no_grad()
def success_rate(controller: Controller, task: TapeTask, size: int, n: int, batch_size: int, seed: int, slack: float,
                 on_batch: Callable[[int], None] | None = None) -> SizeResult:
    """Greedy episodes of exactly ``size``; seeded per size so any two runs see the same instances.

    ``on_batch`` hears how many episodes are done after each batch: a thousand episodes of length
    1000 run for a minute or more, and a caller can show that they advance."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + size)
    solved, fraction = 0, 0.0
    for start in range(0, n, batch_size):
        episodes = task.generate(size, min(batch_size, n - start), generator, slack)
        trajectory = rollout(controller, episodes, keep_outputs=False)
        solved += int(trajectory.success.sum())
        fraction += float((trajectory.written.float() / episodes.n_out).sum())
        if on_batch is not None:
            on_batch(min(start + batch_size, n))
    return SizeResult(size, n, solved / n, fraction / n)


def evaluate_tape(path: Path, sizes: list[int], n: int, batch_size: int, seed: int, on_size=None,
                  on_progress: Callable[[str, int, int], None] | None = None, kept: bool = False) -> dict:
    """Success rate at each size (of the kept weights with ``kept``, see ``load_controller``);
    ``on_size`` hears each size's result, ``on_progress(label, done, n)`` each batch."""
    controller, config, task = load_controller(path, kept=kept)
    results = []
    for size in sizes:
        with one_thread():
            report = None if on_progress is None else (lambda done, label=f"size {size}": on_progress(label, done, n))
            result = success_rate(controller, task, size, n, batch_size, seed, config.rl.step_slack, report)
        results.append(asdict(result))
        if on_size is not None:
            on_size(result)
    weights = {"weights": "kept", "kept": kept_at(path)} if kept else {"weights": "checkpoint"}
    return {"task": config.task.name, "controller": config.model.name, "width": config.model.width, "seed": seed, **weights,
            "sizes": results}

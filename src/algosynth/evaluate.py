"""Extrapolation curves: exact-match accuracy at every test iteration, for every test size.

Accuracy is accumulated per iteration as the thinking loop streams, so memory does not grow with
the number of iterations, and instances are processed in chunks sized to the device's free
memory. From each curve come the peak, the iteration where it is reached, the accuracy at the
budget's end (overthinking shows as end < peak) and, with halting, when and how well each
instance stopped. Reduced precision (bf16, TF32) is measured against fp32 on the same instances.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from algosynth.checkpoints import Checkpoint, load_checkpoint, load_weights_into
from algosynth.config import Config, from_dict
from algosynth.errors import AlgosynthError
from algosynth.memory import fit_batch_size
from algosynth.models.registry import build_model
from algosynth.tasks import Batch, Task, get_task
from algosynth.think import planned_iters, plans_own_iters, think
from algosynth.train import pick_device

PRECISIONS = ("fp32", "bf16", "tf32")


@dataclass
class SizeResult:
    """One test set's curve and its summary; ``curve[i]`` is the accuracy after ``i + 1`` iterations."""

    size: int
    n: int
    curve: list[float]
    per_position_curve: list[float]
    peak_accuracy: float
    peak_iteration: int
    final_accuracy: float
    halting: dict | None = None
    precision: dict | None = None
    source: str = "generated"
    suite: str | None = None


@dataclass
class EvalResult:
    """Curves on random instances (``sizes``) and on named hard suites (``suites``, one per suite and size).

    ``planned`` is True when the model sets its own step count per input (``iters_for``, e.g. 2n for
    the Neural GPU), so ``iters`` was not used; each curve's length is then the count it ran.
    ``steps_per_symbol`` is set when a Neural GPU was told to think that many steps per input symbol
    instead of its trained count (``think_steps_per_symbol``).
    """

    sizes: list[SizeResult] = field(default_factory=list)
    iters: int = 0
    checkpoint: str = ""
    suites: list[SizeResult] = field(default_factory=list)
    planned: bool = False
    steps_per_symbol: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@contextmanager
def precision_context(precision: str, device: torch.device):
    """fp32, bf16 autocast, or TF32 matrix units (CUDA only), for the duration of a block."""
    if precision not in PRECISIONS:
        raise AlgosynthError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "tf32":
        if device.type != "cuda":
            raise AlgosynthError("tf32 exists only on CUDA GPUs; use --precision bf16 or fp32 on the CPU")
        saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
        return
    with torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else nullcontext():
        yield


@torch.no_grad()
def evaluate_batch(model, task: Task, batch: Batch, iters: int, halt_after: int | None = None,
                   precision: str = "fp32") -> dict:
    """Per-iteration counts of exactly right instances (and summed per-position accuracy) for one batch.

    The counts stay on the batch's device until the end, so the loop never waits on the host.
    """
    device = batch.inputs.device
    exact = torch.zeros(iters, device=device)
    positions = torch.zeros(iters, device=device)
    thought = None
    with precision_context(precision, device):
        for thought in think(model, batch.inputs, iters, halt_after=halt_after, stop_when_halted=False):
            score = task.score(thought.logits, batch.targets, batch.mask)
            exact[thought.t - 1] = score.exact.sum()
            positions[thought.t - 1] = score.per_position.sum()
    result = {"exact": exact.cpu(), "positions": positions.cpu(), "final": thought.logits.argmax(1)}
    if halt_after is not None:
        halted_at = torch.where(thought.halted, thought.halted_at, torch.full_like(thought.halted_at, thought.t))
        right = task.score(thought.answer, batch.targets, batch.mask).exact
        result.update(halted_at=halted_at.cpu(), halted=thought.halted.cpu(), halt_right=right.cpu())
    if precision != "fp32":
        reference = evaluate_batch(model, task, batch, iters)
        same = (reference["final"] == result["final"]).flatten(1)
        result.update(agree_instances=same.all(1).cpu(), agree_positions=same.float().mean(1).cpu(),
                      fp32_exact=reference["exact"][-1].cpu())
    return result


def _summarise(size: int, n: int, source: str, chunks: list[dict], halt_after: int | None, precision: str) -> SizeResult:
    exact = sum(c["exact"] for c in chunks)
    positions = sum(c["positions"] for c in chunks)
    curve = (exact / n).tolist()
    peak_iteration = int(torch.tensor(curve).argmax()) + 1
    halting = None
    if halt_after is not None:
        halted_at = torch.cat([c["halted_at"] for c in chunks]).float()
        halting = {
            "halt_after": halt_after,
            "accuracy": float(torch.cat([c["halt_right"] for c in chunks]).float().mean()),
            "mean_iteration": float(halted_at.mean()),
            "max_iteration": int(halted_at.max()),
            "fraction_halted": float(torch.cat([c["halted"] for c in chunks]).float().mean()),
        }
    agreement = None
    if precision != "fp32":
        agreement = {
            "precision": precision,
            "fp32_final_accuracy": float(sum(c["fp32_exact"] for c in chunks) / n),
            "instances_identical_to_fp32": float(torch.cat([c["agree_instances"] for c in chunks]).float().mean()),
            "positions_identical_to_fp32": float(torch.cat([c["agree_positions"] for c in chunks]).mean()),
        }
    return SizeResult(size, n, curve, (positions / n).tolist(), curve[peak_iteration - 1], peak_iteration,
                      curve[-1], halting, agreement, source)


def evaluated_chunks(model, task: Task, data: Batch, iters: int, batch_size: int, device: torch.device, what: str,
                     halt_after: int | None = None, precision: str = "fp32") -> Iterator[tuple[int, dict]]:
    """``evaluate_batch`` over memory-sized chunks of ``data``: (instances done, the chunk's result) per chunk.

    The one place that plans the step count and sizes the chunks (refusing, naming ``what``, an input
    too large for memory), for the scores of ``evaluate_data`` and the answers of ``final_predictions``.
    """
    iters = planned_iters(model, data.inputs, min(iters, model.max_iters or iters))
    chunk = fit_batch_size(model, tuple(data.inputs.shape[1:]), batch_size, device, what)
    for start in range(0, len(data), chunk):
        result = evaluate_batch(model, task, data.select(slice(start, start + chunk)).to(device), iters, halt_after, precision)
        yield min(start + chunk, len(data)), result


def evaluate_data(model, task: Task, data: Batch, size: int, iters: int, batch_size: int, device: torch.device,
                  halt_after: int | None = None, precision: str = "fp32", source: str = "generated",
                  on_chunk: Callable[[int], None] | None = None) -> SizeResult:
    """Accuracy curve on a given set of instances, in memory-sized chunks.

    ``on_chunk`` hears how many instances are done after each chunk: one chunk of 2000-bit sums
    thinks for minutes on a CPU, and a caller can show that the evaluation moves.
    """
    chunks = []
    for done, result in evaluated_chunks(model, task, data, iters, batch_size, device, f"size {size}", halt_after, precision):
        chunks.append(result)
        if on_chunk is not None:
            on_chunk(done)
    return _summarise(size, len(data), source, chunks, halt_after, precision)


def final_predictions(model, task: Task, data: Batch, iters: int, batch_size: int, device: torch.device) -> torch.Tensor:
    """Each instance's predicted symbols after ``iters`` iterations (or the model's own count), on the CPU.

    Chunked like ``evaluate_data``, so an analysis that needs the answers themselves (not only their
    scores) can look at 2000-digit instances without holding them all in one batch.
    """
    shape = tuple(data.inputs.shape[1:])
    return torch.cat([result["final"].cpu()
                      for _, result in evaluated_chunks(model, task, data, iters, batch_size, device, f"an input of shape {shape}")])


def evaluate_size(model, task: Task, size: int, n: int, iters: int, batch_size: int, seed: int,
                  device: torch.device, halt_after: int | None = None, precision: str = "fp32") -> SizeResult:
    """Accuracy curve on ``n`` fresh instances of ``size``, thought about for ``iters`` iterations."""
    return evaluate_data(model, task, task.generate(size, n, seed), size, iters, batch_size, device, halt_after, precision)


def resolve_suites(task: Task, names: list[str]) -> list[str]:
    """The suite names to evaluate: ``["all"]`` means every suite the task has; unknown names are refused."""
    if names == ["all"]:
        if not task.suites:
            raise AlgosynthError(f"task {task.name!r} has no named suites; drop --suites")
        return sorted(task.suites)
    for name in names:
        if name not in task.suites:
            known = ", ".join(sorted(task.suites)) or "none"
            raise AlgosynthError(f"task {task.name!r} has no suite {name!r}; known suites: {known} (or all)")
    return names


def load_model(run_or_checkpoint: Path, device: torch.device | None = None) -> tuple[torch.nn.Module, Config, str]:
    """The model of a run's last checkpoint (or of one checkpoint folder), ready for evaluation."""
    return model_from_checkpoint(load_checkpoint(run_or_checkpoint, with_training=False), device)


def model_from_checkpoint(checkpoint: Checkpoint, device: torch.device | None = None) -> tuple[torch.nn.Module, Config, str]:
    """``load_model`` for a checkpoint already read, so a caller that inspects its meta first reads it once."""
    config = from_dict(checkpoint.meta["config"])
    device = device or pick_device(config.train.device)
    model = build_model(config.model, get_task(config.task.name).spec)
    load_weights_into(model, checkpoint)
    return model.to(device).eval(), config, str(checkpoint.path)


def think_steps_per_symbol(model: torch.nn.Module, model_name: str, steps: float) -> None:
    """Make a Neural GPU think ``steps`` per input symbol (rounded up per input) instead of its trained count.

    Its curve then runs past the trained count and shows whether the learned rule settles into a fixed
    point that further steps keep, or was timed to that count and falls apart after it (overthinking).
    """
    if not steps >= 1:
        raise AlgosynthError(f"--steps-per-symbol must be at least 1 (e.g. 1.5 or 2), got {steps}")
    if not hasattr(model, "steps_per_symbol"):
        raise AlgosynthError(f"--steps-per-symbol applies to the Neural GPU, which thinks a set number of steps per input "
                             f"symbol; this checkpoint's model is {model_name!r}: use --iters to set how long it thinks")
    model.steps_per_symbol = steps


def read_at_steps(model: torch.nn.Module, config: Config, steps_per_symbol: float | None = None) -> float | None:
    """Make a Neural GPU think ``steps_per_symbol`` per input symbol, else its run's ``eval.steps_per_symbol``.

    Returns the count applied (None: the trained count), so every analysis of a run reads its answer
    where ``algosynth eval`` does.
    """
    steps = config.eval.steps_per_symbol if steps_per_symbol is None else steps_per_symbol
    if steps is not None:
        think_steps_per_symbol(model, config.model.name, steps)
    return steps


def evaluate(run_or_checkpoint: Path, sizes: list[int], iters: int, n: int, batch_size: int,
             seed: int = 12345, halt_after: int | None = None, on_size=None, precision: str = "fp32",
             data: Path | None = None, suites: list[str] | None = None,
             steps_per_symbol: float | None = None,
             on_progress: Callable[[str, int, int], None] | None = None) -> EvalResult:
    """Evaluate a trained model at every size, or on external ``data``; ``on_size`` sees each result as it lands,
    and ``on_progress(set, done, total)`` each chunk (``set`` names the size or the suite and size).

    Each named suite (or ``["all"]``) is evaluated at every size too, on ``n`` of its instances.
    ``steps_per_symbol`` overrides a Neural GPU's step count (default: the run's ``eval.steps_per_symbol``,
    else the trained count; ``read_at_steps``).
    """
    model, config, path = load_model(run_or_checkpoint)
    steps_per_symbol = read_at_steps(model, config, steps_per_symbol)
    task = get_task(config.task.name)
    suites = resolve_suites(task, suites) if suites else []
    if suites and data is not None:
        raise AlgosynthError("--suites evaluates generated hard instances; drop it when evaluating --data")
    device = next(model.parameters()).device
    for size in sizes if data is None else []:
        fit_batch_size(model, task.input_shape(size), 1, device, f"size {size}")  # refuse before generating anything
    result = EvalResult(iters=iters, checkpoint=path, planned=plans_own_iters(model), steps_per_symbol=steps_per_symbol)
    if data is not None:
        loader = getattr(task, "load_external", None)
        if loader is None:
            raise AlgosynthError(f"--data is supported for mazes; this checkpoint was trained on {task.name}")
        external, size = loader(Path(data))
        test_sets = iter([(size, external, str(data))])
    else:
        test_sets = ((size, task.generate(size, n, seed), "generated") for size in sizes)

    def progress(label: str, total: int) -> Callable[[int], None] | None:
        return None if on_progress is None else lambda done: on_progress(label, done, total)

    for size, instances, source in test_sets:
        result.sizes.append(evaluate_data(model, task, instances, size, iters, batch_size, device, halt_after,
                                          precision, source, progress(f"size {size}", len(instances))))
        if on_size is not None:
            on_size(result.sizes[-1])
    for size in sizes:
        for name in suites:
            instances = task.suite(name, size, n, seed)
            scored = evaluate_data(model, task, instances, size, iters, batch_size, device, halt_after, precision,
                                   f"suite {name}", progress(f"{name} at size {size}", len(instances)))
            scored.suite = name
            result.suites.append(scored)
            if on_size is not None:
                on_size(scored)
    return result

"""The thinking loop: one function that drives training, evaluation, halting and probes.

It streams iterations instead of storing them, so thinking for 3000 iterations costs the memory
of one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from algosynth.models import ThinkingModel


@dataclass
class Thought:
    """One iteration of thinking.

    ``t`` counts from 1. ``logits`` are this iteration's readout. ``answer`` equals them, except for
    halted instances, whose answer stays frozen at the iteration they halted. ``halted_at`` holds
    that iteration per instance, 0 for an instance still thinking; without halting it stays 0.
    """

    t: int
    state: Any
    logits: torch.Tensor | None
    answer: torch.Tensor | None
    halted_at: torch.Tensor

    @property
    def halted(self) -> torch.Tensor:
        return self.halted_at > 0


def map_state(h: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """Apply ``fn`` to every tensor of a state (a tensor, or a tuple holding tensors), keeping its structure."""
    if isinstance(h, torch.Tensor):
        return fn(h)
    if isinstance(h, tuple):
        parts = [map_state(part, fn) for part in h]
        return type(h)(*parts) if hasattr(h, "_fields") else tuple(parts)
    return h


def detach_state(h: Any) -> Any:
    """Cut a state from the autograd graph."""
    return map_state(h, torch.Tensor.detach)


def plans_own_iters(model: ThinkingModel) -> bool:
    """Whether the model sets its own step count per input (``iters_for``), so a configured count is unused."""
    return getattr(model, "iters_for", None) is not None


def planned_iters(model: ThinkingModel, x: torch.Tensor, default: int) -> int:
    """How long to think about ``x``: the model's own rule when it has one (the Neural GPU takes 2n
    steps on a string of length n), else ``default``, the configured count."""
    return model.iters_for(x) if plans_own_iters(model) else default


def think(
    model: ThinkingModel,
    x: torch.Tensor,
    iters: int,
    *,
    halt_after: int | None = None,
    state: Any = None,
    readout: bool = True,
    stop_when_halted: bool = True,
) -> Iterator[Thought]:
    """Think for up to ``iters`` iterations, yielding each one as it is computed.

    Args:
        model: anything with ``init_state``, ``step`` and ``readout``.
        x: the input batch ``[B, C, *spatial]``.
        iters: the most iterations to take.
        halt_after: if set to k, an instance halts once its prediction has been unchanged for k
            consecutive iterations, and the loop stops once every instance has halted.
        state: a state to continue from instead of ``model.init_state(x)``; probes use it to
            resume from a corrupted state.
        readout: when False (and not halting), skip the readout and yield ``logits=None``; the
            progressive loss uses this for the steps whose outputs nobody looks at.
        stop_when_halted: when False, keep thinking to ``iters`` even after every instance has
            halted, so one pass gives both the full accuracy curve and the halted answers.

    Example:
        >>> for thought in think(model, x, iters=500, halt_after=20):  # doctest: +SKIP
        ...     print(thought.t, thought.halted.float().mean().item())
    """
    if halt_after is not None and halt_after < 1:
        raise ValueError(f"halt_after must be at least 1, got {halt_after}")
    h = model.init_state(x) if state is None else state
    need_logits = readout or halt_after is not None
    halted_at = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    stable = torch.zeros_like(halted_at)
    answer: torch.Tensor | None = None
    previous: torch.Tensor | None = None
    for t in range(1, iters + 1):
        h = model.step(x, h)
        logits = model.readout(h) if need_logits else None
        if halt_after is None:
            answer = logits
        else:
            predictions = logits.argmax(dim=1)
            if previous is not None:
                unchanged = (predictions == previous).flatten(1).all(dim=1)
                stable = torch.where(unchanged, stable + 1, torch.zeros_like(stable))
            previous = predictions
            was_halted = halted_at > 0
            halted_at = torch.where(~was_halted & (stable >= halt_after), torch.full_like(halted_at, t), halted_at)
            shape = (-1,) + (1,) * (logits.dim() - 1)
            answer = logits if answer is None else torch.where(was_halted.view(shape), answer, logits)
        yield Thought(t=t, state=h, logits=logits, answer=answer, halted_at=halted_at)
        if halt_after is not None and stop_when_halted and bool((halted_at > 0).all()):
            return

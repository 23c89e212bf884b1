"""Training objectives over a thinking trajectory. Each is a function of (model, batch, T, rng)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from algosynth.models import ThinkingModel
from algosynth.tasks.base import Batch
from algosynth.think import detach_state, think


@dataclass
class LossOutput:
    """The scalar to minimise, and the logits of the pass that reached iteration T (for accuracy)."""

    loss: torch.Tensor
    logits: torch.Tensor | None


LossFn = Callable[[ThinkingModel, Batch, int, torch.Generator], LossOutput]


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions that count."""
    per_position = F.cross_entropy(logits.float(), targets, reduction="none")
    weights = mask.to(per_position.dtype)
    return (per_position * weights).sum() / weights.sum().clamp(min=1)


def _randint(low: int, high: int, rng: torch.Generator) -> int:
    """Uniform on {low..high}, from the trainer's generator so that resuming replays the same draws."""
    return int(torch.randint(low, high + 1, (1,), generator=rng).item())


def held_horizon(T: int, hold: float, rng: torch.Generator) -> int:
    """A batch's thinking count, uniform on T..floor((1 + hold)·T): with ``hold`` > 0 every loss asks
    for the answer at some step at or past T, so it must appear by T and then stay there."""
    return _randint(T, int(T * (1 + hold)), rng) if hold > 0 else T


def _last(model: ThinkingModel, x: torch.Tensor, iters: int, state=None):
    thought = None
    for thought in think(model, x, iters, state=state, readout=False):
        pass
    return thought.state


def final_step_loss(model: ThinkingModel, batch: Batch, T: int, rng: torch.Generator) -> LossOutput:
    """Cross-entropy on the output after T iterations only."""
    logits = model.readout(_last(model, batch.inputs, T))
    return LossOutput(masked_cross_entropy(logits, batch.targets, batch.mask), logits)


def progressive_loss(alpha: float) -> LossFn:
    """Bansal et al. (2022): (1-α)·L(T-step pass) + α·L(n no-grad steps, then k steps with gradients).

    n ~ U{0..T-1} and k ~ U{1..T-n}. The first n steps run under ``torch.no_grad`` so no graph is
    built and thrown away; the k steps that do learn start from that detached state (or, for n = 0,
    from a projection that does get gradients). The full pass is skipped when α = 1.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"progressive loss alpha must be in [0, 1], got {alpha}")

    def loss_fn(model: ThinkingModel, batch: Batch, T: int, rng: torch.Generator) -> LossOutput:
        x, total, logits_T = batch.inputs, torch.zeros((), device=batch.inputs.device), None
        if alpha < 1.0:
            logits_T = model.readout(_last(model, x, T))
            total = total + (1 - alpha) * masked_cross_entropy(logits_T, batch.targets, batch.mask)
        if alpha > 0.0:
            n = _randint(0, T - 1, rng)
            k = _randint(1, T - n, rng)
            start = None
            if n > 0:
                with torch.no_grad():
                    start = detach_state(_last(model, x, n))
            h = _last(model, x, k, state=start)
            logits_nk = model.readout(h)
            total = total + alpha * masked_cross_entropy(logits_nk, batch.targets, batch.mask)
            if logits_T is None and n + k == T:
                logits_T = logits_nk
        return LossOutput(total, logits_T)

    return loss_fn


def delta_loss(random_T: bool = False) -> LossFn:
    """Salle & Malmasi (2023): L(step T) − L(step 1) + max over t of L(step t), on per-step losses.

    Rewarding the drop from the first to the last step while punishing the worst step asks the
    network to improve as it thinks and never to get worse on the way. With ``random_T`` the
    horizon is drawn per batch from U{2..T}, so no single iteration count is special.
    """

    def loss_fn(model: ThinkingModel, batch: Batch, T: int, rng: torch.Generator) -> LossOutput:
        horizon = _randint(2, T, rng) if random_T else T
        per_step = []
        logits = None
        for thought in think(model, batch.inputs, horizon):
            logits = thought.logits
            per_step.append(masked_cross_entropy(logits, batch.targets, batch.mask))
        losses = torch.stack(per_step)
        return LossOutput(delta_formula(losses), logits if horizon == T else None)

    return loss_fn


def delta_formula(per_step_losses: torch.Tensor) -> torch.Tensor:
    """L_T − L_1 + max_t L_t over a vector of per-step losses."""
    return per_step_losses[-1] - per_step_losses[0] + per_step_losses.max()


def make_loss(name: str, alpha: float = 1.0) -> LossFn:
    """The loss named in a config: ``final``, ``progressive``, ``delta`` or ``delta_random_T``."""
    if name == "final":
        return final_step_loss
    if name == "progressive":
        return progressive_loss(alpha)
    if name in ("delta", "delta_random_T"):
        return delta_loss(random_T=name == "delta_random_T")
    raise ValueError(f"unknown loss {name!r}; choose final, progressive, delta or delta_random_T")


LOSS_NAMES = ("final", "progressive", "delta", "delta_random_T")

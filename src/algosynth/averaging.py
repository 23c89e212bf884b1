"""Polyak averages of a network's weights: a slowly following copy of a model.

Both trainers keep one with ``train.ema``, and evaluate and save the average instead of the live
weights: a recurrent rule that extrapolates can appear and vanish again from one checkpoint to the
next (the Neural GPU's 4x accuracy swung between 17% and 96%; a 3-row addition policy's between 9%
and 98% at length 1000, as each Q(lambda) update reorders near-tied actions), and the average of
the last thousand or so steps holds it far more steadily. The tape trainer's ``rl.target_tau``
also bootstraps its Q(lambda) targets from one.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def averaged_copy(model: nn.Module) -> nn.Module:
    """A frozen copy of ``model`` to average into; it starts equal to the model."""
    return copy.deepcopy(model).requires_grad_(False)


@torch.no_grad()
def polyak_update(average: nn.Module, model: nn.Module, rate: float) -> None:
    """average <- average + rate * (model - average) for every parameter; buffers are copied.

    Buffers are state, not weights (the Neural GPU's relaxation strength and tied flag), so the
    average takes the model's current ones rather than a blend of old and new.
    """
    for follower, leader in zip(average.parameters(), model.parameters()):
        follower.lerp_(leader, rate)
    for follower, leader in zip(average.buffers(), model.buffers()):
        follower.copy_(leader)

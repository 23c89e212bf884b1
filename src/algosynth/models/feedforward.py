"""The feed-forward baseline: a DT network's layers, untied, one fresh recurrent unit per step.

It speaks the same interface as the recurrent models, so the same thinking loop, losses and
evaluation drive it; it simply cannot take more steps than it has layers.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from algosynth.models.blocks import RecurrentUnit
from algosynth.models.dt_net import DTNet
from algosynth.tasks.base import TaskSpec


class LayeredState(NamedTuple):
    """The features after ``depth`` layers; the depth tells ``step`` which untied layer comes next."""

    features: torch.Tensor
    depth: int


class FeedForwardNet(DTNet):
    def __init__(
        self,
        spec: TaskSpec,
        width: int,
        depth: int,
        num_blocks: int = 2,
        recall: bool = True,
        head_widths: list[int] | None = None,
    ) -> None:
        self.max_iters = depth
        super().__init__(spec, width, num_blocks, recall, head_widths)

    def make_recurrent_unit(self, spec: TaskSpec, width: int, num_blocks: int, recall: bool) -> nn.Module:
        return nn.ModuleList(
            RecurrentUnit(spec.dims, width, num_blocks, spec.in_channels, recall) for _ in range(self.max_iters)
        )

    def init_state(self, x: torch.Tensor) -> LayeredState:
        return LayeredState(self.projection(x), 0)

    def step(self, x: torch.Tensor, h: LayeredState) -> LayeredState:
        if h.depth >= self.max_iters:
            raise ValueError(f"this feed-forward network has {self.max_iters} layers; it cannot take step {h.depth + 1}")
        return LayeredState(self.recur[h.depth](x, h.features), h.depth + 1)

    def readout(self, h: LayeredState) -> torch.Tensor:
        return self.head(h.features)

    def recurrent_parameters(self) -> list[nn.Parameter]:
        """No weight is applied twice here, so the LR throttle has nothing to slow down."""
        return []

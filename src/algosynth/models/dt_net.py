"""Deep Thinking networks (Schwarzschild et al. 2021), with recall (Bansal et al. 2022) as a switch."""

from __future__ import annotations

import torch
from torch import nn

from algosynth.models.blocks import RecurrentUnit, conv, head
from algosynth.tasks.base import TaskSpec


def default_head_widths(dims: int, width: int) -> list[int]:
    """The literature's hidden head widths: width -> width -> width/2 in 1D, width -> 32 -> 8 in 2D."""
    return [width, width // 2] if dims == 1 else [32, 8]


class DTNet(nn.Module):
    """Projection, one weight-tied recurrent unit applied once per thought, and a readout head.

    ``step`` is the same function at every iteration, which is what lets the network think longer
    at test time than it did in training.
    """

    max_iters: int | None = None

    def __init__(
        self,
        spec: TaskSpec,
        width: int,
        num_blocks: int = 2,
        recall: bool = True,
        head_widths: list[int] | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.projection = nn.Sequential(conv(spec.dims, spec.in_channels, width), nn.ReLU())
        self.recur = self.make_recurrent_unit(spec, width, num_blocks, recall)
        hidden = default_head_widths(spec.dims, width) if head_widths is None else head_widths
        self.head = head(spec.dims, [width, *hidden], spec.num_classes)

    def make_recurrent_unit(self, spec: TaskSpec, width: int, num_blocks: int, recall: bool) -> nn.Module:
        return RecurrentUnit(spec.dims, width, num_blocks, spec.in_channels, recall)

    def init_state(self, x: torch.Tensor) -> torch.Tensor:
        return self.projection(x)

    def step(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.recur(x, h)

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        return self.head(h)

    def activation_floats_per_position(self) -> int:
        """Floats alive per spatial position at the peak of one no-grad step and readout.

        The state, its recall concatenation, a residual block's two temporaries and the new state,
        plus the head's widest layers and the logits kept for halting: the memory estimate uses it.
        """
        width = self.projection[0].out_channels
        head_widths = [m.out_channels for m in self.head if hasattr(m, "out_channels")]
        return 5 * width + 2 * self.spec.in_channels + sum(head_widths) + 3 * self.spec.num_classes

    def recurrent_parameters(self) -> list[nn.Parameter]:
        """The parameters applied once per thought: the LR throttle divides their learning rate by T."""
        return list(self.recur.parameters())

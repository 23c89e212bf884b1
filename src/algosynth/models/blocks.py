"""Building blocks shared by every convolutional thinking network, for any number of dimensions."""

from __future__ import annotations

import torch
from torch import nn


def conv(dims: int, in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Module:
    """A same-padded, bias-free convolution over ``dims`` spatial dimensions (1D strings, 2D grids)."""
    layer = {1: nn.Conv1d, 2: nn.Conv2d}.get(dims)
    if layer is None:
        raise ValueError(f"convolutions exist for 1 or 2 spatial dimensions, got dims={dims}")
    return layer(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)


class BasicBlock(nn.Module):
    """conv-ReLU-conv with an identity shortcut and a closing ReLU (He et al. 2016, as in DT nets)."""

    def __init__(self, dims: int, width: int) -> None:
        super().__init__()
        self.conv1 = conv(dims, width, width)
        self.conv2 = conv(dims, width, width)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(torch.relu(self.conv1(h))) + h)


class RecurrentUnit(nn.Module):
    """One thought: optionally re-read the input (recall), then ``num_blocks`` residual blocks.

    With recall, the input is concatenated to the state and mixed back to ``width`` channels by a
    convolution followed by a ReLU, which keeps the state non-negative like every block output.
    """

    def __init__(self, dims: int, width: int, num_blocks: int, in_channels: int, recall: bool) -> None:
        super().__init__()
        self.recall = recall
        self.mix = nn.Sequential(conv(dims, width + in_channels, width), nn.ReLU()) if recall else nn.Identity()
        self.blocks = nn.Sequential(*(BasicBlock(dims, width) for _ in range(num_blocks)))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        if self.recall:
            h = self.mix(torch.cat([h, x], dim=1))
        return self.blocks(h)


def head(dims: int, widths: list[int], num_classes: int) -> nn.Sequential:
    """Convolutions from the state down to per-position class logits, ReLU between them."""
    layers: list[nn.Module] = []
    for w_in, w_out in zip(widths[:-1], widths[1:]):
        layers += [conv(dims, w_in, w_out), nn.ReLU()]
    layers.append(conv(dims, widths[-1], num_classes))
    return nn.Sequential(*layers)

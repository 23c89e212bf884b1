"""The Neural GPU (Kaiser & Sutskever 2016): convolutional GRUs over a length x 4 x m state.

The state is a grid ``[B, m, L, 4]``: the input symbols are embedded into the first of the four
rows and the other rows start at zero. One step applies two convolutional GRUs with 3x3 kernels;
after each one the positions outside the instance (input columns with no symbol, added when a
batch is padded to a common length) are zeroed, so a padded instance thinks exactly as an unpadded
one. The network thinks for 2n steps when the padded length is n (``iters_for``), which gives
information time to cross the whole string twice. The readout is a 1x1 convolution from the first
row to the symbol logits.

Parameter-sharing relaxation (Kaiser & Sutskever, section 3): the step weights come in ``r`` sets
used round-robin, ``t mod r``. A pull term ``lambda * sum_i ||theta_i - mean||^2`` joins the
loss; lambda grows at every curriculum advance and, once it passes a threshold, the sets are
averaged into one and the network is an ordinary weight-tied recurrence from then on.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from algosynth.tasks.base import TaskSpec

ROWS = 4
INIT_GAIN = 1.8
"""Convolution weights start uniform with variance INIT_GAIN**2 / fan-in, the original code's "uniform
unit scaling" with factor 1.8. At gain 1 the reset gate (about 0.78 at the start) and the update mix
shrink the state a little at every CGRU, so after the 4n CGRUs of 2n steps a 10-bit addition's
state is numerically zero at initialisation and no gradient reaches the embedding or the kernels."""


def gate_cutoff(x: torch.Tensor) -> torch.Tensor:
    """sigma'(x) = clip(1.2 sigmoid(x) - 0.1, 0, 1): a gate that can saturate to exactly 0 or 1.

    A plain sigmoid never reaches 0 or 1, so a gate "keep this bit" leaks a little every step and
    the leak compounds over thousands of steps; the cutoff lets a gate hold a value exactly.
    """
    return torch.clamp(1.2 * torch.sigmoid(x) - 0.1, 0.0, 1.0)


def padding_mask(x: torch.Tensor) -> torch.Tensor:
    """``[B, 1, L, 1]``: 1 where the input holds a symbol, 0 at padding columns (all channels zero)."""
    return (x.abs().sum(dim=1) > 0).to(x.dtype)[:, None, :, None]


class CGRU(nn.Module):
    """A convolutional GRU with ``sets`` weight sets stacked along a leading axis (round-robin use).

    CGRU(s) = u * s + (1 - u) * tanh(U * (r * s) + B), u and r from gate_cutoff of 3x3 convolutions.
    """

    def __init__(self, width: int, sets: int) -> None:
        super().__init__()
        bound = INIT_GAIN * (3 / (9 * width)) ** 0.5
        self.gate_weight = nn.Parameter(torch.empty(sets, 2 * width, width, 3, 3).uniform_(-bound, bound))
        self.gate_bias = nn.Parameter(torch.ones(sets, 2 * width))  # gates start mostly open, as in the original
        self.candidate_weight = nn.Parameter(torch.empty(sets, width, width, 3, 3).uniform_(-bound, bound))
        self.candidate_bias = nn.Parameter(torch.zeros(sets, width))

    def forward(self, s: torch.Tensor, index: int) -> torch.Tensor:
        gates = gate_cutoff(F.conv2d(s, self.gate_weight[index], self.gate_bias[index], padding=1))
        update, reset = gates.chunk(2, dim=1)
        candidate = torch.tanh(F.conv2d(reset * s, self.candidate_weight[index], self.candidate_bias[index], padding=1))
        return update * s + (1 - update) * candidate


class GridState(NamedTuple):
    """The grid ``[B, m, L, 4]`` and how many steps produced it (which picks the weight set)."""

    grid: torch.Tensor
    t: int


class NeuralGPU(nn.Module):
    max_iters: int | None = None

    def __init__(self, spec: TaskSpec, width: int = 24, relax_sets: int = 1, dropout: float = 0.0,
                 relax_pull: float = 0.0, relax_growth: float = 2.0, relax_tie_at: float = 1.0,
                 checkpoint_steps: bool = False) -> None:
        super().__init__()
        if spec.dims != 1:
            raise ValueError(f"the Neural GPU reads strings (dims=1); this task has dims={spec.dims}")
        self.spec = spec
        self.width = width
        self.embed = nn.Conv1d(spec.in_channels, width, 1, bias=False)
        nn.init.uniform_(self.embed.weight, -1.0, 1.0)  # symbols start as O(1) states, like an embedding table
        self.cgrus = nn.ModuleList(CGRU(width, relax_sets) for _ in range(2))
        self.head = nn.Conv1d(width, spec.num_classes, 1)
        self.dropout = dropout
        self.relax_growth = relax_growth
        self.relax_tie_at = relax_tie_at
        self.checkpoint_steps = checkpoint_steps
        self.register_buffer("pull_weight", torch.tensor(float(relax_pull)))
        self.register_buffer("tied", torch.tensor(relax_sets == 1))

    @property
    def relax_sets(self) -> int:
        return self.cgrus[0].gate_weight.shape[0]

    def iters_for(self, x: torch.Tensor) -> int:
        """2n steps for padded length n: the step count that the trainer and evaluation use."""
        return 2 * x.shape[-1]

    def init_state(self, x: torch.Tensor) -> GridState:
        grid = x.new_zeros(x.shape[0], self.width, x.shape[-1], ROWS)
        grid[..., 0] = self.embed(x)
        return GridState(grid, 0)

    def _cgru_pair(self, grid: torch.Tensor, mask: torch.Tensor, index: int) -> torch.Tensor:
        for cgru in self.cgrus:
            grid = cgru(grid, index) * mask
        return grid

    def step(self, x: torch.Tensor, h: GridState) -> GridState:
        index = 0 if bool(self.tied) else h.t % self.relax_sets
        mask = padding_mask(x)
        grid = h.grid
        if self.training and self.dropout > 0:
            grid = F.dropout(grid, self.dropout, training=True)
        if self.checkpoint_steps and torch.is_grad_enabled():
            grid = checkpoint(self._cgru_pair, grid, mask, index, use_reentrant=False)
        else:
            grid = self._cgru_pair(grid, mask, index)
        return GridState(grid, h.t + 1)

    def readout(self, h: GridState) -> torch.Tensor:
        return self.head(h.grid[..., 0])

    def penalty(self) -> torch.Tensor:
        """The relaxation pull lambda * sum_i ||theta_i - mean||^2, zero once the sets are tied."""
        if bool(self.tied):
            return self.pull_weight.new_zeros(())
        total = sum(((p - p.mean(dim=0, keepdim=True)) ** 2).sum() for p in self.cgrus.parameters())
        return self.pull_weight * total

    @torch.no_grad()
    def curriculum_advanced(self) -> None:
        """Grow lambda; past the threshold, average the sets into one and use only it from then on."""
        if bool(self.tied):
            return
        self.pull_weight.mul_(self.relax_growth)
        if float(self.pull_weight) >= self.relax_tie_at:
            self.tie()

    @torch.no_grad()
    def tie(self) -> None:
        for p in self.cgrus.parameters():
            p.copy_(p.mean(dim=0, keepdim=True).expand_as(p))
        self.tied.fill_(True)

    def activation_floats_per_position(self) -> int:
        """Floats alive per input position at the peak of a no-grad step: state, gates, r*s, candidate, new state."""
        return ROWS * 6 * self.width + self.spec.in_channels + 3 * self.spec.num_classes

    def recurrent_parameters(self) -> list[nn.Parameter]:
        return list(self.cgrus.parameters())

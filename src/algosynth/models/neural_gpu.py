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

The improved Neural GPU (Freivalds & Liepins 2017) is the same class with switches: one row
(``rows=1``), one CGRU per step, n steps (``steps_per_symbol=1``), hard gates with a saturation
cost, and diagonal gates. Its authors report that all their binary-multiplication runs of it
generalised to 100x longer inputs, where the original's success is a lottery over seeds.
"""

from __future__ import annotations

import math
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


def hard_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """clip(x / 2 + 1/2, 0, 1): linear in the middle, so a gradient reaches a gate until it saturates."""
    return torch.clamp(0.5 * x + 0.5, 0.0, 1.0)


def hard_tanh(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, -1.0, 1.0)


SATURATION_LIMIT = 0.9


def saturation_cost(pre: torch.Tensor) -> torch.Tensor:
    """sum relu(|x| - 0.9) over a hard unit's inputs, per instance ``[B]``.

    A hard gate past its corner has no gradient; this cost pulls inputs back below the corner, so
    saturation happens only where the loss pays for it (Freivalds & Liepins 2017).
    """
    return torch.relu(pre.abs() - SATURATION_LIMIT).flatten(1).sum(dim=1)


GATES = {"cutoff": (gate_cutoff, torch.tanh), "hard": (hard_sigmoid, hard_tanh)}
"""Gate and candidate nonlinearities: the original's cutoff sigmoid and tanh, or the hard pair."""
DROPOUT_SITES = ("state", "candidate")
"""Where ``dropout`` acts: on the state before every step, or on each CGRU's candidate."""
GATE_BIAS = {"cutoff": 1.0, "hard": 0.5}
"""Gates start about 3/4 open under either pair: cutoff(1) = 0.78, hard_sigmoid(0.5) = 0.75."""


def diagonal_shift(s: torch.Tensor) -> torch.Tensor:
    """Move the first third of the channels one position left along the string and the second third
    one position right (zero fill); the rest stay. A kept state then also travels, so information
    crosses the string without the candidate having to copy it (the "diagonal gates")."""
    third = s.shape[1] // 3
    out = torch.zeros_like(s)
    out[:, :third, :-1] = s[:, :third, 1:]
    out[:, third:2 * third, 1:] = s[:, third:2 * third, :-1]
    out[:, 2 * third:] = s[:, 2 * third:]
    return out


def padding_mask(x: torch.Tensor) -> torch.Tensor:
    """``[B, 1, L, 1]``: 1 where the input holds a symbol, 0 at padding columns (all channels zero)."""
    return (x.abs().sum(dim=1) > 0).to(x.dtype)[:, None, :, None]


class CGRU(nn.Module):
    """A convolutional GRU with ``sets`` weight sets stacked along a leading axis (round-robin use).

    CGRU(s) = u * s + (1 - u) * tanh(U * (r * s) + B), u and r from gate_cutoff of 3x3 convolutions.
    With ``gates="hard"`` the pair is hard_sigmoid and hard_tanh; with ``diagonal`` the kept state is
    ``diagonal_shift(s)``. A one-row grid uses 3x1 kernels: there is nothing above or below.
    """

    def __init__(self, width: int, sets: int, rows: int = 4, gates: str = "cutoff", diagonal: bool = False) -> None:
        super().__init__()
        kernel = (3, 3 if rows > 1 else 1)
        bound = INIT_GAIN * (3 / (kernel[0] * kernel[1] * width)) ** 0.5
        self.gate_fn, self.candidate_fn = GATES[gates]
        self.diagonal = diagonal
        self.padding = (1, kernel[1] // 2)
        self.gate_weight = nn.Parameter(torch.empty(sets, 2 * width, width, *kernel).uniform_(-bound, bound))
        self.gate_bias = nn.Parameter(torch.full((sets, 2 * width), GATE_BIAS[gates]))
        self.candidate_weight = nn.Parameter(torch.empty(sets, width, width, *kernel).uniform_(-bound, bound))
        self.candidate_bias = nn.Parameter(torch.zeros(sets, width))

    def forward(self, s: torch.Tensor, index: int, saturation: list[torch.Tensor] | None = None,
                candidate_dropout: float = 0.0) -> torch.Tensor:
        """One update; when ``saturation`` is a list, each hard unit's saturation cost is appended to it."""
        gate_in = F.conv2d(s, self.gate_weight[index], self.gate_bias[index], padding=self.padding)
        update, reset = self.gate_fn(gate_in).chunk(2, dim=1)
        candidate_in = F.conv2d(reset * s, self.candidate_weight[index], self.candidate_bias[index], padding=self.padding)
        if saturation is not None:
            saturation += [saturation_cost(gate_in), saturation_cost(candidate_in)]
        kept = diagonal_shift(s) if self.diagonal else s
        candidate = F.dropout(self.candidate_fn(candidate_in), candidate_dropout, training=candidate_dropout > 0)
        return update * kept + (1 - update) * candidate


class GridState(NamedTuple):
    """The grid ``[B, m, L, 4]`` and how many steps produced it (which picks the weight set)."""

    grid: torch.Tensor
    t: int


class NeuralGPU(nn.Module):
    max_iters: int | None = None

    def __init__(self, spec: TaskSpec, width: int = 24, relax_sets: int = 1, dropout: float = 0.0,
                 relax_pull: float = 0.0, relax_growth: float = 2.0, relax_tie_at: float = 1.0,
                 checkpoint_steps: bool = False, rows: int = ROWS, cgrus_per_step: int = 2,
                 steps_per_symbol: int = 2, gates: str = "cutoff", diagonal: bool = False,
                 saturation: float = 0.0, dropout_on: str = "state") -> None:
        super().__init__()
        if spec.dims != 1:
            raise ValueError(f"the Neural GPU reads strings (dims=1); this task has dims={spec.dims}")
        self.spec = spec
        self.width = width
        self.rows = rows
        self.steps_per_symbol = steps_per_symbol
        self.saturation = saturation
        self.embed = nn.Conv1d(spec.in_channels, width, 1, bias=False)
        nn.init.uniform_(self.embed.weight, -1.0, 1.0)  # symbols start as O(1) states, like an embedding table
        self.cgrus = nn.ModuleList(CGRU(width, relax_sets, rows, gates, diagonal) for _ in range(cgrus_per_step))
        self.head = nn.Conv1d(width, spec.num_classes, 1)
        self.dropout = dropout
        self.dropout_on = dropout_on
        self.relax_growth = relax_growth
        self.relax_tie_at = relax_tie_at
        self.checkpoint_steps = checkpoint_steps
        self.register_buffer("pull_weight", torch.tensor(float(relax_pull)))
        self.register_buffer("tied", torch.tensor(relax_sets == 1))
        self._saturation: list[torch.Tensor] = []

    @property
    def relax_sets(self) -> int:
        return self.cgrus[0].gate_weight.shape[0]

    def iters_for(self, x: torch.Tensor) -> int:
        """2n steps for padded length n (n for the improved variant): the count the trainer and evaluation use.

        Evaluation may set a fractional count per symbol (1.5 reads at the end of ``loss.hold``'s
        window); the step count is then rounded up.
        """
        return math.ceil(round(self.steps_per_symbol * x.shape[-1], 6))  # 1.1 x 10 is 11, not 12

    def init_state(self, x: torch.Tensor) -> GridState:
        """Also starts a fresh saturation tally: one forward pass, one saturation cost."""
        self._saturation = []
        grid = x.new_zeros(x.shape[0], self.width, x.shape[-1], self.rows)
        grid[..., 0] = self.embed(x)
        return GridState(grid, 0)

    def _cgru_step(self, grid: torch.Tensor, mask: torch.Tensor, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The step's CGRUs, each followed by the padding mask; and their saturation cost per
        position, when it is wanted (training with a saturation weight)."""
        tally = [] if self.saturation > 0 and self.training and torch.is_grad_enabled() else None
        candidate_dropout = self.dropout if self.training and self.dropout_on == "candidate" else 0.0
        for cgru in self.cgrus:
            grid = cgru(grid, index, tally, candidate_dropout) * mask
        if tally is None:
            return grid, None
        return grid, sum(tally) / (mask.sum(dim=(1, 2, 3)) * len(self.cgrus))

    def step(self, x: torch.Tensor, h: GridState) -> GridState:
        index = 0 if bool(self.tied) else h.t % self.relax_sets
        mask = padding_mask(x)
        grid = h.grid
        if self.training and self.dropout > 0 and self.dropout_on == "state":
            grid = F.dropout(grid, self.dropout, training=True)
        if self.checkpoint_steps and torch.is_grad_enabled():
            grid, saturation = checkpoint(self._cgru_step, grid, mask, index, use_reentrant=False)
        else:
            grid, saturation = self._cgru_step(grid, mask, index)
        if saturation is not None:
            self._saturation.append(saturation)
        return GridState(grid, h.t + 1)

    def readout(self, h: GridState) -> torch.Tensor:
        return self.head(h.grid[..., 0])

    def penalty(self) -> torch.Tensor:
        """The terms the loss gets beside the task's: the relaxation pull and the saturation cost."""
        return self.relaxation_pull() + self.saturation_penalty()

    def relaxation_pull(self) -> torch.Tensor:
        """lambda * sum_i ||theta_i - mean||^2, zero once the sets are tied."""
        if bool(self.tied):
            return self.pull_weight.new_zeros(())
        total = sum(((p - p.mean(dim=0, keepdim=True)) ** 2).sum() for p in self.cgrus.parameters())
        return self.pull_weight * total

    def saturation_penalty(self) -> torch.Tensor:
        """saturation x the last training forward's cost per instance, position and CGRU, averaged
        over its steps. The loss functions see only logits, so the model keeps this tally itself."""
        if not self._saturation:
            return self.pull_weight.new_zeros(())
        return self.saturation * torch.stack(self._saturation).mean()

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
        return self.rows * 6 * self.width + self.spec.in_channels + 3 * self.spec.num_classes

    def recurrent_parameters(self) -> list[nn.Parameter]:
        return list(self.cgrus.parameters())

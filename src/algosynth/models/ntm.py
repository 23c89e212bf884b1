"""The Neural Turing Machine (Graves et al. 2014): a controller with read and write heads on a memory.

How an NTM consumes the library's per-position sequence tasks (input ``[B, C, L]``, target
``[B, L]``) through the ordinary model interface, so that think, the Trainer, the losses,
checkpoints and evaluation drive it unchanged:

- The sequence tasks lay a tape out for a left-to-right reader: the input symbols, a delimiter,
  then blanks under which the answer is expected (``algosynth.tasks.sequences``). The NTM walks
  that tape once: step ``t`` (of ``L``, given by ``iters_for``) shows the controller column ``t``
  and emits the logits of position ``t``, exactly the presentation of Graves et al. (input, then
  a delimiter, then blank inputs while the answer is written). Any step after the ``L``-th leaves
  the state as it is, so thinking longer is harmless and the answer stays put.
- The answer so far lives in the state, a logits buffer ``[B, num_classes, L]`` that ``readout``
  returns; positions not reached yet hold zeros.
- The memory has ``N = ceil(memory_per_position * L)`` slots of ``memory_width`` numbers, so a
  longer tape gets a proportionally larger memory and nothing learned depends on N. Every slot
  starts at the same small constant and every head starts focused on slot 0, the initialisations
  Collier & Beel (2018) found to make NTMs train reliably.
- Each step the controller reads ``[input column, last read vectors]``; the write heads then
  address and update the memory, and the read heads address and read the updated memory. The
  output layer sees the controller's output and this step's read vectors.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from algosynth.models import ntm_addressing as addressing
from algosynth.tasks.base import TaskSpec

CONTROLLERS = ("lstm", "feedforward")
MEMORY_INIT = 1e-6


class NTMState(NamedTuple):
    """Everything the machine carries from one step to the next; ``t`` counts the steps taken."""

    t: int
    memory: torch.Tensor
    read_weights: torch.Tensor
    write_weights: torch.Tensor
    reads: torch.Tensor
    controller: tuple[torch.Tensor, torch.Tensor] | None
    logits: torch.Tensor


class Controller(nn.Module):
    """One layer, LSTM or feed-forward (ReLU); the feed-forward one keeps no state of its own."""

    def __init__(self, kind: str, in_features: int, width: int) -> None:
        super().__init__()
        if kind not in CONTROLLERS:
            raise ValueError(f"unknown NTM controller {kind!r}; choose one of {', '.join(CONTROLLERS)}")
        self.kind = kind
        self.cell = nn.LSTMCell(in_features, width) if kind == "lstm" else nn.Linear(in_features, width)

    def initial(self, batch: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self.kind != "lstm":
            return None
        zeros = like.new_zeros(batch, self.cell.hidden_size)
        return zeros, zeros

    def forward(self, inputs: torch.Tensor, state):
        """``(output, new state)``."""
        if self.kind == "lstm":
            h, c = self.cell(inputs, state)
            return h, (h, c)
        return torch.relu(self.cell(inputs)), None


class NTM(nn.Module):
    max_iters: int | None = None

    def __init__(self, spec: TaskSpec, width: int = 100, controller: str = "lstm", memory_width: int = 20,
                 memory_per_position: float = 1.0, read_heads: int = 1, write_heads: int = 1,
                 shift_range: int = 1) -> None:
        super().__init__()
        if spec.dims != 1:
            raise ValueError(f"the NTM reads sequences (dims=1); this task has dims={spec.dims}")
        self.spec = spec
        self.memory_width = memory_width
        self.memory_per_position = memory_per_position
        self.read_heads = read_heads
        self.write_heads = write_heads
        address_sizes = {"key": memory_width, "beta": 1, "gate": 1, "shift": 2 * shift_range + 1, "gamma": 1}
        self.read_sizes = address_sizes
        self.write_sizes = {**address_sizes, "erase": memory_width, "add": memory_width}
        self.controller = Controller(controller, spec.in_channels + read_heads * memory_width, width)
        self.read_params = nn.Linear(width, read_heads * sum(self.read_sizes.values()))
        self.write_params = nn.Linear(width, write_heads * sum(self.write_sizes.values()))
        self.output = nn.Linear(width + read_heads * memory_width, spec.num_classes)

    def memory_slots(self, length: int) -> int:
        return max(1, math.ceil(self.memory_per_position * length))

    def iters_for(self, x: torch.Tensor) -> int:
        """One step per tape position: the step count the trainer and evaluation use."""
        return x.shape[-1]

    def init_state(self, x: torch.Tensor) -> NTMState:
        batch, length = x.shape[0], x.shape[-1]
        slots = self.memory_slots(length)
        focus = x.new_zeros(slots)
        focus[0] = 1.0
        return NTMState(
            t=0,
            memory=x.new_full((batch, slots, self.memory_width), MEMORY_INIT),
            read_weights=focus.expand(batch, self.read_heads, slots).clone(),
            write_weights=focus.expand(batch, self.write_heads, slots).clone(),
            reads=x.new_zeros(batch, self.read_heads, self.memory_width),
            controller=self.controller.initial(batch, x),
            logits=x.new_zeros(batch, self.spec.num_classes, length),
        )

    def step(self, x: torch.Tensor, h: NTMState) -> NTMState:
        if h.t >= x.shape[-1]:
            return h
        out, controller = self.controller(torch.cat([x[..., h.t], h.reads.flatten(1)], dim=1), h.controller)

        w = addressing.split_head_params(self.write_params(out).view(x.shape[0], self.write_heads, -1), self.write_sizes)
        write_weights = addressing.address(h.memory, h.write_weights, w["key"], w["beta"], w["gate"], w["shift"], w["gamma"])
        memory = addressing.write(h.memory, write_weights, w["erase"], w["add"])

        r = addressing.split_head_params(self.read_params(out).view(x.shape[0], self.read_heads, -1), self.read_sizes)
        read_weights = addressing.address(memory, h.read_weights, r["key"], r["beta"], r["gate"], r["shift"], r["gamma"])
        reads = addressing.read(memory, read_weights)

        emitted = self.output(torch.cat([out, reads.flatten(1)], dim=1)).to(h.logits.dtype)
        logits = h.logits.index_copy(-1, torch.tensor([h.t], device=x.device), emitted.unsqueeze(-1))
        return NTMState(h.t + 1, memory, read_weights, write_weights, reads, controller, logits)

    def readout(self, h: NTMState) -> torch.Tensor:
        return h.logits

    def activation_floats_per_position(self) -> int:
        """Floats alive per input position during a no-grad step: memory (old, erased, new) and the
        per-slot addressing temporaries of every head (content scores, 2R+1 rolled copies,
        weightings), plus the logits buffer."""
        heads = self.read_heads + self.write_heads
        per_slot = 3 * self.memory_width + heads * (self.read_sizes["shift"] + 4)
        return math.ceil(self.memory_per_position * per_slot) + 2 * self.spec.num_classes

    def recurrent_parameters(self) -> list[nn.Parameter]:
        """Every weight is applied at every step, so all of them are recurrent."""
        return list(self.parameters())

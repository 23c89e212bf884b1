"""What every task declares and provides, so models and training never branch on a task's name."""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from algosynth.errors import AlgosynthError


@dataclass(frozen=True)
class TaskSpec:
    """The declaration a model and a trainer read: nothing else about a task is assumed.

    ``dims`` is the number of spatial dimensions (1 for strings, 2 for grids); inputs are
    ``[B, in_channels, *spatial]`` and targets ``[B, *spatial]`` class indices in
    ``range(num_classes)``. ``counted_positions`` says in words which positions the mask keeps.
    """

    in_channels: int
    num_classes: int
    dims: int
    counted_positions: str


@dataclass
class Batch:
    """Inputs, per-position class targets and the mask of positions that count."""

    inputs: torch.Tensor
    targets: torch.Tensor
    mask: torch.Tensor

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def to(self, device: torch.device | str) -> Batch:
        return Batch(self.inputs.to(device), self.targets.to(device), self.mask.to(device))

    def select(self, index: torch.Tensor | slice) -> Batch:
        return Batch(self.inputs[index], self.targets[index], self.mask[index])

    def pad_to(self, length: int) -> Batch:
        """Extend a batch of strings to ``length`` with padding columns: no symbol, target 0, not counted."""
        extra = length - self.inputs.shape[-1]
        return Batch(F.pad(self.inputs, (0, extra)), F.pad(self.targets, (0, extra)), F.pad(self.mask, (0, extra)))

    @staticmethod
    def concat(batches: list[Batch]) -> Batch:
        return Batch(
            torch.cat([b.inputs for b in batches]),
            torch.cat([b.targets for b in batches]),
            torch.cat([b.mask for b in batches]),
        )


@dataclass
class Score:
    """Exact match per instance (every counted position right), with per-position accuracy beside it."""

    exact: torch.Tensor
    per_position: torch.Tensor


def score_predictions(predictions: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> Score:
    """Score class predictions ``[B, *spatial]``: positions outside the mask never count."""
    right = predictions == targets
    flat_right = right.flatten(1)
    flat_mask = mask.flatten(1)
    exact = (flat_right | ~flat_mask).all(dim=1)
    counted = flat_mask.sum(dim=1).clamp(min=1)
    per_position = (flat_right & flat_mask).sum(dim=1).float() / counted
    return Score(exact=exact, per_position=per_position)


def instance_rng(task_name: str, size: int, seed: int, stream: str = "") -> np.random.Generator:
    """A generator keyed by everything that shapes the data, so sizes and suites never share streams.

    PCG64 seeded through SeedSequence gives the same stream on every platform; callers draw bytes
    from it (``rng.bytes``), whose meaning no numpy version changes.
    """
    key = [zlib.crc32(task_name.encode()), size, seed, zlib.crc32(stream.encode())]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(key)))


def random_bits(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform bits as uint8, drawn from raw bytes so the result is byte-identical everywhere."""
    count = int(np.prod(shape))
    raw = np.frombuffer(rng.bytes((count + 7) // 8), dtype=np.uint8)
    return np.unpackbits(raw)[:count].reshape(shape)


class Task(ABC):
    """A problem family: generates seeded instances of any size, scores them and draws them."""

    name: str
    spec: TaskSpec
    example_size: int

    @abstractmethod
    def input_shape(self, size: int) -> tuple[int, ...]:
        """The shape of one instance's input tensor, channels first."""

    def target_shape(self, size: int) -> tuple[int, ...]:
        return self.input_shape(size)[1:]

    @abstractmethod
    def generate(self, size: int, n: int, seed: int) -> Batch:
        """``n`` instances of ``size``; the same (size, n, seed) gives the same bytes everywhere."""

    @property
    def suites(self) -> dict[str, Callable[[int, int, int], Batch]]:
        """Named suites of hard inputs, each called as ``suite(size, n, seed)``."""
        return {}

    def suite(self, name: str, size: int, n: int = 1, seed: int = 0) -> Batch:
        if name not in self.suites:
            known = ", ".join(sorted(self.suites)) or "none"
            raise AlgosynthError(f"task {self.name!r} has no suite {name!r}; known suites: {known}")
        return self.suites[name](size, n, seed)

    def score(self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> Score:
        """Exact match per instance from logits ``[B, num_classes, *spatial]``."""
        return score_predictions(logits.argmax(dim=1), targets, mask)

    @abstractmethod
    def render(self, batch: Batch, index: int = 0, prediction: torch.Tensor | None = None) -> str:
        """A text picture of one instance, with a prediction beside the target when given."""

    def validate_size(self, size: int) -> None:
        if size < 1:
            raise AlgosynthError(f"task {self.name!r}: size must be at least 1, got {size}")

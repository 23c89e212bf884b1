"""Prefix sums (parity) over bit strings: the target at j is the sum of bits 0..j modulo 2."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from algosynth.tasks.base import Batch, Task, TaskSpec, instance_rng, random_bits


def prefix_parity(bits: np.ndarray) -> np.ndarray:
    """Running parity along the last axis."""
    return (np.cumsum(bits, axis=-1, dtype=np.int64) % 2).astype(np.uint8)


class PrefixSumsTask(Task):
    """Bit strings of any length, encoded as in Schwarzschild et al. (2021): one channel, ±0.5."""

    name = "prefix_sums"
    spec = TaskSpec(in_channels=1, num_classes=2, dims=1, counted_positions="every position")
    example_size = 16

    def input_shape(self, size: int) -> tuple[int, ...]:
        return (1, size)

    def encode(self, bits: np.ndarray) -> Batch:
        """Turn ``[n, size]`` bits into a batch; the encoding every generator and suite shares."""
        bits = np.ascontiguousarray(bits, dtype=np.uint8)
        inputs = torch.from_numpy(bits.astype(np.float32) - 0.5).unsqueeze(1)
        targets = torch.from_numpy(prefix_parity(bits).astype(np.int64))
        return Batch(inputs, targets, torch.ones_like(targets, dtype=torch.bool))

    def generate(self, size: int, n: int, seed: int) -> Batch:
        self.validate_size(size)
        return self.encode(random_bits(instance_rng(self.name, size, seed), (n, size)))

    @property
    def suites(self) -> dict[str, Callable[[int, int, int], Batch]]:
        return {
            "all_zeros": lambda size, n, seed: self.encode(np.zeros((n, size), np.uint8)),
            "all_ones": lambda size, n, seed: self.encode(np.ones((n, size), np.uint8)),
            "alternating": lambda size, n, seed: self.encode(np.tile(np.arange(size) % 2, (n, 1))),
            "single_one_at_start": lambda size, n, seed: self.encode(
                np.tile((np.arange(size) == 0).astype(np.uint8), (n, 1))
            ),
            "long_runs": self._long_runs,
        }

    def _long_runs(self, size: int, n: int, seed: int) -> Batch:
        """Alternating runs of 0s and 1s whose lengths are drawn from [size/8, size/2]: long carries."""
        rng = instance_rng(self.name, size, seed, stream="long_runs")
        low, high = max(1, size // 8), max(1, size // 2)
        lengths = low + np.frombuffer(rng.bytes(4 * n * size), dtype="<u4").reshape(n, size) % (high - low + 1)
        first = random_bits(rng, (n,))
        bits = np.empty((n, size), np.uint8)
        for i in range(n):
            runs = np.repeat(np.arange(size) % 2, lengths[i])[:size]
            bits[i] = runs ^ first[i]
        return self.encode(bits)

    def render(self, batch: Batch, index: int = 0, prediction: torch.Tensor | None = None) -> str:
        bits = (batch.inputs[index, 0] > 0).long()
        rows = [("input ", bits), ("target", batch.targets[index])]
        if prediction is not None:
            rows.append(("output", prediction))
        lines = [f"{label}  " + "".join(str(int(v)) for v in row) for label, row in rows]
        if prediction is not None:
            wrong = prediction.cpu() != batch.targets[index].cpu()
            lines.append("errors  " + "".join("^" if w else " " for w in wrong))
        return "\n".join(lines)

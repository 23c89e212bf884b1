"""Seeded draws shared by the symbol-string tasks, built only from raw bytes so every machine agrees."""

from __future__ import annotations

import numpy as np
import torch

from algosynth.errors import AlgosynthError
from algosynth.memory import available_bytes


def uniform_ints(rng: np.random.Generator, shape: tuple[int, ...], low: int, high: int) -> np.ndarray:
    """Integers in [low, high] from raw little-endian uint32 bytes; the modulo bias is below (range) / 2**32."""
    count = int(np.prod(shape))
    raw = np.frombuffer(rng.bytes(4 * count), dtype="<u4").reshape(shape)
    return (low + raw % np.uint32(high - low + 1)).astype(np.int64)


def runs_of(rng: np.random.Generator, n: int, size: int, low: int, high: int) -> np.ndarray:
    """Strings ``[n, size]`` made of runs of one value from [low, high], each run size/8 to size/2 long."""
    shortest, longest = max(1, size // 8), max(1, size // 2)
    runs = -(-size // shortest)  # enough runs to cover the string even if every one is shortest
    ends = np.cumsum(uniform_ints(rng, (n, runs), shortest, longest), axis=1)
    starts = np.zeros((n, size + 1), np.int64)
    rows = np.broadcast_to(np.arange(n)[:, None], ends.shape)
    inside = ends < size
    np.add.at(starts, (rows[inside], ends[inside]), 1)
    run_of_position = np.cumsum(starts[:, :size], axis=1)
    return np.take_along_axis(uniform_ints(rng, (n, runs), low, high), run_of_position, axis=1)


def check_fits(task_name: str, size: int, n: int, length: int, channels: int) -> None:
    """Refuse, before drawing anything, a batch whose tensors and working arrays exceed free memory.

    About 4 * channels bytes per position for the one-hot inputs plus ~90 for targets, mask and the
    int64 working arrays (carries, column sums, the 32-bit slots of a product).
    """
    needed = n * length * (4 * channels + 90)
    free = available_bytes(torch.device("cpu"))
    if needed > free:
        raise AlgosynthError(f"task {task_name!r}: {n} instances of size {size} need about {needed / 2**30:.1f} GiB "
                             f"to generate but {free / 2**30:.1f} GiB is free; generate fewer at a time")

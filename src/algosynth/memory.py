"""Memory estimates made before allocating, so a too-large problem fails with advice, not a crash."""

from __future__ import annotations

import os

import torch

from algosynth.errors import AlgosynthError

USABLE_FRACTION = 0.8


def available_bytes(device: torch.device) -> int:
    """Free memory on the device: CUDA's own count, or the kernel's MemAvailable on the CPU."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def thinking_bytes_per_instance(model: torch.nn.Module, input_shape: tuple[int, ...]) -> int | None:
    """Peak bytes one instance needs while thinking without gradients, or None if the model has no estimate."""
    floats = getattr(model, "activation_floats_per_position", None)
    if floats is None:
        return None
    positions = 1
    for extent in input_shape[1:]:
        positions *= extent
    return 4 * floats() * positions


def fit_batch_size(model: torch.nn.Module, input_shape: tuple[int, ...], requested: int, device: torch.device,
                   what: str) -> int:
    """The largest batch up to ``requested`` that fits in memory; an error naming the fix if none does."""
    per_instance = thinking_bytes_per_instance(model, input_shape)
    if per_instance is None:
        return requested
    budget = USABLE_FRACTION * available_bytes(device)
    fits = int(budget // per_instance)
    if fits < 1:
        raise AlgosynthError(
            f"{what} needs about {per_instance / 2**30:.1f} GiB per instance while thinking, but {device} has "
            f"{budget / 2**30:.1f} GiB free to use; use a smaller size or a narrower model, or run on a larger device"
        )
    return max(1, min(requested, fits))

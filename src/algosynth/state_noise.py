"""Gaussian noise on a recurrent controller's carried state, shared by the tape learners and the NTM.

A controller that counts steps in its state drifts once a test runs past the training lengths;
noise during training makes it learn dynamics that pull a perturbed state back (or that do not
rely on a precise count at all).
"""

from __future__ import annotations

from typing import TypeVar

import torch

S = TypeVar("S", torch.Tensor, tuple, None)


def perturb(state: S, std: float, generator: torch.Generator | None = None) -> S:
    """The state plus independent Gaussian noise; an LSTM's hidden and cell states are both perturbed.

    Without a generator the noise comes from torch's global generator, on the state's device."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(perturb(part, std, generator) for part in state)
    device = state.device if generator is None else generator.device
    return state + std * torch.randn(state.shape, generator=generator, device=device, dtype=state.dtype).to(state.device)

"""Neural Turing Machine addressing and memory access (Graves et al. 2014, section 3), as plain functions.

A head turns the previous weighting ``w_prev`` over the N memory slots into a new one in four
stages: content focus ``w_c = softmax(beta * cos(k, M_i))``, interpolation
``w_g = g w_c + (1 - g) w_prev``, circular shift ``w~(i) = sum_j w_g(i - j) s(j)`` and
sharpening ``w(i) = w~(i)^gamma / sum_j w~(j)^gamma``. Reading is ``r = sum_i w(i) M_i``; writing
erases then adds, ``M_i <- M_i (1 - w(i) e) + w(i) a``. Every function works on a batch, and
weightings carry a head axis: ``[B, H, N]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-8
"""Keeps cosine similarity finite on an all-zero slot, and the gradient of w^gamma finite at w = 0."""


def content_weights(memory: torch.Tensor, key: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """``softmax_i(beta * cos(key, M_i))``: memory ``[B, N, M]``, key ``[B, H, M]``, beta ``[B, H]`` -> ``[B, H, N]``."""
    dots = torch.einsum("bhm,bnm->bhn", key, memory)
    norms = key.norm(dim=-1, keepdim=True) * memory.norm(dim=-1).unsqueeze(1)
    return torch.softmax(beta.unsqueeze(-1) * dots / (norms + EPS), dim=-1)


def interpolate(content: torch.Tensor, previous: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """``g * w_c + (1 - g) * w_prev``; a gate ``[B, H]`` of 0 keeps the last location and ignores content."""
    g = gate.unsqueeze(-1)
    return g * content + (1 - g) * previous


def circular_shift(weights: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate each weighting by a distribution over the shifts ``-R..R``: ``shift`` is ``[B, H, 2R+1]``.

    ``shift[..., R + k]`` is the weight of moving every slot's focus ``k`` places forward
    (wrapping around the N slots), so a one-hot shift at ``R + 1`` moves the head to the next slot.
    """
    reach = (shift.shape[-1] - 1) // 2
    rolled = torch.stack([torch.roll(weights, k, dims=-1) for k in range(-reach, reach + 1)], dim=-1)
    return (rolled * shift.unsqueeze(-2)).sum(dim=-1)


def sharpen(weights: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """``w^gamma / sum w^gamma`` with gamma ``[B, H]`` >= 1, undoing the blur a fractional shift causes."""
    powered = (weights + EPS) ** gamma.unsqueeze(-1)
    return powered / powered.sum(dim=-1, keepdim=True)


def address(memory: torch.Tensor, previous: torch.Tensor, key: torch.Tensor, beta: torch.Tensor,
            gate: torch.Tensor, shift: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """The four stages in order: content, interpolation, circular shift, sharpening."""
    focused = interpolate(content_weights(memory, key, beta), previous, gate)
    return sharpen(circular_shift(focused, shift), gamma)


def read(memory: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``r_h = sum_i w_h(i) M_i``: one vector ``[B, H, M]`` per read head."""
    return torch.einsum("bhn,bnm->bhm", weights, memory)


def write(memory: torch.Tensor, weights: torch.Tensor, erase: torch.Tensor, add: torch.Tensor) -> torch.Tensor:
    """Erase then add, head after head: weights ``[B, H, N]``, erase and add ``[B, H, M]``.

    With several write heads the erasures multiply and the additions sum, as in Graves et al.
    """
    keep = torch.prod(1 - weights.unsqueeze(-1) * erase.unsqueeze(-2), dim=1)
    return memory * keep + torch.einsum("bhn,bhm->bnm", weights, add)


def split_head_params(params: torch.Tensor, sizes: dict[str, int]) -> dict[str, torch.Tensor]:
    """Cut a head's raw controller output ``[B, H, P]`` into named parts and squash each into its range.

    beta = softplus (>= 0), gate and erase = sigmoid (in [0, 1]), shift = softmax over 2R+1,
    gamma = 1 + softplus (>= 1), key and add are left linear.
    """
    parts = dict(zip(sizes, params.split(list(sizes.values()), dim=-1)))
    squash = {
        "beta": lambda v: F.softplus(v).squeeze(-1),
        "gate": lambda v: torch.sigmoid(v).squeeze(-1),
        "shift": lambda v: torch.softmax(v, dim=-1),
        "gamma": lambda v: 1 + F.softplus(v).squeeze(-1),
        "erase": torch.sigmoid,
    }
    return {name: squash.get(name, lambda v: v)(value) for name, value in parts.items()}

"""Model architectures. Every one implements ``init_state(x)``, ``step(x, h)`` and ``readout(h)``."""

from __future__ import annotations

from typing import Any, Protocol

import torch

from algosynth.models.dt_net import DTNet
from algosynth.models.feedforward import FeedForwardNet, LayeredState


class ThinkingModel(Protocol):
    """The one interface every model speaks; ``max_iters`` is None when the model may think forever."""

    max_iters: int | None

    def init_state(self, x: torch.Tensor) -> Any: ...

    def step(self, x: torch.Tensor, h: Any) -> Any: ...

    def readout(self, h: Any) -> torch.Tensor: ...


__all__ = ["DTNet", "FeedForwardNet", "LayeredState", "ThinkingModel"]

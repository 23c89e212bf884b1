"""Build a model from its config and a task's declaration; models never look at a task's name."""

from __future__ import annotations

from torch import nn

from algosynth.models.dt_net import DTNet
from algosynth.models.feedforward import FeedForwardNet
from algosynth.tasks.base import TaskSpec

MODEL_NAMES = ("dt_net", "feedforward")


def build_model(config, spec: TaskSpec) -> nn.Module:
    """``config`` is a ModelConfig; ``dt_net`` is weight-tied, ``feedforward`` has ``depth`` untied layers."""
    common = dict(width=config.width, num_blocks=config.num_blocks, recall=config.recall, head_widths=config.head_widths)
    if config.name == "dt_net":
        return DTNet(spec, **common)
    if config.name == "feedforward":
        return FeedForwardNet(spec, depth=config.depth, **common)
    raise ValueError(f"unknown model {config.name!r}; choose one of {', '.join(MODEL_NAMES)}")

"""Build a model from its config and a task's declaration; models never look at a task's name."""

from __future__ import annotations

from torch import nn

from algosynth.models.dt_net import DTNet
from algosynth.models.feedforward import FeedForwardNet
from algosynth.models.neural_gpu import NeuralGPU
from algosynth.models.ntm import NTM
from algosynth.tasks.base import TaskSpec

MODEL_NAMES = ("dt_net", "feedforward", "neural_gpu", "ntm")


def build_model(config, spec: TaskSpec) -> nn.Module:
    """``config`` is a ModelConfig; ``dt_net`` is weight-tied, ``feedforward`` has ``depth`` untied layers."""
    common = dict(width=config.width, num_blocks=config.num_blocks, recall=config.recall, head_widths=config.head_widths)
    if config.name == "dt_net":
        return DTNet(spec, **common)
    if config.name == "feedforward":
        return FeedForwardNet(spec, depth=config.depth, **common)
    if config.name == "neural_gpu":
        return NeuralGPU(spec, width=config.width, relax_sets=config.relax_sets, dropout=config.dropout,
                         relax_pull=config.relax_pull, relax_growth=config.relax_growth,
                         relax_tie_at=config.relax_tie_at, checkpoint_steps=config.checkpoint_steps,
                         rows=config.rows, cgrus_per_step=config.cgrus_per_step,
                         steps_per_symbol=config.steps_per_symbol, gates=config.gates,
                         diagonal=config.diagonal, saturation=config.saturation, dropout_on=config.dropout_on)
    if config.name == "ntm":
        return NTM(spec, width=config.width, controller=config.controller, memory_width=config.memory_width,
                   memory_per_position=config.memory_per_position, read_heads=config.read_heads,
                   write_heads=config.write_heads, shift_range=config.shift_range)
    raise ValueError(f"unknown model {config.name!r}; choose one of {', '.join(MODEL_NAMES)}")

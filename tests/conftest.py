"""Shared fixtures: tiny configs that train in seconds on a CPU."""

from __future__ import annotations

import pytest
import torch

from algosynth.config import from_dict

torch.set_num_threads(2)


def tiny_config(**sections) -> dict:
    """A prefix-sums config small enough for unit tests; sections override it key by key."""
    base = {
        "task": {"name": "prefix_sums", "train_size": 8, "n_train": 64, "n_val": 16},
        "model": {"name": "dt_net", "width": 8, "num_blocks": 1},
        "loss": {"name": "progressive", "alpha": 0.5, "iters": 4},
        "optim": {"warmup_epochs": 1, "milestones": [2], "clip": 1.0},
        "train": {"epochs": 3, "batch_size": 16, "checkpoint_every": 1, "keep_checkpoints": 10, "device": "cpu"},
        "eval": {"sizes": [8, 16], "iters": 6, "n": 8, "batch_size": 8},
    }
    for name, values in sections.items():
        base[name] = {**base[name], **values}
    return base


@pytest.fixture
def tiny():
    return lambda **sections: from_dict(tiny_config(**sections))

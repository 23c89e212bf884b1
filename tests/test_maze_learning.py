"""A real maze learning test: a tiny 2D DT-recall network trained on 5x5 mazes for under a minute.

An untrained network solves no maze (every open pixel must be right), so beating it clearly and
solving some 7x7 mazes, never seen in training, can only come from learning to find paths.
"""

import torch

from algosynth.config import from_dict
from algosynth.evaluate import evaluate_size, load_model
from algosynth.models import DTNet
from algosynth.tasks.mazes import MazeTask
from algosynth.train import Trainer

SMALL_MAZES = {
    "task": {"name": "mazes", "train_size": 5, "n_train": 2000, "n_val": 100},
    "model": {"name": "dt_net", "width": 16, "num_blocks": 2, "recall": True},
    "loss": {"name": "progressive", "alpha": 0.5, "iters": 8},
    "optim": {"name": "adam", "lr": 0.003, "warmup_epochs": 1, "schedule": "cosine", "clip": 1.0},
    "train": {"epochs": 6, "batch_size": 25, "seed": 0, "checkpoint_every": 100, "device": "cpu"},
}


def test_a_tiny_2d_network_learns_to_solve_mazes_and_some_larger_ones(tmp_path):
    task = MazeTask()
    torch.manual_seed(0)
    untrained = DTNet(task.spec, width=16).eval()
    before = evaluate_size(untrained, task, 5, 100, 30, 100, 777, torch.device("cpu"))
    Trainer(from_dict(SMALL_MAZES), tmp_path, show_progress=False).fit()
    model, _, _ = load_model(tmp_path)
    trained_small = evaluate_size(model, task, 5, 100, 30, 100, 777, torch.device("cpu"))
    trained_larger = evaluate_size(model, task, 7, 100, 40, 100, 778, torch.device("cpu"))
    assert before.peak_accuracy <= 0.02
    # 6 epochs, seeds 0-3 (2026-12-07, 2-core AMD EPYC, torch 2.13.0+cpu): 99/100/83/94% at 5x5 and
    # 61/85/65/72% at 7x7. With 4 epochs seed 0 reached only 23% and 4% on this machine.
    assert trained_small.peak_accuracy >= 0.5
    assert trained_larger.peak_accuracy >= 0.25

"""The models shipped in the package load by name and still do what their records say."""

import torch

from algosynth.checkpoints import shipped_models
from algosynth.evaluate import evaluate


def test_shipped_prefix_sums_model_extrapolates():
    assert "prefix_sums_cpu" in shipped_models()
    result = evaluate("prefix_sums_cpu", sizes=[32, 96], iters=110, n=50, batch_size=50, seed=2024)
    at_32, at_96 = result.sizes
    assert at_32.peak_accuracy == 1.0 and at_96.peak_accuracy >= 0.98


def test_shipped_weights_are_small_and_fp32_or_bf16():
    for name, folder in shipped_models().items():
        weights = folder / "model.safetensors"
        assert weights.stat().st_size < 5 * 2**20, name
        from safetensors.torch import load_file

        assert {t.dtype for t in load_file(str(weights)).values()} <= {torch.float32, torch.bfloat16}


def test_shipped_maze_model_solves_larger_mazes_than_it_trained_on():
    assert "mazes_cpu" in shipped_models()
    result = evaluate("mazes_cpu", sizes=[13], iters=80, n=20, batch_size=20, seed=99)
    assert result.sizes[0].peak_accuracy >= 0.95  # trained on 9x9 only

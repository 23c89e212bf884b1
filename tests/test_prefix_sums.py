import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from algosynth.data_cache import generate_cached
from algosynth.errors import AlgosynthError
from algosynth.tasks import get_task
from algosynth.tasks.prefix_sums import PrefixSumsTask

task = PrefixSumsTask()


def brute_force_parity(bits: list[int]) -> list[int]:
    out, running = [], 0
    for bit in bits:
        running ^= bit
        out.append(running)
    return out


@given(st.lists(st.integers(0, 1), min_size=1, max_size=200))
@settings(max_examples=200, deadline=None)
def test_encoding_matches_brute_force(bits):
    batch = task.encode(np.array([bits], dtype=np.uint8))
    assert batch.inputs.shape == (1, 1, len(bits))
    assert set(batch.inputs.unique().tolist()) <= {-0.5, 0.5}
    assert ((batch.inputs[0, 0] > 0).long().tolist()) == bits
    assert batch.targets[0].tolist() == brute_force_parity(bits)
    assert batch.mask.all()


@pytest.mark.parametrize("size", [1, 7, 32, 513])
def test_generated_targets_are_prefix_parities(size):
    batch = task.generate(size, 50, seed=3)
    assert batch.inputs.shape == (50, *task.input_shape(size))
    assert batch.targets.shape == (50, *task.target_shape(size))
    for i in range(50):
        bits = (batch.inputs[i, 0] > 0).long().tolist()
        assert batch.targets[i].tolist() == brute_force_parity(bits)


def test_bits_are_balanced_and_seeds_differ():
    a = task.generate(256, 200, seed=0)
    b = task.generate(256, 200, seed=1)
    assert 0.45 < (a.inputs > 0).float().mean() < 0.55
    assert not torch.equal(a.inputs, b.inputs)
    assert torch.equal(a.inputs, task.generate(256, 200, seed=0).inputs)


def _digest_in_subprocess() -> str:
    code = (
        "import hashlib; from algosynth.tasks import get_task; b = get_task('prefix_sums').generate(100, 40, 9);"
        "print(hashlib.sha256(b.inputs.numpy().tobytes() + b.targets.numpy().tobytes()).hexdigest())"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_generation_is_identical_across_processes():
    here = task.generate(100, 40, 9)
    digest = hashlib.sha256(here.inputs.numpy().tobytes() + here.targets.numpy().tobytes()).hexdigest()
    assert _digest_in_subprocess() == _digest_in_subprocess() == digest


@pytest.mark.parametrize("size", [1, 2, 9, 64])
def test_hard_suites_match_their_definitions(size):
    bits = {name: (task.suite(name, size, n=3).inputs[:, 0] > 0).long() for name in task.suites}
    assert (bits["all_zeros"] == 0).all()
    assert (bits["all_ones"] == 1).all()
    assert bits["alternating"][0].tolist() == [i % 2 for i in range(size)]
    assert bits["single_one_at_start"][0].tolist() == [1] + [0] * (size - 1)
    for name in task.suites:
        batch = task.suite(name, size, n=3)
        for row, target in zip((batch.inputs[:, 0] > 0).long().tolist(), batch.targets.tolist()):
            assert target == brute_force_parity(row)


def test_long_runs_have_long_runs():
    runs = (task.suite("long_runs", 256, n=5, seed=1).inputs[:, 0] > 0).long()
    for row in runs:
        changes = (row[1:] != row[:-1]).nonzero().flatten().tolist()
        boundaries = [0, *[c + 1 for c in changes], 256]
        interior = [b - a for a, b in zip(boundaries[:-1], boundaries[1:])][:-1]
        assert interior and min(interior) >= 256 // 8


def test_unknown_suite_and_bad_size_are_clear():
    with pytest.raises(AlgosynthError, match="no suite 'nope'.*all_ones"):
        task.suite("nope", 8)
    with pytest.raises(AlgosynthError, match="size must be at least 1"):
        task.generate(0, 1, 0)
    with pytest.raises(AlgosynthError, match="unknown task"):
        get_task("sudoku")


def test_score_counts_an_instance_only_when_every_counted_position_is_right():
    targets = torch.tensor([[0, 1, 1], [1, 1, 0]])
    logits = torch.nn.functional.one_hot(torch.tensor([[0, 1, 1], [1, 0, 0]]), 2).permute(0, 2, 1).float()
    mask = torch.ones_like(targets, dtype=torch.bool)
    score = task.score(logits, targets, mask)
    assert score.exact.tolist() == [True, False]
    assert score.per_position.tolist() == pytest.approx([1.0, 2 / 3])
    mask[1, 1] = False
    assert task.score(logits, targets, mask).exact.tolist() == [True, True]


def test_render_marks_wrong_positions():
    batch = task.generate(8, 1, 0)
    wrong = batch.targets[0].clone()
    wrong[3] = 1 - wrong[3]
    picture = task.render(batch, 0, prediction=wrong)
    assert "target" in picture and "output" in picture
    assert picture.splitlines()[-1].rstrip() == "errors     ^"


def test_cache_is_keyed_by_parameters_and_survives_a_crash(tmp_path, monkeypatch):
    first = generate_cached(task, 16, 10, 0, tmp_path)
    assert torch.equal(first.inputs, task.generate(16, 10, 0).inputs)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    generate_cached(task, 16, 10, 1, tmp_path)
    generate_cached(task, 17, 10, 0, tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 3

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        generate_cached(task, 20, 10, 0, tmp_path)
    assert len(list(tmp_path.iterdir())) == 3  # no partial or temporary file left behind
    monkeypatch.undo()
    cached = next(tmp_path.glob("prefix_sums-16-10-0-*.npz"))
    cached.write_bytes(cached.read_bytes()[:50])  # a truncated file is regenerated, not trusted
    assert torch.equal(generate_cached(task, 16, 10, 0, tmp_path).targets, first.targets)

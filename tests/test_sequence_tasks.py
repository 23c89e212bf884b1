"""Sequence tasks: every target checked against plain Python list operations."""

import hashlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from algosynth.errors import AlgosynthError
from algosynth.tasks import get_task
from algosynth.tasks.sequences import KINDS, SequenceTask


def brute_force(kind: str, x: list[int], repeats: int, max_repeats: int) -> tuple[list[int], list[int]]:
    """The tape and the target a layout promises, written out with lists (``|`` = 9 for 8 symbols)."""
    n, delimiter = len(x), 9
    if kind == "repeat_copy":
        tape = x + [delimiter] * repeats + [0] * (max_repeats - repeats) + [0] * (max_repeats * n)
        answer = x * repeats + [0] * ((max_repeats - repeats) * n)
        return tape, [0] * (n + max_repeats) + answer
    answer = {"copy": x, "reverse": x[::-1], "sort": sorted(x), "duplicate": x + x}[kind]
    return x + [delimiter] + [0] * len(answer), [0] * (n + 1) + answer


@given(kind=st.sampled_from(KINDS), x=st.lists(st.integers(1, 8), min_size=1, max_size=60), repeats=st.integers(1, 3))
@settings(max_examples=200, deadline=None)
def test_encoding_matches_list_operations(kind, x, repeats):
    task = SequenceTask(kind)
    batch = task.encode(np.array([x]), np.array([repeats]))
    tape, target = brute_force(kind, x, repeats if kind == "repeat_copy" else 1, 3)
    assert batch.inputs.shape == (1, 10, len(tape)) == (1, *task.input_shape(len(x)))
    assert torch.equal(batch.inputs.sum(dim=1), torch.ones(1, len(tape)))
    assert batch.inputs[0].argmax(dim=0).tolist() == tape
    assert batch.targets[0].tolist() == target and batch.mask.all()
    decoded, counts = task.decode(batch)
    assert decoded[0].tolist() == x and counts[0] == (repeats if kind == "repeat_copy" else 1)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [1, 5, 40])
def test_generated_and_suite_instances_match_list_operations(kind, size):
    task = get_task(kind)
    batches = [task.generate(size, 20, seed=1)] + [task.suite(name, size, n=20, seed=1) for name in task.suites]
    for batch in batches:
        xs, counts = task.decode(batch)
        for i in range(len(batch)):
            tape, target = brute_force(kind, xs[i].tolist(), int(counts[i]), task.max_repeats)
            assert batch.inputs[i].argmax(dim=0).tolist() == tape
            assert batch.targets[i].tolist() == target


def test_symbols_and_repeats_are_uniform_and_deterministic():
    task = get_task("repeat_copy")
    batch = task.generate(200, 300, seed=0)
    xs, counts = task.decode(batch)
    assert np.allclose(np.bincount(xs.ravel(), minlength=9)[1:] / xs.size, 1 / 8, atol=0.01)
    assert set(np.unique(counts)) == {1, 2, 3}
    assert torch.equal(batch.inputs, task.generate(200, 300, seed=0).inputs)
    assert not torch.equal(batch.inputs, task.generate(200, 300, seed=1).inputs)
    digest = hashlib.sha256(task.generate(12, 7, 3).inputs.numpy().tobytes()).hexdigest()
    assert digest == "116a4e67ea227054abdc508fcde6bbe6e89fbb52c7758ad798b97ee4b6a91d4c"


@pytest.mark.parametrize("kind", KINDS)
def test_suites_hold_what_they_promise(kind):
    task = get_task(kind)
    size = 64
    expected = {"one_symbol", "long_runs", "ascending", "descending"} | ({"max_repeats"} if kind == "repeat_copy" else set())
    assert set(task.suites) == expected
    xs = {name: task.decode(task.suite(name, size, n=10, seed=2)) for name in task.suites}
    assert (xs["one_symbol"][0] == xs["one_symbol"][0][:, :1]).all()
    assert ((np.diff(xs["long_runs"][0], axis=1) != 0).sum(axis=1) <= 7).all()
    assert (np.diff(xs["ascending"][0], axis=1) >= 0).all() and (np.diff(xs["descending"][0], axis=1) <= 0).all()
    if kind == "repeat_copy":
        assert (xs["max_repeats"][1] == 3).all()


def test_render_marks_wrong_symbols():
    task = get_task("reverse")
    batch = task.encode(np.array([[3, 1, 2]]))
    prediction = batch.targets[0].clone()
    prediction[5] = 8
    lines = task.render(batch, 0, prediction).splitlines()
    assert lines[0] == "input   3 1 2 | . . ."
    assert lines[1] == "target  . . . . 2 1 3"
    assert lines[2] == "output  . . . . 2 8 3"
    assert lines[3] == "errors            ^"


@pytest.mark.parametrize("make, message", [
    (lambda: SequenceTask("shuffle"), "must be one of copy, reverse"),
    (lambda: SequenceTask("copy", symbols=0), "at least 1"),
    (lambda: get_task("copy").encode(np.array([[1, 0, 2]])), "symbols 1..8"),
    (lambda: get_task("repeat_copy").encode(np.array([[1, 2]]), np.array([4])), "repeat counts 1..3"),
    (lambda: get_task("sort").generate(0, 3, 0), "size must be at least 1, got 0"),
    (lambda: get_task("repeat_copy").suite("max_repeats", 0), "size must be at least 1, got 0"),
    (lambda: get_task("copy").generate(10**9, 10**3, 0), "GiB to generate but .* GiB is free; generate fewer"),
])
def test_bad_input_is_one_clear_error(make, message):
    with pytest.raises(AlgosynthError, match=message):
        make()

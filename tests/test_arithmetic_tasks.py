"""Arithmetic tasks: every target checked against Python's integers, the suites against their definitions."""

import hashlib
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from algosynth.cli import app
from algosynth.config import from_dict
from algosynth.errors import AlgosynthError
from algosynth.evaluate import evaluate, evaluate_data, load_model
from algosynth.tasks import get_task
from algosynth.tasks.arithmetic import SEPARATOR, ArithmeticTask
from algosynth.train import Trainer

from conftest import tiny_config
from test_cli import algosynth, assert_clean_failure

OPS = {"addition": lambda x, y: x + y, "multiplication": lambda x, y: x * y}


def to_digits(value: int, base: int, length: int) -> list[int]:
    """Least significant digit first, zero-padded: the brute-force reference for the encoding."""
    digits = []
    for _ in range(length):
        value, digit = divmod(value, base)
        digits.append(digit)
    assert value == 0
    return digits


def from_digits(digits, base: int) -> int:
    return sum(int(d) * base**i for i, d in enumerate(digits))


def assert_targets_are_exact(task: ArithmeticTask, batch) -> None:
    """Every instance's target is the zero-padded digit string of a op b, computed with Python ints."""
    a, b = task.decode(batch)
    length = batch.targets.shape[1]
    for i in range(len(batch)):
        x, y = from_digits(a[i], task.base), from_digits(b[i], task.base)
        assert batch.targets[i].tolist() == to_digits(OPS[task.op](x, y), task.base, length)


@given(op=st.sampled_from(sorted(OPS)), base=st.integers(2, 10), size=st.integers(1, 40), data=st.data())
@settings(max_examples=150, deadline=None)
def test_encoding_matches_python_integers(op, base, size, data):
    task = ArithmeticTask(op, base)
    values = data.draw(st.lists(st.tuples(st.integers(0, base**size - 1), st.integers(0, base**size - 1)),
                                min_size=1, max_size=4))
    a = np.array([to_digits(x, base, size) for x, _ in values])
    b = np.array([to_digits(y, base, size) for _, y in values])
    batch = task.encode(a, b)
    assert batch.inputs.shape == (len(values), 11, 2 * size + 1) and batch.mask.all()
    assert torch.equal(batch.inputs.sum(dim=1), torch.ones(len(values), 2 * size + 1))
    assert (batch.inputs[:, SEPARATOR].argmax(dim=1) == size).all()
    for i, (x, y) in enumerate(values):
        assert batch.targets[i].tolist() == to_digits(OPS[op](x, y), base, 2 * size + 1)
    decoded_a, decoded_b = task.decode(batch)
    assert np.array_equal(decoded_a, a) and np.array_equal(decoded_b, b)


@given(op=st.sampled_from(sorted(OPS)), base=st.integers(2, 10), size=st.integers(1, 300), seed=st.integers(0, 2**31))
@settings(max_examples=60, deadline=None)
def test_generated_instances_are_right_at_any_base_and_length(op, base, size, seed):
    task = ArithmeticTask(op, base)
    batch = task.generate(size, 3, seed)
    assert batch.inputs.shape == (3, *task.input_shape(size))
    assert_targets_are_exact(task, batch)


@pytest.mark.parametrize("name", ["badd", "bmul", "dmul"])
def test_two_thousand_digits(name):
    task = get_task(name)
    batch = task.generate(2000, 2, seed=5)
    assert batch.targets.shape == (2, 4001)
    assert_targets_are_exact(task, batch)


def test_digits_are_uniform_and_seeds_differ():
    task = get_task("dadd")
    a, b = task.decode(task.generate(500, 200, seed=0))
    counts = np.bincount(np.concatenate([a.ravel(), b.ravel()]), minlength=10) / (2 * a.size)
    assert np.allclose(counts, 0.1, atol=0.01)
    assert not torch.equal(task.generate(50, 4, 0).inputs, task.generate(50, 4, 1).inputs)
    assert torch.equal(task.generate(50, 4, 0).inputs, task.generate(50, 4, 0).inputs)


def test_aliases_are_the_same_task_and_bytes_are_pinned():
    """Byte-identical on every machine: the digest was taken once and must never drift."""
    for alias, name in [("badd", "addition_base2"), ("bmul", "multiplication_base2"),
                        ("dadd", "addition_base10"), ("dmul", "multiplication_base10")]:
        assert torch.equal(get_task(alias).generate(9, 5, 2).inputs, get_task(name).generate(9, 5, 2).inputs)
    pinned = {
        "e3f1da3215a24c211414b82347c1d1a3c92d57c100d963e3397769babec3c1e0": get_task("multiplication_base7").generate(33, 20, 4),
        "6590e3ef648fb86d1c3b54c48ee5028dfbb007a7dcdc8bd0bc47267596b00c55": get_task("addition_base3").suite("digit_runs", 40, 10, 1),
    }
    for digest, batch in pinned.items():
        assert hashlib.sha256(batch.inputs.numpy().tobytes() + batch.targets.numpy().tobytes()).hexdigest() == digest


def operand_pairs(task: ArithmeticTask, batch) -> list[tuple[np.ndarray, np.ndarray]]:
    a, b = task.decode(batch)
    return list(zip(a, b))


def significant_length(digits: np.ndarray) -> int:
    nonzero = np.flatnonzero(digits)
    return int(nonzero[-1]) + 1 if len(nonzero) else 0


@pytest.mark.parametrize("base", [2, 3, 10])
@pytest.mark.parametrize("size", [1, 2, 9, 64])
@pytest.mark.parametrize("op", sorted(OPS))
def test_every_suite_is_exact_and_deterministic(op, base, size):
    task = ArithmeticTask(op, base)
    extra = ["propagate_runs", "carry_free"] if op == "addition" else []
    assert sorted(task.suites) == sorted(["carry_chains", "digit_runs", "padded_small", "unequal_lengths", *extra])
    for name in task.suites:
        batch = task.suite(name, size, n=12, seed=3)
        assert batch.inputs.shape == (12, 11, 2 * size + 1)
        assert_targets_are_exact(task, batch)
        assert torch.equal(batch.inputs, task.suite(name, size, n=12, seed=3).inputs)


@pytest.mark.parametrize("base", [2, 5, 10])
@pytest.mark.parametrize("size", [3, 20])
def test_addition_carry_chains_run_the_whole_length(base, size):
    task = ArithmeticTask("addition", base)
    batch = task.suite("carry_chains", size, n=16, seed=1)
    def is_chain(long: np.ndarray, short: np.ndarray) -> bool:
        return bool((long[:-1] == base - 1).all()) and significant_length(short) == 1 and short[0] >= 1

    assert all(is_chain(a, b) or is_chain(b, a) for a, b in operand_pairs(task, batch))
    # the carry born at digit 0 clears every digit up to k - 2 on its way to digit k - 1
    assert (batch.targets[:, 1:size - 1] == 0).all()


def test_multiplication_carry_chains_are_nines_times_nines():
    task = get_task("dmul")
    for a, b in operand_pairs(task, task.suite("carry_chains", 12, n=16, seed=2)):
        full, partial = (a, b) if (a == 9).all() else (b, a)
        assert (full == 9).all()
        j = significant_length(partial)
        assert j >= 1 and (partial[:j] == 9).all() and (partial[j:] == 0).all()


def longest_propagate_run(a: np.ndarray, b: np.ndarray, base: int) -> int:
    """Brute force: the longest stretch of columns whose digits sum to base - 1."""
    longest = run = 0
    for x, y in zip(a, b):
        run = run + 1 if x + y == base - 1 else 0
        longest = max(longest, run)
    return longest


@pytest.mark.parametrize("base", [2, 3, 10])
def test_carry_free_sums_make_no_carry_and_draw_every_such_column_pair(base):
    task = ArithmeticTask("addition", base)
    size = 30
    batch = task.suite("carry_free", size, n=400, seed=5)
    a, b = task.decode(batch)
    assert ((a.astype(int) + b) <= base - 1).all()
    # no carry: each result digit is the column's sum, and nothing is written past digit k - 1
    assert np.array_equal(batch.targets[:, :size].numpy(), a.astype(int) + b)
    assert not batch.targets[:, size:].any()
    pairs, counts = np.unique(a.astype(int) * base + b, return_counts=True)
    assert len(pairs) == base * (base + 1) // 2  # every pair that makes no carry, and only those
    assert counts.min() > 0.5 * counts.mean()  # drawn uniformly among them
    # in base 2 two columns in three are propagate columns: stretches far longer than in random sums
    if base == 2:
        longest = [longest_propagate_run(x, y, base) for x, y in zip(a, b)]
        uniform = [longest_propagate_run(x, y, base) for x, y in operand_pairs(task, task.generate(size, 400, 5))]
        assert np.mean(longest) > np.mean(uniform) + 2


@pytest.mark.parametrize("base", [2, 10])
def test_propagate_runs_hold_stretches_of_every_length(base):
    task = ArithmeticTask("addition", base)
    size = 12
    pairs = operand_pairs(task, task.suite("propagate_runs", size, n=600, seed=4))
    longest = [longest_propagate_run(a, b, base) for a, b in pairs]
    assert min(longest) >= 1 and max(longest) == size
    # stretch lengths are uniform in 1..k, so at least half the sums hold a stretch of k/2 or more;
    # uniform operands hold one of 6 binary columns in about 1 sum in 16, of 6 decimal ones in
    # about 1 in 200,000
    assert np.mean(np.array(longest) >= size // 2) >= 0.5
    uniform = operand_pairs(task, task.generate(size, 600, 4))
    assert np.mean([longest_propagate_run(a, b, base) >= size // 2 for a, b in uniform]) < 0.2


@pytest.mark.parametrize("size", [8, 64, 300])
def test_digit_runs_are_long(size):
    task = get_task("dadd")
    shortest = max(1, size // 8)
    for operand in task.decode(task.suite("digit_runs", size, n=10, seed=0)):
        changes = (np.diff(operand, axis=1) != 0).sum(axis=1)
        assert (changes <= -(-size // shortest) - 1).all()


@pytest.mark.parametrize("name", ["dmul", "bmul", "dadd"])
def test_padded_small_starts_with_one_and_two(name):
    task = get_task(name)
    batch = task.suite("padded_small", 30, n=40, seed=0)
    a, b = task.decode(batch)
    values = [(from_digits(x, task.base), from_digits(y, task.base)) for x, y in zip(a, b)]
    assert values[:2] == [(1, 1), (2, 2)]
    assert all(1 <= v < task.base**2 for pair in values for v in pair)
    if task.op == "multiplication":
        assert batch.targets[1].tolist() == to_digits(4, task.base, 61)


@pytest.mark.parametrize("size", [1, 8, 100])
def test_unequal_lengths(size):
    task = get_task("multiplication_base6")
    for a, b in operand_pairs(task, task.suite("unequal_lengths", size, n=20, seed=7)):
        lengths = sorted([significant_length(a), significant_length(b)])
        assert lengths[1] == size and 1 <= lengths[0] <= max(1, size // 8)


def test_exact_match_needs_every_digit():
    task = get_task("bmul")
    batch = task.generate(10, 4, 0)
    logits = torch.nn.functional.one_hot(batch.targets, 10).permute(0, 2, 1).float()
    assert task.score(logits, batch.targets, batch.mask).exact.all()
    logits[0, :, 5] = torch.roll(logits[0, :, 5], 1)
    score = task.score(logits, batch.targets, batch.mask)
    assert score.exact.tolist() == [False, True, True, True]
    assert score.per_position[0].item() == pytest.approx(20 / 21)


def test_render_shows_operands_result_and_wrong_digits():
    task = get_task("dmul")
    batch = task.suite("padded_small", 4, n=2)
    prediction = batch.targets[1].clone()
    prediction[0] = 7
    lines = task.render(batch, 1, prediction).splitlines()
    assert lines[1].endswith("0002") and lines[2].endswith("0002")
    assert lines[3].endswith("000000004") and lines[4].endswith("000000007")
    assert lines[5].endswith("^") and len(lines[5]) == len(lines[4]) and lines[5].count("^") == 1
    assert "output" not in task.render(batch, 0)


@pytest.mark.parametrize("make, message", [
    (lambda: get_task("addition_base11"), "base must be between 2 and 10, got 11"),
    (lambda: get_task("multiplication_base1"), "base must be between 2 and 10, got 1"),
    (lambda: ArithmeticTask("subtraction", 2), "must be addition or multiplication"),
    (lambda: get_task("badd").generate(0, 4, 0), "size must be at least 1, got 0"),
    (lambda: get_task("dmul").suite("carry_chains", 0), "size must be at least 1, got 0"),
    (lambda: get_task("dmul").generate(60_000_000, 1, 0), "too long for exact 32-bit column sums"),
    (lambda: get_task("badd").suite("zebra", 4), "no suite 'zebra'"),
    (lambda: get_task("badd").encode(np.array([[0, 2]]), np.array([[1, 1]])), "digits 0..1"),
    (lambda: get_task("dmul").generate(2000, 10**8, 0), "GiB to generate but .* GiB is free; generate fewer"),
    (lambda: get_task("badd").suite("carry_chains", 10**6, 10**6), "GiB to generate"),
])
def test_bad_input_is_one_clear_error(make, message):
    with pytest.raises(AlgosynthError, match=message) as error:
        make()
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def badd_run(tmp_path_factory):
    """A binary-addition run trained for one tiny epoch: enough to evaluate, not to be right."""
    run = tmp_path_factory.mktemp("badd") / "run"
    config = tiny_config(task={"name": "badd", "train_size": 4}, train={"epochs": 1},
                         eval={"sizes": [3, 6], "n": 5, "iters": 3})
    Trainer(from_dict(config), run, show_progress=False).fit()
    return run


def invoke(*args):
    """The CLI in this process: no interpreter start-up, so it is fast; exceptions come back in the result."""
    return CliRunner().invoke(app, [str(arg) for arg in args])


def test_suite_evaluation_through_the_cli(badd_run):
    result = invoke("eval", badd_run, "--suites", "carry_chains,padded_small")
    assert result.exit_code == 0, result.output
    assert "carry_chains" in result.output and "padded_small" in result.output and "random" in result.output  # names never fold
    report = json.loads((badd_run / "eval.json").read_text())
    assert [s["size"] for s in report["sizes"]] == [3, 6] and {s["suite"] for s in report["sizes"]} == {None}
    assert [(s["size"], s["suite"]) for s in report["suites"]] == [
        (3, "carry_chains"), (3, "padded_small"), (6, "carry_chains"), (6, "padded_small")]
    model, config, _ = load_model(badd_run)
    task = get_task(config.task.name)
    for entry in report["suites"]:
        expected = evaluate_data(model, task, task.suite(entry["suite"], entry["size"], 5, config.eval.seed),
                                 entry["size"], 3, 8, torch.device("cpu"))
        assert entry["n"] == 5 and entry["curve"] == expected.curve
        assert entry["per_position_curve"] == pytest.approx(expected.per_position_curve)
    result = invoke("eval", badd_run, "--suites", "all", "--sizes", "4")
    assert result.exit_code == 0, result.output
    suites = [s["suite"] for s in json.loads((badd_run / "eval.json").read_text())["suites"]]
    assert suites == ["carry_chains", "carry_free", "digit_runs", "padded_small", "propagate_runs", "unequal_lengths"]
    assert all(name in result.output for name in suites)


def test_evaluation_reports_each_chunk_of_each_set(badd_run):
    heard = []
    evaluate(badd_run, [4], iters=3, n=5, batch_size=2, suites=["carry_chains"], on_progress=lambda *report: heard.append(report))
    assert heard == [("size 4", 2, 5), ("size 4", 4, 5), ("size 4", 5, 5),
                     ("carry_chains at size 4", 2, 5), ("carry_chains at size 4", 4, 5), ("carry_chains at size 4", 5, 5)]


def test_suites_and_arithmetic_names_on_the_command_line(badd_run):
    result = invoke("data", "show", "badd", "--size", "8", "--suite", "carry_chains")
    assert result.exit_code == 0, result.output
    assert "1111111" in result.output and "+ b" in result.output and "= true" in result.output
    assert "no suite 'zebra'" in str(invoke("eval", badd_run, "--suites", "zebra").exception)
    assert "base must be between 2 and 10, got 11" in str(invoke("data", "show", "addition_base11").exception)
    with pytest.raises(AlgosynthError, match="eval.suites must name suites of badd"):
        from_dict(tiny_config(task={"name": "badd"}, eval={"suites": ["zebra"]}))
    assert_clean_failure(algosynth("eval", badd_run, "--suites", "carry_chains,zebra"), "no suite 'zebra'")

"""The tape commands end to end: train a preset, eval its success rate, solve one input, resume,
and one clear line (exit 2) for every bad input."""

import json
import subprocess
import sys

import pytest

from algosynth.checkpoints import load_checkpoint
from algosynth.tape.evaluate import evaluate_tape

TINY = ["--set", "task.train_size=4", "--set", "train.epochs=1", "--set", "rl.updates_per_epoch=3", "--set", "model.width=8"]


def algosynth(*args):
    return subprocess.run([sys.executable, "-m", "algosynth", *map(str, args)], capture_output=True, text=True)


def assert_clean_failure(result, *fragments):
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def reverse_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("tape") / "run"
    result = algosynth("train", "tape_reverse_ff", "--out", run, *TINY)
    assert result.returncode == 0, result.stderr
    return run


def test_train_eval_solve(reverse_run):
    assert (reverse_run / "metrics.jsonl").exists() and (reverse_run / "config.yaml").exists()
    result = algosynth("eval", reverse_run, "--sizes", "5,12", "--n", "7")
    assert result.returncode == 0, result.stderr
    report = json.loads((reverse_run / "eval.json").read_text())
    assert report["task"] == "tape_reverse" and [s["size"] for s in report["sizes"]] == [5, 12]
    assert all(0.0 <= s["success_rate"] <= 1.0 and s["n"] == 7 for s in report["sizes"])
    assert "success rate" in result.stdout
    result = algosynth("solve", "tape", "--task", "reverse", "--input", "3141", "--checkpoint", reverse_run)
    assert result.returncode == 0, result.stderr
    assert "tape      . 3 1 4 1 # ." in result.stdout and "t=0" in result.stdout and "expected  1413" in result.stdout


def test_tape_evaluation_reports_each_batch_of_each_size(reverse_run):
    reports = []
    result = evaluate_tape(reverse_run, [5, 12], 7, 3, 0, on_progress=lambda *report: reports.append(report))
    assert reports == [("size 5", 3, 7), ("size 5", 6, 7), ("size 5", 7, 7), ("size 12", 3, 7), ("size 12", 6, 7), ("size 12", 7, 7)]
    assert [s["n"] for s in result["sizes"]] == [7, 7]


def test_resume_of_a_finished_tape_run_is_refused(reverse_run):
    assert_clean_failure(algosynth("train", "--resume", reverse_run), "already finished")


@pytest.mark.parametrize("kept", [["rl.passes=2"], ["rl.select_size=6", "rl.select_every=1", "rl.select_n=5"]])
def test_more_epochs_for_a_finished_run_that_kept_chosen_weights_is_refused(tmp_path, kept):
    """Such a run ends holding the weights it kept (the last pass's, or the best on validation),
    not the state its training ended in, so it cannot be extended; the refusal leaves its
    checkpoints as they were."""
    run = tmp_path / "kept"
    sets = [arg for key in [*kept, "rl.stop_when_solved=false"] for arg in ("--set", key)]
    assert algosynth("train", "tape_reverse_ff", "--out", run, *TINY, *sets).returncode == 0
    saved = sorted((p.name, p.stat().st_mtime_ns) for p in (run / "checkpoints").rglob("*"))
    assert_clean_failure(algosynth("train", "--resume", run, "--epochs", 3), "holds the weights it kept", "train.init_from")
    assert sorted((p.name, p.stat().st_mtime_ns) for p in (run / "checkpoints").rglob("*")) == saved


@pytest.mark.parametrize("args, fragments", [
    (["solve", "tape", "--task", "reverse", "--input", "31x4"], ["'x' is not in the reverse task's alphabet"]),
    (["solve", "tape", "--task", "reverse", "--input", ""], ["length 0"]),
    (["solve", "tape", "--task", "add2", "--input", "3141"], ["reads a grid"]),
    (["solve", "tape", "--task", "juggle", "--input", "3141"], ["unknown tape task 'juggle'"]),
    (["train", "tape_reverse_ff", "--set", "model.name=transformer"], ["not a tape controller"]),
    (["solve", "tape", "--task", "mult", "--input", "12/3"], ["no shipped model for tape_mult",
                                                              "PRESET one of tape_mult_gru, tape_mult_lstm"]),
])
def test_bad_input_is_one_line(args, fragments):
    assert_clean_failure(algosynth(*args), *fragments)


def test_checkpoint_of_another_task_is_refused(reverse_run):
    result = algosynth("solve", "tape", "--task", "copy", "--input", "3141", "--checkpoint", reverse_run)
    assert_clean_failure(result, "trained on tape_reverse with a ff controller, not on tape_copy", "PRESET one of tape_copy_ff, tape_copy_lstm")
    result = algosynth("solve", "tape", "--task", "add3", "--input", "1/2/3", "--checkpoint", reverse_run)
    assert_clean_failure(result, "not on tape_add3", "tape_add3_gru_step1, tape_add3_gru_step2")


@pytest.mark.parametrize("args, fragments", [
    (["--iters", "50"], ["--iters do not apply to a tape run"]),
    (["--halt", "5"], ["--halt do not apply"]),
    (["--precision", "fp32"], ["--precision do not apply"]),
    (["--data", "mazes.npz"], ["--data do not apply"]),
    (["--suites", "all"], ["--suites do not apply"]),
    (["--steps-per-symbol", "2"], ["--steps-per-symbol do not apply"]),
    (["--iters", "50", "--precision", "bf16"], ["--iters, --precision do not apply", "use --sizes, --n"]),
    (["--n", "0"], ["--n and --batch-size must be positive"]),
    (["--batch-size", "0"], ["--n and --batch-size must be positive"]),
])
def test_eval_of_a_tape_run_refuses_options_that_do_not_apply(reverse_run, tmp_path, args, fragments):
    result = algosynth("eval", reverse_run, "--sizes", "5", "--n", "3", *args, "--out", tmp_path / "eval")
    assert_clean_failure(result, *fragments)
    assert not (tmp_path / "eval").exists()


def test_eval_kept_scores_the_weights_validation_kept_and_says_which(tmp_path):
    """A finished selecting run ends holding its kept weights, so ``--kept`` must score exactly what
    the plain eval scores, and say in eval.json which epoch and pass they come from."""
    run = tmp_path / "selecting"
    sets = [arg for key in ("rl.select_size=6", "rl.select_every=1", "rl.select_n=5") for arg in ("--set", key)]
    assert algosynth("train", "tape_reverse_ff", "--out", run, *TINY, *sets).returncode == 0
    reports = {}
    for name, flags in (("plain", []), ("kept", ["--kept"])):
        result = algosynth("eval", run, "--sizes", "5,12", "--n", "20", *flags, "--out", tmp_path / name)
        assert result.returncode == 0, result.stderr
        reports[name] = json.loads((tmp_path / name / "eval.json").read_text())
    assert reports["plain"]["weights"] == "checkpoint" and reports["kept"]["weights"] == "kept"
    assert reports["kept"]["sizes"] == reports["plain"]["sizes"]
    best = load_checkpoint(run).meta["best"]
    assert reports["kept"]["kept"] == {"pass": best[0], "epoch": best[2], "validation": best[1]} and best[:1] == [1]


@pytest.mark.parametrize("run, fragments", [
    ("reverse", ["was trained without validation (rl.select_size is 0)", "drop --kept"]),
    ("tape_copy", ["is an exported model without training state", "drop --kept"]),
])
def test_eval_kept_refuses_a_run_that_keeps_no_weights(reverse_run, tmp_path, run, fragments):
    result = algosynth("eval", reverse_run if run == "reverse" else run, "--sizes", "5", "--n", "3", "--kept", "--out", tmp_path / "eval")
    assert_clean_failure(result, *fragments)
    assert not (tmp_path / "eval").exists()

"""The command line: smoke tests, and every bad input ends in one clear line, exit 2, no traceback."""

import json
import subprocess
import sys

import pytest
import yaml

from algosynth.checkpoints import resolve_checkpoint
from algosynth.config import load_config, preset_names
from algosynth.models.registry import MODEL_NAMES, build_model
from algosynth.tasks import get_task

from conftest import tiny_config

TINY_SETS = [
    "task.train_size=8", "task.n_train=64", "task.n_val=16", "model.width=8", "model.num_blocks=1",
    "loss.iters=4", "train.epochs=2", "train.batch_size=16", "train.checkpoint_every=1",
    "optim.warmup_epochs=1", "eval.n=8", "eval.iters=6", "eval.sizes=[8,16]", "train.device=cpu",
]


def algosynth(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "algosynth", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def assert_clean_failure(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "run"
    args = ["train", "prefix_sums_cpu", "--out", run]
    for item in TINY_SETS:
        args += ["--set", item]
    result = algosynth(*args)
    assert result.returncode == 0, result.stderr
    return run


def test_train_eval_plot_smoke(trained_run):
    assert (trained_run / "config.yaml").exists() and (trained_run / "metrics.jsonl").exists()
    result = algosynth("eval", trained_run, "--sizes", "8,32", "--iters", "7", "--n", "5", "--halt", "2")
    assert result.returncode == 0, result.stderr
    report = json.loads((trained_run / "eval.json").read_text())
    assert [s["size"] for s in report["sizes"]] == [8, 32]
    assert all(len(s["curve"]) == 7 and s["halting"]["halt_after"] == 2 for s in report["sizes"])
    assert (trained_run / "plots" / "eval.png").stat().st_size > 1000
    assert "peak" in result.stdout and "last iter" in result.stdout and "halting" in result.stdout
    result = algosynth("plot", trained_run)
    assert result.returncode == 0 and (trained_run / "plots" / "training.png").exists()


def test_eval_accepts_one_checkpoint_folder(trained_run):
    result = algosynth("eval", resolve_checkpoint(trained_run), "--sizes", "8", "--iters", "3", "--n", "2")
    assert result.returncode == 0, result.stderr
    assert "last iter" in result.stdout and "halting" not in result.stdout  # no --halt, no halting column


def test_data_show():
    result = algosynth("data", "show", "prefix_sums", "--size", "16", "--seed", "3")
    assert result.returncode == 0 and "target" in result.stdout and "suites:" in result.stdout
    result = algosynth("data", "show", "prefix_sums", "--size", "6", "--suite", "all_ones")
    assert "111111" in result.stdout and "101010" in result.stdout


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["train", "prefix_sums_gpu"], ["unknown preset 'prefix_sums_gpu'", "prefix_sums_cpu"]),
        (["train", "prefix_sums_cpu", "--set", "model.widht=4"], ["unknown key model.widht", "did you mean 'width'"]),
        (["train", "prefix_sums_cpu", "--set", "model.width=-4"], ["model.width must be a positive integer, got -4"]),
        (["train", "prefix_sums_cpu", "--set", "loss.alpha=1.5"], ["loss.alpha must be in [0, 1], got 1.5"]),
        (["train", "prefix_sums_cpu", "--set", "loss.hold=-0.5"], ["loss.hold must be non-negative", "got -0.5"]),
        (["train", "prefix_sums_cpu", "--set", "model.name=feedforward", "--set", "loss.hold=0.5"], ["loss.hold needs a recurrent model"]),
        (["train", "prefix_sums_cpu", "--set", "model.width=wide"], ["model.width must be an integer, got 'wide'"]),
        (["train", "prefix_sums_cpu", "--set", "width"], ["--set expects key=value"]),
        (["train", "ngpu_badd_cpu", "--set", "model.gates=soft"], ["model.gates 'soft' is unknown", "cutoff, hard"]),
        (["train", "ngpu_badd_cpu", "--set", "model.saturation=0.01"], ["model.saturation needs model.gates: hard"]),
        (["train", "ngpu_badd_cpu", "--set", "model.dropout_on=gates"], ["model.dropout_on must be state or candidate"]),
        (["train", "ngpu_badd_cpu", "--set", "train.ema=1"], ["train.ema is the weight average's decay per step, in [0, 1)"]),
        (["train", "tape_copy_ff", "--set", "train.ema=-0.1"], ["train.ema is the weight average's decay per step, in [0, 1)", "got -0.1"]),
        (["train", "prefix_sums_cpu", "--set", "eval.steps_per_symbol=2"], ["eval.steps_per_symbol must be null, or at least 1 for a neural_gpu", "for dt_net"]),
        (["train", "ngpu_badd_cpu", "--set", "eval.steps_per_symbol=0.5"], ["eval.steps_per_symbol must be null, or at least 1", "got 0.5"]),
        (["train", "tape_copy_ff", "--set", "eval.steps_per_symbol=2"], ["a tape run acts until its episode ends"]),
        (["eval", "no/such/run"], ["does not exist"]),
        (["eval", "."], ["holds no checkpoint"]),
        (["data", "show", "sudoku"], ["unknown task 'sudoku'"]),
        (["data", "show", "prefix_sums", "--suite", "zebra"], ["no suite 'zebra'"]),
    ],
)
def test_bad_input_gets_one_clear_line(args, fragments, tmp_path):
    assert_clean_failure(algosynth(*args, cwd=tmp_path), *fragments)


def test_eval_rejects_bad_sizes(trained_run):
    assert_clean_failure(algosynth("eval", trained_run, "--sizes", "8,x"), "--sizes must be comma-separated integers")


def test_kept_weights_are_refused_for_a_run_that_is_not_a_tape_run(trained_run, tmp_path):
    assert_clean_failure(algosynth("eval", trained_run, "--kept", "--out", tmp_path / "eval"),
                         "--kept applies to tape runs that validate", "holds a dt_net model", "drop --kept")
    assert not (tmp_path / "eval").exists()


def test_steps_per_symbol_is_refused_for_a_model_told_how_long_to_think(trained_run):
    assert_clean_failure(algosynth("eval", trained_run, "--steps-per-symbol", "3"),
                         "--steps-per-symbol applies to the Neural GPU", "model is 'dt_net'", "use --iters")
    assert_clean_failure(algosynth("eval", trained_run, "--steps-per-symbol", "0"), "must be at least 1 (e.g. 1.5 or 2), got 0.0")


def test_resume_of_a_finished_run_is_refused_and_changes_nothing(trained_run):
    before = {p: p.read_bytes() for p in trained_run.rglob("*") if p.is_file()}
    assert_clean_failure(algosynth("train", "--resume", trained_run), "already finished", "--epochs")
    assert_clean_failure(algosynth("train", "--resume", trained_run, "--epochs", "1"), "does not extend")
    assert_clean_failure(algosynth("train", "prefix_sums_cpu", "--out", trained_run), "already holds files", "--resume")
    assert_clean_failure(algosynth("train", "prefix_sums_cpu", "--epochs", "3"), "--epochs extends a run given with --resume")
    assert before == {p: p.read_bytes() for p in trained_run.rglob("*") if p.is_file()}


def test_checkpoint_of_another_model_and_corrupt_checkpoints(trained_run, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["cp", "-r", str(trained_run), str(other)], check=True)
    checkpoint = resolve_checkpoint(other)
    meta = json.loads((checkpoint / "meta.json").read_text())
    meta["config"]["model"]["width"] = 16
    (checkpoint / "meta.json").write_text(json.dumps(meta))
    assert_clean_failure(algosynth("eval", other), "different model")
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert_clean_failure(algosynth("eval", other), "truncated or corrupt")


def test_yaml_config_file_and_its_errors(tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text(yaml.safe_dump(tiny_config(train={"epochs": 1, "device": "cpu"})))
    result = algosynth("train", good, "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2")
    assert_clean_failure(algosynth("train", bad), "is not valid YAML")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("optimizer:\n  lr: 0.1\n")
    assert_clean_failure(algosynth("train", wrong, "--out", tmp_path / "r2"), "unknown key optimizer", "did you mean 'optim'")
    assert not (tmp_path / "r2").exists()


def test_every_shipped_preset_validates_and_builds_its_model():
    for name in preset_names():
        config = load_config(name, [])
        if config.model.name in MODEL_NAMES:  # tape controllers are built by the tape trainer
            build_model(config.model, get_task(config.task.name).spec)


def test_a_config_extends_a_preset_or_a_file_and_says_only_what_it_changes(tmp_path):
    parent = load_config("ngpu_badd_improved_cpu").to_dict()
    mine = tmp_path / "mine.yaml"
    mine.write_text("extends: ngpu_badd_improved_cpu\nmodel:\n  width: 32\n")
    child = load_config(str(mine)).to_dict()
    assert child["model"] == {**parent["model"], "width": 32}
    assert {k: v for k, v in child.items() if k != "model"} == {k: v for k, v in parent.items() if k != "model"}
    (tmp_path / "sub").mkdir()
    grandchild = tmp_path / "sub" / "more.yaml"
    grandchild.write_text("extends: ../mine.yaml\ntrain:\n  seed: 3\n")  # a path is read from the extending file's folder
    resolved = load_config(str(grandchild), ["optim.lr=0.01"]).to_dict()
    assert (resolved["model"]["width"], resolved["train"]["seed"], resolved["optim"]["lr"]) == (32, 3, 0.01)
    assert resolved["curriculum"] == parent["curriculum"]


def test_shipped_presets_that_extend_another_differ_from_it_only_where_they_say():
    def without(config, *paths):
        data = load_config(config).to_dict()
        for path in paths:
            section, key = path.split(".")
            data[section].pop(key)
        return data

    assert without("ngpu_bmul_cpu", "task.name") == without("ngpu_badd_improved_cpu", "task.name")
    assert load_config("ngpu_bmul_cpu").task.name == "multiplication_base2"
    assert without("tape_reverse_gru", "model.name") == without("tape_reverse_lstm", "model.name")
    task_and_controller = ("task.name", "task.train_size", "model.name", "train.epochs")
    assert without("tape_mult_lstm", *task_and_controller, "rl.state_noise") == without("tape_add2_gru", *task_and_controller, "rl.state_noise")
    assert (load_config("tape_mult_lstm").rl.state_noise, load_config("tape_add2_gru").rl.state_noise) == (0.1, 0.01)


def test_the_3_row_addition_steps_each_start_from_the_step_before_in_its_default_run_directory(tmp_path):
    """``algosynth train tape_add3_gru_stepN`` for N = 1..3 in turn is the whole recipe; a step run
    before the one it needs stops with one line and writes nothing."""
    assert load_config("tape_add3_gru_step1").train.init_from is None
    for step in (2, 3):
        assert load_config(f"tape_add3_gru_step{step}").train.init_from == f"runs/tape_add3_gru_step{step - 1}"
    assert load_config("tape_add3_gru_step1").task.name == "tape_add2"
    assert load_config("tape_add3_gru_step3").train.ema > 0
    assert_clean_failure(algosynth("train", "tape_add3_gru_step2", cwd=tmp_path), "train.init_from: runs/tape_add3_gru_step1 does not exist")
    assert not any(tmp_path.iterdir())


def test_extends_errors_get_one_clear_line(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("extends: b.yaml\n")
    b.write_text("extends: a.yaml\n")
    assert_clean_failure(algosynth("train", a, "--out", tmp_path / "r1"), "goes round in a circle", "a -> b -> a")
    typo = tmp_path / "typo.yaml"
    typo.write_text("extends: ngpu_bad_improved_cpu\n")
    assert_clean_failure(algosynth("train", typo, "--out", tmp_path / "r2"), "unknown preset 'ngpu_bad_improved_cpu'", "typo.yaml", "did you mean")
    odd = tmp_path / "odd.yaml"
    odd.write_text("extends: [prefix_sums_cpu, mazes_cpu]\n")
    assert_clean_failure(algosynth("train", odd, "--out", tmp_path / "r3"), "'extends' must name one preset")
    assert not any((tmp_path / r).exists() for r in ("r1", "r2", "r3"))

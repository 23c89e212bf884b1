"""Maze evaluation at scale, external data, solving one maze, shipped models: behaviour and bad input."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from algosynth import checkpoints, memory
from algosynth.config import from_dict
from algosynth.errors import AlgosynthError
from algosynth.evaluate import evaluate, load_model
from algosynth.solve import is_valid_shortest_path, read_maze_file, solve_maze
from algosynth.tasks.mazes import BORDER, MazeTask, load_external_mazes
from algosynth.train import Trainer

from conftest import tiny_config

task = MazeTask()


def algosynth(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "algosynth", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def assert_one_line_error(result, fragment):
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], result.stderr


@pytest.fixture(scope="module")
def maze_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("maze") / "run"
    config = tiny_config(task={"name": "mazes", "train_size": 9, "n_train": 32, "n_val": 8},
                         loss={"iters": 3}, train={"epochs": 1}, eval={"sizes": [9], "iters": 4, "n": 4})
    Trainer(from_dict(config), run, show_progress=False).fit()
    return run


@pytest.fixture(scope="module")
def prefix_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("prefix") / "run"
    Trainer(from_dict(tiny_config(train={"epochs": 1})), run, show_progress=False).fit()
    return run


def write_dataset(folder, batch):
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "inputs.npy", batch.inputs.numpy())
    np.save(folder / "solutions.npy", batch.targets.numpy().astype(np.uint8))
    return folder


def test_external_data_round_trips_and_evaluates(maze_run, tmp_path):
    batch = task.generate(13, 6, seed=4)
    folder = write_dataset(tmp_path / "data", batch)
    loaded, size = load_external_mazes(folder)
    assert size == 13 and torch.equal(loaded.targets, batch.targets) and torch.equal(loaded.mask, batch.mask)
    np.savez(tmp_path / "data.npz", inputs=batch.inputs.numpy(), solutions=batch.targets.numpy())
    result = evaluate(maze_run, [], iters=3, n=0, batch_size=4, data=tmp_path / "data.npz")
    assert result.sizes[0].n == 6 and result.sizes[0].source.endswith("data.npz") and len(result.sizes[0].curve) == 3


@pytest.mark.parametrize(
    "change,fragment",
    [
        (lambda x, y: (x[:, :2], y), "inputs must be [N, 3, H, W]"),
        (lambda x, y: (x, y[:, :-1]), "solutions must be [N, H, W]"),
        (lambda x, y: (x * 255, y), "input pixels must lie in [0, 1]"),
        (lambda x, y: (x, y * 2), "solutions must hold only 0"),
        (lambda x, y: (x, np.ones_like(y)), "solution pixels lie on walls"),
    ],
)
def test_external_data_is_validated(tmp_path, change, fragment):
    batch = task.generate(9, 2, seed=0)
    inputs, solutions = change(batch.inputs.numpy(), batch.targets.numpy())
    np.savez(tmp_path / "bad.npz", inputs=inputs, solutions=solutions)
    with pytest.raises(AlgosynthError) as error:
        load_external_mazes(tmp_path / "bad.npz")
    assert fragment in str(error.value)


def test_external_data_missing_files_and_pickles(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AlgosynthError, match="lacks inputs.npy, solutions.npy"):
        load_external_mazes(tmp_path / "empty")
    folder = tmp_path / "pickled"
    folder.mkdir()
    np.save(folder / "inputs.npy", np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    np.save(folder / "solutions.npy", np.zeros((1, 24, 24)))
    with pytest.raises(AlgosynthError, match="cannot read maze data"):
        load_external_mazes(folder)


def test_eval_with_data_from_the_command_line(maze_run, tmp_path):
    folder = write_dataset(tmp_path / "d", task.generate(9, 3, seed=1))
    result = algosynth("eval", maze_run, "--data", folder, "--iters", "3", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "eval.json").exists() and (tmp_path / "out" / "plots" / "eval.png").exists()
    assert_one_line_error(algosynth("eval", maze_run, "--data", tmp_path / "nothing.npz"), "neither a folder")


def test_data_is_refused_for_a_model_of_another_task(prefix_run, tmp_path):
    with pytest.raises(AlgosynthError, match="--data is supported for mazes"):
        evaluate(prefix_run, [], 3, 1, 1, data=tmp_path)


def test_reduced_precision_is_compared_with_fp32(maze_run):
    result = evaluate(maze_run, [9], iters=3, n=4, batch_size=4, precision="bf16")
    agreement = result.sizes[0].precision
    assert agreement["precision"] == "bf16" and 0.0 <= agreement["positions_identical_to_fp32"] <= 1.0
    assert agreement["positions_identical_to_fp32"] > 0.9  # bf16 flips only a few pixels of a 24x24 maze
    with pytest.raises(AlgosynthError, match="tf32 exists only on CUDA"):
        evaluate(maze_run, [9], iters=2, n=1, batch_size=1, precision="tf32")


def test_batches_are_chunked_to_fit_memory_and_too_large_sizes_are_refused(maze_run, monkeypatch):
    model, _, _ = load_model(maze_run)
    per_instance = memory.thinking_bytes_per_instance(model, task.input_shape(59))
    assert per_instance == 4 * model.activation_floats_per_position() * 124 * 124
    monkeypatch.setattr(memory, "available_bytes", lambda device: int(3.5 * per_instance / memory.USABLE_FRACTION))
    assert memory.fit_batch_size(model, task.input_shape(59), 50, torch.device("cpu"), "size 59") == 3
    heard = []
    result = evaluate(maze_run, [59], iters=2, n=7, batch_size=50, on_progress=lambda *report: heard.append(report))
    assert result.sizes[0].n == 7 and len(result.sizes[0].curve) == 2
    assert heard == [("size 59", 3, 7), ("size 59", 6, 7), ("size 59", 7, 7)]  # one report per chunk of 3
    with pytest.raises(AlgosynthError, match=r"size 201 needs about .* GiB per instance.*smaller size"):
        evaluate(maze_run, [201], iters=1, n=1, batch_size=1)


def test_a_true_path_is_a_valid_shortest_path_and_a_wrong_one_is_not():
    batch = task.generate(13, 1, seed=3)
    x, y = batch.inputs[0], batch.targets[0]
    assert is_valid_shortest_path(x, y)
    extra = y.clone()
    off_path = (batch.mask[0] & (y == 0)).nonzero()[0]
    top, left = (BORDER + 2 * ((int(p) - BORDER) // 2) for p in off_path)
    extra[top : top + 2, left : left + 2] = 1  # a whole extra unit on the path
    assert not is_valid_shortest_path(x, extra)
    assert not is_valid_shortest_path(x, torch.zeros_like(y))


def test_solve_maze_writes_picture_gif_and_prediction(maze_run, tmp_path):
    out = tmp_path / "solution.png"
    result = algosynth("solve", "maze", "--size", "9", "--seed", "2", "--checkpoint", maze_run, "--iters", "12",
                       "--halt", "3", "--out", out, "--gif", tmp_path / "t.gif", "--save-pred", tmp_path / "p.npy")
    assert result.returncode == 0, result.stderr
    assert "valid shortest path:" in result.stdout and "matches the generator's path" in result.stdout
    assert out.stat().st_size > 500 and (tmp_path / "t.gif").read_bytes()[:3] == b"GIF"
    prediction = np.load(tmp_path / "p.npy")
    assert prediction.shape == (24, 24) and set(np.unique(prediction)) <= {0, 1}


def test_solve_maze_reads_an_input_file(maze_run, tmp_path):
    np.save(tmp_path / "maze.npy", task.generate(9, 1, seed=5).inputs[0].numpy())
    model, _, _ = load_model(maze_run)
    solution = solve_maze(model, read_maze_file(tmp_path / "maze.npy"), 5, None, None, torch.device("cpu"))
    assert solution.iterations == 5 and solution.exact_match is None and solution.prediction.shape == (24, 24)


def test_solve_maze_bad_input(maze_run, prefix_run, tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((24, 24), dtype=np.float32))
    assert_one_line_error(algosynth("solve", "maze", "--checkpoint", maze_run, "--input", tmp_path / "flat.npy"),
                          "must hold one maze picture [3, H, H]")
    np.save(tmp_path / "ints.npy", task.generate(9, 1, 0).inputs[0].numpy() * 255)
    assert_one_line_error(algosynth("solve", "maze", "--checkpoint", maze_run, "--input", tmp_path / "ints.npy"),
                          "must hold numbers in [0, 1]")
    walled = task.generate(9, 1, seed=6)
    goal = (walled.inputs[0, 0] == 1) & (walled.inputs[0, 1] == 0)
    rows, cols = goal.nonzero().T
    ring = torch.zeros_like(goal)
    ring[max(rows.min() - 2, 0): rows.max() + 3, max(cols.min() - 2, 0): cols.max() + 3] = True
    blocked = walled.inputs[0].clone()
    blocked[:, ring & ~goal] = 0  # wall in the goal
    np.save(tmp_path / "blocked.npy", blocked.numpy())
    assert_one_line_error(algosynth("solve", "maze", "--checkpoint", maze_run, "--input", tmp_path / "blocked.npy"),
                          "no path from the start to the goal")
    assert_one_line_error(algosynth("solve", "maze", "--checkpoint", prefix_run, "--size", "9"), "trained on prefix_sums, not mazes")
    assert_one_line_error(algosynth("solve", "maze", "--checkpoint", maze_run, "--size", "1"), "odd number of units")


def test_exported_models_are_found_by_name(maze_run, tmp_path, monkeypatch):
    destination = tmp_path / "weights" / "tiny_maze"
    checkpoints.export_weights(maze_run, destination, {"command": "pytest"})
    assert sorted(p.name for p in destination.iterdir()) == ["meta.json", "model.safetensors"]
    monkeypatch.setattr(checkpoints, "SHIPPED_DIR", tmp_path / "weights")
    assert checkpoints.shipped_models() == {"tiny_maze": destination}
    model, config, path = load_model("tiny_maze")
    assert config.task.name == "mazes" and path == str(destination)
    with pytest.raises(AlgosynthError, match="already exists"):
        checkpoints.export_weights(maze_run, destination, {})


@pytest.mark.parametrize("kind", ["corruption", "moving_goal", "path_independence"])
def test_probe_command_writes_json_and_plot(maze_run, tmp_path, kind):
    result = algosynth("probe", maze_run, kind, "--size", "9", "--n", "3", "--at", "2", "--iters", "3", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / f"{kind}.json").exists() and (tmp_path / f"{kind}.png").exists()


def test_probe_bad_input(maze_run, prefix_run):
    assert_one_line_error(algosynth("probe", maze_run, "telepathy"), "unknown probe 'telepathy'")
    assert_one_line_error(algosynth("probe", prefix_run, "moving_goal"), "needs a maze model")

"""The ``algosynth`` command. Every user mistake ends in one line on stderr and exit code 2."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from algosynth.chess_cli import chess_app, solve_chess_command
from algosynth.errors import AlgosynthError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Neural algorithm synthesis: train small, think longer, solve larger.")
data_app = typer.Typer(no_args_is_help=True, help="Look at generated data.")
app.add_typer(data_app, name="data")
solve_app = typer.Typer(no_args_is_help=True, help="Solve one problem with a trained model.")
app.add_typer(solve_app, name="solve")
data_app.add_typer(chess_app, name="chess")
solve_app.command("chess")(solve_chess_command)
console = Console()
errors = Console(stderr=True)


def _parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise AlgosynthError(f"--sizes must be comma-separated integers such as 64,512,4096, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise AlgosynthError(f"--sizes must list positive sizes such as 64,512,4096, got {text!r}")
    return sizes


def _parse_suites(text: str) -> list[str]:
    """``carry_chains,padded_small`` or ``all``; the task checks the names."""
    return [name.strip() for name in text.split(",") if name.strip()]


def _fresh_run_dir(path: Path) -> Path:
    """Refuse to train into a folder that already holds a run, so nothing written is overwritten."""
    if path.exists() and any(path.iterdir()):
        raise AlgosynthError(f"{path} already holds files; pass --out NEW_DIR, or --resume {path} to continue that run")
    return path


def _free_name(base: Path) -> Path:
    candidate, index = base, 2
    while candidate.exists():
        candidate, index = base.with_name(f"{base.name}-{index}"), index + 1
    return candidate


def _run_dir_of(path: Path) -> Path:
    """The run directory for a run directory, its checkpoints folder, or one checkpoint folder."""
    path = Path(path)
    if (path / "meta.json").exists():
        return path.parent.parent
    return path.parent if path.name == "checkpoints" else path


def _output_dir(run: Path, kind: str, out: Path | None) -> Path:
    """Where results about a model go: ``out``, else its run directory, else runs/KIND-NAME for a
    shipped or exported model (never into the installed package)."""
    from algosynth.checkpoints import resolve_checkpoint

    if out is not None:
        return out
    checkpoint = resolve_checkpoint(run)
    if checkpoint.parent.name == "checkpoints":
        return checkpoint.parent.parent
    return Path("runs") / f"{kind}-{checkpoint.name}"


@app.command()
def train(
    preset: str = typer.Argument(None, help="A preset name from configs/ or a path to a YAML config."),
    set_: list[str] = typer.Option([], "--set", help="Override a config key, e.g. --set model.width=64."),
    out: Path = typer.Option(None, "--out", help="Run directory (default: runs/PRESET)."),
    resume: Path = typer.Option(None, "--resume", help="Continue the run in this directory exactly where it stopped."),
    epochs: int = typer.Option(None, "--epochs", help="With --resume: train the run on to this many epochs in all, also a finished one."),
) -> None:
    """Train a model; Ctrl-C or SIGTERM writes a checkpoint that --resume continues from."""
    from algosynth.config import load_config
    from algosynth.tape.tasks import TAPE_TASKS
    from algosynth.tape.trainer import TapeTrainer, is_tape_run_dir
    from algosynth.train import Trainer

    if resume is not None:
        if preset is not None or set_:
            raise AlgosynthError("--resume continues a run with its own saved config; drop PRESET and --set")
        trainer = (TapeTrainer if is_tape_run_dir(resume) else Trainer).resume(resume, epochs)
    else:
        if epochs is not None:
            raise AlgosynthError("--epochs extends a run given with --resume; for a new run use --set train.epochs=N")
        if preset is None:
            raise AlgosynthError("name a preset or YAML file to train, e.g. algosynth train prefix_sums_cpu")
        config = load_config(preset, set_)
        run_dir = _fresh_run_dir(out or Path("runs") / Path(preset).stem)
        trainer = (TapeTrainer if config.task.name in TAPE_TASKS else Trainer)(config, run_dir)
    result = trainer.fit()
    console.print(f"trained {result.epochs} epochs in {result.seconds:.0f}s; run directory: {result.run_dir}")


def _eval_table(title: str, halting: bool) -> Table:
    """The halting column only when ``--halt`` was given: eight columns do not fit 80 characters,
    and the set column never folds, so a suite's name stays readable."""
    table = Table(title=title)
    columns = ("set", "size", "n", "peak", "per position", "at iter", "last iter") + (("halting",) if halting else ())
    for column in columns:
        table.add_column(column, justify="right", no_wrap=column == "set", overflow="fold")
    return table


def eval_title(where: str, result) -> str:
    """The eval table's title: the iteration budget, or the step counts a model that plans its own ran."""
    if not result.planned:
        return f"exact match on {where}, up to {result.iters} iterations"
    counts = ", ".join(f"{len(s.curve)} at size {s.size}" for s in result.sizes)
    rule = f"{result.steps_per_symbol} per input symbol" if result.steps_per_symbol else "set by the model per input"
    return f"exact match on {where}, iterations {rule} ({counts}); --iters is not used"


def _eval_row(table: Table, size) -> None:
    which = size.suite or ("random" if size.source == "generated" else "external")
    per_position = size.per_position_curve[size.peak_iteration - 1]
    cells = [which, str(size.size), str(size.n), f"{100 * size.peak_accuracy:.1f}%", f"{100 * per_position:.1f}%",
             str(size.peak_iteration), f"{100 * size.final_accuracy:.1f}%"]
    if size.halting:
        cells.append(f"{100 * size.halting['accuracy']:.1f}% at mean iter {size.halting['mean_iteration']:.0f}")
    table.add_row(*cells)


def _eval_progress(unit: str) -> tuple[Progress, Callable[[str, int, int], None]]:
    """A transient bar per evaluated set, and the ``on_progress(label, done, total)`` that moves it;
    rich draws it only on a terminal, so logs and captured output stay the table alone."""
    progress = Progress(TextColumn("[bold]eval {task.description}"), BarColumn(),
                        TextColumn(f"{{task.completed}}/{{task.total}} {unit}"), TimeElapsedColumn(), TimeRemainingColumn(),
                        console=console, transient=True)
    bars: dict[str, int] = {}

    def show(label: str, done: int, total: int) -> None:
        if label not in bars:
            bars[label] = progress.add_task(label, total=total)
        progress.update(bars[label], completed=done)

    return progress, show


def run_eval(run: Path, sizes: list[int], iters: int, n: int, batch_size: int, seed: int, halt: int | None,
             precision: str = "fp32", data: Path | None = None, out: Path | None = None,
             suites: list[str] | None = None, steps_per_symbol: float | None = None) -> tuple[Path, Path, Table]:
    """Evaluate, write eval.json and the plot (into the run directory unless ``out`` says otherwise)."""
    from algosynth.evaluate import evaluate
    from algosynth.plots import plot_eval_curves

    if iters < 1 or n < 1 or batch_size < 1 or (halt is not None and halt < 1):
        raise AlgosynthError("--iters, --n, --batch-size and --halt must be positive integers")
    out_dir = _output_dir(run, "eval", out)
    where = f"external data {data}" if data else f"{n} fresh instances per size"
    table = _eval_table(f"exact match on {where}", halting=halt is not None)
    progress, show = _eval_progress("instances")
    with progress:
        result = evaluate(run, sizes, iters, n, batch_size, seed, halt, on_size=lambda s: _eval_row(table, s),
                          precision=precision, data=data, suites=suites, steps_per_symbol=steps_per_symbol,
                          on_progress=show)
    table.title = eval_title(where, result)
    out_dir.mkdir(parents=True, exist_ok=True)
    eval_json = out_dir / "eval.json"
    eval_json.write_text(json.dumps(result.to_dict()))
    plot = plot_eval_curves(eval_json, out_dir / "plots" / "eval.png")
    return eval_json, plot, table


@app.command("eval")
def eval_(
    run: Path = typer.Argument(..., help="A run directory, a checkpoint folder, or a shipped model (algosynth models)."),
    sizes: str = typer.Option(None, help="Comma-separated test sizes (default: the run's eval.sizes)."),
    iters: int = typer.Option(None, help="Iteration budget (default: the run's eval.iters)."),
    n: int = typer.Option(None, help="Instances per size (default: the run's eval.n)."),
    batch_size: int = typer.Option(None, help="Most instances per forward pass; lowered automatically to fit memory."),
    seed: int = typer.Option(None, help="Seed of the test instances (default: the run's eval.seed)."),
    halt: int = typer.Option(None, "--halt", help="Halt an instance once its prediction is unchanged for K iterations."),
    precision: str = typer.Option(None, help="fp32 (default), bf16 or tf32 (CUDA); reduced precision is compared with fp32."),
    data: Path = typer.Option(None, help="Evaluate on external mazes: a folder with inputs.npy and solutions.npy, or an .npz."),
    out: Path = typer.Option(None, help="Where to write eval.json and plots/ (default: the run directory)."),
    suites: str = typer.Option(None, help="Comma-separated hard suites to evaluate at every size too, or all (default: the run's eval.suites)."),
    steps_per_symbol: float = typer.Option(None, "--steps-per-symbol", help="Neural GPU only: think K steps per input symbol (e.g. 1.5, 2) instead of the trained count, to see whether accuracy holds past it (default: the run's eval.steps_per_symbol, else the trained count)."),
    kept: bool = typer.Option(False, "--kept", help="Tape runs that validate (rl.select_size): score the weights validation has kept so far instead of the checkpoint's, e.g. of a run stopped before its end."),
) -> None:
    """Accuracy at every test iteration and size (and on hard suites); writes eval.json and plots/eval.png."""
    from algosynth.checkpoints import load_checkpoint
    from algosynth.config import from_dict

    from algosynth.tape.tasks import TAPE_TASKS

    config = from_dict(load_checkpoint(run, with_training=False).meta["config"])
    defaults = config.eval
    size_list = _parse_sizes(sizes) if sizes else defaults.sizes
    n, batch_size, seed = _given_or(n, defaults.n), _given_or(batch_size, defaults.batch_size), _given_or(seed, defaults.seed)
    if config.task.name in TAPE_TASKS:
        given = [flag for flag, value in (("--iters", iters), ("--halt", halt), ("--precision", precision), ("--data", data),
                                          ("--suites", suites), ("--steps-per-symbol", steps_per_symbol)) if value is not None]
        if given:
            raise AlgosynthError(f"{', '.join(given)} do not apply to a tape run (it acts step by step until the episode ends); "
                                 "use --sizes, --n, --batch-size, --seed and --out")
        _eval_tape(run, size_list, n, batch_size, seed, out, kept)
        return
    if kept:
        raise AlgosynthError(f"--kept applies to tape runs that validate (rl.select_size); {run} holds a {config.model.name} model, "
                             "whose checkpoint holds one set of weights: drop --kept")
    eval_json, plot, table = run_eval(
        run, size_list, _given_or(iters, defaults.iters), n, batch_size, seed,
        _given_or(halt, defaults.halt), precision or "fp32", data, out,
        _parse_suites(suites) if suites else ([] if data else defaults.suites), steps_per_symbol,
    )
    console.print(table)
    console.print(f"wrote {eval_json} and {plot}")


def _given_or(value, default):
    """A command-line option when it was given, else the run's configured default (0 counts as given)."""
    return default if value is None else value


def _eval_tape(run: Path, sizes: list[int], n: int, batch_size: int, seed: int, out: Path | None, kept: bool) -> None:
    """Success rate (whole sequences written correctly) of a tape controller at each size; writes eval.json."""
    from algosynth.tape.evaluate import evaluate_tape

    if n < 1 or batch_size < 1:
        raise AlgosynthError("--n and --batch-size must be positive integers")
    table = Table(title=f"success rate of greedy episodes ({n} per size, seed {seed}{'; kept weights' if kept else ''})")
    for column in ("size", "n", "success rate", "symbols written"):
        table.add_column(column, justify="right")
    add_row = lambda r: table.add_row(str(r.size), str(r.n), f"{100 * r.success_rate:.1f}%", f"{100 * r.symbols_written:.1f}%")  # noqa: E731
    progress, show = _eval_progress("episodes")
    with progress:
        result = evaluate_tape(run, sizes, n, batch_size, seed, on_size=add_row, on_progress=show, kept=kept)
    out_dir = _output_dir(run, "eval", out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "eval.json").write_text(json.dumps(result))
    console.print(table)
    if kept:
        where = result["kept"]
        console.print(f"kept weights: epoch {where['epoch']} of pass {where['pass']}, {100 * where['validation']:.1f}% on validation")
    console.print(f"wrote {out_dir / 'eval.json'}")


@app.command()
def models() -> None:
    """List the models shipped with algosynth; their names work wherever a run directory does."""
    from algosynth.checkpoints import load_checkpoint, shipped_models

    table = Table(title="shipped models")
    for column in ("name", "task", "model", "trained on", "path"):
        table.add_column(column)
    for name, path in shipped_models().items():
        config = load_checkpoint(path, with_training=False).meta["config"]
        m, t = config["model"], config["task"]
        table.add_row(name, t["name"], f"{m['name']} width {m['width']}", f"size {t['train_size']}", str(path))
    console.print(table)


@app.command()
def export(
    run: Path = typer.Argument(..., help="A run directory or checkpoint folder."),
    destination: Path = typer.Argument(..., help="A new folder for the inference checkpoint."),
    command: str = typer.Option("", help="The command that trained the run, kept as provenance."),
) -> None:
    """Write a run's weights and config as a small, self-contained inference checkpoint."""
    from algosynth.checkpoints import export_weights

    console.print(f"wrote {export_weights(run, destination, {'command': command, 'source': str(run)})}")


@app.command()
def plot(run: Path = typer.Argument(..., help="A run directory.")) -> None:
    """Redraw a run's figures from metrics.jsonl and eval.json."""
    from algosynth.plots import plot_eval_curves, plot_training

    run_dir = _run_dir_of(run)
    if not run_dir.is_dir():
        raise AlgosynthError(f"{run_dir} does not exist; give a run directory such as runs/demo")
    made = []
    if (run_dir / "metrics.jsonl").exists():
        made.append(plot_training(run_dir / "metrics.jsonl", run_dir / "plots" / "training.png"))
    if (run_dir / "eval.json").exists():
        made.append(plot_eval_curves(run_dir / "eval.json", run_dir / "plots" / "eval.png"))
    if not made:
        raise AlgosynthError(f"{run_dir} has neither metrics.jsonl nor eval.json; train or evaluate it first")
    for path in made:
        console.print(f"wrote {path}")


@data_app.command("show")
def data_show(
    task: str = typer.Argument(..., help="Task name, e.g. prefix_sums."),
    size: int = typer.Option(None, help="Problem size (default: a small one for the task)."),
    seed: int = typer.Option(0, help="Seed of the instance."),
    suite: str = typer.Option(None, help="Show a named suite of hard inputs instead of a random instance."),
) -> None:
    """Print a text picture of one generated instance."""
    from algosynth.tasks import get_task

    problem = get_task(task)
    size = problem.example_size if size is None else size
    if size < 1:
        raise AlgosynthError(f"--size must be at least 1, got {size}")
    batch = problem.suite(suite, size, 1, seed) if suite else problem.generate(size, 1, seed)
    known = ", ".join(sorted(problem.suites))
    console.print(f"{task}, size {size}, " + (f"suite {suite}" if suite else f"seed {seed}") + (f"  (suites: {known})" if known else ""))
    console.print(problem.render(batch, 0), highlight=False, markup=False)


@solve_app.command("maze")
def solve_maze_command(
    size: int = typer.Option(59, help="Maze size in units (odd): 9, 13, 59, 201, 801, ..."),
    seed: int = typer.Option(0, help="Seed of the generated maze."),
    input_: Path = typer.Option(None, "--input", help="Solve this maze picture (.npy, [3, H, W], values in [0, 1]) instead."),
    checkpoint: str = typer.Option("mazes_cpu", help="A run directory, checkpoint folder or shipped model."),
    iters: int = typer.Option(3000, help="Most iterations to think."),
    halt: int = typer.Option(20, help="Stop once the answer is unchanged for this many iterations."),
    out: Path = typer.Option(Path("solution.png"), help="The picture of the solution."),
    gif: Path = typer.Option(None, help="Also write an animation of the thinking here."),
    every: int = typer.Option(5, help="Iterations between animation frames (raised to keep at most 300 frames)."),
    save_pred: Path = typer.Option(None, help="Also save the predicted pixel labels [H, W] as .npy."),
) -> None:
    """Think about one maze until the answer is stable, draw it, and check it is a shortest path."""
    from algosynth.evaluate import load_model
    from algosynth.solve import read_maze_file, solve_maze, write_outputs
    from algosynth.tasks.mazes import MazeTask

    if iters < 1 or halt < 1 or every < 1:
        raise AlgosynthError("--iters, --halt and --every must be positive integers")
    model, config, path = load_model(Path(checkpoint))
    if config.task.name != "mazes":
        raise AlgosynthError(f"{checkpoint} was trained on {config.task.name}, not mazes; give a maze model (algosynth models)")
    maze = read_maze_file(input_) if input_ else MazeTask().generate(size, 1, seed)
    device = next(model.parameters()).device
    solution = solve_maze(model, maze, iters, halt, max(every, iters // 300) if gif else None, device)
    written = write_outputs(maze, solution, out, gif, save_pred)
    stop = f"halted after {solution.iterations} iterations" if solution.halted else f"ran all {solution.iterations} iterations"
    console.print(f"{maze.inputs.shape[-1]}x{maze.inputs.shape[-1]} pixels: {stop} in {solution.seconds:.1f}s")
    console.print(f"valid shortest path: {'yes' if solution.valid_shortest_path else 'no'}"
                  + ("" if solution.exact_match is None else f"; matches the generator's path: {'yes' if solution.exact_match else 'no'}"))
    console.print("wrote " + ", ".join(str(p) for p in written))


@solve_app.command("tape")
def solve_tape_command(
    task: str = typer.Option(..., help="copy, reverse, walk, duplicate, repeat_copy, add2, add3 or mult."),
    input_: str = typer.Option(..., "--input", help="The instance, e.g. 31415; grids as rows separated by / (see --help of each task in the README)."),
    checkpoint: Path = typer.Option(None, help="A tape run directory or checkpoint (default: the shipped tape_TASK model)."),
) -> None:
    """Run a trained controller on one input and print the head's path and what it wrote."""
    import torch

    from algosynth.checkpoints import shipped_models
    from algosynth.tape.evaluate import load_controller, training_hint
    from algosynth.tape.render import render_episode
    from algosynth.tape.rollout import rollout
    from algosynth.tape.tasks import get_tape_task
    from algosynth.tape.user_input import parse_input

    tape_task = get_tape_task(task)
    episode = parse_input(tape_task, input_)
    if checkpoint is None:
        name = f"tape_{tape_task.name}"
        if name not in shipped_models():
            raise AlgosynthError(f"no shipped model for {name}; train one ({training_hint(task)}) and pass --checkpoint RUN_DIR")
        checkpoint = Path(name)
    controller, _, _ = load_controller(checkpoint, tape_task.name)
    with torch.no_grad():
        trajectory = rollout(controller, episode, keep_outputs=False)
    console.print(render_episode(episode, trajectory), highlight=False, markup=False)


@app.command()
def probe(
    run: Path = typer.Argument(..., help="A maze run directory, checkpoint folder or shipped model."),
    kind: str = typer.Argument(..., help="corruption, moving_goal or path_independence."),
    size: int = typer.Option(13, help="Maze size of the probed instances."),
    n: int = typer.Option(100, help="Number of mazes."),
    at: int = typer.Option(30, help="Iteration at which the state is corrupted or the goal moved."),
    iters: int = typer.Option(200, help="Iterations to think after that (or in all, for path independence)."),
    mode: str = typer.Option("noise", help="Corruption: noise, zeros or shuffle."),
    scale: float = typer.Option(1.0, help="Noise scale, relative to each state's RMS."),
    move: str = typer.Option("goal", help="Moving goal: move the goal or the start."),
    seed: int = typer.Option(0, help="Seed of the mazes and of the probe's randomness."),
    out: Path = typer.Option(None, help="Folder for the JSON and PNG (default: RUN/probes)."),
) -> None:
    """Robustness experiments: recovery from a corrupted state, a moved goal, path independence."""
    from algosynth import probes
    from algosynth.evaluate import load_model
    from algosynth.tasks import get_task

    if kind not in ("corruption", "moving_goal", "path_independence"):
        raise AlgosynthError(f"unknown probe {kind!r}; choose corruption, moving_goal or path_independence")
    if min(n, at, iters) < 1:
        raise AlgosynthError("--n, --at and --iters must be positive integers")
    model, config, _ = load_model(run)
    task = get_task(config.task.name)
    if kind == "moving_goal" and config.task.name != "mazes":
        raise AlgosynthError(f"the moving-goal probe needs a maze model; {run} was trained on {config.task.name}")
    if kind == "corruption":
        result = probes.corruption_probe(model, task, task.generate(size, n, seed), corrupt_at=at, iters=iters,
                                         mode=mode, scale=scale, seed=seed)
    elif kind == "moving_goal":
        result = probes.moving_goal_probe(model, task, task.mazes(size, n, seed), move_at=at, iters=iters,
                                          move=move, seed=seed)
    else:
        result = probes.path_independence_probe(model, task, task.generate(size, n, seed), iters=iters,
                                                noise_scale=scale, seed=seed)
    folder = _output_dir(run, "probes", out)
    json_path, png_path = probes.save_probe(result, folder if out else folder / "probes")
    summary = {k: v for k, v in result.to_dict().items() if not isinstance(v, (list, dict))}
    console.print(summary)
    console.print(f"wrote {json_path} and {png_path}")


@app.command()
def demo(out: Path = typer.Option(None, help="Run directory (default: a fresh runs/demo).")) -> None:
    """Train the CPU prefix-sums preset, then show it extrapolating to 128- and 512-bit strings."""
    from algosynth.config import load_config
    from algosynth.train import Trainer

    config = load_config("prefix_sums_cpu")
    run_dir = _fresh_run_dir(out) if out else _free_name(Path("runs") / "demo")
    started = time.time()
    console.print(f"training a DT-recall network (width {config.model.width}) on {config.task.n_train} "
                  f"{config.task.train_size}-bit strings for {config.train.epochs} epochs ...")
    Trainer(config, run_dir).fit()
    trained = time.time() - started
    ev = config.eval
    eval_json, plot_path, table = run_eval(run_dir, ev.sizes, ev.iters, ev.n, ev.batch_size, ev.seed, ev.halt)
    console.print(table)
    console.print(f"trained in {trained:.0f}s, total {time.time() - started:.0f}s; curves: {plot_path}; results: {eval_json}")


def main() -> None:
    try:
        app()
    except AlgosynthError as error:
        errors.print(f"error: {error}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except OSError as error:
        errors.print(f"error: {error.strerror or error} ({error.filename}); check the path and its permissions",
                     highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)

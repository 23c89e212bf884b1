"""The ``algosynth`` command. Every user mistake ends in one line on stderr and exit code 2."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from algosynth.errors import AlgosynthError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Neural algorithm synthesis: train small, think longer, solve larger.")
data_app = typer.Typer(no_args_is_help=True, help="Look at generated data.")
app.add_typer(data_app, name="data")
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


@app.command()
def train(
    preset: str = typer.Argument(None, help="A preset name from configs/ or a path to a YAML config."),
    set_: list[str] = typer.Option([], "--set", help="Override a config key, e.g. --set model.width=64."),
    out: Path = typer.Option(None, "--out", help="Run directory (default: runs/PRESET)."),
    resume: Path = typer.Option(None, "--resume", help="Continue the run in this directory exactly where it stopped."),
) -> None:
    """Train a model; Ctrl-C or SIGTERM writes a checkpoint that --resume continues from."""
    from algosynth.config import load_config
    from algosynth.train import Trainer

    if resume is not None:
        if preset is not None or set_:
            raise AlgosynthError("--resume continues a run with its own saved config; drop PRESET and --set")
        trainer = Trainer.resume(resume)
    else:
        if preset is None:
            raise AlgosynthError("name a preset or YAML file to train, e.g. algosynth train prefix_sums_cpu")
        config = load_config(preset, set_)
        run_dir = _fresh_run_dir(out or Path("runs") / Path(preset).stem)
        trainer = Trainer(config, run_dir)
    result = trainer.fit()
    console.print(f"trained {result.epochs} epochs in {result.seconds:.0f}s; run directory: {result.run_dir}")


def _eval_table(title: str) -> Table:
    table = Table(title=title)
    for column in ("size", "n", "peak", "at iter", "last iter", "halting"):
        table.add_column(column, justify="right")
    return table


def _eval_row(table: Table, size) -> None:
    halting = "-"
    if size.halting:
        h = size.halting
        halting = f"{100 * h['accuracy']:.1f}% at mean iter {h['mean_iteration']:.0f}"
    table.add_row(str(size.size), str(size.n), f"{100 * size.peak_accuracy:.1f}%", str(size.peak_iteration),
                  f"{100 * size.final_accuracy:.1f}%", halting)


def run_eval(run: Path, sizes: list[int], iters: int, n: int, batch_size: int, seed: int, halt: int | None) -> tuple[Path, Path, Table]:
    """Evaluate, write eval.json and the plot into the run directory, and return them with a table."""
    from algosynth.evaluate import evaluate
    from algosynth.plots import plot_eval_curves

    if iters < 1 or n < 1 or batch_size < 1 or (halt is not None and halt < 1):
        raise AlgosynthError("--iters, --n, --batch-size and --halt must be positive integers")
    run_dir = _run_dir_of(run)
    table = _eval_table(f"exact match on {n} fresh instances per size, up to {iters} iterations")
    result = evaluate(run, sizes, iters, n, batch_size, seed, halt, on_size=lambda s: _eval_row(table, s))
    eval_json = run_dir / "eval.json"
    eval_json.write_text(json.dumps(result.to_dict()))
    plot = plot_eval_curves(eval_json, run_dir / "plots" / "eval.png")
    return eval_json, plot, table


@app.command("eval")
def eval_(
    run: Path = typer.Argument(..., help="A run directory or a checkpoint folder."),
    sizes: str = typer.Option(None, help="Comma-separated test sizes (default: the run's eval.sizes)."),
    iters: int = typer.Option(None, help="Iteration budget (default: the run's eval.iters)."),
    n: int = typer.Option(None, help="Instances per size (default: the run's eval.n)."),
    batch_size: int = typer.Option(None, help="Instances per forward pass; lower it if memory runs out."),
    seed: int = typer.Option(None, help="Seed of the test instances (default: the run's eval.seed)."),
    halt: int = typer.Option(None, "--halt", help="Halt an instance once its prediction is unchanged for K iterations."),
) -> None:
    """Accuracy at every test iteration and size; writes eval.json and plots/eval.png."""
    from algosynth.checkpoints import load_checkpoint
    from algosynth.config import from_dict

    defaults = from_dict(load_checkpoint(run, with_training=False).meta["config"]).eval
    eval_json, plot, table = run_eval(
        run, _parse_sizes(sizes) if sizes else defaults.sizes, iters or defaults.iters, n or defaults.n,
        batch_size or defaults.batch_size, defaults.seed if seed is None else seed, halt if halt is not None else defaults.halt,
    )
    console.print(table)
    console.print(f"wrote {eval_json} and {plot}")


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
    size: int = typer.Option(16, help="Problem size."),
    seed: int = typer.Option(0, help="Seed of the instance."),
    suite: str = typer.Option(None, help="Show a named suite of hard inputs instead of a random instance."),
) -> None:
    """Print a text picture of one generated instance."""
    from algosynth.tasks import get_task

    problem = get_task(task)
    if size < 1:
        raise AlgosynthError(f"--size must be at least 1, got {size}")
    batch = problem.suite(suite, size, 1, seed) if suite else problem.generate(size, 1, seed)
    known = ", ".join(sorted(problem.suites))
    console.print(f"{task}, size {size}, " + (f"suite {suite}" if suite else f"seed {seed}") + (f"  (suites: {known})" if known else ""))
    console.print(problem.render(batch, 0), highlight=False, markup=False)


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

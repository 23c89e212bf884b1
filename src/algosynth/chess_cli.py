"""The chess commands: ``algosynth data chess build|check|eval`` and ``algosynth solve chess``."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import typer
from rich.console import Console

from algosynth.errors import AlgosynthError

chess_app = typer.Typer(no_args_is_help=True, help="Build, check and evaluate on chess puzzle sets.")
console = Console()


@chess_app.command("build")
def build_command(
    n: int = typer.Option(30000, "--n", help="Easy (training) puzzles wanted."),
    hard: int = typer.Option(None, "--hard", help="Hard (test) puzzles wanted (default: N / 6)."),
    workers: int = typer.Option(1, help="Worker processes, one Stockfish each."),
    out: Path = typer.Option(..., help="The puzzle folder; rerun the same command to resume it."),
    engine: Path = typer.Option(None, help="Stockfish binary (default: stockfish on PATH or /usr/games/stockfish)."),
    seed: int = typer.Option(0, help="Seed of the positions; the same seed gives the same puzzles."),
    max_jobs: int = typer.Option(1_000_000, help="Stop after this many jobs even if the targets are not met."),
) -> None:
    """Find puzzles with a unique right move with Stockfish; resumable, parallel, deterministic."""
    from algosynth.chess_builder import build

    hard = n // 6 if hard is None else hard
    command = "algosynth " + " ".join(shlex.quote(a) for a in sys.argv[1:])

    def report(meta: dict) -> None:
        counts = meta["counts"]
        console.print(f"jobs {meta['jobs']}: easy {counts['easy']}/{n}, hard {counts['hard']}/{hard}, "
                      f"{meta['puzzles_per_core_minute']} puzzles per core-minute", highlight=False)

    meta = build(out, n, hard, workers, engine, seed, max_jobs, command=command, on_round=report)
    state = "complete" if meta["complete"] else "incomplete (rerun the same command to continue)"
    console.print(f"wrote {out}: {meta['counts']['easy']} easy and {meta['counts']['hard']} hard puzzles, {state}")


@chess_app.command("check")
def check_command(folder: Path = typer.Argument(None, help="A puzzle folder (default: the shipped set).")) -> None:
    """Re-check every puzzle with python-chess: a legal position, and a legal solution move."""
    from algosynth.chess_data import SHIPPED_DIR, SPLITS, load_split
    from algosynth.tasks.chess import check_puzzles

    folder = folder or SHIPPED_DIR
    for split in SPLITS:
        puzzles = load_split(split, folder)
        check_puzzles(puzzles)
        console.print(f"{split}: {len(puzzles)} puzzles, every position legal and every solution a legal move")


@chess_app.command("eval")
def eval_command(
    runs: list[Path] = typer.Argument(..., help="Run directories or checkpoints to compare (e.g. DT-recall and feed-forward)."),
    split: str = typer.Option("hard", help="easy or hard."),
    n: int = typer.Option(1000, help="Puzzles to test on (the first N of the split in a seeded order)."),
    iters: int = typer.Option(100, help="Test-time iterations."),
    batch_size: int = typer.Option(250, help="Puzzles per forward pass."),
    out: Path = typer.Option(Path("runs/chess_eval"), help="Folder for chess_eval.json and chess_eval.png."),
) -> None:
    """Accuracy against iterations by the top-2 rule and by the legal-move decoder, one line per run."""
    from algosynth.chess_eval import evaluate_runs

    json_path, png_path, results = evaluate_runs(runs, split, n, iters, batch_size, out)
    for result in results:
        console.print(f"{result['run']}: top-2 peak {100 * result['top2_peak']:.1f}% at iteration {result['top2_peak_iteration']}, "
                      f"legal-move decoder peak {100 * result['decoder_peak']:.1f}% at iteration {result['decoder_peak_iteration']}",
                      highlight=False)
    console.print(f"wrote {json_path} and {png_path}")


def solve_chess_command(
    fen: str = typer.Option(..., "--fen", help="The position, as a FEN string."),
    checkpoint: Path = typer.Option(Path("chess_cpu"), help="A chess run directory, checkpoint folder or shipped model."),
    iters: int = typer.Option(30, help="Iterations to think."),
    engine: Path = typer.Option(None, help="Stockfish binary, to say whether the move is the engine's best."),
) -> None:
    """Predict the move in one position, say whether it is legal and (with Stockfish) the engine's best."""
    from algosynth.chess_eval import solve_position

    if iters < 1:
        raise AlgosynthError("--iters must be a positive integer")
    for line in solve_position(fen, checkpoint, iters, engine):
        console.print(line, highlight=False, markup=False)

"""Train several Neural GPU recipes side by side, then pick each run's checkpoint on a validation
length and score it on a test length: how reliable a recipe is, over seeds, on many cores at once.

    python benchmarks/ngpu_sweep.py --out DIR --seconds 400 --seeds 0,1,2 \\
        "base=" "wide=model.width=48" "lr1e-3=model.width=48 optim.lr=0.001"

Each recipe is ``name=overrides`` (space-separated ``--set`` overrides of ``--preset``). Every
(recipe, seed) trains in its own single-threaded process, ``--jobs`` at a time, for at most
``--seconds`` of wall clock (then SIGTERM, which makes the trainer write a checkpoint); a run
directory that already exists is resumed instead, so a sweep continues across calls. Selection
uses fresh instances (seed 777) that share nothing with the test instances (the evaluation default,
seed 12345). The table goes to stdout and ``DIR/sweep.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

VALIDATION_SEED = 777


def train_command(preset: str, run_dir: Path, overrides: list[str], seed: int) -> list[str]:
    base = [sys.executable, "-m", "algosynth", "train"]
    if (run_dir / "checkpoints").is_dir():
        return base + ["--resume", str(run_dir)]
    sets = [*overrides, f"train.seed={seed}", f"task.seed={seed}"]
    return base + [preset, "--out", str(run_dir)] + [arg for s in sets for arg in ("--set", s)]


def train_all(jobs: list[tuple[Path, list[str]]], parallel: int, seconds: float) -> None:
    """Run the training commands, ``parallel`` at a time, each stopped by SIGTERM after ``seconds``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    pending, running = list(jobs), []
    while pending or running:
        while pending and len(running) < parallel:
            run_dir, command = pending.pop(0)
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            log = open(run_dir.parent / f"{run_dir.name}.log", "a")
            running.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), time.time(), log))
        time.sleep(1)
        for entry in list(running):
            process, started, log = entry
            if process.poll() is None and time.time() - started > seconds:
                process.send_signal(signal.SIGTERM)
                process.wait()
            if process.poll() is not None:
                log.close()
                running.remove(entry)


def score(checkpoint: str, size: int, n: int, seed: int) -> float:
    import torch

    from algosynth.evaluate import evaluate

    torch.set_num_threads(1)
    result = evaluate(Path(checkpoint), [size], iters=1, n=n, batch_size=n, seed=seed)
    return result.sizes[0].final_accuracy


def select_and_test(run_dirs: list[Path], parallel: int, val_size: int, test_size: int, n: int) -> list[dict]:
    """Each run's best checkpoint at ``val_size`` (the later one on ties), scored at ``test_size``."""
    checkpoints = {run: sorted(str(p) for p in (run / "checkpoints").glob("step_*")) for run in run_dirs}
    with ProcessPoolExecutor(parallel) as pool:
        futures = {(run, c): pool.submit(score, c, val_size, n, VALIDATION_SEED) for run, cs in checkpoints.items() for c in cs}
        val = {key: future.result() for key, future in futures.items()}
        best = {run: max(cs, key=lambda c: (val[run, c], c)) for run, cs in checkpoints.items() if cs}
        tests = {run: pool.submit(score, c, test_size, n, 12345) for run, c in best.items()}
        rows = []
        for run in run_dirs:
            if run not in best:
                rows.append({"run": run.name, "checkpoint": None})
                continue
            curve = {Path(c).name: val[run, c] for c in checkpoints[run]}
            rows.append({"run": run.name, "checkpoint": best[run], "last": checkpoints[run][-1],
                         f"val@{val_size}": val[run, best[run]], f"test@{test_size}": tests[run].result(),
                         "val_curve": curve})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipes", nargs="+", help="name=overrides")
    parser.add_argument("--preset", default="ngpu_badd_cpu")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--seconds", type=float, default=400)
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--val-size", type=int, default=80)
    parser.add_argument("--test-size", type=int, default=200)
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = []
    for recipe in args.recipes:
        name, _, overrides = recipe.partition("=")
        for seed in seeds:
            run_dir = args.out / f"{name}-s{seed}"
            jobs.append((run_dir, train_command(args.preset, run_dir, overrides.split(), seed)))
    started = time.time()
    train_all(jobs, args.jobs, args.seconds)
    trained = time.time() - started
    rows = select_and_test([run_dir for run_dir, _ in jobs], args.jobs, args.val_size, args.test_size, args.n)
    (args.out / "sweep.json").write_text(json.dumps({"args": sys.argv[1:], "train_seconds": trained, "rows": rows}, indent=1))
    for row in rows:
        if row["checkpoint"] is None:
            print(f"{row['run']:<28} no checkpoint")
            continue
        step = Path(row["checkpoint"]).name
        print(f"{row['run']:<28} last {Path(row['last']).name}  best {step}  "
              f"val@{args.val_size} {row[f'val@{args.val_size}']:.2f}  test@{args.test_size} {row[f'test@{args.test_size}']:.2f}")
    print(f"trained for {trained:.0f} s of wall clock, {len(jobs)} runs, {args.jobs} at a time")


if __name__ == "__main__":
    main()

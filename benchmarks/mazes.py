"""Maze benchmarks: generation speed, training steps per second, evaluation speed and peak memory.

    python benchmarks/mazes.py generation
    python benchmarks/mazes.py training --width 32 --iters 20 --batch 50
    python benchmarks/mazes.py evaluation --size 59 --width 32 --iters 1000 --batch 10
    python benchmarks/mazes.py evaluation --size 201 --width 32 --iters 1000 --batch 1

Each evaluation runs in a fresh process, so its peak resident memory is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch


def generation() -> list[dict]:
    """The issue's targets: 50,000 9x9 in < 30 s, 1,000 59x59 in < 60 s, one 801x801 in < 20 s (one core)."""
    from algosynth.tasks.mazes import MazeTask

    torch.set_num_threads(1)
    rows = []
    for size, n, target in ((9, 50_000, 30), (59, 1_000, 60), (801, 1, 20)):
        started = time.time()
        MazeTask().generate(size, n, seed=0)
        seconds = time.time() - started
        rows.append({"size": size, "n": n, "seconds": round(seconds, 2), "target_seconds": target, "met": seconds < target})
    return rows


def training(width: int, iters: int, batch: int, steps: int = 10) -> list[dict]:
    """Optimiser steps per second on 9x9 mazes with the delta loss (every step's graph kept)."""
    from algosynth.config import load_config
    from algosynth.train import Trainer

    config = load_config("mazes_cpu", [f"model.width={width}", f"loss.iters={iters}", f"train.batch_size={batch}",
                                       f"task.n_train={batch * (steps + 1)}", "task.n_val=1", "task.cache=false"])
    trainer = Trainer(config, "/tmp/algosynth-bench-train", show_progress=False)
    data, _ = trainer._data()
    trainer._train_step(data.select(slice(0, batch)))  # warm-up
    started = time.time()
    for step in range(1, steps + 1):
        trainer._train_step(data.select(slice(step * batch, (step + 1) * batch)))
    seconds = time.time() - started
    return [{"width": width, "T": iters, "batch": batch, "steps_per_second": round(steps / seconds, 3)}]


def evaluation(size: int, width: int, iters: int, batch: int) -> list[dict]:
    """Thinking iterations per second and peak memory, streaming, for one batch of mazes."""
    from algosynth.evaluate import evaluate_size
    from algosynth.models import DTNet
    from algosynth.tasks.mazes import MazeTask

    task = MazeTask()
    model = DTNet(task.spec, width=width).eval()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.time()
    evaluate_size(model, task, size, batch, iters, batch, 0, torch.device("cpu"))
    seconds = time.time() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [{"size": size, "width": width, "batch": batch, "iters": iters, "seconds": round(seconds, 1),
             "iterations_per_second": round(iters / seconds, 2), "peak_rss_mib": round(peak, 1),
             "rss_before_mib": round(before, 1)}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["generation", "training", "evaluation"])
    parser.add_argument("--size", type=int, default=59)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--iters", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=10)
    args = parser.parse_args()
    if args.what == "generation":
        rows = generation()
    elif args.what == "training":
        rows = training(args.width, args.iters, args.batch)
    else:
        rows = evaluation(args.size, args.width, args.iters, args.batch)
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()

"""Where a trained network's long additions go wrong: propagate runs, carry ripples, error positions.

    OMP_NUM_THREADS=1 python benchmarks/addition_errors.py RUN_OR_CHECKPOINT --size 200 --n 500 --seed 4242 [--suite digit_runs]

A column whose digits sum to base - 1 propagates: a carry that enters it leaves it, and none is
made there, so the digits of a stretch of such columns, and the one above it, are decided by the
column below the stretch. A carry ripples when it actually runs through such a stretch. If long
stretches were what failed, exact match would fall as a sum's longest one grows. The script scores
fresh sums (the same ones `algosynth eval --seed` draws), then prints exact match by the longest
propagate run and by the longest ripple (a run that a carry entered), the wrong digits per failed
sum, and the positions of the wrong digits in tenths of the output. ``--suite`` scores a named hard
suite (the sums `algosynth eval --suites` draws) instead of uniform random sums.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from algosynth.checkpoints import load_checkpoint
from algosynth.errors import AlgosynthError
from algosynth.evaluate import final_predictions, model_from_checkpoint, read_at_steps
from algosynth.tasks.arithmetic import arithmetic_task

RUN_BINS = ((0, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, None))


def longest_runs(a: np.ndarray, b: np.ndarray, base: int, carried_only: bool) -> np.ndarray:
    """Per sum, the longest run of columns whose digits sum to base - 1 (only those a carry enters
    and leaves when ``carried_only``: a ripple)."""
    carry = np.zeros(a.shape[0], np.int64)
    run = np.zeros(a.shape[0], np.int64)
    longest = np.zeros(a.shape[0], np.int64)
    for position in range(a.shape[1]):
        column = a[:, position].astype(np.int64) + b[:, position]
        propagates = (column == base - 1) & ((carry == 1) | (not carried_only))
        run = np.where(propagates, run + 1, 0)
        longest = np.maximum(longest, run)
        carry = (column + carry) // base
    return longest


def print_by_run(right: np.ndarray, longest: np.ndarray, label: str) -> None:
    print(f"| longest {label} | sums | exact match |\n|---|---|---|")
    for low, high in RUN_BINS:
        chosen = (longest >= low) & (longest <= (np.inf if high is None else high))
        score = f"{right[chosen].mean():.1%}" if chosen.any() else "-"
        bin_label = f"{low}-{high}" if high is not None else f"{low}+"
        print(f"| {bin_label} | {int(chosen.sum())} | {score} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--suite", help="a named hard suite of the task (default: uniform random sums)")
    parser.add_argument("--steps-per-symbol", type=float, help="read the answer after this many steps per input symbol "
                        "(default: the run's eval.steps_per_symbol, else its trained count)")
    args = parser.parse_args()
    if args.n < 1 or args.batch_size < 1:
        raise SystemExit(f"error: --n and --batch-size must be at least 1, got {args.n} and {args.batch_size}")
    device = torch.device(args.device)
    try:
        checkpoint = load_checkpoint(args.checkpoint, with_training=False)
        trained = checkpoint.meta["config"]["task"]["name"]
        task = arithmetic_task(trained)
        if task is None or task.op != "addition":
            raise AlgosynthError(f"{args.checkpoint} was trained on {trained}; give a run of addition in any base")
        model, config, _ = model_from_checkpoint(checkpoint, device)
        read_at_steps(model, config, args.steps_per_symbol)
        data = task.suite(args.suite, args.size, args.n, args.seed) if args.suite else task.generate(args.size, args.n, args.seed)
        predicted = final_predictions(model, task, data, 1, args.batch_size, device)
    except AlgosynthError as error:
        raise SystemExit(f"error: {error}") from None
    wrong = (predicted != data.targets).numpy()
    right = ~wrong.any(axis=1)
    a, b = task.decode(data)
    drawn = f"suite {args.suite}" if args.suite else "random sums"
    print(f"{args.checkpoint}: {trained} at {args.size} digits, {args.n} {drawn} of seed {args.seed}: "
          f"exact match {right.mean():.1%}")
    print_by_run(right, longest_runs(a, b, task.base, carried_only=False), "propagate run")
    print_by_run(right, longest_runs(a, b, task.base, carried_only=True), "carry ripple")
    failed = wrong[~right]
    if not len(failed):
        return
    per_sum = np.bincount(failed.sum(axis=1))
    print("wrong digits per failed sum:", {k: int(v) for k, v in enumerate(per_sum) if v})
    tenths = np.bincount(np.nonzero(failed)[1] * 10 // wrong.shape[1], minlength=10)
    print("wrong digits by position, in tenths of the 2k + 1 output digits from the least significant "
          "(the sum fills the lower half):", tenths.tolist())


if __name__ == "__main__":
    main()

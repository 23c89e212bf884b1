"""Score an arithmetic checkpoint against Python's integers, without the task's own targets.

    OMP_NUM_THREADS=1 python benchmarks/check_with_python_ints.py RUN_OR_CHECKPOINT --size 200 --n 50 --seed 31337 [--steps-per-symbol 1.5] [--suite padded_small --show 20]

A surprising figure (binary multiplication right at 200 bits after an hour on a CPU) should not rest
on the code that made it. This reads the operands back from the input encoding, reads the network's
2k + 1 output digits as an integer, and compares it with Python's ``a + b`` or ``a * b``; the task's
targets and scoring are not used. ``--suite`` draws a named hard suite instead of random operands,
and ``--show K`` prints up to K wrong instances as integers, to see which operands fail.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from algosynth.checkpoints import load_checkpoint
from algosynth.errors import AlgosynthError
from algosynth.evaluate import final_predictions, model_from_checkpoint, read_at_steps
from algosynth.tasks.arithmetic import arithmetic_task


def as_int(digits, base: int) -> int:
    """Least significant digit first, as the encoding writes them."""
    return sum(int(d) * base**i for i, d in enumerate(digits))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--seed", type=int, default=31337)
    parser.add_argument("--batch-size", type=int, default=50, help="instances thought about at once")
    parser.add_argument("--suite", help="a named hard suite of the task (default: random operands)")
    parser.add_argument("--show", type=int, default=0, help="print up to this many wrong instances as integers")
    parser.add_argument("--steps-per-symbol", type=float, help="read the answer after this many steps per input symbol "
                        "(default: the run's eval.steps_per_symbol, else its trained count)")
    args = parser.parse_args()
    if args.n < 1 or args.batch_size < 1:
        raise SystemExit(f"error: --n and --batch-size must be at least 1, got {args.n} and {args.batch_size}")
    try:
        checkpoint = load_checkpoint(args.checkpoint, with_training=False)
        trained = checkpoint.meta["config"]["task"]["name"]
        task = arithmetic_task(trained)
        if task is None:
            raise AlgosynthError(f"{args.checkpoint} was trained on {trained}; give a run of addition or multiplication")
        model, config, _ = model_from_checkpoint(checkpoint, torch.device("cpu"))
        steps = read_at_steps(model, config, args.steps_per_symbol)
        data = task.suite(args.suite, args.size, args.n, args.seed) if args.suite else task.generate(args.size, args.n, args.seed)
        predicted = final_predictions(model, task, data, 1, args.batch_size, torch.device("cpu"))
    except AlgosynthError as error:
        raise SystemExit(f"error: {error}") from None
    a, b = task.decode(data)
    combine = (lambda x, y: x + y) if task.op == "addition" else (lambda x, y: x * y)
    sign = "+" if task.op == "addition" else "x"
    right = 0
    for i in range(args.n):
        x, y, got = as_int(a[i], task.base), as_int(b[i], task.base), as_int(predicted[i].tolist(), task.base)
        expected = combine(x, y)
        if got == expected:
            right += 1
        elif i + 1 - right <= args.show:
            print(f"wrong: {x} {sign} {y} = {expected}, predicted {got}")
    read_at = f"{steps} steps per symbol" if steps is not None else "the trained step count"
    drawn = f"suite {args.suite}" if args.suite else "random instances"
    print(f"{args.checkpoint}: {trained} at {args.size} digits, {args.n} {drawn} of seed {args.seed}, read after {read_at}: "
          f"{right} right by Python's integers ({right / args.n:.1%})")


if __name__ == "__main__":
    main()

"""Generation speed of the arithmetic and sequence tasks: seconds for n instances at each size.

    python benchmarks/sequence_tasks.py --n 1000 --sizes 20 200 2000

Prints one markdown row per task and size (best of ``--repeats`` timings of wall-clock and of CPU
time, since other jobs on a shared machine inflate the wall clock) and, with ``--suites``, one row
per hard suite at the largest size.
"""

from __future__ import annotations

import argparse
import time

from algosynth.tasks import get_task

TASK_NAMES = ["addition_base2", "addition_base10", "multiplication_base2", "multiplication_base10",
              "copy", "reverse", "duplicate", "sort", "repeat_copy"]


def best_seconds(make, repeats: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds: CPU time is what the work costs when other jobs share the cores."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        make()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 200, 2000])
    parser.add_argument("--tasks", nargs="+", default=TASK_NAMES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--suites", action="store_true", help="Also time every hard suite at the largest size.")
    args = parser.parse_args()
    print("| task | set | size | n | wall s | CPU s |\n|---|---|---|---|---|---|")
    for name in args.tasks:
        task = get_task(name)
        for size in args.sizes:
            wall, cpu = best_seconds(lambda: task.generate(size, args.n, 0), args.repeats)
            print(f"| {name} | random | {size} | {args.n} | {wall:.2f} | {cpu:.2f} |", flush=True)
        for suite in sorted(task.suites) if args.suites else []:
            size = max(args.sizes)
            wall, cpu = best_seconds(lambda: task.suite(suite, size, args.n, 0), args.repeats)
            print(f"| {name} | {suite} | {size} | {args.n} | {wall:.2f} | {cpu:.2f} |", flush=True)


if __name__ == "__main__":
    main()

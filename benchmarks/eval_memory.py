"""Peak memory of streaming evaluation against the number of test iterations.

The thinking loop keeps one iteration alive at a time, so peak memory must not grow with the
iteration budget. Each budget runs in a fresh process and reports its peak resident set size.

    python benchmarks/eval_memory.py --size 512 --width 64 --batch 100 --iters 100 1000 3000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import resource, time, torch
from algosynth.evaluate import evaluate_size
from algosynth.models import DTNet
from algosynth.tasks import get_task
torch.manual_seed(0)
task = get_task("prefix_sums")
model = DTNet(task.spec, width={width}).eval()
started = time.time()
evaluate_size(model, task, {size}, {batch}, {iters}, {batch}, 0, torch.device("cpu"))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.time() - started)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--iters", type=int, nargs="+", default=[100, 1000, 3000])
    args = parser.parse_args()
    rows = []
    for iters in args.iters:
        code = CHILD.format(width=args.width, size=args.size, batch=args.batch, iters=iters)
        peak_mib, seconds = map(float, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
        rows.append({"iters": iters, "peak_rss_mib": round(peak_mib, 1), "seconds": round(seconds, 1),
                     "iterations_per_second": round(iters / seconds, 1)})
        print(json.dumps(rows[-1]), flush=True)


if __name__ == "__main__":
    main()

"""Accuracy of a maze model on a large test set, in resumable chunks.

    python benchmarks/maze_accuracy.py --model mazes_cpu --size 59 --n 1000 --iters 400 --halt 20 \
        --chunk 50 --out benchmarks/results/mazes_cpu_59

On 2 CPU cores 1,000 59x59 mazes take about two hours, longer than one sitting may allow. The
instances are exactly those of ``algosynth eval --sizes 59 --n 1000`` (same task, size, count and
seed); each chunk's counts are written as soon as it finishes, and a rerun skips finished chunks,
so the measurement survives interruption. ``--summary`` combines the chunks written so far.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch


def chunk_file(out: Path, start: int) -> Path:
    return out / f"chunk_{start:06d}.json"


def run_chunks(model_name: str, size: int, n: int, iters: int, halt: int | None, chunk: int, seed: int, out: Path) -> None:
    from algosynth.evaluate import evaluate_batch, load_model
    from algosynth.tasks import get_task

    model, config, path = load_model(Path(model_name), torch.device("cpu"))
    task = get_task(config.task.name)
    data = task.generate(size, n, seed)
    out.mkdir(parents=True, exist_ok=True)
    for start in range(0, n, chunk):
        target = chunk_file(out, start)
        if target.exists():
            continue
        started = time.time()
        result = evaluate_batch(model, task, data.select(slice(start, start + chunk)), iters, halt)
        record = {
            "checkpoint": path, "size": size, "seed": seed, "start": start, "count": len(result["halt_right"]),
            "iters": iters, "halt": halt, "exact": result["exact"].tolist(),
            "halted_at": result["halted_at"].tolist(), "halt_right": result["halt_right"].tolist(),
            "seconds": round(time.time() - started, 1),
        }
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps(record))
        partial.replace(target)
        print(f"chunk {start}: {sum(record['halt_right'])}/{record['count']} right at halt, {record['seconds']} s", flush=True)


def summary(out: Path) -> dict:
    records = [json.loads(p.read_text()) for p in sorted(out.glob("chunk_*.json"))]
    if not records:
        raise SystemExit(f"no finished chunks in {out}")
    n = sum(r["count"] for r in records)
    curve = [sum(r["exact"][i] for r in records) / n for i in range(records[0]["iters"])]
    peak = max(range(len(curve)), key=curve.__getitem__)
    halted_at = [t for r in records for t in r["halted_at"]]
    return {
        "checkpoint": records[0]["checkpoint"], "size": records[0]["size"], "seed": records[0]["seed"],
        "n_evaluated": n, "iters": records[0]["iters"], "halt": records[0]["halt"],
        "final_accuracy": curve[-1], "peak_accuracy": curve[peak], "peak_iteration": peak + 1,
        "accuracy_at": {t: curve[t - 1] for t in (100, 200, 300, 400, 500, 600, 800, 1000) if t <= len(curve)},
        "halted_accuracy": sum(sum(r["halt_right"]) for r in records) / n,
        "mean_halt_iteration": sum(halted_at) / len(halted_at),
        "cpu_seconds_total": sum(r["seconds"] for r in records),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="mazes_cpu", help="run directory, checkpoint or shipped model name")
    parser.add_argument("--size", type=int, default=59)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--iters", type=int, default=400)
    parser.add_argument("--halt", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=50)
    parser.add_argument("--seed", type=int, default=12345, help="the eval seed (algosynth eval's default)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--summary", action="store_true", help="only combine the chunks already written")
    args = parser.parse_args()
    if not args.summary:
        run_chunks(args.model, args.size, args.n, args.iters, args.halt, args.chunk, args.seed, args.out)
    print(json.dumps(summary(args.out), indent=2))


if __name__ == "__main__":
    main()

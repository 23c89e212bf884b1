"""Accuracy of a maze model on a large test set, in resumable chunks.

    for i in 0 1; do OMP_NUM_THREADS=1 python benchmarks/maze_accuracy.py --model mazes_cpu --size 59 --n 1000 \
        --iters 400 --halt 20 --chunk 50 --batch-size 2 --shard $i/2 --out runs/maze1000 & done; wait
    python benchmarks/maze_accuracy.py --out runs/maze1000 --summary

On 2 CPU cores 1,000 59x59 mazes take one to two hours, longer than one sitting may allow. The
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


def run_chunks(model_name: str, size: int, n: int, iters: int, halt: int | None, chunk: int, batch_size: int, seed: int,
               out: Path, shard: tuple[int, int] = (0, 1)) -> None:
    """Evaluate every chunk not yet written; ``shard=(i, k)`` takes only every k-th chunk from the i-th, so k
    single-threaded processes can share the work without colliding."""
    from algosynth.evaluate import evaluate_batch, load_model
    from algosynth.tasks import get_task

    model, config, path = load_model(Path(model_name), torch.device("cpu"))
    task = get_task(config.task.name)
    data = task.generate(size, n, seed)
    out.mkdir(parents=True, exist_ok=True)
    for start in range(shard[0] * chunk, n, shard[1] * chunk):
        target = chunk_file(out, start)
        if target.exists():
            continue
        started = time.time()
        parts = [evaluate_batch(model, task, data.select(slice(first, min(first + batch_size, start + chunk, n))), iters, halt)
                 for first in range(start, min(start + chunk, n), batch_size)]
        record = {
            "checkpoint": path, "size": size, "seed": seed, "start": start,
            "count": sum(len(part["halt_right"]) for part in parts), "iters": iters, "halt": halt,
            "exact": sum(part["exact"] for part in parts).tolist(),
            "halted_at": torch.cat([part["halted_at"] for part in parts]).tolist(),
            "halt_right": torch.cat([part["halt_right"] for part in parts]).tolist(),
            "batch_size": batch_size, "seconds": round(time.time() - started, 1),
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
    parser.add_argument("--chunk", type=int, default=50, help="mazes per result file (the unit of resuming)")
    parser.add_argument("--batch-size", type=int, default=10,
                        help="mazes per forward pass; on the CPU 10 runs 2.3x faster per maze than 50 (cache)")
    parser.add_argument("--seed", type=int, default=12345, help="the eval seed (algosynth eval's default)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shard", default="0/1", help="I/K: this process takes chunks I, I+K, I+2K, ...; on 2 cores "
                        "two single-threaded shards (OMP_NUM_THREADS=1) outrun one two-threaded process")
    parser.add_argument("--summary", action="store_true", help="only combine the chunks already written")
    args = parser.parse_args()
    if not args.summary:
        shard = tuple(int(part) for part in args.shard.split("/"))
        run_chunks(args.model, args.size, args.n, args.iters, args.halt, args.chunk, args.batch_size, args.seed, args.out,
                   shard)
    print(json.dumps(summary(args.out), indent=2))


if __name__ == "__main__":
    main()

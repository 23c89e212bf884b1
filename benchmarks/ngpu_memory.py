"""Activation memory of one Neural GPU training step, with and without per-step activation checkpointing.

A training step keeps every step's activations for the backward pass: 2n steps over an n x 4 x m
grid, so memory grows as n^2 m. With ``model.checkpoint_steps`` only each step's input grid is kept
and the step is recomputed during backward. Each configuration runs in a fresh process and reports
the growth of its peak resident memory (CPU) or the peak allocated memory (CUDA) during one
forward+backward, and the step's wall time.

    python benchmarks/ngpu_memory.py --sizes 10,20,30 --width 24 --batch 16
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def measure(size: int, width: int, batch: int, checkpoint_steps: bool, device: str) -> dict:
    """One forward+backward at operand size ``size``; runs inside the child process."""
    import torch

    from algosynth.losses import final_step_loss
    from algosynth.models.neural_gpu import NeuralGPU
    from algosynth.tasks import get_task

    torch.set_num_threads(2)
    task = get_task("addition_base2")
    model = NeuralGPU(task.spec, width=width, checkpoint_steps=checkpoint_steps).to(device)
    data = task.generate(size, batch, 0).to(device)
    rng = torch.Generator().manual_seed(0)
    final_step_loss(model, task.generate(1, 2, 1).to(device), 2, rng).loss.backward()  # warm up kernels
    model.zero_grad()
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    started = time.perf_counter()
    final_step_loss(model, data, model.iters_for(data.inputs), rng).loss.backward()
    if device == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"size": size, "length": 2 * size + 1, "steps": 2 * (2 * size + 1), "width": width, "batch": batch,
            "checkpoint_steps": checkpoint_steps, "device": device,
            "peak_mib": round((peak - base) / 2**20, 1), "seconds": round(time.perf_counter() - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,20,30", help="operand sizes in bits, comma-separated")
    parser.add_argument("--width", type=int, default=24)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        size, checkpoint_steps = json.loads(args.child)
        print(json.dumps(measure(size, args.width, args.batch, checkpoint_steps, args.device)))
        return
    print("| bits | length n | steps | checkpointing | peak activation MiB | step seconds |")
    print("|---:|---:|---:|:---:|---:|---:|")
    for size in (int(s) for s in args.sizes.split(",")):
        for checkpoint_steps in (False, True):
            child = [sys.executable, __file__, "--width", str(args.width), "--batch", str(args.batch),
                     "--device", args.device, "--child", json.dumps([size, checkpoint_steps])]
            row = json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
            print(f"| {row['size']} | {row['length']} | {row['steps']} | {'on' if checkpoint_steps else 'off'} | "
                  f"{row['peak_mib']} | {row['seconds']} |", flush=True)


if __name__ == "__main__":
    main()

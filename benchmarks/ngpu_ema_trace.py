"""Trace extrapolation during training: the live weights against their moving average (train.ema).

    OMP_NUM_THREADS=1 python benchmarks/ngpu_ema_trace.py --out DIR --steps 20000 --sizes 8,16,32 \\
        --set task.train_size=8 --set model.width=24 --set curriculum.suite_share=0.25 --set train.seed=0 --set task.seed=0

Every ``--every`` steps both the live network and the average score ``--n`` fresh instances (seed
777) at each size; one JSON line per trace point goes to stdout. Checkpoints only ever hold one of
the two, so this in-process trace is how to see both on one training trajectory. ``train.ema``
defaults to 0.999 here; training is the preset's (``--preset``) with the overrides.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from algosynth.config import load_config
from algosynth.evaluate import evaluate_size
from algosynth.train import Trainer

VALIDATION_SEED = 777


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--preset", default="ngpu_badd_improved_cpu")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--sizes", default="8,16,32")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    config = load_config(args.preset, ["train.ema=0.999", "train.epochs=100000", "train.checkpoint_every=100000", *args.overrides])
    trainer = Trainer(config, args.out, show_progress=False)
    started, train_step = time.time(), trainer._train_step

    def step_and_trace(batch):
        result = train_step(batch)
        if trainer.global_step % args.every == 0:
            row = {"step": trainer.global_step, "seconds": round(time.time() - started), "curriculum_size": trainer.curriculum.state.size}
            for name, model in (("live", trainer.model), ("average", trainer.average)):
                model.eval()
                for size in sizes:
                    score = evaluate_size(model, trainer.task, size, args.n, 1, args.n, VALIDATION_SEED, torch.device("cpu"))
                    row[f"{name}_{size}"] = score.final_accuracy
            trainer.model.train()
            print(json.dumps(row), flush=True)
            if trainer.global_step >= args.steps:
                raise SystemExit(0)
        return result

    trainer._train_step = step_and_trace
    trainer.fit()


if __name__ == "__main__":
    main()

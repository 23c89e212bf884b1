"""Replay a tape run's updates one at a time from one of its checkpoints and print, per update, the
loss terms, the gradient norm before clipping, the greedy accuracy and the largest weight change:
where a collapse of the symbol head starts, and whether another optimiser setting avoids it.

The run is copied to a temporary directory with only that checkpoint, so nothing of it changes.
``--set`` overrides Adam's hyperparameters (lr, betas, eps) after the saved optimiser is loaded,
which otherwise restores the ones the run was trained with.

    python benchmarks/tape_update_trace.py RUN/checkpoints/step_000008900 --updates 140
    python benchmarks/tape_update_trace.py RUN/checkpoints/step_000008900 --updates 300 --set betas=0.9,0.99
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch

from algosynth.tape.trainer import TapeTrainer


def parse_setting(text: str) -> tuple[str, float | tuple[float, ...]]:
    key, _, value = text.partition("=")
    numbers = tuple(float(v) for v in value.split(","))
    return key, numbers if len(numbers) > 1 else numbers[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--set", dest="settings", action="append", default=[], type=parse_setting,
                        help="an optimiser hyperparameter, e.g. betas=0.9,0.99 or lr=0.001")
    args = parser.parse_args()
    run = Path(tempfile.mkdtemp()) / "run"
    shutil.copytree(args.checkpoint.parent.parent, run, ignore=shutil.ignore_patterns("step_*"))
    shutil.copytree(args.checkpoint, run / "checkpoints" / args.checkpoint.name)
    trainer = TapeTrainer.resume(run, show_progress=False)
    for group in trainer.optimizer.param_groups:
        group.update(dict(args.settings))
    norms: list[float] = []
    clip = torch.nn.utils.clip_grad_norm_

    def recording_clip(parameters, max_norm, *rest, **options):
        norm = clip(parameters, max_norm, *rest, **options)
        norms.append(float(norm))
        return norm

    torch.nn.utils.clip_grad_norm_ = recording_clip  # the trainer calls it through torch.nn.utils
    for _ in range(args.updates):
        before = {k: v.detach().clone() for k, v in trainer.controller.state_dict().items()}
        parts = trainer.train_update()
        change = {k: float((v - before[k]).abs().max()) for k, v in trainer.controller.state_dict().items()}
        largest = max(change, key=change.get)
        print(json.dumps({"update": trainer.update, "grad_norm": round(norms[-1], 4) if norms else None, **{k: round(v, 4) for k, v in parts.items()},
                          "largest_change": round(change[largest], 5), "in": largest}), flush=True)
    shutil.rmtree(run.parent)


if __name__ == "__main__":
    main()

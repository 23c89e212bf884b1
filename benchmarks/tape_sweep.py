"""Compare tape training recipes cheaply: each trains in this process for a fixed number of updates.

    python benchmarks/tape_sweep.py PRESET UPDATES "model.width=128" "model.width=128 rl.epsilon=0.05" ...

Each quoted argument is one recipe (space-separated --set overrides; "" is the preset itself). Every
250 updates it prints update:Llength/window accuracy/symbol loss, then greedy success at 10, 30, 100.
"""

from __future__ import annotations

import sys
import tempfile
import time

import torch

from algosynth.config import load_config
from algosynth.tape.evaluate import success_rate
from algosynth.tape.trainer import TapeTrainer


def run(preset: str, updates: int, overrides: list[str]) -> str:
    config = load_config(preset, overrides)
    trainer = TapeTrainer(config, tempfile.mkdtemp(), show_progress=False)
    started, log = time.process_time(), []
    for update in range(updates):
        parts = trainer.train_update()
        if (update + 1) % 250 == 0:
            log.append(f"{update + 1}:L{trainer.curriculum.length}/{trainer.curriculum.accuracy:.2f}/s{parts['symbol_loss']:.2f}")
        if trainer.curriculum.solved:
            break
    cpu = time.process_time() - started
    controller = trainer.controller.eval()
    rates = {n: success_rate(controller, trainer.task, n, 50, 50, 1, config.rl.step_slack).success_rate for n in (10, 30, 100)}
    return f"{' '.join(overrides) or 'preset'}: cpu {cpu:.0f}s, {trainer.update} updates, {' '.join(log)}, success {rates}"


if __name__ == "__main__":
    torch.set_num_threads(1)
    for recipe in sys.argv[3:]:
        print(run(sys.argv[1], int(sys.argv[2]), recipe.split()), flush=True)

"""How close a Q-learning tape controller's greedy choices are, and which loss term erodes them.

    python benchmarks/tape_action_gap.py RUN --sizes 50,300
    python benchmarks/tape_action_gap.py RUN --erode 50 --updates 25 --lr 0.01 [--adam]

The greedy policy is the argmax of Q-hat over the head's actions; where the best and the second best
are close, a small update flips the choice and the head leaves its path. The first form prints the
quantiles of that gap over the live steps of greedy episodes, and, by the number of symbols left to
write, Q-hat of the greedy action beside the return those episodes really got under the run's
discount (what Q-hat would equal if it fitted its targets: with rl.gamma < 1 it depends on the
symbols left, which the controller cannot see). The second trains the run's weights with plain
SGD, or with a fresh Adam as a new run from these weights would (gradients clipped like the
trainer's), on one term of the Q(lambda) loss at a time (the Q regression, the symbol
cross-entropy, or both), on the trainer's own batches and rollouts at one curriculum length, and
prints the greedy accuracy of those batches every 5 updates: which term moves a solved policy off
its path.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from algosynth.checkpoints import load_weights_into, load_checkpoint
from algosynth.config import from_dict
from algosynth.tape.evaluate import load_controller
from algosynth.tape.qlearning import q_loss, symbol_loss, watkins_targets
from algosynth.tape.rollout import one_thread, rollout
from algosynth.tape.trainer import TapeTrainer

QUANTILES = (0.0, 0.001, 0.01, 0.1, 0.5)
SYMBOLS_LEFT = (1, 2, 5, 10, 20, 50, 100, 300, 1000)


@torch.no_grad()
def gap_quantiles(run: str, sizes: list[int], episodes: int) -> None:
    controller, config, task = load_controller(run)
    for size in sizes:
        batch = task.generate(size, episodes, 5, config.rl.step_slack)
        trajectory = rollout(controller, batch)
        top = trajectory.scores.topk(2, -1).values
        gap = (top[..., 0] - top[..., 1])[trajectory.alive]
        shown = ", ".join(f"q{q:g} {float(v):.4f}" for q, v in zip(QUANTILES, torch.quantile(gap, torch.tensor(QUANTILES))))
        print(f"length {size}: {float(trajectory.success.float().mean()):.1%} solved; gap over {gap.numel()} steps: {shown}")
        taken = top[..., 0]
        returns = watkins_targets(trajectory.rewards, trajectory.left, taken, torch.ones_like(trajectory.alive),
                                  trajectory.ended, 1.0, config.rl.gamma)
        for left in SYMBOLS_LEFT:
            at = trajectory.alive & (trajectory.left == left)
            if at.any():
                print(f"  {left:>5} symbols left: Q-hat {float(taken[at].mean()):.3f}, return {float(returns[at].mean()):.3f}")


def erode(run: str, length: int, updates: int, lr: float, adam: bool) -> None:
    checkpoint = load_checkpoint(Path(run), with_training=False)
    config = from_dict({**checkpoint.meta["config"], "rl": {**checkpoint.meta["config"]["rl"], "start_length": length}})
    rl = config.rl
    with tempfile.TemporaryDirectory() as scratch:
        for term in ("both", "q_regression", "symbols"):
            trainer = TapeTrainer(config, Path(scratch), show_progress=False)  # never written: no fit
            load_weights_into(trainer.controller, checkpoint)
            optimizer = (torch.optim.Adam if adam else torch.optim.SGD)(trainer.controller.parameters(), lr=lr)
            accuracy = []
            for update in range(updates):
                generator = torch.Generator().manual_seed(update)
                batch, greedy = trainer._episodes(generator)
                trajectory = trainer.explore(batch, greedy, generator)
                accuracy.append(float(trajectory.success[:greedy].float().mean()))
                total, _ = q_loss(trajectory, rl.lam, rl.gamma)
                symbols = symbol_loss(trajectory)
                loss = {"both": total, "q_regression": total - symbols, "symbols": symbols}[term]
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainer.controller.parameters(), config.optim.clip or float("inf"))
                optimizer.step()
            means = [sum(accuracy[i:i + 5]) / len(accuracy[i:i + 5]) for i in range(0, updates, 5)]
            print(f"{term:>12}: greedy accuracy at length {length}, per 5 updates: " + " ".join(f"{m:.2f}" for m in means))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--sizes", default="50,300")
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--erode", type=int, default=0, help="a curriculum length: train at it instead of measuring gaps")
    parser.add_argument("--updates", type=int, default=25)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--adam", action="store_true", help="Adam instead of plain SGD")
    args = parser.parse_args()
    with one_thread():
        if args.erode:
            erode(args.run, args.erode, args.updates, args.lr, args.adam)
        else:
            gap_quantiles(args.run, [int(s) for s in args.sizes.split(",")], args.episodes)


if __name__ == "__main__":
    main()

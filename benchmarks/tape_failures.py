"""How a tape controller fails at each length: wrong symbol or time-out, where, and after which moves.

    python benchmarks/tape_failures.py RUN_DIR 10,100,1000 [episodes]

Success alone cannot tell a carry that is forgotten from a head that wanders off; this can. The
outputs written before each failure tell a per-column hazard (failures spread over the whole
length) from a failure that does not grow with length (failures bunched in the first columns).
"""

from __future__ import annotations

import sys

import torch

from algosynth.tape.env import MOVE_NAMES, split_action
from algosynth.tape.evaluate import load_controller
from algosynth.tape.rollout import one_thread, rollout


def describe(action: int) -> str:
    move, write = split_action(torch.tensor(action))
    return MOVE_NAMES[int(move)] + ("+write" if bool(write) else "")


@torch.no_grad()
def main(run: str, sizes: list[int], n: int = 100, shown: int = 3) -> None:
    controller, config, task = load_controller(run)
    for size in sizes:
        episodes = task.generate(size, n, 123, config.rl.step_slack)
        with one_thread():
            trajectory = rollout(controller, episodes, keep_outputs=False)
        _, write = split_action(trajectory.actions)
        wrong = write & trajectory.alive & (trajectory.symbols != trajectory.expected)
        wrong_end = wrong.any(0)
        timeout = ~trajectory.success & ~wrong_end
        print(f"length {size}: success {trajectory.success.float().mean():.3f}, ended by a wrong symbol "
              f"{int(wrong_end.sum())} of {n}, timed out {int(timeout.sum())}, "
              f"symbols written {(trajectory.written.float() / episodes.n_out).mean():.3f}")
        failed = trajectory.written[~trajectory.success]
        if len(failed):
            print(f"  outputs written before the {len(failed)} failures: {sorted(failed.tolist())}")
        for b in wrong_end.nonzero()[:shown, 0].tolist():
            t = int(wrong[:, b].nonzero()[0, 0])
            row, col = trajectory.positions[t, b].tolist()
            last = ", ".join(describe(int(a)) for a in trajectory.actions[max(0, t - 5): t + 1, b])
            print(f"  episode {b}: step {t} at row {row} column {col} (grid with a blank border), "
                  f"{int(trajectory.written[b])} written, wrote {int(trajectory.symbols[t, b])} for "
                  f"{int(trajectory.expected[t, b])}; last moves: {last}")


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2].split(",")], *(int(a) for a in sys.argv[3:4]))

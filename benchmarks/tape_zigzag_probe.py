"""Drive an addition controller along the ideal zigzag path and report, step by step, whether its
greedy action agrees and whether the symbol it would write is right.

    python benchmarks/tape_zigzag_probe.py RUN_DIR LENGTH [easy] [episodes]

A stuck curriculum mixes two causes: a head that leaves the path, and a symbol head that cannot
form a column's sum. Forcing the path separates them (3-row addition: the first column is right,
the second is not). ``easy`` draws the episodes from the task's easy variant (rl.easy_max of the run).
"""

from __future__ import annotations

import sys

import torch

from algosynth.tape.env import MOVE_NAMES, join_action, split_action
from algosynth.tape.evaluate import load_controller
from algosynth.tape.rollout import one_thread, rollout
from tape_failures import describe

RIGHT, UP, DOWN = MOVE_NAMES.index("right"), MOVE_NAMES.index("up"), MOVE_NAMES.index("down")


def zigzag(length: int, rows: int) -> list[int]:
    """Joint actions that read each column down or up and write moving right."""
    actions = []
    for column in range(length + 1):
        vertical = DOWN if column % 2 == 0 else UP
        actions += [join_action(vertical, False)] * (rows - 1) + [join_action(RIGHT, True)]
    return actions


@torch.no_grad()
def main(run: str, length: int, easy: bool = False, n: int = 500) -> None:
    controller, config, task = load_controller(run)
    if not task.easy:
        raise SystemExit(f"{task.name} has no zigzag path to force; use an addition run")
    mask = torch.ones(n, dtype=torch.bool) if easy else None
    episodes = task.generate(length, n, 7, config.rl.step_slack, mask, config.rl.easy_max)
    rows = episodes.grid.shape[1] - 2  # without the blank border
    path = torch.tensor(zigzag(length, rows))[:, None].expand(-1, n)
    with one_thread():
        trajectory = rollout(controller, episodes, forced=path, max_steps=len(path))
    for t, action in enumerate(path[:, 0].tolist()):
        alive = trajectory.alive[t]
        agrees = (trajectory.scores[t].argmax(-1) == action)[alive].float().mean()
        line = f"step {t} {describe(action)}: alive {alive.float().mean():.2f}, greedy agrees {agrees:.2f}"
        if split_action(torch.tensor(action))[1]:
            right = (trajectory.symbols[t] == trajectory.expected[t])[alive].float().mean()
            line += f", symbol right {right:.2f}"
        print(line)
    print(f"success along the path: {trajectory.success.float().mean():.3f}")


if __name__ == "__main__":
    arguments = sys.argv[1:]
    easy = "easy" in arguments
    numbers = [int(a) for a in arguments[1:] if a != "easy"]
    main(arguments[0], numbers[0], easy, *numbers[1:2])

"""Text pictures of an episode: the input, the head's path step by step, and what was written."""

from __future__ import annotations

from algosynth.tape.env import MOVE_NAMES, split_action
from algosynth.tape.rollout import Trajectory
from algosynth.tape.tasks import SYMBOLS, Episodes

ARROWS = "<>^v"


def _steps(trajectory: Trajectory, b: int) -> list[int]:
    return [t for t in range(trajectory.alive.shape[0]) if trajectory.alive[t, b]]


def _action_text(trajectory: Trajectory, t: int, b: int) -> str:
    move, write = split_action(trajectory.actions[t, b])
    text = MOVE_NAMES[int(move)]
    if write:
        symbol, expected = int(trajectory.symbols[t, b]), int(trajectory.expected[t, b])
        text += f", write {symbol}" + ("" if symbol == expected else f" (wrong: {expected} expected)")
    return text


def render_episode(episodes: Episodes, trajectory: Trajectory, b: int = 0) -> str:
    """A tape task shows the tape with the head under it at every step; a grid task shows the grid,
    the path (each visited cell marked with the direction the head left it in) and the step list."""
    grid = episodes.grid[b]
    rows = ["".join(SYMBOLS[int(s)] for s in row) for row in grid]
    steps = _steps(trajectory, b)
    lines = []
    if grid.shape[0] == 1:
        lines.append(f"tape      {' '.join(rows[0])}")
        for t in steps:
            col = int(trajectory.positions[t, b, 1])
            lines.append(f"t={t:<6}  {'  ' * col}^{'  ' * (grid.shape[1] - col)}{_action_text(trajectory, t, b)}")
    else:
        path = [list(row) for row in rows]
        for t in steps:
            r, c = (int(v) for v in trajectory.positions[t, b])
            path[r][c] = ARROWS[int(split_action(trajectory.actions[t, b])[0])]
        lines += ["grid"] + [f"  {row}" for row in rows] + ["path (the direction the head left each cell in)"]
        lines += [f"  {''.join(row)}" for row in path]
        lines += [f"t={t:<6} at {tuple(int(v) for v in trajectory.positions[t, b])} reads "
                  f"{SYMBOLS[int(trajectory.observed[t, b])]}: {_action_text(trajectory, t, b)}" for t in steps]
    written = [int(trajectory.symbols[t, b]) for t in steps if split_action(trajectory.actions[t, b])[1]]
    target = [int(v) for v in episodes.targets[b, : int(episodes.n_out[b])]]
    verdict = "correct" if bool(trajectory.success[b]) else "WRONG"
    lines.append(f"written   {''.join(map(str, written))}")
    lines.append(f"expected  {''.join(map(str, target))}   ({verdict}, {len(steps)} steps)")
    return "\n".join(lines)

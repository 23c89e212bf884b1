"""Vectorised dynamics of a read head over a grid and a write-only output tape.

One step: the written symbol (if the action writes) is checked against the next output symbol,
then the head moves. +1 for a correct symbol; a wrong one ends the episode; writing the whole
output ends it with success; running out of ``max_steps`` ends it with failure.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from algosynth.tape.tasks import Episodes

MOVES = torch.tensor([[0, -1], [0, 1], [-1, 0], [1, 0]])
MOVE_NAMES = ("left", "right", "up", "down")


def split_action(action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A joint action is ``2 * move + write``."""
    return action // 2, action % 2 == 1


def join_action(move: int, write: bool) -> int:
    """The joint action of one move and write choice: the inverse of ``split_action``."""
    return 2 * move + int(write)


@dataclass
class StepResult:
    reward: torch.Tensor
    done: torch.Tensor


class TapeEnv:
    """A batch of episodes stepped together; finished episodes ignore further actions."""

    def __init__(self, episodes: Episodes):
        self.episodes = episodes
        batch = len(episodes)
        self.rows = torch.arange(batch)
        self.position = episodes.start.clone()
        self.written = torch.zeros(batch, dtype=torch.long)
        self.steps = torch.zeros(batch, dtype=torch.long)
        self.done = torch.zeros(batch, dtype=torch.bool)
        self.success = torch.zeros(batch, dtype=torch.bool)
        self.bounds = torch.tensor(episodes.grid.shape[1:]) - 1

    def observe(self) -> torch.Tensor:
        """The input symbol under each head."""
        return self.episodes.grid[self.rows, self.position[:, 0], self.position[:, 1]]

    def left_to_write(self) -> torch.Tensor:
        """How many output symbols are still to be written: the dynamic discount's horizon."""
        return self.episodes.n_out - self.written

    def expected(self) -> torch.Tensor:
        """The next output symbol of each episode (-1 once all are written)."""
        column = self.written.clamp(max=self.episodes.targets.shape[1] - 1)
        return torch.where(self.written < self.episodes.n_out, self.episodes.targets[self.rows, column], -1)

    def step(self, action: torch.Tensor, symbol: torch.Tensor) -> StepResult:
        alive = ~self.done
        move, write = split_action(action)
        writing = write & alive
        correct = writing & (symbol == self.expected())
        reward = correct.float()
        self.written += correct.long()
        self.success |= alive & (self.written == self.episodes.n_out)
        self.position = torch.where(alive[:, None], self.position + MOVES[move], self.position)
        self.position = torch.minimum(self.position.clamp(min=0), self.bounds)
        self.steps += alive.long()
        self.done = self.done | (writing & ~correct) | self.success | (self.steps >= self.episodes.max_steps)
        return StepResult(reward, self.done.clone())

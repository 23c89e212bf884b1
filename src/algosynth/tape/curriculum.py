"""A length curriculum: lengthen the training sequences once the greedy policy masters the current length."""

from __future__ import annotations

from collections import deque
from typing import Any


class LengthCurriculum:
    """Whole-sequence accuracy of the last ``window`` greedy episodes at the current length; at
    ``threshold`` or better the length grows by ``step``, up to ``final``, and the window restarts."""

    def __init__(self, start: int, step: int, final: int, window: int, threshold: float):
        self.length, self.step, self.final, self.threshold = start, step, final, threshold
        self.outcomes: deque[bool] = deque(maxlen=window)

    @property
    def accuracy(self) -> float:
        return sum(self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    @property
    def mastered(self) -> bool:
        return len(self.outcomes) == self.outcomes.maxlen and self.accuracy >= self.threshold

    @property
    def solved(self) -> bool:
        """Mastered at the final length: training can stop."""
        return self.length == self.final and self.mastered

    def record(self, successes: list[bool]) -> bool:
        """Add greedy episodes' outcomes at the current length; True when the length grew."""
        self.outcomes.extend(successes)
        if self.mastered and self.length < self.final:
            self.length = min(self.final, self.length + self.step)
            self.outcomes.clear()
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"length": self.length, "outcomes": [bool(o) for o in self.outcomes]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.length = state["length"]
        self.outcomes.clear()
        self.outcomes.extend(state["outcomes"])

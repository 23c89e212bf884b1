"""Problem families. Each one declares a TaskSpec; ``get_task`` finds one by name."""

from __future__ import annotations

from collections.abc import Callable

from algosynth.errors import AlgosynthError
from algosynth.tasks.arithmetic import ARITHMETIC_TASKS, arithmetic_task
from algosynth.tasks.base import Batch, Score, Task, TaskSpec
from algosynth.tasks.chess import ChessTask
from algosynth.tasks.mazes import MazeTask
from algosynth.tasks.prefix_sums import PrefixSumsTask
from algosynth.tasks.sequences import SEQUENCE_TASKS

TASKS: dict[str, Callable[[], Task]] = {
    PrefixSumsTask.name: PrefixSumsTask, MazeTask.name: MazeTask, **ARITHMETIC_TASKS, **SEQUENCE_TASKS,
    ChessTask.name: ChessTask,
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        arithmetic_task(name)  # explains a base outside 2..10, e.g. addition_base11
        raise AlgosynthError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]()


__all__ = ["Batch", "Score", "Task", "TaskSpec", "TASKS", "get_task"]

"""Problem families. Each one declares a TaskSpec; ``get_task`` finds one by name."""

from __future__ import annotations

from algosynth.errors import AlgosynthError
from algosynth.tasks.base import Batch, Score, Task, TaskSpec
from algosynth.tasks.mazes import MazeTask
from algosynth.tasks.prefix_sums import PrefixSumsTask

TASKS: dict[str, type[Task]] = {PrefixSumsTask.name: PrefixSumsTask, MazeTask.name: MazeTask}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise AlgosynthError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    return TASKS[name]()


__all__ = ["Batch", "Score", "Task", "TaskSpec", "TASKS", "get_task"]

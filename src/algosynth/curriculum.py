"""Curricula: fresh batches per training step, their size and task chosen by how well the model does.

A length curriculum starts at ``start_size`` and raises the largest size by ``size_step`` whenever
the mean sequence error (1 - exact match) over the last ``window`` curriculum batches falls under
``threshold``. Each batch has one size (or ``sizes_per_batch``), drawn uniformly up to the current largest; a share
``any_size_share`` of batches is drawn up to the training maximum instead, so the model meets long
inputs early (Kaiser & Sutskever 2016) and those batches do not count toward advancing. A share
``suite_share`` of batches comes from the task's named hard suites (``suites``, or all of them) at
the drawn size instead of from ``generate``: uniform random operands almost never hold a carry chain
or a run as long as the input, so without them a rule can fit every training batch and still fail
on those at long lengths. Suite batches do not count toward advancing either. A warm-up
(``warmup_steps`` > 0) draws every batch of the first steps from one suite, ``warmup_suite``, at a
size drawn from the whole training range; the length curriculum starts after it. Carry-free
addition as the warm-up asks the network to bring b's digits under a's at every training length at
once, before any carry is learned, so the alignment cannot be learned one length at a time as the
curriculum climbs (benchmarks/README.md, "A carry-free warm-up"). With
``sizes_per_batch`` k > 1 a batch holds k groups of sizes drawn independently, padded to the
longest, so every gradient step sees several lengths at once (as the improved Neural GPU trains on
all its length bins in every step) and cannot fit one length at the others' expense.

A base curriculum is a sequence of tasks (``multiplication_base2 -> base4 -> base10``, Price et al.
2016): once the length curriculum has reached the training maximum on one task it starts again at
``start_size`` on the next. The tasks must share one TaskSpec, so one model moves through all.

Every draw is a pure function of (seed, step, state), and the state is small JSON saved in each
checkpoint, so a resumed run sees exactly the batches the uninterrupted run saw.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import torch

from algosynth.config import Config
from algosynth.errors import AlgosynthError
from algosynth.tasks import Batch, Task, get_task

SEED_OFFSET = 10**9
"""Training batches use generator seeds from here up, far from the validation and evaluation seeds."""


@dataclass
class CurriculumState:
    """Where the curriculum stands: the task stage, the largest size, and the recent sequence errors."""

    stage: int
    size: int
    errors: list[float] = field(default_factory=list)
    advances: int = 0


class Curriculum:
    """The Trainer's data source when ``curriculum.enabled``: ``draw(step)`` then ``record(error)``."""

    def __init__(self, config: Config) -> None:
        c = config.curriculum
        self.config = c
        self.tasks: list[Task] = [get_task(name) for name in (c.tasks or [config.task.name])]
        specs = {task.spec for task in self.tasks}
        if len(specs) > 1:
            names = ", ".join(task.name for task in self.tasks)
            raise AlgosynthError(f"curriculum.tasks ({names}) declare different inputs or classes; one model cannot move through them")
        self.max_size = config.task.train_size
        self.batch_size = config.train.batch_size
        self.seed = config.task.seed
        self.state = CurriculumState(stage=0, size=c.start_size)
        self.suite_names = c.suites or sorted(self.tasks[0].suites)
        self.last_any_size = False
        self.last_suite: str | None = None

    @property
    def task(self) -> Task:
        return self.tasks[self.state.stage]

    @property
    def finished(self) -> bool:
        return self.state.stage == len(self.tasks) - 1 and self.state.size == self.max_size

    def draw(self, step: int) -> Batch:
        """The batch for optimiser step ``step``: one task, ``sizes_per_batch`` sizes, seeded by the step."""
        rng = torch.Generator().manual_seed(SEED_OFFSET * (self.seed + 1) + step)
        warming_up = step < self.config.warmup_steps
        self.last_any_size = warming_up or bool(torch.rand((), generator=rng) < self.config.any_size_share)
        high = self.max_size if self.last_any_size else self.state.size
        groups = self.config.sizes_per_batch
        sizes = [int(torch.randint(1, high + 1, (), generator=rng)) for _ in range(groups)]
        data_seeds = [SEED_OFFSET * (self.seed + 2) + step] + [int(torch.randint(2**62, (), generator=rng)) for _ in range(groups - 1)]
        self.last_suite = None
        if warming_up:
            self.last_suite = self.config.warmup_suite
            make = partial(self.task.suite, self.last_suite)
        elif self.config.suite_share > 0 and bool(torch.rand((), generator=rng) < self.config.suite_share):
            self.last_suite = self.suite_names[int(torch.randint(len(self.suite_names), (), generator=rng))]
            make = partial(self.task.suite, self.last_suite)
        else:
            make = self.task.generate
        parts = [make(size, self.batch_size // groups, seed) for size, seed in zip(sizes, data_seeds)]
        length = max(part.inputs.shape[-1] for part in parts)
        return Batch.concat([part.pad_to(length) for part in parts])

    def record(self, error: float) -> bool:
        """Log the last batch's sequence error; True when that made the curriculum advance."""
        if self.last_any_size or self.last_suite is not None or self.finished:
            return False
        s = self.state
        s.errors = (s.errors + [error])[-self.config.window :]
        if len(s.errors) < self.config.window or sum(s.errors) / len(s.errors) >= self.config.threshold:
            return False
        if s.size < self.max_size:
            s.size = min(self.max_size, s.size + self.config.size_step)
        else:
            s.stage, s.size = s.stage + 1, self.config.start_size
        s.errors, s.advances = [], s.advances + 1
        return True

    def state_dict(self) -> dict[str, Any]:
        return asdict(self.state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.state = CurriculumState(**state)

    def describe(self) -> str:
        return f"{self.task.name} up to size {self.state.size}"

"""The tape and grid tasks of Zaremba et al. (2016): seeded, any length, vectorised over a batch.

A task is data: how to lay out its input tape or grid, and what the output tape must hold. All
tasks share one input alphabet (blank, ten digits, markers) and write digits, so one controller
shape fits every task and the environment dynamics (env.py) never branch on a task's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from algosynth.errors import AlgosynthError

SYMBOLS = ".0123456789#|<>^v"
DIGIT_CHARS = "0123456789"
BLANK, END, START_MARK = 0, SYMBOLS.index("#"), SYMBOLS.index("|")
LEFT_MARK, RIGHT_MARK, UP_MARK, DOWN_MARK = (SYMBOLS.index(c) for c in "<>^v")
NUM_SYMBOLS = len(SYMBOLS)
NUM_OUTPUTS = 10
MAX_REPEATS = 3
WALK_BAND = 10
WALK_MAX_SEGMENT = 3


def digit(value: torch.Tensor) -> torch.Tensor:
    """The input symbol of digit values 0-9."""
    return value + 1


@dataclass
class Episodes:
    """A batch of task instances: the grid the head reads, where it starts and what must be written.

    ``grid`` is ``[B, H, W]`` input symbols (H is 1 for tape tasks), ``start`` ``[B, 2]`` (row,
    column), ``targets`` ``[B, M]`` digits padded with -1, ``n_out`` ``[B]`` output lengths and
    ``max_steps`` ``[B]`` the step budget (a multiple of the steps an ideal head needs).
    """

    grid: torch.Tensor
    start: torch.Tensor
    targets: torch.Tensor
    n_out: torch.Tensor
    max_steps: torch.Tensor

    def __len__(self) -> int:
        return self.grid.shape[0]


@dataclass(frozen=True)
class TapeTask:
    """One task: ``layout(lengths, gen)`` returns (content grid, start, targets, n_out, ideal steps).

    A task with an ``easy`` description also takes ``layout(lengths, gen, easy, easy_max)``,
    ``easy`` a ``[B]`` mask of the instances to draw from that simpler distribution, whose small
    digits go up to ``easy_max`` (a training aid: the extra curriculum of Zaremba et al. 2016).
    """

    name: str
    dims: int
    layout: Callable[..., tuple[torch.Tensor, ...]]
    description: str
    input_help: str
    easy: str = ""

    @property
    def num_moves(self) -> int:
        return 2 * self.dims

    @property
    def num_actions(self) -> int:
        """Joint head actions: each move, with or without writing."""
        return 2 * self.num_moves

    def generate(self, lengths: torch.Tensor | int, batch: int, seed: int | torch.Generator, slack: float = 2.0,
                 easy: torch.Tensor | None = None, easy_max: int = 1) -> Episodes:
        """``batch`` instances; ``lengths`` is one length or one per instance; ``easy`` marks the
        instances drawn from the task's easy variant, with small digits 0..easy_max. Same seed, same bytes."""
        gen = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(int(seed))
        lengths = torch.as_tensor(lengths, dtype=torch.long).expand(batch).clone()
        if int(lengths.min()) < 1:
            raise AlgosynthError(f"the {self.name} task needs lengths of at least 1, got {int(lengths.min())}")
        if easy is None:
            return from_layout(self, *self.layout(lengths, gen), slack)
        if not self.easy:
            raise AlgosynthError(f"the {self.name} task has no easy variant; only {', '.join(tasks_with_easy_variant())} have one")
        return from_layout(self, *self.layout(lengths, gen, easy, easy_max), slack)


def from_layout(task: TapeTask, content, start, targets, n_out, ideal, slack: float = 2.0) -> Episodes:
    """Surround the content with a blank border (the head may step off it and read blanks).

    The step budget is ``slack`` times the ideal steps, with no constant added: a constant would let
    a slow head pass at the short training lengths and then run out of time at the long test ones.
    """
    pad = (1, 1, 1, 1) if task.dims == 2 else (1, 1, 0, 0)
    grid = torch.nn.functional.pad(content, pad, value=BLANK)
    start = start + torch.tensor([1 if task.dims == 2 else 0, 1])
    return Episodes(grid, start, targets, n_out, torch.ceil(slack * ideal).long())


def _digits(lengths: torch.Tensor, width: int, gen: torch.Generator) -> torch.Tensor:
    """Random digit values ``[B, width]``; positions at or past each length are -1."""
    values = torch.randint(0, 10, (len(lengths), width), generator=gen)
    return torch.where(torch.arange(width) < lengths[:, None], values, -1)


def _symbols(values: torch.Tensor) -> torch.Tensor:
    """Digit values to input symbols, -1 to blank."""
    return torch.where(values >= 0, digit(values), BLANK)


def _starts(batch: int, row: int = 0, col: int = 0) -> torch.Tensor:
    return torch.tensor([row, col]).expand(batch, 2).clone()


def _copy(lengths, gen):
    x = _digits(lengths, int(lengths.max()), gen)
    return _symbols(x)[:, None], _starts(len(x)), x, lengths.clone(), lengths.clone()


def _reverse(lengths, gen):
    n = int(lengths.max())
    x = _digits(lengths, n, gen)
    tape = torch.cat([_symbols(x), torch.zeros(len(x), 1, dtype=torch.long)], 1)
    tape[torch.arange(len(x)), lengths] = END
    index = (lengths[:, None] - 1 - torch.arange(n)).clamp(min=0)
    targets = torch.where(torch.arange(n) < lengths[:, None], x.gather(1, index), -1)
    return tape[:, None], _starts(len(x)), targets, lengths.clone(), 2 * lengths + 1


def _duplicate(lengths, gen):
    x = _digits(lengths, int(lengths.max()), gen)
    return _symbols(x).repeat_interleave(2, 1)[:, None], _starts(len(x)), x, lengths.clone(), 2 * lengths


def _repeat_copy(lengths, gen):
    """``k | x1..xn #``: the head reads k (1-3) first and writes x1..xn k times, sweeping back each time."""
    batch, n = len(lengths), int(lengths.max())
    k = torch.randint(1, MAX_REPEATS + 1, (batch,), generator=gen)
    x = _digits(lengths, n, gen)
    tape = torch.cat([digit(k)[:, None], torch.full((batch, 1), START_MARK), _symbols(x), torch.zeros(batch, 1, dtype=torch.long)], 1)
    tape[torch.arange(batch), lengths + 2] = END
    out = torch.arange(MAX_REPEATS * n)
    position = out[None] % lengths[:, None]
    targets = torch.where(out[None] < (k * lengths)[:, None], x.gather(1, position.clamp(max=n - 1)), -1)
    return tape[:, None], _starts(batch), targets, k * lengths, 2 + k * (2 * lengths + 2)


def column_sums(rows: torch.Tensor, lengths: torch.Tensor, factor: torch.Tensor | None = None) -> torch.Tensor:
    """Digits (least significant first) of the sum of ``rows`` [B, R, W] (times ``factor``), W digits long."""
    values = rows.clamp(min=0).sum(1) if factor is None else rows[:, 0].clamp(min=0) * factor[:, None]
    out, carry = torch.empty_like(values), torch.zeros(len(values), dtype=torch.long)
    for column in range(values.shape[1]):
        total = values[:, column] + carry
        out[:, column], carry = total % 10, total // 10
    return torch.where(torch.arange(values.shape[1]) <= lengths[:, None], out, -1)


def with_zero_column(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Append one 0 digit after each number so the answer's extra digit has a column to be written at."""
    values = torch.cat([values, torch.full((*values.shape[:-1], 1), -1)], -1)
    column = torch.arange(values.shape[-1])
    return torch.where(column == lengths.view(-1, *[1] * (values.dim() - 1)), 0, values)


def zigzag_easy(numbers: torch.Tensor, easy: torch.Tensor, gen: torch.Generator, largest: int = 1) -> torch.Tensor:
    """Zaremba et al.'s (2016) extra curriculum for addition: in the marked instances every digit
    but one per column is small (0..largest), and the full digit (0-9) is the one a head sweeping
    the columns in a zigzag (down the first, up the second, ...) reads last. A head that writes
    before reading the whole column then fails, while the sum stays that digit plus a little."""
    rows, width = numbers.shape[1], numbers.shape[2]
    last_read = torch.where(torch.arange(width) % 2 == 0, rows - 1, 0)
    small = torch.randint(0, largest + 1, numbers.shape, generator=gen)
    simplify = easy[:, None, None] & (torch.arange(rows)[:, None] != last_read[None]) & (numbers >= 0)
    return torch.where(simplify, small, numbers)


def _addition(rows: int):
    def layout(lengths, gen, easy=None, easy_max=1):
        n = int(lengths.max())
        numbers = torch.stack([_digits(lengths, n, gen) for _ in range(rows)], 1)
        if easy is not None:
            numbers = zigzag_easy(numbers, easy, gen, easy_max)
        numbers = with_zero_column(numbers, lengths)
        return _symbols(numbers), _starts(len(lengths)), column_sums(numbers, lengths), lengths + 1, rows * (lengths + 1)

    return layout


def _multiplication(lengths, gen):
    """Row 0: an n-digit number; row 1: one digit under its first column. Output: their product."""
    batch, n = len(lengths), int(lengths.max())
    number = with_zero_column(_digits(lengths, n, gen), lengths)
    factor = torch.randint(0, 10, (batch,), generator=gen)
    second = torch.full_like(number, -1)
    second[:, 0] = factor
    grid = torch.stack([number, second], 1)
    return _symbols(grid), _starts(batch), column_sums(grid, lengths, factor), lengths + 1, lengths + 3


def _walk(lengths, gen):
    """A path from the top-left corner through ``n`` digits; it turns where a direction marker stands.

    Horizontal runs stay inside a band ``WALK_BAND`` columns wide and turn down at its edges (or
    sooner), so the path never crosses itself and the grid grows about n/3 rows for n digits.
    """
    batch = len(lengths)
    paths = [_walk_path(int(n), gen) for n in lengths]
    height = max(max(r for r, _, _ in path) for path in paths) + 1
    grid = torch.zeros(batch, height, WALK_BAND, dtype=torch.long)
    targets = torch.full((batch, int(lengths.max())), -1)
    ideal = torch.empty(batch, dtype=torch.long)
    for b, path in enumerate(paths):
        rows, cols, symbols = (torch.tensor(v) for v in zip(*path))
        grid[b, rows, cols] = symbols
        written = symbols[(symbols >= 1) & (symbols <= 10)] - 1
        targets[b, : len(written)] = written
        ideal[b] = len(path)
    return grid, _starts(batch), targets, lengths.clone(), ideal


def _walk_path(n: int, gen: torch.Generator) -> list[tuple[int, int, int]]:
    """(row, column, symbol) along one path: a marker, a run of digits, a marker for the turn, ..."""
    row, col, dr, dc = 0, 0, 0, 1
    path = [(0, 0, RIGHT_MARK)]
    while n:
        room = WALK_MAX_SEGMENT if dr else (WALK_BAND - 2 - col if dc > 0 else col - 1)
        run = min(n, room, 1 + int(torch.randint(0, WALK_MAX_SEGMENT, (1,), generator=gen)))
        for _ in range(run):
            row, col = row + dr, col + dc
            path.append((row, col, digit(int(torch.randint(0, 10, (1,), generator=gen)))))
        n -= run
        if not n:
            break
        row, col = row + dr, col + dc
        if dc:
            dr, dc, marker = 1, 0, DOWN_MARK
        else:
            right, left = WALK_BAND - 2 - col, col - 1
            coin = bool(torch.rand(1, generator=gen) < 0.5)
            dr, dc = 0, (1 if right >= 1 and (left < 1 or coin) else -1)
            marker = RIGHT_MARK if dc > 0 else LEFT_MARK
        path.append((row, col, marker))
    return path


ZIGZAG_EASY = "every digit but the one a zigzag sweep reads last in each column is small (0..rl.easy_max)"

TAPE_TASKS: dict[str, TapeTask] = {
    f"tape_{task.name}": task
    for task in (
        TapeTask("copy", 1, _copy, "write the input tape", "digits, e.g. 31415"),
        TapeTask("reverse", 1, _reverse, "the input ends with #; write it backwards from the # moving left", "digits, e.g. 31415 (the # is added)"),
        TapeTask("walk", 2, _walk, "follow the path from the top-left corner, turning at < > ^ v, and write its digits",
                 "grid rows separated by /, starting with > at the top left, e.g. >12v/...3/..<4"),
        TapeTask("duplicate", 1, _duplicate, "each digit appears twice; write it once", "digits, each written twice, e.g. 331144"),
        TapeTask("repeat_copy", 1, _repeat_copy, f"the tape is k|x#; write x k times (k from 1 to {MAX_REPEATS})",
                 f"k|digits with k from 1 to {MAX_REPEATS}, e.g. 2|314"),
        TapeTask("add2", 2, _addition(2), "add two numbers written in rows, least significant digit first",
                 "two rows of digits separated by /, least significant first, e.g. 123/456",
                 easy=ZIGZAG_EASY),
        TapeTask("add3", 2, _addition(3), "add three numbers written in rows, least significant digit first",
                 "three rows of digits separated by /, least significant first, e.g. 123/456/789",
                 easy=ZIGZAG_EASY),
        TapeTask("mult", 2, _multiplication, "multiply a number (row 1, least significant first) by one digit (row 2)",
                 "a number, /, one digit, e.g. 1234/7"),
    )
}


def tasks_with_easy_variant() -> list[str]:
    """Names of the tasks that can draw easy instances, for messages that say what to choose."""
    return [task.name for task in TAPE_TASKS.values() if task.easy]


def get_tape_task(name: str) -> TapeTask:
    """Accepts ``tape_reverse`` or ``reverse``."""
    key = name if name.startswith("tape_") else f"tape_{name}"
    if key not in TAPE_TASKS:
        raise AlgosynthError(f"unknown tape task {name!r}; choose one of {', '.join(t.name for t in TAPE_TASKS.values())}")
    return TAPE_TASKS[key]

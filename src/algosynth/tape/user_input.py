"""Turn a user's input string into one episode, with one clear message for every malformed input."""

from __future__ import annotations

import torch

from algosynth.errors import AlgosynthError
from algosynth.tape.tasks import (
    BLANK, DIGIT_CHARS, END, MAX_REPEATS, START_MARK, SYMBOLS, Episodes, TapeTask, column_sums, with_zero_column,
    digit, from_layout,
)

MARKERS = {"<": (0, -1), ">": (0, 1), "^": (-1, 0), "v": (1, 0)}
ALPHABETS = {"copy": DIGIT_CHARS, "reverse": DIGIT_CHARS, "duplicate": DIGIT_CHARS, "repeat_copy": DIGIT_CHARS + "|",
             "add2": DIGIT_CHARS + "/", "add3": DIGIT_CHARS + "/", "mult": DIGIT_CHARS + "/", "walk": DIGIT_CHARS + "./<>^v"}


class TapeInputError(AlgosynthError):
    """An input string that does not describe an instance of the task."""


def _values(text: str) -> torch.Tensor:
    return torch.tensor([int(c) for c in text])


def _tape(task: TapeTask, symbols: list[int], targets: list[int], ideal: int) -> Episodes:
    content = torch.tensor(symbols)[None, None]
    return from_layout(task, content, torch.zeros(1, 2, dtype=torch.long), torch.tensor([targets]),
                       torch.tensor([len(targets)]), torch.tensor([ideal]))


def _rows(task: TapeTask, text: str, count: int | None) -> list[str]:
    rows = text.split("/")
    if len(rows) == 1:
        raise TapeInputError(f"the {task.name} task reads a grid, but {text!r} is one row; give {task.input_help}")
    if count is not None and len(rows) != count:
        raise TapeInputError(f"the {task.name} task needs {count} rows separated by /, got {len(rows)}; give {task.input_help}")
    if any(not row for row in rows):
        raise TapeInputError(f"{text!r} has an empty row; give {task.input_help}")
    return rows


def _grid_episode(task: TapeTask, rows: torch.Tensor, targets: torch.Tensor, ideal: int) -> Episodes:
    return from_layout(task, rows[None], torch.zeros(1, 2, dtype=torch.long), targets[None], torch.tensor([targets.shape[0]]),
                       torch.tensor([ideal]))


def _walk(task: TapeTask, text: str) -> Episodes:
    rows = _rows(task, text, None)
    width = max(len(r) for r in rows)
    grid = [[SYMBOLS.index(c) for c in row.ljust(width, ".")] for row in rows]
    if rows[0][0] not in MARKERS:
        raise TapeInputError(f"a walk starts at the top-left cell, which must hold a direction marker (< > ^ v), got {rows[0][0]!r}")
    r = c = 0
    direction, targets, seen = MARKERS[rows[0][0]], [], set()
    while 0 <= r < len(rows) and 0 <= c < width and grid[r][c] != BLANK:
        if (r, c) in seen:
            raise TapeInputError(f"the walk in {text!r} runs in a circle through row {r + 1}, column {c + 1}; give a path that ends")
        seen.add((r, c))
        char = SYMBOLS[grid[r][c]]
        if char in MARKERS:
            direction = MARKERS[char]
        else:
            targets.append(int(char))
        r, c = r + direction[0], c + direction[1]
    if not targets:
        raise TapeInputError(f"the walk in {text!r} passes no digit; put digits on the path")
    return _grid_episode(task, torch.tensor(grid), torch.tensor(targets), len(seen))


def _arithmetic(task: TapeTask, text: str) -> Episodes:
    rows = _rows(task, text, 3 if task.name == "add3" else 2)
    n = len(rows[0])
    if task.name == "mult":
        if len(rows[1]) != 1:
            raise TapeInputError(f"the mult task multiplies by one digit: the second row must be a single digit, got {rows[1]!r}")
        number = with_zero_column(_values(rows[0]), torch.tensor(n))
        second = torch.full_like(number, -1)
        second[0] = int(rows[1])
        values = torch.stack([number, second])
        targets = column_sums(values[None], torch.tensor([n]), torch.tensor([int(rows[1])]))[0]
        return _grid_episode(task, torch.where(values >= 0, digit(values), BLANK), targets, n + 3)
    if len({len(row) for row in rows}) != 1:
        raise TapeInputError(f"the rows of {text!r} differ in length; pad the shorter numbers with zeros on the right (least significant digit first)")
    values = with_zero_column(torch.stack([_values(row) for row in rows]), torch.tensor(n))
    targets = column_sums(values[None], torch.tensor([n]))[0]
    return _grid_episode(task, digit(values), targets, len(rows) * (n + 1))


def parse_input(task: TapeTask, text: str) -> Episodes:
    """One episode from the string a user typed (see each task's ``input_help``)."""
    if not text:
        raise TapeInputError(f"the input is empty (length 0); give {task.input_help}")
    bad = sorted(set(text) - set(ALPHABETS[task.name]))
    if bad:
        raise TapeInputError(f"{''.join(bad)!r} is not in the {task.name} task's alphabet ({ALPHABETS[task.name]}); give {task.input_help}")
    if task.dims == 2:
        return _walk(task, text) if task.name == "walk" else _arithmetic(task, text)
    if task.name == "repeat_copy":
        count, sep, payload = text.partition("|")
        if not sep or len(count) != 1 or not payload or "|" in payload or not 1 <= int(count) <= MAX_REPEATS:
            raise TapeInputError(f"repeat_copy input must be k|digits with k from 1 to {MAX_REPEATS}, got {text!r}")
        x = [int(c) for c in payload]
        symbols = [digit(int(count)), START_MARK] + [digit(v) for v in x] + [END]
        return _tape(task, symbols, x * int(count), 2 + int(count) * (2 * len(x) + 2))
    x = [int(c) for c in text]
    if task.name == "duplicate":
        if len(x) % 2 or x[0::2] != x[1::2]:
            raise TapeInputError(f"duplicate input must hold every digit twice in a row (e.g. 331144), got {text!r}")
        return _tape(task, [digit(v) for v in x], x[0::2], len(x))
    if task.name == "reverse":
        return _tape(task, [digit(v) for v in x] + [END], x[::-1], 2 * len(x) + 1)
    return _tape(task, [digit(v) for v in x], x, len(x))

"""Symbol-sequence tasks: copy, reverse, duplicate and sort (the Neural GPU paper's set) and repeat
copy (the Neural Turing Machine's counting task).

One layout serves a model that sees the whole tape at once (the Neural GPU) and one that reads it
left to right (the NTM): the input sequence, a delimiter, then a blank output region where the
answer must appear. ``size`` = n symbols of input, drawn uniformly from 1..S (S = ``symbols``, 8 by
default). Inputs are one-hot ``[B, S + 2, L]``: channel 0 = blank (the padding symbol 0), channels
1..S the symbols, channel S + 1 the delimiter. Targets ``[B, L]`` are classes 0..S, 0 = blank, and
every position counts, so the model must also leave the input region blank. With x = x_1..x_n and
``|`` the delimiter, ``.`` a blank:

- ``copy``:        ``x | . . .``  (L = 2n + 1)      ->  ``. . . . x``
- ``reverse``:     ``x | . . .``  (L = 2n + 1)      ->  ``. . . . reversed(x)``
- ``sort``:        ``x | . . .``  (L = 2n + 1)      ->  ``. . . . sorted(x)``
- ``duplicate``:   ``x | . . . . . .``  (L = 3n + 1) ->  ``. . . . x x``
- ``repeat_copy``: ``x |^r .^(R-r) .^(R n)``  (L = n + R + R n) -> blanks for n + R positions, then x
  repeated r times, then blanks. The count r (1..R, R = ``max_repeats`` = 3) is given in unary as r
  delimiters, so the model must count; the output region always starts at n + R.

The Neural GPU's own code wrote copy, reverse and sort over the input positions; giving the answer
its own region keeps copy from being a per-position identity and lets the NTM read the tape in order.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from algosynth.errors import AlgosynthError
from algosynth.tasks.base import Batch, Task, TaskSpec, instance_rng
from algosynth.tasks.draws import check_fits, runs_of, uniform_ints

KINDS = ("copy", "reverse", "duplicate", "sort", "repeat_copy")


class SequenceTask(Task):
    """One of ``KINDS`` over ``symbols`` symbols; the layouts are in the module docstring."""

    example_size = 8

    def __init__(self, kind: str, symbols: int = 8, max_repeats: int = 3) -> None:
        if kind not in KINDS:
            raise AlgosynthError(f"sequence task must be one of {', '.join(KINDS)}, got {kind!r}")
        if symbols < 1 or max_repeats < 1:
            raise AlgosynthError(f"symbols and max_repeats must be at least 1, got {symbols} and {max_repeats}")
        self.name, self.symbols, self.max_repeats = kind, symbols, max_repeats
        self.delimiter = symbols + 1
        self.spec = TaskSpec(in_channels=symbols + 2, num_classes=symbols + 1, dims=1,
                             counted_positions="every position: blanks before the output region, the answer in it")

    def length(self, size: int) -> int:
        """L, the tape length for ``size`` input symbols."""
        if self.name == "duplicate":
            return 3 * size + 1
        if self.name == "repeat_copy":
            return size + self.max_repeats * (size + 1)
        return 2 * size + 1

    def input_shape(self, size: int) -> tuple[int, ...]:
        return (self.spec.in_channels, self.length(size))

    def output_start(self, size: int) -> int:
        return size + (self.max_repeats if self.name == "repeat_copy" else 1)

    def answer(self, x: np.ndarray, repeats: np.ndarray) -> np.ndarray:
        """The output region's content ``[n, L - output_start]`` for sequences ``x`` ``[n, size]``."""
        size = x.shape[1]
        if self.name == "copy":
            return x
        if self.name == "reverse":
            return x[:, ::-1]
        if self.name == "sort":
            return np.sort(x, axis=1)
        if self.name == "duplicate":
            return np.concatenate([x, x], axis=1)
        tiled = np.tile(x, (1, self.max_repeats))
        return np.where(np.arange(tiled.shape[1])[None, :] < repeats[:, None] * size, tiled, 0)

    def encode(self, x: np.ndarray, repeats: np.ndarray | None = None) -> Batch:
        """Sequences ``[n, size]`` of symbols 1..S (and, for repeat_copy, counts ``[n]``) to a batch."""
        x = np.asarray(x, np.int64)
        n, size = x.shape
        repeats = np.ones(n, np.int64) if repeats is None else np.asarray(repeats, np.int64)
        if np.any((x < 1) | (x > self.symbols)) or np.any((repeats < 1) | (repeats > self.max_repeats)):
            raise AlgosynthError(f"{self.name} takes symbols 1..{self.symbols} and repeat counts 1..{self.max_repeats}")
        length, start = self.length(size), self.output_start(size)
        tape = np.zeros((n, length), np.int64)
        tape[:, :size] = x
        marks = np.arange(self.output_start(size) - size)[None, :] < repeats[:, None]
        tape[:, size:start] = np.where(marks, self.delimiter, 0)
        inputs = torch.zeros((n, self.spec.in_channels, length))
        inputs.scatter_(1, torch.from_numpy(tape).unsqueeze(1), 1.0)
        targets = np.zeros((n, length), np.int64)
        targets[:, start:] = self.answer(x, repeats)
        targets = torch.from_numpy(targets)
        return Batch(inputs, targets, torch.ones_like(targets, dtype=torch.bool))

    def decode(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """The sequences ``[n, size]`` and repeat counts ``[n]`` a batch holds: the inverse of ``encode``."""
        tape = batch.inputs.argmax(dim=1).numpy()
        size = (tape.shape[1] - self.length(0)) // (self.length(1) - self.length(0))
        return tape[:, :size], (tape[:, size:self.output_start(size)] == self.delimiter).sum(axis=1)

    def check_request(self, size: int, n: int) -> None:
        """A clear error for a size or count that cannot be generated, before any work is done."""
        self.validate_size(size)
        check_fits(self.name, size, n, self.length(size), self.spec.in_channels)

    def generate(self, size: int, n: int, seed: int) -> Batch:
        self.check_request(size, n)
        rng = instance_rng(self.name, size, seed)
        return self.encode(self._uniform(rng, size, n), self._repeats(rng, n))

    def _repeats(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return uniform_ints(rng, (n,), 1, self.max_repeats)

    @property
    def suites(self) -> dict[str, Callable[[int, int, int], Batch]]:
        makers = {"one_symbol": self._one_symbol, "long_runs": self._long_runs,
                  "ascending": partial(self._monotone, descending=False),
                  "descending": partial(self._monotone, descending=True)}
        suites = {name: partial(self._suite, name, maker) for name, maker in makers.items()}
        if self.name == "repeat_copy":
            suites["max_repeats"] = partial(self._suite, "max_repeats", self._uniform, always_max=True)
        return suites

    def _suite(self, name: str, maker: Callable, size: int, n: int, seed: int, always_max: bool = False) -> Batch:
        """A suite's sequences; ``always_max`` asks every repeat_copy instance for the most copies."""
        self.check_request(size, n)
        rng = instance_rng(self.name, size, seed, stream=name)
        x = maker(rng, size, n)
        return self.encode(x, np.full(n, self.max_repeats) if always_max else self._repeats(rng, n))

    def _uniform(self, rng: np.random.Generator, size: int, n: int) -> np.ndarray:
        return uniform_ints(rng, (n, size), 1, self.symbols)

    def _one_symbol(self, rng: np.random.Generator, size: int, n: int) -> np.ndarray:
        """The whole sequence is one symbol repeated."""
        return np.repeat(uniform_ints(rng, (n, 1), 1, self.symbols), size, axis=1)

    def _long_runs(self, rng: np.random.Generator, size: int, n: int) -> np.ndarray:
        """Runs of one symbol, each n/8 to n/2 long: where position counting is easiest to lose."""
        return runs_of(rng, n, size, 1, self.symbols)

    def _monotone(self, rng: np.random.Generator, size: int, n: int, descending: bool) -> np.ndarray:
        """Already sorted (or reversed) input: sort must leave it alone (or turn it round)."""
        ordered = np.sort(self._uniform(rng, size, n), axis=1)
        return ordered[:, ::-1] if descending else ordered

    def render(self, batch: Batch, index: int = 0, prediction: torch.Tensor | None = None) -> str:
        """The tape, the target and a prediction: ``.`` blank, ``|`` delimiter, symbols as numbers; ^ marks errors."""
        width = len(str(self.symbols))
        names = {0: ".", self.delimiter: "|"}

        def cells(values) -> str:
            return " ".join(names.get(int(v), str(int(v))).rjust(width) for v in values)

        target = batch.targets[index].cpu()
        rows = [f"input   {cells(batch.inputs[index].argmax(dim=0))}", f"target  {cells(target)}"]
        if prediction is not None:
            prediction = prediction.cpu()
            rows.append(f"output  {cells(prediction)}")
            marks = " ".join(("^" if wrong else " ").rjust(width) for wrong in (prediction != target).tolist())
            rows.append(f"errors  {marks}".rstrip())
        return "\n".join(rows)


SEQUENCE_TASKS: dict[str, Callable[[], Task]] = {kind: partial(SequenceTask, kind) for kind in KINDS}

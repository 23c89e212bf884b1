"""Addition and multiplication of two k-digit numbers in any base from 2 to 10, as the Neural GPU
papers pose them (Kaiser & Sutskever 2016; Price, Zaremba & Sutskever 2016).

Encoding. ``size`` = k digits per operand; an instance is a string of L = 2k + 1 symbols:
operand a (k digits, least significant first, zero-padded), the separator, operand b (the same).
Inputs are one-hot ``[B, 11, L]``: channels 0..9 are the digits and channel 10 the separator, one
alphabet for every base so one model can move through a base curriculum (2 -> 4 -> 10). The padding
symbol is digit 0. The target ``[B, L]`` holds the result's digits, least significant first from
position 0, zero-padded to L (a sum has at most k + 1 digits, a product at most 2k). Every position
counts, so exact match means the whole result string is right.

Generation is vectorised and draws only raw bytes, so the same (task, size, n, seed) gives the same
bytes on every machine, and k = 2000 takes well under a second per thousand instances: products go
through Python's integers by Kronecker substitution (digits packed into slots just wide enough for
the largest column sum, one big multiplication, the exact column sums read back), and carries are propagated for all instances at
once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

import numpy as np
import torch

from algosynth.errors import AlgosynthError
from algosynth.tasks.base import Batch, Task, TaskSpec, instance_rng, random_bits
from algosynth.tasks.draws import check_fits, runs_of, uniform_ints

OPERATIONS = ("addition", "multiplication")
BASES = range(2, 11)
SEPARATOR = 10
ALIASES = {"badd": "addition_base2", "bmul": "multiplication_base2",
           "dadd": "addition_base10", "dmul": "multiplication_base10"}
_NAME = re.compile(r"^(addition|multiplication)_base(\d+)$")


def propagate_carries(columns: np.ndarray, base: int) -> np.ndarray:
    """Digits ``[n, L]`` (least significant first) of the numbers whose column sums are ``columns``.

    One pass over positions, all instances at once; the caller guarantees nothing carries out of L.
    """
    by_position = np.ascontiguousarray(columns.T, dtype=np.int64)
    digits = np.empty_like(by_position)
    carry = np.zeros(by_position.shape[1], np.int64)
    for position in range(by_position.shape[0]):
        carry, digits[position] = np.divmod(by_position[position] + carry, base)
    return np.ascontiguousarray(digits.T).astype(np.uint8)


def product_columns(a: np.ndarray, b: np.ndarray, length: int, slot_bits: int) -> np.ndarray:
    """Exact schoolbook column sums ``sum_{i+j=p} a_i b_j`` of each pair, padded to ``length``.

    Kronecker substitution: digit i becomes bits [i s, (i + 1) s) of one Python integer, so one
    big multiplication leaves every column sum in its own s-bit slot, provided no sum reaches 2**s
    (s <= 32). Packing and unpacking the bits is vectorised; only the multiplication runs per instance.
    """
    n, size = a.shape

    def packed(digits: np.ndarray) -> np.ndarray:
        words = digits.astype("<u4").view(np.uint8).reshape(n, size, 4)
        bits = np.unpackbits(words, axis=2, bitorder="little")[:, :, :slot_bits]
        return np.packbits(bits.reshape(n, -1), axis=1, bitorder="little")

    product_bytes = (2 * size * slot_bits + 7) // 8
    products = np.empty((n, product_bytes), np.uint8)
    for row, (x, y) in enumerate(zip(packed(a), packed(b))):
        product = int.from_bytes(x.tobytes(), "little") * int.from_bytes(y.tobytes(), "little")
        products[row] = np.frombuffer(product.to_bytes(product_bytes, "little"), np.uint8)
    slots = np.zeros((n, 2 * size, 32), np.uint8)
    slots[:, :, :slot_bits] = np.unpackbits(products, axis=1, bitorder="little")[:, : 2 * size * slot_bits].reshape(
        n, 2 * size, slot_bits)
    columns = np.zeros((n, length), np.int64)
    columns[:, : 2 * size] = np.packbits(slots, axis=2, bitorder="little").view("<u4")[:, :, 0]
    return columns


def with_top_digit(rng: np.random.Generator, n: int, size: int, lengths: np.ndarray, base: int) -> np.ndarray:
    """Random operands with exactly ``lengths[i]`` significant digits (top one nonzero), zero-padded."""
    digits = uniform_ints(rng, (n, size), 0, base - 1)
    top = uniform_ints(rng, (n,), 1, base - 1)
    position = np.arange(size)[None, :]
    digits = np.where(position < lengths[:, None], digits, 0)
    digits[np.arange(n), lengths - 1] = top
    return digits


def swap_some(rng: np.random.Generator, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exchange the operands of a random half of the instances, so neither side is always the long one."""
    swap = random_bits(rng, (first.shape[0],)).astype(bool)[:, None]
    return np.where(swap, second, first), np.where(swap, first, second)


class ArithmeticTask(Task):
    """``op`` of two k-digit numbers in ``base``; see the module docstring for the encoding."""

    spec = TaskSpec(in_channels=11, num_classes=10, dims=1,
                    counted_positions="every position: the result's digits, zero-padded to 2k + 1")
    example_size = 8

    def __init__(self, op: str, base: int) -> None:
        if op not in OPERATIONS:
            raise AlgosynthError(f"arithmetic operation must be addition or multiplication, got {op!r}")
        if base not in BASES:
            raise AlgosynthError(f"base must be between 2 and 10, got {base}; use e.g. addition_base2 or multiplication_base10")
        self.op, self.base = op, base
        self.name = f"{op}_base{base}"

    def input_shape(self, size: int) -> tuple[int, ...]:
        return (self.spec.in_channels, 2 * size + 1)

    def validate_size(self, size: int) -> None:
        super().validate_size(size)
        if self.op == "multiplication" and size * (self.base - 1) ** 2 >= 2**32:
            raise AlgosynthError(f"task {self.name!r}: size {size} is too long for exact 32-bit column sums; use at "
                                 f"most {(2**32 - 1) // (self.base - 1) ** 2} digits")

    def result_digits(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The digits of ``a op b`` for operand digits ``[n, k]``, zero-padded to 2k + 1."""
        length = 2 * a.shape[1] + 1
        if self.op == "addition":
            columns = np.zeros((a.shape[0], length), np.int64)
            columns[:, : a.shape[1]] = a.astype(np.int64) + b
        else:
            slot_bits = (a.shape[1] * (self.base - 1) ** 2).bit_length()
            columns = product_columns(a, b, length, slot_bits)
        return propagate_carries(columns, self.base)

    def encode(self, a: np.ndarray, b: np.ndarray) -> Batch:
        """Operand digits ``[n, k]`` (least significant first) to a batch; every generator and suite uses it."""
        a, b = np.asarray(a, np.uint8), np.asarray(b, np.uint8)
        if a.shape != b.shape or a.ndim != 2 or np.any(a >= self.base) or np.any(b >= self.base):
            raise AlgosynthError(f"{self.name} operands must be two [n, k] arrays of digits 0..{self.base - 1}")
        n, size = a.shape
        symbols = np.concatenate([a, np.full((n, 1), SEPARATOR, np.uint8), b], axis=1)
        inputs = torch.zeros((n, self.spec.in_channels, 2 * size + 1))
        inputs.scatter_(1, torch.from_numpy(symbols).long().unsqueeze(1), 1.0)
        targets = torch.from_numpy(self.result_digits(a, b).astype(np.int64))
        return Batch(inputs, targets, torch.ones_like(targets, dtype=torch.bool))

    @staticmethod
    def decode(batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """The operand digits ``[n, k]`` an encoded batch holds: the inverse of ``encode``."""
        symbols = batch.inputs.argmax(dim=1).numpy().astype(np.uint8)
        size = (symbols.shape[1] - 1) // 2
        return symbols[:, :size], symbols[:, size + 1:]

    def check_request(self, size: int, n: int) -> None:
        """A clear error for a size or count that cannot be generated, before any work is done."""
        self.validate_size(size)
        check_fits(self.name, size, n, 2 * size + 1, self.spec.in_channels)

    def generate(self, size: int, n: int, seed: int) -> Batch:
        self.check_request(size, n)
        rng = instance_rng(self.name, size, seed)
        return self.encode(uniform_ints(rng, (n, size), 0, self.base - 1),
                           uniform_ints(rng, (n, size), 0, self.base - 1))

    @property
    def suites(self) -> dict[str, Callable[[int, int, int], Batch]]:
        makers = [("carry_chains", self._carry_chains), ("digit_runs", self._digit_runs),
                  ("padded_small", self._padded_small), ("unequal_lengths", self._unequal_lengths)]
        if self.op == "addition":
            makers += [("propagate_runs", self._propagate_runs), ("carry_free", self._carry_free)]
        return {name: partial(self._suite, name, maker) for name, maker in makers}

    def _suite(self, name: str, maker: Callable, size: int, n: int, seed: int) -> Batch:
        self.check_request(size, n)
        return self.encode(*maker(instance_rng(self.name, size, seed, stream=name), size, n))

    def _carry_chains(self, rng: np.random.Generator, size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Carries that run the whole length.

        Addition: (b-1)(b-1)...(b-1) below a random top digit, plus a single nonzero digit d:
        ``0111..1 + 000..1`` in base 2. Multiplication: all (b-1) times (b-1) repeated in the low j
        digits, j random in 1..k: ``999..9 x 000..999``, whose column sums carry far.
        """
        full = np.full((n, size), self.base - 1, np.int64)
        if self.op == "addition":
            full[:, -1] = uniform_ints(rng, (n,), 0, self.base - 1)
            other = np.zeros((n, size), np.int64)
            other[:, 0] = uniform_ints(rng, (n,), 1, self.base - 1)
        else:
            lengths = uniform_ints(rng, (n,), 1, size)
            other = np.where(np.arange(size)[None, :] < lengths[:, None], self.base - 1, 0)
        return swap_some(rng, full, other)

    def _propagate_runs(self, rng: np.random.Generator, size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Addition only: random operands with one stretch, 1 to k columns long at a random place,
        where the two digits sum to b - 1.

        A carry that enters such a column leaves it, and none is made there, so every digit of the
        stretch and the one above it depend on the column below the stretch, however far away.
        Uniform operands hold stretches longer than 8 binary columns in about 1% of 20-bit sums
        but in about 14% of 200-bit ones, so a network trained on them can fit its training sizes
        and still miss the long ones (benchmarks/README.md). The maximal carry chain is one such
        stretch; here its length, its place and the carry entering it vary.
        """
        a = uniform_ints(rng, (n, size), 0, self.base - 1)
        b = uniform_ints(rng, (n, size), 0, self.base - 1)
        lengths = uniform_ints(rng, (n,), 1, size)
        starts = uniform_ints(rng, (n,), 0, 2**31 - 1) % (size - lengths + 1)
        position = np.arange(size)[None, :]
        stretch = (position >= starts[:, None]) & (position < (starts + lengths)[:, None])
        return a, np.where(stretch, self.base - 1 - a, b)

    def _carry_free(self, rng: np.random.Generator, size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Addition only: every column's two digits sum to at most b - 1, so no carry is made anywhere.

        Each column is a pair drawn uniformly from the b(b + 1)/2 pairs that do not carry, so in base
        2 two columns in three are propagate columns (0 + 1 or 1 + 0) that pass no carry along: the
        stretches are long, and the answer is still digit by digit. A network that has not learned
        to bring b's digits under a's at every length fails here; so does one that guesses a carry
        into a long stretch. As a warm-up (``curriculum.warmup_suite``) it asks for the alignment
        at every training length at once, before any carry has to be learned.
        """
        pairs = np.array([(x, y) for x in range(self.base) for y in range(self.base - x)])
        drawn = pairs[uniform_ints(rng, (n, size), 0, len(pairs) - 1)]
        return drawn[..., 0], drawn[..., 1]

    def _digit_runs(self, rng: np.random.Generator, size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Both operands are runs of one repeated digit, each run k/8 to k/2 digits long."""
        return runs_of(rng, n, size, 0, self.base - 1), runs_of(rng, n, size, 0, self.base - 1)

    def _padded_small(self, rng: np.random.Generator, size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Values below b**2 padded with zeros to k digits; the first two instances are 1 op 1 and 2 op 2."""
        largest = self.base ** min(size, 2) - 1
        values = uniform_ints(rng, (2, n), 1, largest)
        canonical = np.minimum(np.arange(1, 3), largest)[: n]
        values[:, : len(canonical)] = canonical
        position = np.arange(size)[None, None, :]
        digits = values[:, :, None] // self.base ** np.minimum(position, 2) % self.base
        return digits[0], digits[1]

    def _unequal_lengths(self, rng: np.random.Generator, size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """A full k-digit operand against one of 1..max(1, k/8) significant digits."""
        long = with_top_digit(rng, n, size, np.full(n, size), self.base)
        short = with_top_digit(rng, n, size, uniform_ints(rng, (n,), 1, max(1, size // 8)), self.base)
        return swap_some(rng, long, short)

    def render(self, batch: Batch, index: int = 0, prediction: torch.Tensor | None = None) -> str:
        """Operands, the true result and a prediction, most significant digit first; ^ marks a wrong digit."""
        a, b = (digits[index] for digits in self.decode(batch))
        width = batch.targets.shape[1]
        sign = "+" if self.op == "addition" else "x"

        def line(label: str, digits) -> str:
            return f"{label:<7}" + "".join(str(int(d)) for d in np.asarray(digits)[::-1]).rjust(width)

        rows = [f"{self.name}, {a.shape[0]} digits per operand, most significant digit first",
                line("a", a), line(sign + " b", b), line("= true", batch.targets[index].cpu())]
        if prediction is not None:
            prediction = prediction.cpu()
            rows.append(line("output", prediction))
            wrong = (prediction != batch.targets[index].cpu()).numpy()[::-1]
            rows.append(f"{'errors':<7}" + "".join("^" if w else " " for w in wrong).rstrip())
        return "\n".join(rows)


def arithmetic_task(name: str) -> ArithmeticTask | None:
    """The task a name like ``addition_base7`` or ``bmul`` means, or None when it is no arithmetic name.

    A well-formed name with a base outside 2..10 raises, so ``multiplication_base11`` is explained.
    """
    match = _NAME.match(ALIASES.get(name, name))
    return ArithmeticTask(match.group(1), int(match.group(2))) if match else None


ARITHMETIC_TASKS: dict[str, Callable[[], Task]] = {
    **{f"{op}_base{base}": partial(ArithmeticTask, op, base) for op in OPERATIONS for base in BASES},
    **{alias: partial(arithmetic_task, alias) for alias in ALIASES},
}

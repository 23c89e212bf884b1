"""Chess puzzle files: the format the builder writes, the shipped set, and loaders that need no engine.

A puzzle set is a folder with ``easy.csv.gz`` and ``hard.csv.gz`` (columns ``fen, solution, kind,
difficulty, score``) and ``metadata.json`` (engine version, search depths, seed, difficulty ranges,
counts and the command that built it). ``kind`` is ``mate`` or ``tactic``; ``difficulty`` is the
mate distance in moves for mates, and for tactics the search depth at which the engine first
found the solution and kept it; ``score`` is ``#N`` for a mate in N and centipawns otherwise.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
from dataclasses import astuple, dataclass
from pathlib import Path

from algosynth.errors import AlgosynthError

COLUMNS = ("fen", "solution", "kind", "difficulty", "score")
KINDS = ("mate", "tactic")
SPLITS = ("easy", "hard")
FORMAT = "algosynth-chess-puzzles/1"
SHIPPED_DIR = Path(__file__).parent / "data" / "chess"

# Difficulty ranges, inclusive, per kind. Puzzles in neither range (a tactic settled at depth 3-4,
# a mate in more than 5, whose uniqueness a depth-9 search cannot vouch for) are left out, so easy
# and hard are separated by a gap rather than a single step.
RANGES: dict[str, dict[str, tuple[int, int]]] = {
    "easy": {"mate": (1, 2), "tactic": (1, 2)},
    "hard": {"mate": (3, 5), "tactic": (5, 99)},
}


@dataclass(frozen=True)
class Puzzle:
    """One position and its single right move; ``fen`` is a full FEN, ``solution`` a UCI move."""

    fen: str
    solution: str
    kind: str
    difficulty: int
    score: str

    @property
    def position_key(self) -> str:
        """The FEN without the move counters: two puzzles with the same key are the same position."""
        return " ".join(self.fen.split()[:4])


def split_of(kind: str, difficulty: int) -> str | None:
    """``easy``, ``hard`` or None (between the ranges) for a puzzle of this kind and difficulty."""
    for split, ranges in RANGES.items():
        low, high = ranges[kind]
        if low <= difficulty <= high:
            return split
    return None


def require_chess():
    """The python-chess module, or one line saying how to install it."""
    try:
        import chess
        import chess.engine
    except ImportError:
        raise AlgosynthError("chess puzzles need python-chess; install it with pip install 'algosynth[chess]'") from None
    return chess


def find_engine(path: Path | str | None = None) -> Path:
    """The Stockfish binary: ``path`` if given, else ``stockfish`` on PATH, else Debian's /usr/games/stockfish."""
    if path is not None:
        candidate = Path(path)
        if not candidate.is_file() or not os.access(candidate, os.X_OK):
            raise AlgosynthError(f"--engine {path} is not an executable file; give the path to a Stockfish binary")
        return candidate
    found = shutil.which("stockfish") or shutil.which("stockfish", path="/usr/games")
    if found is None:
        raise AlgosynthError("no Stockfish binary on PATH or in /usr/games; install it with apt-get install stockfish, or pass --engine PATH")
    return Path(found)


def write_csv_gz(path: Path, puzzles: list[Puzzle]) -> None:
    """Write atomically, with a zero gzip timestamp so that the same puzzles give the same bytes."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(astuple(p) for p in puzzles)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as handle:
        handle.write(text.getvalue().encode())
    os.replace(tmp, path)


def _bad(path: Path, why: str) -> AlgosynthError:
    return AlgosynthError(f"{path} is not a chess puzzle file ({why}); expect a gzip CSV with columns {','.join(COLUMNS)}")


def read_csv_gz(path: Path) -> list[Puzzle]:
    """Read and check a puzzle file; any deviation from the format is one clear error."""
    try:
        with gzip.open(path, "rt", newline="") as handle:
            rows = list(csv.reader(handle))
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise _bad(path, str(error).splitlines()[0] if str(error) else type(error).__name__) from None
    if not rows or tuple(rows[0]) != COLUMNS:
        raise _bad(path, f"header is {rows[0] if rows else 'missing'}")
    puzzles = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(COLUMNS) or row[2] not in KINDS or not row[3].isdigit() or len(row[0].split()) != 6:
            raise _bad(path, f"line {number} reads {','.join(row)!r}")
        puzzles.append(Puzzle(row[0], row[1], row[2], int(row[3]), row[4]))
    return puzzles


def read_metadata(folder: Path) -> dict:
    path = Path(folder) / "metadata.json"
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        raise AlgosynthError(f"{path} is missing or not JSON; a puzzle folder holds metadata.json, easy.csv.gz and hard.csv.gz") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise AlgosynthError(f"{path} is not chess puzzle metadata (format {FORMAT})")
    return meta


_CACHE: dict[tuple[str, str], list[Puzzle]] = {}


def load_split(split: str, folder: Path | None = None) -> list[Puzzle]:
    """The puzzles of one split from a puzzle folder (default: the set shipped with algosynth)."""
    if split not in SPLITS:
        raise AlgosynthError(f"unknown chess split {split!r}; choose easy or hard")
    folder = Path(folder) if folder is not None else SHIPPED_DIR
    key = (str(folder.resolve()), split)
    if key not in _CACHE:
        read_metadata(folder)
        _CACHE[key] = read_csv_gz(folder / f"{split}.csv.gz")
    return _CACHE[key]

"""Chess puzzles: find the one right move (Schwarzschild et al. 2021's third benchmark).

Input: a 12x8x8 one-hot board. Channels 0-5 hold the side to move's K, Q, B, N, R, P and 6-11 the
opponent's, and the board is mirrored top-to-bottom when Black is to move, so the side to move
always plays up the board (row 0 is its opponent's back rank; columns stay files a-h). Castling
rights, en passant and the move counters are not in the input.

Target: 8x8, 1 on the origin and the destination square of the solution, 0 elsewhere; every
square counts. Exact match is the literature's top-2 rule: the two squares with the most class-1
evidence must be exactly the origin and the destination. Beside it, ``decoder_accuracy`` picks the
legal move with the highest summed origin and destination evidence.

``size`` names a split of the puzzle set (``chess_data``): 1 is easy (training), 2 is hard
(testing). ``generate(size, n, seed)`` returns the first ``n`` puzzles of that split in an order
drawn from ``seed``; seeds give different orders of the same pool, so a validation draw from the
easy split overlaps the training draw (the hard split shares no position with the easy one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from algosynth.chess_data import SPLITS, Puzzle, load_split, read_csv_gz, require_chess, split_of
from algosynth.errors import AlgosynthError
from algosynth.tasks.base import Batch, Score, Task, TaskSpec, instance_rng, score_predictions

PIECE_LETTERS = "KQBNRP"
SIZES = {1: "easy", 2: "hard"}


def square_to_cell(square: int, white_to_move: bool) -> tuple[int, int]:
    """python-chess square (a1 = 0) -> (row, column) of the tensor, seen from the side to move."""
    rank, file = divmod(square, 8)
    return (7 - rank if white_to_move else rank), file


def cell_to_square(row: int, column: int, white_to_move: bool) -> int:
    rank = 7 - row if white_to_move else row
    return 8 * rank + column


def _uci_square(name: str) -> int:
    return 8 * (int(name[1]) - 1) + (ord(name[0]) - ord("a"))


def encode_fen(fen: str) -> np.ndarray:
    """A FEN's placement as the 12x8x8 uint8 board, from the side to move's point of view (no python-chess needed)."""
    fields = fen.split()
    white = fields[1] == "w"
    board = np.zeros((12, 8, 8), dtype=np.uint8)
    for rank_from_top, text in enumerate(fields[0].split("/")):
        file = 0
        for char in text:
            if char.isdigit():
                file += int(char)
                continue
            mine = char.isupper() == white
            row, column = square_to_cell(8 * (7 - rank_from_top) + file, white)
            board[PIECE_LETTERS.index(char.upper()) + (0 if mine else 6), row, column] = 1
            file += 1
    return board


def move_cells(fen: str, uci: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """The origin and destination cells of a UCI move in the tensor's orientation."""
    white = fen.split()[1] == "w"
    return square_to_cell(_uci_square(uci[:2]), white), square_to_cell(_uci_square(uci[2:4]), white)


def encode_puzzles(puzzles: list[Puzzle]) -> Batch:
    """Boards, origin/destination targets and a mask that counts every square."""
    inputs = np.stack([encode_fen(p.fen) for p in puzzles]) if puzzles else np.zeros((0, 12, 8, 8), np.uint8)
    targets = np.zeros((len(puzzles), 8, 8), dtype=np.int64)
    for i, p in enumerate(puzzles):
        for row, column in move_cells(p.fen, p.solution):
            targets[i, row, column] = 1
    inputs_t = torch.from_numpy(inputs).float()
    return Batch(inputs_t, torch.from_numpy(targets), torch.ones(len(puzzles), 8, 8, dtype=torch.bool))


def decode_board(planes: torch.Tensor | np.ndarray, white_to_move: bool):
    """The python-chess board a 12x8x8 tensor shows, given whose move it is (castling and en passant
    are not in the tensor, so the board has none)."""
    chess = require_chess()
    planes = np.asarray(planes)
    board = chess.Board(None)
    board.turn = chess.WHITE if white_to_move else chess.BLACK
    for channel, row, column in zip(*np.nonzero(planes)):
        color = board.turn if channel < 6 else not board.turn
        kind = chess.Piece.from_symbol(PIECE_LETTERS[channel % 6]).piece_type
        board.set_piece_at(cell_to_square(int(row), int(column), white_to_move), chess.Piece(kind, color))
    return board


def parse_position(fen: str):
    """A python-chess board from a FEN, refusing text that is not a FEN or a position that cannot occur."""
    chess = require_chess()
    try:
        board = chess.Board(fen)
    except ValueError as error:
        raise AlgosynthError(f"invalid FEN {fen!r}: {error}; give six fields, e.g. 'rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1'") from None
    if not board.is_valid():
        raise AlgosynthError(f"illegal position {fen!r}: {board.status()!r}; check the kings, pawns on the back ranks and whose move it is")
    if board.is_game_over():
        raise AlgosynthError(f"the game is already over in {fen!r} ({board.result()}); there is no move to find")
    return board


def check_puzzles(puzzles: list[Puzzle]) -> None:
    """Every position legal and every solution a legal move in it (python-chess), or one error naming the first bad one."""
    chess = require_chess()
    for number, puzzle in enumerate(puzzles, start=1):
        board = chess.Board(puzzle.fen)
        try:
            legal = board.is_valid() and chess.Move.from_uci(puzzle.solution) in board.legal_moves
        except ValueError:
            legal = False
        if not legal:
            raise AlgosynthError(f"puzzle {number} ({puzzle.fen}, {puzzle.solution}) is not a legal position with a legal solution")


def class_one_evidence(logits: torch.Tensor) -> torch.Tensor:
    """[B, 2, 8, 8] logits -> [B, 64]: how strongly each square is marked as origin or destination."""
    return (logits[:, 1] - logits[:, 0]).flatten(1).float()


def top2_exact(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The literature's rule: the two most marked squares are exactly the two target squares."""
    top = class_one_evidence(logits).topk(2, dim=1).indices
    picked = torch.zeros_like(targets.flatten(1)).scatter_(1, top, 1)
    return (picked == targets.flatten(1)).all(dim=1)


@dataclass
class LegalMoves:
    """Each puzzle's legal moves as distinct (origin, destination) cell indices (row * 8 + column),
    padded to the longest list, and the index of the solution among them."""

    origins: torch.Tensor
    destinations: torch.Tensor
    valid: torch.Tensor
    solution: torch.Tensor

    def to(self, device) -> LegalMoves:
        return LegalMoves(*(t.to(device) for t in (self.origins, self.destinations, self.valid, self.solution)))


def legal_moves_table(puzzles: list[Puzzle]) -> LegalMoves:
    """Legal moves from each full FEN (castling and en passant included); promotions to different
    pieces share their two squares, so they count as one candidate."""
    chess = require_chess()
    lists, solutions = [], []
    for p in puzzles:
        board, white = chess.Board(p.fen), p.fen.split()[1] == "w"
        pairs = sorted({(m.from_square, m.to_square) for m in board.legal_moves})
        cells = [(_flat(square_to_cell(a, white)), _flat(square_to_cell(b, white))) for a, b in pairs]
        solution = tuple(_flat(c) for c in move_cells(p.fen, p.solution))
        lists.append(cells)
        solutions.append(cells.index(solution))
    width = max((len(c) for c in lists), default=1)
    origins = torch.zeros(len(lists), width, dtype=torch.long)
    destinations = torch.zeros_like(origins)
    valid = torch.zeros(len(lists), width, dtype=torch.bool)
    for i, cells in enumerate(lists):
        origins[i, : len(cells)] = torch.tensor([a for a, _ in cells])
        destinations[i, : len(cells)] = torch.tensor([b for _, b in cells])
        valid[i, : len(cells)] = True
    return LegalMoves(origins, destinations, valid, torch.tensor(solutions, dtype=torch.long))


def _flat(cell: tuple[int, int]) -> int:
    return 8 * cell[0] + cell[1]


def decode_moves(logits: torch.Tensor, table: LegalMoves) -> torch.Tensor:
    """Index of the legal move with the highest summed origin and destination evidence, per puzzle."""
    evidence = class_one_evidence(logits)
    summed = evidence.gather(1, table.origins) + evidence.gather(1, table.destinations)
    return summed.masked_fill(~table.valid, float("-inf")).argmax(dim=1)


def decoder_right(logits: torch.Tensor, table: LegalMoves) -> torch.Tensor:
    return decode_moves(logits, table) == table.solution


class ChessTask(Task):
    """Mark the origin and destination of the one right move in a chess puzzle."""

    name = "chess"
    spec = TaskSpec(in_channels=12, num_classes=2, dims=2, counted_positions="all 64 squares")
    example_size = 1

    def validate_size(self, size: int) -> None:
        if size not in SIZES:
            raise AlgosynthError(f"chess size names a puzzle split: 1 (easy, training) or 2 (hard, testing), got {size}")

    def input_shape(self, size: int) -> tuple[int, ...]:
        return (12, 8, 8)

    def puzzles(self, size: int, n: int, seed: int) -> list[Puzzle]:
        """The first ``n`` puzzles of the split in the order drawn from ``seed``."""
        self.validate_size(size)
        pool = load_split(SIZES[size])
        if n > len(pool):
            raise AlgosynthError(f"the {SIZES[size]} chess split holds {len(pool)} puzzles; ask for at most that many (task.n_train, task.n_val or eval.n)")
        keys = np.frombuffer(instance_rng(self.name, size, seed).bytes(8 * len(pool)), dtype="<u8")
        return [pool[i] for i in np.argsort(keys, kind="stable")[:n]]

    def generate(self, size: int, n: int, seed: int) -> Batch:
        return encode_puzzles(self.puzzles(size, n, seed))

    def score(self, logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> Score:
        return Score(exact=top2_exact(logits, targets), per_position=score_predictions(logits.argmax(1), targets, mask).per_position)

    def load_external(self, path: Path) -> tuple[Batch, int]:
        """A puzzle file (gzip CSV) in the builder's format; its size is 2 when every puzzle is hard."""
        puzzles = read_csv_gz(Path(path))
        if not puzzles:
            raise AlgosynthError(f"{path} holds no puzzles")
        check_puzzles(puzzles)
        hard = all(split_of(p.kind, p.difficulty) == "hard" for p in puzzles)
        return encode_puzzles(puzzles), 2 if hard else 1

    def render(self, batch: Batch, index: int = 0, prediction: torch.Tensor | None = None) -> str:
        """The board from the side to move's seat (capitals are its pieces, it plays up), then the
        target squares and, when given, the predicted ones (o origin, x destination)."""
        marks = [("solution", batch.targets[index])] + ([("prediction", prediction)] if prediction is not None else [])
        return render_panels(batch.inputs[index], marks)


def render_panels(planes: torch.Tensor, marks: list[tuple[str, torch.Tensor]]) -> str:
    """The board (capitals: the side to move, which plays up) beside one 8x8 panel per marking."""
    panels = [_board_rows(planes)] + [_mark_rows(planes, marked) for _, marked in marks]
    titles = ["position"] + [title for title, _ in marks]
    lines = ["   ".join(f"{t:<17}" for t in titles).rstrip()]
    lines += ["   ".join(rows[r] for rows in panels) for r in range(9)]
    return "\n".join(lines)


def _board_rows(planes: torch.Tensor) -> list[str]:
    rows = []
    for row in range(8):
        cells = []
        for column in range(8):
            found = torch.nonzero(planes[:, row, column]).flatten().tolist()
            letter = PIECE_LETTERS[found[0] % 6] if found else "."
            cells.append(letter if found and found[0] < 6 else letter.lower())
        rows.append(f"{8 - row} " + " ".join(cells))
    return rows + ["  a b c d e f g h"]


def _mark_rows(planes: torch.Tensor, marked: torch.Tensor) -> list[str]:
    """``o`` on a marked square holding a piece of the side to move (the origin), ``x`` on another."""
    own = planes[:6].sum(0) > 0
    rows = []
    for row in range(8):
        cells = ["." if not int(marked[row, column]) else ("o" if own[row, column] else "x") for column in range(8)]
        rows.append(f"{8 - row} " + " ".join(cells))
    return rows + ["  a b c d e f g h"]


__all__ = ["ChessTask", "SPLITS", "encode_fen", "encode_puzzles", "decode_board", "legal_moves_table", "decode_moves"]

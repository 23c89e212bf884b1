"""The chess task: encoding round trips, both scorers on hand-made boards, files and bad input."""

import gzip
import random

import pytest
import torch

chess = pytest.importorskip("chess", reason="python-chess is not installed (pip install 'algosynth[chess]')")

from algosynth.chess_builder import sparse_position  # noqa: E402
from algosynth.chess_data import Puzzle, load_split, read_csv_gz, write_csv_gz  # noqa: E402
from algosynth.errors import AlgosynthError  # noqa: E402
from algosynth.tasks.chess import (  # noqa: E402
    ChessTask,
    decode_board,
    decode_moves,
    encode_fen,
    encode_puzzles,
    legal_moves_table,
    parse_position,
    top2_exact,
)


def random_game_positions(count: int, seed: int) -> list:
    rng, board, positions = random.Random(seed), chess.Board(), []
    while len(positions) < count:
        if board.is_game_over():
            board = chess.Board()
        board.push(rng.choice(list(board.legal_moves)))
        positions.append(board.copy(stack=False))
    return positions


def test_encoding_round_trips_for_both_colours_and_mirrors_black():
    boards = random_game_positions(60, 0) + [sparse_position(random.Random(s)) for s in range(30)]
    assert {b.turn for b in boards} == {chess.WHITE, chess.BLACK}
    for board in boards:
        planes = encode_fen(board.fen())
        assert planes.sum() == len(board.piece_map()) and planes.max() == 1
        assert decode_board(planes, board.turn).board_fen() == board.board_fen()
        # The colour-flipped position (mirrored, colours swapped, other side to move) is the same input.
        assert (encode_fen(board.mirror().fen()) == planes).all()


def test_the_side_to_move_plays_up_and_sits_in_channels_0_to_5():
    white = encode_fen(chess.STARTING_FEN)
    black = encode_fen("rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1")
    for planes in (white, black):
        assert planes[5, 6].sum() == 8  # own pawns on the second row from the bottom
        assert planes[0, 7, 4] == 1 and planes[6, 0, 4] == 1  # own king on e1 / e8, seen from its own seat
    # From Black's seat White's pawns sit at the top (row 1), the one on e4 at row 3.
    assert white[11, 1].sum() == 8 and black[11, 3, 4] == 1 and black[11, 1].sum() == 7


def test_targets_mark_origin_and_destination_in_the_flipped_frame():
    batch = encode_puzzles([Puzzle("4k3/8/8/8/8/8/4p3/K7 b - - 0 1", "e2e1q", "tactic", 1, "900")])
    marked = torch.nonzero(batch.targets[0]).tolist()
    assert sorted(marked) == [[0, 4], [1, 4]]  # Black promoting e2 -> e1 moves up: row 1 -> row 0
    assert batch.mask.all() and batch.inputs.shape == (1, 12, 8, 8)


def _logits_marking(cells: list[tuple[int, int, float]]) -> torch.Tensor:
    logits = torch.zeros(1, 2, 8, 8)
    logits[0, 0] = 1.0
    for row, column, value in cells:
        logits[0, 1, row, column] = value
    return logits


def test_top2_rule_on_hand_made_boards():
    targets = torch.zeros(1, 8, 8, dtype=torch.long)
    targets[0, 6, 4] = targets[0, 4, 4] = 1  # e2e4 from White's seat
    assert top2_exact(_logits_marking([(6, 4, 3.0), (4, 4, 2.0)]), targets).item()
    assert not top2_exact(_logits_marking([(6, 4, 3.0), (5, 4, 2.5), (4, 4, 2.0)]), targets).item()
    # Both squares below class 0 still win the rule if nothing else is marked more: it ranks, it does not threshold.
    assert top2_exact(_logits_marking([(6, 4, 0.5), (4, 4, 0.4)]), targets).item()
    task = ChessTask()
    assert task.score(_logits_marking([(6, 4, 3.0), (4, 4, 2.0)]), targets, torch.ones(1, 8, 8, dtype=torch.bool)).exact.item()


def test_legal_move_decoder_skips_illegal_pairs():
    # White: Ke1, Ra1, pawn e2. Marking e2 and e5 most is not a legal move; the best legal sum is e2e4.
    puzzle = Puzzle("4k3/8/8/8/8/8/4P3/R3K3 w Q - 0 1", "e2e4", "tactic", 1, "0")
    table = legal_moves_table([puzzle])
    logits = _logits_marking([(6, 4, 5.0), (3, 4, 4.0), (4, 4, 3.0), (7, 0, 2.9)])
    assert not top2_exact(logits, encode_puzzles([puzzle]).targets).item()
    assert decode_moves(logits, table).item() == table.solution.item()
    castle = Puzzle(puzzle.fen, "e1c1", "tactic", 1, "0")  # castling is legal from the full FEN
    table = legal_moves_table([castle])
    assert decode_moves(_logits_marking([(7, 4, 3.0), (7, 2, 3.0)]), table).item() == table.solution.item()


def test_generate_is_seeded_and_splits_share_no_position():
    task = ChessTask()
    a, b = task.generate(1, 20, 0), task.generate(1, 20, 0)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.inputs, task.generate(1, 20, 1).inputs)
    easy, hard = ({p.position_key for p in load_split(split)} for split in ("easy", "hard"))
    assert easy and hard and not easy & hard
    with pytest.raises(AlgosynthError, match="1 \\(easy"):
        task.generate(3, 1, 0)
    with pytest.raises(AlgosynthError, match="holds"):
        task.generate(2, 10**7, 0)


def test_render_shows_board_solution_and_prediction():
    task = ChessTask()
    batch = task.generate(1, 1, 0)
    text = task.render(batch, 0, prediction=batch.targets[0])
    assert "solution" in text and "prediction" in text and text.count("o") >= 2 and text.count("x") >= 2


@pytest.mark.parametrize("fen, message", [
    ("not a fen", "invalid FEN"),
    ("8/8/8/8/8/8/8/K7 w - - 0 1", "illegal position"),
    ("rnb1kbnr/pppp1ppp/8/4p3/6Pq/5P2/PPPPP2P/RNBQKBNR w KQkq - 1 3", "already over"),
])
def test_bad_positions_get_one_clear_line(fen, message):
    with pytest.raises(AlgosynthError, match=message) as error:
        parse_position(fen)
    assert "\n" not in str(error.value)


def test_puzzle_files_round_trip_and_refuse_other_formats(tmp_path):
    puzzles = [Puzzle(chess.STARTING_FEN, "e2e4", "tactic", 1, "12"), Puzzle("6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 1", "a1a8", "mate", 1, "#1")]
    path = tmp_path / "p.csv.gz"
    write_csv_gz(path, puzzles)
    first = path.read_bytes()
    write_csv_gz(path, puzzles)
    assert read_csv_gz(path) == puzzles and path.read_bytes() == first
    bad = tmp_path / "bad.csv.gz"
    with gzip.open(bad, "wt") as handle:
        handle.write("a,b\n1,2\n")
    plain = tmp_path / "plain.csv.gz"
    plain.write_text("fen,solution\n")
    for wrong in (bad, plain):
        with pytest.raises(AlgosynthError, match="not a chess puzzle file"):
            ChessTask().load_external(wrong)

"""The puzzle builder with the real engine, its determinism, and its labels against brute force."""

import json

import pytest

chess = pytest.importorskip("chess", reason="python-chess is not installed (pip install 'algosynth[chess]')")

from algosynth.chess_builder import BuildSettings, build, mating_moves  # noqa: E402
from algosynth.chess_data import SPLITS, find_engine, load_split  # noqa: E402
from algosynth.errors import AlgosynthError  # noqa: E402
from algosynth.tasks.chess import check_puzzles  # noqa: E402


def _engine_or_none():
    try:
        return find_engine()
    except AlgosynthError:
        return None


needs_engine = pytest.mark.skipif(_engine_or_none() is None, reason="no stockfish binary on PATH or in /usr/games (apt-get install stockfish)")
SMALL = BuildSettings(sparse_per_job=25, max_plies=40, search_depth=8)


def forces_mate(board, moves: int) -> bool:
    """Brute force: the side to move can force checkmate within ``moves`` of its own moves."""
    for move in board.legal_moves:
        board.push(move)
        try:
            if board.is_checkmate():
                return True
            if moves > 1 and not board.is_game_over() and all(_replies_lose(board, reply, moves - 1) for reply in list(board.legal_moves)):
                return True
        finally:
            board.pop()
    return False


def _replies_lose(board, reply, moves: int) -> bool:
    board.push(reply)
    try:
        return forces_mate(board, moves)
    finally:
        board.pop()


def move_forces_mate(board, move, moves: int) -> bool:
    board.push(move)
    try:
        if board.is_checkmate():
            return True
        return moves > 1 and not board.is_game_over() and all(_replies_lose(board, r, moves - 1) for r in list(board.legal_moves))
    finally:
        board.pop()


def assert_unique_mate(puzzle) -> None:
    """The solution mates in exactly N, and no other first move mates in N or fewer."""
    board, n = chess.Board(puzzle.fen), puzzle.difficulty
    solution = chess.Move.from_uci(puzzle.solution)
    assert move_forces_mate(board, solution, n), puzzle
    assert n == 1 or not forces_mate(board, n - 1), puzzle
    assert not any(move_forces_mate(board, m, n) for m in board.legal_moves if m != solution), puzzle


def test_mating_moves_counts_every_mate_in_one():
    back_rank = chess.Board("6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 1")
    two_ways = chess.Board("6k1/5ppp/8/8/8/8/8/RR4K1 w - - 0 1")
    assert [m.uci() for m in mating_moves(back_rank)] == ["a1a8"]
    assert sorted(m.uci() for m in mating_moves(two_ways)) == ["a1a8", "b1b8"]


def test_shipped_mate_labels_agree_with_brute_force():
    puzzles = [p for p in load_split("easy") if p.kind == "mate"]
    ones = [p for p in puzzles if p.difficulty == 1][:150]
    twos = [p for p in puzzles if p.difficulty == 2][:60]
    assert len(ones) == 150 and len(twos) == 60
    for puzzle in ones + twos:
        assert_unique_mate(puzzle)


def test_every_shipped_puzzle_is_legal_and_the_set_is_small():
    for split in SPLITS:
        check_puzzles(load_split(split))
    from algosynth.chess_data import SHIPPED_DIR

    assert sum(f.stat().st_size for f in SHIPPED_DIR.iterdir()) <= 5 * 2**20


@needs_engine
def test_a_small_build_is_deterministic_resumable_and_labelled_right(tmp_path):
    one = build(tmp_path / "one", 8, 2, workers=1, settings=SMALL, max_jobs=40)
    two = build(tmp_path / "two", 8, 2, workers=2, settings=SMALL, max_jobs=40)
    assert one["complete"] and two["complete"] and one["counts"] == two["counts"] == {"easy": 8, "hard": 2}
    files = ("easy.csv.gz", "hard.csv.gz")
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes() for f in files)
    # Resume: forget the last finished job and the outputs; the rebuild redoes only that job.
    log = tmp_path / "two" / "jobs.jsonl"
    lines = log.read_text().splitlines()
    log.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    for f in files:
        (tmp_path / "two" / f).unlink()
    build(tmp_path / "two", 8, 2, workers=1, settings=SMALL, max_jobs=40)
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes() for f in files)
    meta = json.loads((tmp_path / "one" / "metadata.json").read_text())
    assert meta["engine"].startswith("Stockfish") and meta["settings"]["search_depth"] == 8
    assert meta["ranges"]["easy"]["mate"] == [1, 2] and meta["puzzles_per_core_minute"] > 0
    puzzles = {split: load_split(split, tmp_path / "one") for split in SPLITS}
    check_puzzles(puzzles["easy"] + puzzles["hard"])
    assert not {p.position_key for p in puzzles["easy"]} & {p.position_key for p in puzzles["hard"]}
    for puzzle in puzzles["easy"]:
        if puzzle.kind == "mate":
            assert_unique_mate(puzzle)
    with pytest.raises(AlgosynthError, match="another seed"):
        build(tmp_path / "one", 8, 2, seed=1, settings=SMALL)


def test_a_missing_engine_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("shutil.which", lambda *args, **kwargs: None)
    with pytest.raises(AlgosynthError, match="apt-get install stockfish"):
        find_engine()
    with pytest.raises(AlgosynthError, match="not an executable"):
        find_engine(tmp_path / "nothing")

"""Build chess puzzles with Stockfish: positions from varied games and sparse random boards, kept
only when exactly one move is right.

Work is cut into numbered jobs. Job ``j`` draws its positions from a generator seeded by
``(seed, j)`` and asks a fresh-hashed, single-threaded engine searches of fixed depth, so its
puzzles depend on ``(seed, j)`` alone: any number of workers, in any order, gives the same set.
Finished jobs are appended to ``jobs.jsonl``; a rerun skips them (resume), and the puzzle files
are rewritten from the finished prefix of jobs after every round, so the folder always holds a
valid set, complete or not.

A position is a puzzle when
- the side to move has a forced mate in N and no other first move mates in N or fewer (mates in
  one and two are checked exactly by brute force with python-chess; for longer ones a deeper
  second search, barred from the best move, must find no mate in N or fewer), or
- the material is roughly level (within ``BALANCE`` pawns), the best move scores at least
  ``TACTIC_MARGIN`` centipawns above the second best, and the second best is no better than
  ``SECOND_AT_MOST`` (so the position was not already won).
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.util
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from algosynth.chess_data import (
    FORMAT,
    RANGES,
    SPLITS,
    Puzzle,
    find_engine,
    require_chess,
    split_of,
    write_csv_gz,
)
from algosynth.errors import AlgosynthError

BALANCE = 1
TACTIC_MARGIN = 300
SECOND_AT_MOST = 150
PIECE_VALUES = {1: 1, 2: 3, 3: 3, 4: 5, 5: 9, 6: 0}


@dataclass(frozen=True)
class BuildSettings:
    """Everything that shapes the puzzles besides the seed; written to metadata.json."""

    prefilter_depth: int = 5
    search_depth: int = 9
    verify_depth: int = 16
    uniqueness: str = "mates in 1-2 by python-chess brute force; longer ones by a search barred from the best move"
    hash_mb: int = 16
    random_move_rate: float = 0.3
    game_depths: tuple[int, ...] = (1, 2, 3, 5)
    sparse_per_job: int = 60
    max_plies: int = 140
    game_job_every: int = 4


def mating_moves(board) -> list:
    """Every legal move that checkmates at once (python-chess, exact)."""
    found = []
    for move in board.legal_moves:
        board.push(move)
        if board.is_checkmate():
            found.append(move)
        board.pop()
    return found


def move_forces_mate(board, move, moves: int) -> bool:
    """Exact, by brute force: after ``move`` every reply allows a forced mate within ``moves - 1``."""
    board.push(move)
    try:
        if board.is_checkmate():
            return True
        if moves == 1 or board.is_game_over():
            return False
        return all(_reply_loses(board, reply, moves - 1) for reply in list(board.legal_moves))
    finally:
        board.pop()


def _reply_loses(board, reply, moves: int) -> bool:
    board.push(reply)
    try:
        return any(move_forces_mate(board, move, moves) for move in list(board.legal_moves))
    finally:
        board.pop()


def material_balance(board) -> int:
    """Material of the side to move minus the opponent's, in pawns (1, 3, 3, 5, 9)."""
    total = 0
    for piece in board.piece_map().values():
        value = PIECE_VALUES[piece.piece_type]
        total += value if piece.color == board.turn else -value
    return total


def _search(engine, board, depth: int, multipv: int = 1, root_moves: list | None = None) -> tuple[list[dict], dict[int, str]]:
    """Principal lines at ``depth`` on a cleared hash (optionally among ``root_moves`` only), and
    the best first move at every depth."""
    chess = require_chess()
    best_at_depth: dict[int, str] = {}
    final: dict[int, dict] = {}
    limit = chess.engine.Limit(depth=depth)
    with engine.analysis(board, limit, multipv=multipv, root_moves=root_moves, game=object()) as analysis:
        for info in analysis:
            if "pv" not in info or "depth" not in info or "score" not in info:
                continue
            line = info.get("multipv", 1)
            final[line] = info
            if line == 1:
                best_at_depth[info["depth"]] = info["pv"][0].uci()
    return [final[k] for k in sorted(final)], best_at_depth


def best_alternative(engine, board, move, depth: int):
    """The score of the best move other than ``move``, from a search that may not play ``move``.

    A second principal line (MultiPV) is not enough: at these depths it misses other mates that a
    search restricted to the remaining moves finds at once."""
    others = [m for m in board.legal_moves if m != move]
    lines, _ = _search(engine, board, depth, root_moves=others)
    return lines[0]["score"].pov(board.turn)


def settled_depth(best_at_depth: dict[int, str], move: str) -> int:
    """The depth from which the engine's best move is ``move`` at every deeper iteration."""
    depth = max(best_at_depth) + 1
    for d in sorted(best_at_depth, reverse=True):
        if best_at_depth[d] != move:
            break
        depth = d
    return depth


def classify(board, engine, settings: BuildSettings) -> Puzzle | None:
    """The puzzle this position makes, or None when no single move stands out."""
    if board.is_game_over() or board.legal_moves.count() < 2:
        return None
    mates = mating_moves(board)
    if len(mates) == 1:
        return Puzzle(board.fen(), mates[0].uci(), "mate", 1, "#1")
    if mates or not _worth_a_deep_search(board, engine, settings):
        return None
    lines, best_at_depth = _search(engine, board, settings.search_depth)
    best, move = lines[0]["score"].pov(board.turn), lines[0]["pv"][0]
    if best.is_mate() and best.mate() < 1:
        return None
    if not best.is_mate() and abs(material_balance(board)) > BALANCE:
        return None
    if best.is_mate():
        n = best.mate()
        if n == 2:
            unique = move_forces_mate(board, move, 2) and not any(
                move_forces_mate(board, other, 2) for other in board.legal_moves if other != move)
        else:  # no move may mate in two (exact), nor another move in n (the deeper search)
            second = best_alternative(engine, board, move, settings.verify_depth)
            unique = not (second.is_mate() and 0 < second.mate() <= n) and not any(
                move_forces_mate(board, other, 2) for other in board.legal_moves)
        return Puzzle(board.fen(), move.uci(), "mate", n, f"#{n}") if unique else None
    second = best_alternative(engine, board, move, settings.search_depth)
    if second.is_mate():
        return None
    best_cp, second_cp = best.score(), second.score()
    if best_cp - second_cp < TACTIC_MARGIN or second_cp > SECOND_AT_MOST:
        return None
    return Puzzle(board.fen(), move.uci(), "tactic", settled_depth(best_at_depth, move.uci()), str(best_cp))


def _worth_a_deep_search(board, engine, settings: BuildSettings) -> bool:
    """A shallow two-line search first: only a mate for the side to move, or a gap of at least
    1.5 pawns between the two best moves, earns the deep search (most of the build's cost).
    Puzzles whose first move shows no such gap at the shallow depth are therefore not found."""
    lines, _ = _search(engine, board, settings.prefilter_depth, multipv=2)
    if len(lines) < 2:
        return False
    best, second = (line["score"].pov(board.turn) for line in lines[:2])
    if best.is_mate():
        return best.mate() > 0
    return best.score(mate_score=100_000) - second.score(mate_score=100_000) >= TACTIC_MARGIN // 2


def game_positions(rng: random.Random, engine, settings: BuildSettings) -> list:
    """The positions of one game between shallow engines, with random moves mixed in."""
    chess = require_chess()
    board = chess.Board()
    opening = rng.randrange(2, 9)
    depths = (rng.choice(settings.game_depths), rng.choice(settings.game_depths))
    positions = []
    while not board.is_game_over() and board.ply() < settings.max_plies:
        if board.ply() < opening or rng.random() < settings.random_move_rate:
            move = rng.choice(list(board.legal_moves))
        else:
            move = engine.play(board, chess.engine.Limit(depth=depths[board.ply() % 2]), game=object()).move
        board.push(move)
        if board.ply() >= opening:
            positions.append(board.copy(stack=False))
    return positions


def sparse_position(rng: random.Random):
    """A random legal board: two kings, one to four pieces for the side to move and up to three for
    the opponent, side to move at random."""
    chess = require_chess()
    while True:
        board = chess.Board(None)
        board.turn = rng.random() < 0.5
        squares = rng.sample(range(64), 9)
        board.set_piece_at(squares[0], chess.Piece(chess.KING, chess.WHITE))
        board.set_piece_at(squares[1], chess.Piece(chess.KING, chess.BLACK))
        attackers = rng.randrange(1, 5)
        defenders = rng.randrange(0, 4)
        for index, square in enumerate(squares[2 : 2 + attackers + defenders]):
            color = board.turn if index < attackers else not board.turn
            kind = rng.choice((chess.QUEEN, chess.ROOK, chess.ROOK, chess.BISHOP, chess.KNIGHT, chess.PAWN, chess.PAWN))
            if kind == chess.PAWN and chess.square_rank(square) in (0, 7):
                kind = chess.KNIGHT
            board.set_piece_at(square, chess.Piece(kind, color))
        if board.is_valid():
            return board


def job_positions(job: int, seed: int, engine, settings: BuildSettings) -> list:
    rng = random.Random(seed * 1_000_003 + job)
    if job % settings.game_job_every == 0:
        return game_positions(rng, engine, settings)
    return [sparse_position(rng) for _ in range(settings.sparse_per_job)]


_WORKER: dict = {}


def _start_worker(engine_path: str, settings: BuildSettings, seed: int) -> None:
    chess = require_chess()
    engine = chess.engine.SimpleEngine.popen_uci(engine_path)
    engine.configure({"Threads": 1, "Hash": settings.hash_mb})
    multiprocessing.util.Finalize(engine, engine.quit, exitpriority=10)
    _WORKER.update(engine=engine, settings=settings, seed=seed)


def run_job(job: int) -> dict:
    """One job's puzzles (in position order, repeats removed) with its cost, in a worker process."""
    engine, settings, seed = _WORKER["engine"], _WORKER["settings"], _WORKER["seed"]
    started, wall = _cpu_seconds(engine), time.time()
    positions = job_positions(job, seed, engine, settings)
    puzzles, seen = [], set()
    for board in positions:
        puzzle = classify(board, engine, settings)
        if puzzle is not None and puzzle.position_key not in seen:
            seen.add(puzzle.position_key)
            puzzles.append(puzzle)
    return {"job": job, "positions": len(positions), "puzzles": [list(asdict(p).values()) for p in puzzles],
            "seconds": round(_cpu_seconds(engine) - started, 3), "wall": round(time.time() - wall, 3)}


def _cpu_seconds(engine) -> float:
    """CPU time of this worker and its engine process together: one job's cost on one core."""
    total = time.process_time()
    try:
        fields = Path(f"/proc/{engine.transport.get_pid()}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, AttributeError, ValueError, IndexError):
        pass
    return total


def read_progress(path: Path) -> dict[int, dict]:
    """Finished jobs from ``jobs.jsonl``; a line cut short by a crash is ignored and redone."""
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[record["job"]] = record
    return done


def assemble(done: dict[int, dict], n_easy: int, n_hard: int) -> tuple[dict[str, list[Puzzle]], int]:
    """The puzzle set of the finished prefix of jobs: first occurrence of a position wins, each split
    is cut at its target. Returns the splits and the length of the prefix used."""
    splits: dict[str, list[Puzzle]] = {name: [] for name in SPLITS}
    seen: set[str] = set()
    job = 0
    while job in done and (len(splits["easy"]) < n_easy or len(splits["hard"]) < n_hard):
        for row in done[job]["puzzles"]:
            puzzle = Puzzle(*row)
            split = split_of(puzzle.kind, puzzle.difficulty)
            if puzzle.position_key in seen or split is None:
                continue
            seen.add(puzzle.position_key)
            target = n_easy if split == "easy" else n_hard
            if len(splits[split]) < target:
                splits[split].append(puzzle)
        job += 1
    return splits, job


def engine_name(engine_path: Path) -> str:
    chess = require_chess()
    engine = chess.engine.SimpleEngine.popen_uci(str(engine_path))
    try:
        return engine.id.get("name", "unknown")
    finally:
        engine.quit()


def write_set(out: Path, splits: dict[str, list[Puzzle]], meta: dict) -> None:
    for name, puzzles in splits.items():
        write_csv_gz(out / f"{name}.csv.gz", puzzles)
    tmp = out / ".metadata.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    tmp.replace(out / "metadata.json")


def _check_out(out: Path, settings: BuildSettings, seed: int) -> None:
    """Resume only a build of the same settings and seed; refuse a folder that holds something else."""
    meta_path = out / "metadata.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("seed") != seed or meta.get("settings") != json.loads(json.dumps(asdict(settings))):
            raise AlgosynthError(f"{out} holds a build with another seed or settings; pass a new --out, or the same --seed to resume it")
    elif out.exists() and any(out.iterdir()):
        raise AlgosynthError(f"{out} already holds files that are not a puzzle build; pass a new --out")


def build(out: Path, n_easy: int, n_hard: int, workers: int = 1, engine: Path | str | None = None, seed: int = 0,
          max_jobs: int = 1_000_000, settings: BuildSettings | None = None, command: str = "",
          on_round=None) -> dict:
    """Build (or resume) a puzzle set into ``out``; returns its metadata."""
    require_chess()
    if n_easy < 0 or n_hard < 0 or workers < 1 or max_jobs < 1:
        raise AlgosynthError("--n and --hard must be non-negative, --workers and --max-jobs positive")
    settings = settings or BuildSettings()
    engine_path = find_engine(engine)
    out = Path(out)
    _check_out(out, settings, seed)
    out.mkdir(parents=True, exist_ok=True)
    progress_path = out / "jobs.jsonl"
    done = read_progress(progress_path)
    base = {"format": FORMAT, "engine": engine_name(engine_path), "seed": seed, "settings": asdict(settings),
            "ranges": RANGES, "targets": {"easy": n_easy, "hard": n_hard}, "command": command}
    round_size = 8 * workers
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, _start_worker, (str(engine_path), settings, seed)) as pool, progress_path.open("a") as log:
        start = 0
        while True:
            splits, prefix = assemble(done, n_easy, n_hard)
            complete = len(splits["easy"]) >= n_easy and len(splits["hard"]) >= n_hard
            meta = {**base, **_statistics(done, prefix, splits), "complete": complete}
            write_set(out, splits, meta)
            if on_round is not None:
                on_round(meta)
            if complete or prefix >= max_jobs:
                return meta
            while start in done:
                start += 1
            pending = [j for j in range(start, min(start + round_size, max_jobs)) if j not in done]
            for record in pool.imap_unordered(run_job, pending):
                log.write(json.dumps(record) + "\n")
                log.flush()
                done[record["job"]] = record


def _statistics(done: dict[int, dict], prefix: int, splits: dict[str, list[Puzzle]]) -> dict:
    """Counts and the measured cost: puzzles found per minute of one core's CPU time (worker side)."""
    used = [done[j] for j in range(prefix)]
    seconds = sum(r["seconds"] for r in used)
    found = sum(len(r["puzzles"]) for r in used)
    return {
        "jobs": prefix,
        "positions_examined": sum(r["positions"] for r in used),
        "puzzles_found": found,
        "worker_cpu_seconds": round(seconds, 1),
        "puzzles_per_core_minute": round(60 * found / seconds, 1) if seconds else None,
        "counts": {name: len(p) for name, p in splits.items()},
        "by_kind": {name: _by_kind(p) for name, p in splits.items()},
    }


def _by_kind(puzzles: list[Puzzle]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for p in puzzles:
        row = table.setdefault(p.kind, {})
        row[str(p.difficulty)] = row.get(str(p.difficulty), 0) + 1
    return {kind: dict(sorted(row.items(), key=lambda kv: int(kv[0]))) for kind, row in sorted(table.items())}

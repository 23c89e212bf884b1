"""Chess models at work: accuracy against iterations by both scorers, and solving one position."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from algosynth.chess_data import find_engine, require_chess
from algosynth.errors import AlgosynthError
from algosynth.evaluate import load_model
from algosynth.plots import save_figure
from algosynth.tasks.chess import (
    ChessTask,
    LegalMoves,
    cell_to_square,
    class_one_evidence,
    decoder_right,
    encode_fen,
    encode_puzzles,
    legal_moves_table,
    parse_position,
    render_panels,
    square_to_cell,
    top2_exact,
)
from algosynth.think import think

SPLIT_SIZES = {"easy": 1, "hard": 2}


def load_chess_model(run: Path):
    """A trained chess model, or one line saying the checkpoint belongs to another task."""
    model, config, path = load_model(Path(run))
    if config.task.name != "chess":
        raise AlgosynthError(f"{run} was trained on {config.task.name}, not chess; give a chess run or checkpoint")
    return model, config, path


@torch.no_grad()
def accuracy_curves(model, inputs: torch.Tensor, targets: torch.Tensor, table: LegalMoves, iters: int,
                    batch_size: int) -> tuple[list[float], list[float]]:
    """Top-2-rule and legal-move-decoder accuracy after every iteration, streamed chunk by chunk."""
    device = next(model.parameters()).device
    iters = min(iters, model.max_iters or iters)
    top2, decoder = torch.zeros(iters), torch.zeros(iters)
    for start in range(0, len(inputs), batch_size):
        part = slice(start, start + batch_size)
        x, y = inputs[part].to(device), targets[part].to(device)
        moves = LegalMoves(table.origins[part], table.destinations[part], table.valid[part], table.solution[part]).to(device)
        for thought in think(model, x, iters):
            top2[thought.t - 1] += float(top2_exact(thought.logits, y).sum())
            decoder[thought.t - 1] += float(decoder_right(thought.logits, moves).sum())
    return (top2 / len(inputs)).tolist(), (decoder / len(inputs)).tolist()


def _peak(curve: list[float]) -> tuple[float, int]:
    best = max(range(len(curve)), key=lambda i: (curve[i], -i))
    return curve[best], best + 1


def evaluate_runs(runs: list[Path], split: str, n: int, iters: int, batch_size: int, out: Path,
                  seed: int = 12345) -> tuple[Path, Path, list[dict]]:
    """Every run on the same ``n`` puzzles of ``split``; writes chess_eval.json and chess_eval.png."""
    if split not in SPLIT_SIZES:
        raise AlgosynthError(f"--split must be easy or hard, got {split!r}")
    if min(n, iters, batch_size) < 1:
        raise AlgosynthError("--n, --iters and --batch-size must be positive integers")
    models = [(run, *load_chess_model(run)) for run in runs]
    puzzles = ChessTask().puzzles(SPLIT_SIZES[split], n, seed)
    batch, table = encode_puzzles(puzzles), legal_moves_table(puzzles)
    results = []
    for run, model, config, path in models:
        top2, decoder = accuracy_curves(model, batch.inputs, batch.targets, table, iters, batch_size)
        (top2_peak, top2_at), (decoder_peak, decoder_at) = _peak(top2), _peak(decoder)
        results.append({"run": str(run), "checkpoint": path, "model": config.model.name, "width": config.model.width,
                        "trained_iters": config.loss.iters, "split": split, "n": n, "top2": top2, "decoder": decoder,
                        "top2_peak": top2_peak, "top2_peak_iteration": top2_at,
                        "decoder_peak": decoder_peak, "decoder_peak_iteration": decoder_at})
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "chess_eval.json"
    json_path.write_text(json.dumps(results))
    return json_path, plot_chess_curves(results, out / "chess_eval.png"), results


def plot_chess_curves(results: list[dict], out: Path) -> Path:
    """Accuracy against test iterations, one line per model, for both scorers side by side."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, key, title in zip(axes, ("top2", "decoder"), ("top-2 rule", "legal-move decoder")):
        for result in results:
            label = f"{Path(result['run']).name}: {result['model']} w{result['width']}, trained T={result['trained_iters']}"
            ax.plot(range(1, len(result[key]) + 1), [100 * a for a in result[key]], label=label)
        ax.axvline(results[0]["trained_iters"], color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("test-time iterations")
        ax.set_title(f"{title}, {results[0]['n']} {results[0]['split']} puzzles")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("puzzles solved (%)")
    axes[0].legend(loc="lower right", fontsize=8)
    return save_figure(fig, out)


def _square_name(cell: int, white: bool) -> str:
    chess = require_chess()
    return chess.square_name(cell_to_square(cell // 8, cell % 8, white))


def _as_move(board, origin: str, destination: str):
    """The move between two squares, promoting to a queen when a pawn reaches the last rank."""
    chess = require_chess()
    move = chess.Move.from_uci(origin + destination)
    piece = board.piece_at(move.from_square)
    if piece is not None and piece.piece_type == chess.PAWN and chess.square_rank(move.to_square) in (0, 7):
        move.promotion = chess.QUEEN
    return move


def _engine_best(board, engine: Path | None, depth: int) -> tuple[str | None, str]:
    """Stockfish's best move at ``depth``, or None with the reason there is no engine to ask."""
    chess = require_chess()
    try:
        path = find_engine(engine)
    except AlgosynthError as error:
        if engine is not None:
            raise
        return None, f"engine check skipped: {error}"
    with chess.engine.SimpleEngine.popen_uci(str(path)) as sf:
        sf.configure({"Threads": 1})
        info = sf.analyse(board, chess.engine.Limit(depth=depth))
        name = sf.id.get("name", "Stockfish")
    return info["pv"][0].uci(), f"{name} at depth {depth}"


@torch.no_grad()
def solve_position(fen: str, checkpoint: Path, iters: int, engine: Path | None = None, engine_depth: int = 18) -> list[str]:
    """Lines to print: the board with the marked squares, the predicted move, its legality and the engine's verdict."""
    board = parse_position(fen)
    model, _, path = load_chess_model(checkpoint)
    device = next(model.parameters()).device
    x = torch.from_numpy(encode_fen(board.fen())).float()[None].to(device)
    thought = None
    for thought in think(model, x, min(iters, model.max_iters or iters)):
        pass
    evidence = class_one_evidence(thought.logits)[0].cpu()
    top = evidence.topk(2).indices.tolist()
    marks = torch.zeros(64, dtype=torch.long)
    marks[top] = 1
    white = board.turn
    own = [board.color_at(cell_to_square(c // 8, c % 8, white)) == board.turn for c in top]
    origin, destination = (top[0], top[1]) if own[0] or not own[1] else (top[1], top[0])
    top2_move = _as_move(board, _square_name(origin, white), _square_name(destination, white))
    legal = sorted({(m.from_square, m.to_square): m for m in board.legal_moves}.values(), key=lambda m: m.uci())
    decoded = max(legal, key=lambda m: _move_evidence(evidence, m, white))
    lines = [f"{path}: {thought.t} iterations; {'White' if white else 'Black'} to move (shown playing up)",
             render_panels(x[0].cpu(), [("prediction", marks.view(8, 8))]),
             f"predicted move (top-2 squares): {top2_move.uci()}, {'legal' if top2_move in board.legal_moves else 'not a legal move'}",
             f"legal-move decoder: {decoded.uci()}"]
    best, source = _engine_best(board, engine, engine_depth)
    if best is None:
        return lines + [source]
    verdict = lambda move: "is" if move.uci() == best else "is not"  # noqa: E731
    return lines + [f"engine's best move: {best} ({source}); the top-2 move {verdict(top2_move)} it, "
                    f"the decoder's move {verdict(decoded)} it"]


def _move_evidence(evidence: torch.Tensor, move, white: bool) -> float:
    (r1, c1), (r2, c2) = square_to_cell(move.from_square, white), square_to_cell(move.to_square, white)
    return float(evidence[8 * r1 + c1] + evidence[8 * r2 + c2])

"""A real chess learning test on the CPU, and the chess commands end to end."""

import sys

import pytest
import torch

chess = pytest.importorskip("chess", reason="python-chess is not installed (pip install 'algosynth[chess]')")

from algosynth.chess_data import load_split  # noqa: E402
from algosynth.cli import main  # noqa: E402
from algosynth.chess_eval import evaluate_runs, solve_position  # noqa: E402
from algosynth.config import from_dict  # noqa: E402
from algosynth.losses import make_loss  # noqa: E402
from algosynth.models import DTNet  # noqa: E402
from algosynth.tasks.chess import ChessTask, decoder_right, encode_puzzles, legal_moves_table, top2_exact  # noqa: E402
from algosynth.think import think  # noqa: E402
from algosynth.train import Trainer  # noqa: E402

from conftest import tiny_config  # noqa: E402

BACK_RANK = "6k1/5ppp/8/8/8/8/8/R5K1 w - - 0 1"


def _accuracy(model, batch, table, iters: int) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        for thought in think(model, batch.inputs, iters):
            pass
    model.train()
    return float(top2_exact(thought.logits, batch.targets).float().mean()), float(decoder_right(thought.logits, table).float().mean())


def test_a_small_dt_net_learns_mates_in_one_it_never_saw():
    """Mates in one from the shipped set: the first 1,000 to train on, the next 300 to test (the set
    grows by appending, so these stay the same puzzles). A random legal move
    is right about 1 time in 30 and the untrained network does no better; after 300 steps (about
    40 s on 2 cores) the network must find the mate in clearly more positions than that."""
    mates = [p for p in load_split("easy") if p.kind == "mate" and p.difficulty == 1]
    assert len(mates) >= 1300
    train, test = encode_puzzles(mates[:1000]), mates[1000:1300]
    test_batch, table = encode_puzzles(test), legal_moves_table(test)
    random_move = float(torch.mean(1.0 / table.valid.sum(1).float()))
    torch.manual_seed(0)
    model = DTNet(ChessTask.spec, width=24)
    _, untrained = _accuracy(model, test_batch, table, 6)
    loss, rng = make_loss("progressive", 0.5), torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.005)
    for _ in range(300):
        out = loss(model, train.select(torch.randint(0, len(train), (50,), generator=rng)), 6, rng)
        optimizer.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        optimizer.step()
    top2, decoder = _accuracy(model, test_batch, table, 6)
    measured = f"untrained {untrained:.3f}, trained: decoder {decoder:.3f}, top-2 {top2:.3f}; random move {random_move:.3f}"
    assert untrained <= 2 * random_move, measured
    assert decoder >= max(0.15, 4 * random_move), measured
    assert top2 >= 0.04, measured
    print(measured)


@pytest.fixture(scope="module")
def chess_run(tmp_path_factory):
    """A tiny chess run (seconds): enough to exercise the commands, not to play well."""
    config = tiny_config(task={"name": "chess", "train_size": 1, "n_train": 64, "n_val": 16},
                         loss={"iters": 3}, eval={"sizes": [1, 2], "iters": 4, "n": 8, "batch_size": 8},
                         train={"epochs": 1, "batch_size": 32, "checkpoint_every": 1, "keep_checkpoints": 1, "device": "cpu"})
    run = tmp_path_factory.mktemp("chess") / "run"
    Trainer(from_dict(config), run, show_progress=False).fit()
    return run


@pytest.fixture
def algosynth(monkeypatch, capsys):
    """Run the command line in this process (a fresh interpreter costs seconds): (exit code, stdout, stderr)."""
    def run(*args):
        monkeypatch.setattr(sys, "argv", ["algosynth", *map(str, args)])
        with pytest.raises(SystemExit) as stopped:
            main()
        captured = capsys.readouterr()
        return stopped.value.code, captured.out, captured.err
    return run


def test_solve_prints_board_move_legality_and_engine_verdict(chess_run, algosynth):
    lines = solve_position(BACK_RANK, chess_run, 3)
    text = "\n".join(lines)
    assert "prediction" in text and "predicted move (top-2 squares):" in text and "legal-move decoder:" in text
    assert "engine's best move: a1a8" in text or "engine check skipped" in text
    code, out, err = algosynth("solve", "chess", "--fen", BACK_RANK, "--checkpoint", chess_run, "--iters", 2)
    assert code == 0 and "legal" in out, err


def test_chess_eval_compares_runs_with_both_scorers(chess_run, tmp_path):
    json_path, png_path, results = evaluate_runs([chess_run, chess_run], "hard", 20, 5, 8, tmp_path)
    assert png_path.exists() and json_path.exists()
    assert len(results[0]["top2"]) == 5 and results[0]["decoder"] == results[1]["decoder"]
    assert all(0 <= a <= 1 for a in results[0]["decoder"])


@pytest.mark.parametrize("args, fragment", [
    (["solve", "chess", "--fen", "nonsense"], "invalid FEN"),
    (["solve", "chess", "--fen", "8/8/8/8/8/8/8/K7 w - - 0 1"], "illegal position"),
    (["data", "chess", "build", "--n", "1", "--out", "{tmp}/b", "--engine", "{tmp}/no-such-stockfish"], "not an executable"),
    (["eval", "{run}", "--data", "{tmp}/bad.csv.gz"], "not a chess puzzle file"),
])
def test_bad_chess_input_ends_in_one_line(args, fragment, chess_run, tmp_path, algosynth):
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip")
    code, _, err = algosynth(*[a.format(tmp=tmp_path, run=chess_run) for a in args])
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and fragment in err, err


def test_a_checkpoint_of_another_task_is_refused(tmp_path, algosynth):
    run = tmp_path / "prefix"
    Trainer(from_dict(tiny_config(train={"epochs": 1, "batch_size": 16, "checkpoint_every": 1, "device": "cpu"})), run,
            show_progress=False).fit()
    code, _, err = algosynth("solve", "chess", "--fen", BACK_RANK, "--checkpoint", run)
    assert code == 2 and "trained on prefix_sums, not chess" in err

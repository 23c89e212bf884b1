"""Figures: accuracy against test iterations (one line per size) and training curves."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_eval_curves(eval_json: Path, out: Path) -> Path:
    """Exact-match accuracy against test iterations, one line per test size, peak marked."""
    data = json.loads(Path(eval_json).read_text())
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for size in data["sizes"]:
        iterations = range(1, len(size["curve"]) + 1)
        (line,) = ax.plot(iterations, [100 * a for a in size["curve"]], label=f"size {size['size']}")
        ax.plot(size["peak_iteration"], 100 * size["peak_accuracy"], "o", color=line.get_color())
    ax.set_xlabel("test-time iterations")
    ax.set_ylabel("exact-match accuracy (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("Extrapolation by thinking longer")
    return _save(fig, out)


def plot_training(metrics_jsonl: Path, out: Path) -> Path:
    """Training loss and validation accuracy against epochs."""
    rows = [json.loads(line) for line in Path(metrics_jsonl).read_text().splitlines() if line.strip()]
    epochs = [r["epoch"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [r["loss"] for r in rows])
    left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    right.plot(epochs, [100 * r["val_acc"] for r in rows])
    right.set_xlabel("epoch")
    right.set_ylabel("validation exact match (%)")
    right.set_ylim(-2, 102)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return _save(fig, out)


def _save(fig, out: Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out

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
    return save_figure(fig, out)


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
    return save_figure(fig, out)


def save_figure(fig, out: Path) -> Path:
    """Lay out, write and close a figure."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


PATH_COLOUR = (0.15, 0.45, 1.0)
WRONG_COLOUR = (1.0, 0.0, 1.0)
MISSED_COLOUR = (1.0, 0.6, 0.0)


def maze_image(inputs, targets, mask, prediction, min_side: int = 480):
    """A maze as an RGB uint8 array with the path drawn in blue.

    With a prediction, the predicted path is drawn instead; when the true path is known, wrongly
    added path pixels are magenta and missed ones orange, so every error is visible at a glance.
    """
    import numpy as np

    image = inputs.detach().float().cpu().permute(1, 2, 0).numpy().copy()
    counted = mask.cpu().numpy().astype(bool)
    target = None if targets is None else targets.cpu().numpy().astype(bool)
    shown = target if prediction is None else prediction.cpu().numpy().astype(bool)
    drawable = counted & (image.sum(axis=2) == 3)  # white pixels: start and goal keep their colours
    image[shown & drawable] = PATH_COLOUR
    if prediction is not None and target is not None:
        image[shown & ~target & drawable] = WRONG_COLOUR
        image[~shown & target & drawable] = MISSED_COLOUR
    factor = max(1, min_side // image.shape[0])
    image = image.repeat(factor, axis=0).repeat(factor, axis=1)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def maze_picture(inputs, targets, mask, prediction, out: Path, min_side: int = 480) -> Path:
    """Write ``maze_image`` as a PNG."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(out, maze_image(inputs, targets, mask, prediction, min_side))
    return out


def thinking_gif(frames: list, out: Path, seconds_per_frame: float = 0.15) -> Path:
    """An animation of the thinking from RGB uint8 frames, written with Pillow."""
    from PIL import Image

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(out, save_all=True, append_images=images[1:], duration=int(1000 * seconds_per_frame), loop=0)
    return out

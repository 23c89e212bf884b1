"""Solve one maze with a trained model, and judge the answer without needing the true path."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from algosynth.errors import AlgosynthError
from algosynth.memory import fit_batch_size
from algosynth.plots import maze_image, maze_picture, thinking_gif
from algosynth.tasks import Batch
from algosynth.tasks.mazes import BORDER, SCALE, shortest_path, unit_view
from algosynth.think import think


@dataclass
class Solution:
    prediction: torch.Tensor
    iterations: int
    halted: bool
    seconds: float
    valid_shortest_path: bool
    exact_match: bool | None
    frames: list


def read_maze_file(path: Path) -> Batch:
    """One maze picture from a .npy file of shape [3, H, W] (or [1, 3, H, W]) with values in [0, 1]."""
    try:
        pixels = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        raise AlgosynthError(f"cannot read {path} as a .npy array: {str(error).splitlines()[0]}") from None
    if pixels.ndim == 4 and pixels.shape[0] == 1:
        pixels = pixels[0]
    side = pixels.shape[-1] if pixels.ndim == 3 else 0
    if pixels.ndim != 3 or pixels.shape[0] != 3 or pixels.shape[1] != side or (side - 2 * BORDER) % SCALE or side <= 2 * BORDER:
        raise AlgosynthError(
            f"{path} must hold one maze picture [3, H, H] with H = 2 x size + 6 (24 for a 9x9 maze), got shape {list(pixels.shape)}"
        )
    if not np.issubdtype(pixels.dtype, np.number) or not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 1:
        raise AlgosynthError(f"{path} must hold numbers in [0, 1] (dtype {pixels.dtype}); scale 0-255 images by 1/255")
    inputs = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))[None]
    mask = inputs.sum(1) > 0
    return Batch(inputs, torch.zeros_like(mask, dtype=torch.long), mask)


def _endpoints(units: torch.Tensor) -> tuple[tuple[int, int], tuple[int, int]]:
    """The start (green) and goal (red) units of a unit-resolution picture [3, n, n]."""
    red, green, blue = units
    start = ((green == 1) & (red == 0) & (blue == 0)).nonzero()
    goal = ((red == 1) & (green == 0) & (blue == 0)).nonzero()
    if len(start) != 1 or len(goal) != 1:
        raise AlgosynthError(
            f"a maze needs exactly one green (0,1,0) start and one red (1,0,0) goal unit; found {len(start)} and {len(goal)}"
        )
    return tuple(start[0].tolist()), tuple(goal[0].tolist())


def true_path_units(inputs: torch.Tensor) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The open-unit grid and the shortest path by BFS; a maze without one is refused."""
    units = unit_view(inputs)
    open_units = (units.sum(0) > 0).numpy()
    start, goal = _endpoints(units)
    path = shortest_path(open_units, start, goal)
    if path is None:
        raise AlgosynthError("this maze has no path from the start to the goal; check the walls around them")
    return open_units, path


def is_valid_shortest_path(inputs: torch.Tensor, prediction: torch.Tensor) -> bool:
    """Whether the predicted units are exactly a shortest start-goal path (BFS over open units)."""
    open_units, path = true_path_units(inputs)
    blocks = prediction[BORDER:-BORDER, BORDER:-BORDER].reshape(open_units.shape[0], SCALE, open_units.shape[1], SCALE)
    predicted = (blocks.float().mean(dim=(1, 3)) >= 0.5).numpy() & open_units
    start, goal = path[0], path[-1]
    if not (predicted[start] and predicted[goal]):
        return False
    inside = shortest_path(predicted, start, goal)
    return inside is not None and len(inside) == len(path) and int(predicted.sum()) == len(path)


@torch.no_grad()
def solve_maze(model, maze: Batch, iters: int, halt_after: int | None, frame_every: int | None,
               device: torch.device) -> Solution:
    """Think about one maze until its answer is stable for ``halt_after`` iterations or ``iters`` run out."""
    true_path_units(maze.inputs[0])  # refuse a maze with no path before spending any thinking on it
    fit_batch_size(model, tuple(maze.inputs.shape[1:]), 1, device, f"a {maze.inputs.shape[-1]}-pixel maze")
    x = maze.inputs.to(device)
    frames, thought, started = [], None, time.time()
    for thought in think(model, x, iters, halt_after=halt_after):
        if frame_every and (thought.t == 1 or thought.t % frame_every == 0):
            frames.append(maze_image(maze.inputs[0], None, maze.mask[0], thought.answer[0].argmax(0).cpu(), min_side=240))
    prediction = thought.answer[0].argmax(0).cpu()
    seconds = time.time() - started
    if frame_every:
        frames.append(maze_image(maze.inputs[0], None, maze.mask[0], prediction, min_side=240))
    known = bool(maze.targets.any())
    exact = bool(((prediction == maze.targets[0]) | ~maze.mask[0]).all()) if known else None
    return Solution(prediction, thought.t, bool(thought.halted.all()), seconds,
                    is_valid_shortest_path(maze.inputs[0], prediction), exact, frames)


def write_outputs(maze: Batch, solution: Solution, out: Path, gif: Path | None, save_pred: Path | None) -> list[Path]:
    targets = maze.targets[0] if maze.targets.any() else None
    written = [maze_picture(maze.inputs[0], targets, maze.mask[0], solution.prediction, out)]
    if gif is not None:
        written.append(thinking_gif(solution.frames, gif))
    if save_pred is not None:
        save_pred.parent.mkdir(parents=True, exist_ok=True)
        np.save(save_pred, solution.prediction.numpy().astype(np.uint8))
        written.append(save_pred)
    return written

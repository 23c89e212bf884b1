"""Mazes: perfect mazes from a randomized depth-first search, drawn as the literature draws them.

Geometry. A maze of size n is n x n *units*, n odd: cells sit at even unit coordinates
((n + 1) / 2 cells per side) and the units between two cells are a wall or a passage. Every unit
becomes a 2x2 pixel block and the picture gets a 3-pixel zero border, so a size-n maze is a
(2n + 6)-pixel square: 24 for 9, 124 for 59, 408 for 201, 1608 for 801 (Schwarzschild et al. 2021).

Channels: open units white (1, 1, 1), the start cell green (0, 1, 0), the goal cell red (1, 0, 0),
walls and border black. The target is 1 on the path's pixels (start and goal included) and 0
elsewhere; the mask counts every open pixel.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from algosynth.errors import AlgosynthError
from algosynth.tasks.base import Batch, Task, TaskSpec, instance_rng

BORDER = 3
SCALE = 2
_STEPS = ((-1, 0), (1, 0), (0, -1), (0, 1))


@dataclass
class Maze:
    """One maze in unit coordinates: ``open`` is [n, n] bool; ``path`` lists the units start -> goal."""

    open: np.ndarray
    start: tuple[int, int]
    goal: tuple[int, int]
    path: list[tuple[int, int]]


class _RandomInts:
    """Small uniform integers from a buffer of raw bytes, so every platform draws the same maze."""

    def __init__(self, rng: np.random.Generator, chunk: int = 1 << 16) -> None:
        self.rng, self.chunk = rng, chunk
        self.buffer, self.position = np.empty(0, np.uint32), 0

    def below(self, k: int) -> int:
        if self.position >= len(self.buffer):
            self.buffer = np.frombuffer(self.rng.bytes(4 * self.chunk), dtype="<u4")
            self.position = 0
        value = int(self.buffer[self.position]) % k
        self.position += 1
        return value


def carve(cells: int, draw: _RandomInts) -> np.ndarray:
    """A perfect maze by the recursive backtracker: an iterative depth-first search over the cells.

    Returns the [n, n] open-unit grid with n = 2 * cells - 1.
    """
    n = 2 * cells - 1
    grid = np.zeros((n, n), dtype=bool)
    visited = np.zeros((cells, cells), dtype=bool)
    r, c = draw.below(cells), draw.below(cells)
    visited[r, c] = True
    grid[2 * r, 2 * c] = True
    stack = [(r, c)]
    while stack:
        r, c = stack[-1]
        options = [(r + dr, c + dc) for dr, dc in _STEPS
                   if 0 <= r + dr < cells and 0 <= c + dc < cells and not visited[r + dr, c + dc]]
        if not options:
            stack.pop()
            continue
        nr, nc = options[draw.below(len(options))]
        visited[nr, nc] = True
        grid[2 * nr, 2 * nc] = True
        grid[r + nr, c + nc] = True  # the passage unit between the two cells
        stack.append((nr, nc))
    return grid


def shortest_path(open_units: np.ndarray, start: tuple[int, int], goal: tuple[int, int]) -> list[tuple[int, int]] | None:
    """Breadth-first search over open units; None when the goal cannot be reached."""
    n_rows, n_cols = open_units.shape
    parent = {start: start}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        if here == goal:
            path = [here]
            while path[-1] != start:
                path.append(parent[path[-1]])
            return path[::-1]
        for dr, dc in _STEPS:
            nxt = (here[0] + dr, here[1] + dc)
            if 0 <= nxt[0] < n_rows and 0 <= nxt[1] < n_cols and open_units[nxt] and nxt not in parent:
                parent[nxt] = here
                queue.append(nxt)
    return None


def check_perfect(maze: Maze) -> None:
    """The generator's own check: a spanning tree of the cells, and a contiguous path start -> goal."""
    n = maze.open.shape[0]
    cells = (n + 1) // 2
    passages = int(maze.open.sum()) - cells * cells
    path = maze.path
    steps_ok = all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(path[:-1], path[1:]))
    if passages != cells * cells - 1 or path[0] != maze.start or path[-1] != maze.goal or not steps_ok:
        raise AssertionError("maze generator produced a maze that is not perfect; this is a bug in algosynth")


def make_maze(size: int, rng: np.random.Generator, far_corners: bool = False) -> Maze:
    """One checked perfect maze; the start and goal are random cells, or opposite corners."""
    draw = _RandomInts(rng, chunk=max(256, 3 * size * size // 2))
    cells = (size + 1) // 2
    grid = carve(cells, draw)
    if far_corners:
        start, goal = (0, 0), (size - 1, size - 1)
    else:
        start_index = draw.below(cells * cells)
        goal_index = (start_index + 1 + draw.below(cells * cells - 1)) % (cells * cells)
        start = (2 * (start_index // cells), 2 * (start_index % cells))
        goal = (2 * (goal_index // cells), 2 * (goal_index % cells))
    maze = Maze(grid, start, goal, shortest_path(grid, start, goal))
    check_perfect(maze)
    return maze


def encode_mazes(mazes: list[Maze]) -> Batch:
    """Pixels for a list of same-size mazes, built with array operations only."""
    units = np.stack([m.open for m in mazes]).astype(np.float32)
    on_path = np.zeros_like(units, dtype=np.int64)
    starts, goals = np.zeros_like(units, dtype=bool), np.zeros_like(units, dtype=bool)
    for i, m in enumerate(mazes):
        rows, cols = zip(*m.path)
        on_path[i, list(rows), list(cols)] = 1
        starts[i][m.start] = True
        goals[i][m.goal] = True
    red = np.where(starts, 0.0, units)
    green = np.where(goals, 0.0, units)
    blue = np.where(starts | goals, 0.0, units)
    channels = np.stack([red, green, blue], axis=1)
    return Batch(*(torch.from_numpy(np.ascontiguousarray(_upscale(a))) for a in (channels, on_path, units > 0)))


def _upscale(units: np.ndarray) -> np.ndarray:
    """Each unit to a 2x2 block, then the zero border: [..., n, n] -> [..., 2n + 6, 2n + 6]."""
    pixels = units.repeat(SCALE, axis=-1).repeat(SCALE, axis=-2)
    pad = [(0, 0)] * (pixels.ndim - 2) + [(BORDER, BORDER), (BORDER, BORDER)]
    return np.pad(pixels, pad)


def unit_view(pixels: torch.Tensor) -> torch.Tensor:
    """One pixel per unit (the top-left of its 2x2 block), border dropped: the inverse of the upscale."""
    return pixels[..., BORDER:-BORDER:SCALE, BORDER:-BORDER:SCALE]


def pixels_for_size(size: int) -> int:
    return SCALE * size + 2 * BORDER


class MazeTask(Task):
    """Find the path: per-pixel two-class segmentation of a maze picture."""

    name = "mazes"
    spec = TaskSpec(in_channels=3, num_classes=2, dims=2, counted_positions="every open (non-wall) pixel")
    example_size = 9

    def validate_size(self, size: int) -> None:
        if size < 3 or size % 2 == 0:
            raise AlgosynthError(
                f"maze size must be an odd number of units, at least 3 (2 x cells - 1: 9, 13, 59, 201, 801), got {size}"
            )

    def input_shape(self, size: int) -> tuple[int, ...]:
        side = pixels_for_size(size)
        return (3, side, side)

    def mazes(self, size: int, n: int, seed: int) -> list[Maze]:
        self.validate_size(size)
        rng = instance_rng(self.name, size, seed)
        return [make_maze(size, rng) for _ in range(n)]

    def generate(self, size: int, n: int, seed: int) -> Batch:
        return encode_mazes(self.mazes(size, n, seed))

    @property
    def suites(self) -> dict[str, Callable[[int, int, int], Batch]]:
        return {"far_corners": self._far_corners}

    def _far_corners(self, size: int, n: int, seed: int) -> Batch:
        """Start and goal in opposite corners: the longest paths a maze of this size offers, or close."""
        self.validate_size(size)
        rng = instance_rng(self.name, size, seed, stream="far_corners")
        return encode_mazes([make_maze(size, rng, far_corners=True) for _ in range(n)])

    def render(self, batch: Batch, index: int = 0, prediction: torch.Tensor | None = None) -> str:
        """Text picture at unit resolution: # wall, S start, G goal, * path, x a unit predicted wrong."""
        image, target = unit_view(batch.inputs[index]), unit_view(batch.targets[index])
        shown = target if prediction is None else unit_view(prediction)
        rows = []
        for r in range(image.shape[-2]):
            line = []
            for c in range(image.shape[-1]):
                red, green, blue = (float(v) for v in image[:, r, c])
                if red == 0 and green == 0:
                    line.append("#")
                elif blue == 0:
                    line.append("S" if green else "G")
                elif int(shown[r, c]) != int(target[r, c]):
                    line.append("x")
                else:
                    line.append("*" if int(shown[r, c]) else " ")
            rows.append("".join(line))
        return "\n".join(rows)

    def load_external(self, path: Path) -> tuple[Batch, int]:
        return load_external_mazes(path)

    def render_png(self, batch: Batch, index: int, out: Path, prediction: torch.Tensor | None = None) -> Path:
        from algosynth.plots import maze_picture

        return maze_picture(batch.inputs[index], batch.targets[index], batch.mask[index], prediction, out)


def _read_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``inputs`` and ``solutions`` from a folder of two .npy files or one .npz, never unpickling."""
    try:
        if path.is_dir():
            missing = [name for name in ("inputs.npy", "solutions.npy") if not (path / name).exists()]
            if missing:
                raise AlgosynthError(f"{path} lacks {', '.join(missing)}; a maze data folder holds inputs.npy [N,3,H,W] and solutions.npy [N,H,W]")
            return np.load(path / "inputs.npy", allow_pickle=False), np.load(path / "solutions.npy", allow_pickle=False)
        if path.suffix == ".npz" and path.is_file():
            with np.load(path, allow_pickle=False) as data:
                missing = [name for name in ("inputs", "solutions") if name not in data.files]
                if missing:
                    raise AlgosynthError(f"{path} lacks the array(s) {', '.join(missing)}; it holds {', '.join(data.files) or 'nothing'}")
                return data["inputs"], data["solutions"]
    except (ValueError, OSError, EOFError) as error:
        raise AlgosynthError(f"cannot read maze data from {path}: {str(error).splitlines()[0]}") from None
    raise AlgosynthError(f"{path} is neither a folder with inputs.npy and solutions.npy nor an .npz file")


def load_external_mazes(path: Path) -> tuple[Batch, int]:
    """Mazes made elsewhere in the easy-to-hard-data layout, checked and turned into a batch.

    Returns the batch and the maze size its picture side implies ((side - 6) / 2).
    """
    inputs, solutions = _read_arrays(Path(path))
    if inputs.ndim != 4 or inputs.shape[1] != 3:
        raise AlgosynthError(f"inputs must be [N, 3, H, W], got shape {list(inputs.shape)}")
    if solutions.shape != (inputs.shape[0], *inputs.shape[2:]):
        raise AlgosynthError(f"solutions must be [N, H, W] = {[inputs.shape[0], *inputs.shape[2:]]} to match inputs, got {list(solutions.shape)}")
    if inputs.shape[0] == 0:
        raise AlgosynthError("the maze data holds no mazes (N = 0)")
    if not (np.issubdtype(inputs.dtype, np.number) and np.issubdtype(solutions.dtype, np.number)):
        raise AlgosynthError(f"inputs and solutions must be numeric arrays, got {inputs.dtype} and {solutions.dtype}")
    if not np.isfinite(inputs).all() or inputs.min() < 0 or inputs.max() > 1:
        raise AlgosynthError(f"input pixels must lie in [0, 1], got values from {inputs.min()} to {inputs.max()}")
    if not np.isin(solutions, (0, 1)).all():
        raise AlgosynthError("solutions must hold only 0 (off the path) and 1 (on the path)")
    pixels = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32))
    targets = torch.from_numpy(solutions.astype(np.int64))
    mask = pixels.sum(dim=1) > 0
    if (targets.bool() & ~mask).any():
        raise AlgosynthError("some solution pixels lie on walls (black input pixels); inputs and solutions do not match")
    return Batch(pixels, targets, mask), (inputs.shape[-1] - 2 * BORDER) // SCALE

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from algosynth.errors import AlgosynthError
from algosynth.models import DTNet, FeedForwardNet
from algosynth.tasks.mazes import MazeTask, encode_mazes, pixels_for_size, shortest_path, unit_view

task = MazeTask()


def cell_graph(open_units):
    """Cells and the passages between them, read back from the unit grid."""
    n = open_units.shape[0]
    cells = [(r, c) for r in range(0, n, 2) for c in range(0, n, 2)]
    edges = set()
    for r, c in cells:
        for dr, dc in ((0, 2), (2, 0)):
            if r + dr < n and c + dc < n and open_units[r + dr // 2, c + dc // 2]:
                edges.add(((r, c), (r + dr, c + dc)))
    return cells, edges


def all_simple_paths(open_units, start, goal):
    """Brute force: every simple path over open units from start to goal."""
    found, n = [], open_units.shape[0]

    def walk(here, seen, path):
        if here == goal:
            found.append(list(path))
            return
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            nxt = (here[0] + dr, here[1] + dc)
            if 0 <= nxt[0] < n and 0 <= nxt[1] < n and open_units[nxt] and nxt not in seen:
                seen.add(nxt)
                path.append(nxt)
                walk(nxt, seen, path)
                path.pop()
                seen.remove(nxt)

    walk(start, {start}, [start])
    return found


@given(size=st.sampled_from([3, 5, 7, 9]), seed=st.integers(0, 10_000))
@settings(max_examples=60, deadline=None)
def test_mazes_are_perfect_and_the_path_is_the_unique_shortest_one(size, seed):
    maze = task.mazes(size, 1, seed)[0]
    cells, edges = cell_graph(maze.open)
    assert len(edges) == len(cells) - 1  # a tree has one edge fewer than nodes ...
    reached, frontier = {cells[0]}, [cells[0]]
    while frontier:  # ... and a connected one spans every cell
        here = frontier.pop()
        for a, b in edges:
            for x, y in ((a, b), (b, a)):
                if x == here and y not in reached:
                    reached.add(y)
                    frontier.append(y)
    assert reached == set(cells)
    walls = [(r, c) for r in range(size) for c in range(size) if r % 2 and c % 2]
    assert not any(maze.open[w] for w in walls)  # units between four cells are always wall
    paths = all_simple_paths(maze.open, maze.start, maze.goal)
    assert paths == [maze.path]
    assert maze.start != maze.goal and maze.start[0] % 2 == 0 and maze.goal[1] % 2 == 0


@pytest.mark.parametrize("size,side", [(9, 24), (59, 124), (201, 408), (801, 1608), (13, 32)])
def test_sizes_map_to_the_literature_pixel_squares(size, side):
    assert pixels_for_size(size) == side and task.input_shape(size) == (3, side, side)


def test_encoding_geometry():
    mazes = task.mazes(9, 4, seed=5)
    batch = encode_mazes(mazes)
    assert batch.inputs.shape == (4, 3, 24, 24) and batch.targets.shape == batch.mask.shape == (4, 24, 24)
    for i, maze in enumerate(mazes):
        x, y, mask = batch.inputs[i], batch.targets[i], batch.mask[i]
        border = torch.ones(24, 24, dtype=torch.bool)
        border[3:-3, 3:-3] = False
        assert (x[:, border] == 0).all() and not mask[border].any()
        blocks = x[:, 3:-3, 3:-3].reshape(3, 9, 2, 9, 2)
        assert (blocks == blocks[:, :, :1, :, :1]).all()  # every unit is a constant 2x2 block
        assert np.array_equal(unit_view(mask).numpy(), maze.open)
        assert unit_view(x)[:, maze.start[0], maze.start[1]].tolist() == [0.0, 1.0, 0.0]
        assert unit_view(x)[:, maze.goal[0], maze.goal[1]].tolist() == [1.0, 0.0, 0.0]
        others = unit_view(x)[:, torch.from_numpy(maze.open)]
        assert ((others == 1).all(0) | (others.sum(0) == 1)).all()  # white, or the start or goal colour
        assert torch.equal(mask, x.sum(0) > 0)  # the mask is exactly the open pixels
        path_units = np.zeros_like(maze.open)
        path_units[tuple(zip(*maze.path))] = True
        assert np.array_equal(unit_view(y).bool().numpy(), path_units)
        assert int(y.sum()) == 4 * len(maze.path) and not (y.bool() & ~mask).any()


def test_score_counts_only_open_pixels():
    batch = task.generate(9, 2, seed=1)
    logits = torch.nn.functional.one_hot(batch.targets, 2).permute(0, 3, 1, 2).float()
    assert task.score(logits, batch.targets, batch.mask).exact.all()
    walls = ~batch.mask
    tampered = logits.clone()
    tampered[0, 1][walls[0]] = 5.0  # predicting path on walls and border does not count
    assert task.score(tampered, batch.targets, batch.mask).exact.tolist() == [True, True]
    open_pixel = batch.mask[1].nonzero()[0]
    tampered[1, :, open_pixel[0], open_pixel[1]] = tampered[1, :, open_pixel[0], open_pixel[1]].flip(0)
    score = task.score(tampered, batch.targets, batch.mask)
    assert score.exact.tolist() == [True, False]
    assert score.per_position[1].item() == pytest.approx(1 - 1 / batch.mask[1].sum().item())


def test_generation_is_seeded():
    a, b = task.generate(13, 3, 0), task.generate(13, 3, 0)
    assert torch.equal(a.inputs, b.inputs) and not torch.equal(a.inputs, task.generate(13, 3, 1).inputs)


@pytest.mark.parametrize("size", [1, 2, 4, -3])
def test_bad_sizes_are_refused(size):
    with pytest.raises(AlgosynthError, match="odd number of units"):
        task.generate(size, 1, 0)


def test_far_corners_suite():
    batch = task.suite("far_corners", 7, n=2)
    assert unit_view(batch.inputs)[0, :, 0, 0].tolist() == [0.0, 1.0, 0.0]
    assert unit_view(batch.inputs)[0, :, -1, -1].tolist() == [1.0, 0.0, 0.0]


def test_render_text_and_png(tmp_path):
    batch = task.generate(9, 1, seed=2)
    picture = task.render(batch, 0)
    assert picture.count("S") == 1 and picture.count("G") == 1 and "x" not in picture
    wrong = batch.targets[0].clone()
    wrong[batch.mask[0] & (batch.targets[0] == 0)] = 1
    assert "x" in task.render(batch, 0, prediction=wrong)
    png = task.render_png(batch, 0, tmp_path / "maze.png", prediction=wrong)
    import matplotlib.image

    image = matplotlib.image.imread(png)
    assert image.shape[0] >= 480
    magenta = (image[..., 0] > 0.9) & (image[..., 1] < 0.1) & (image[..., 2] > 0.9)
    assert magenta.any()  # wrong pixels are visibly marked


@pytest.mark.parametrize("model_cls", [DTNet, FeedForwardNet])
def test_2d_models_share_the_interface(model_cls):
    kwargs = {"depth": 3} if model_cls is FeedForwardNet else {}
    model = model_cls(task.spec, width=8, **kwargs)
    batch = task.generate(9, 2, 0)
    h = model.step(batch.inputs, model.init_state(batch.inputs))
    assert model.readout(h).shape == (2, 2, 24, 24)


def test_bfs_reports_unreachable_goals():
    grid = np.zeros((3, 3), dtype=bool)
    grid[0, 0] = grid[2, 2] = True
    assert shortest_path(grid, (0, 0), (2, 2)) is None

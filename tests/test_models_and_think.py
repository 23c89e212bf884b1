import gc
import weakref

import pytest
import torch

from algosynth.config import ModelConfig
from algosynth.models import DTNet, FeedForwardNet
from algosynth.models.registry import build_model
from algosynth.tasks import TaskSpec
from algosynth.think import detach_state, think

SPEC_1D = TaskSpec(in_channels=1, num_classes=2, dims=1, counted_positions="all")
SPEC_2D = TaskSpec(in_channels=3, num_classes=2, dims=2, counted_positions="all")


@pytest.mark.parametrize("recall", [True, False])
@pytest.mark.parametrize("spec,shape", [(SPEC_1D, (3, 1, 17)), (SPEC_2D, (2, 3, 6, 5))])
def test_dt_net_shapes(spec, shape, recall):
    model = DTNet(spec, width=12, num_blocks=2, recall=recall)
    x = torch.randn(shape)
    h = model.init_state(x)
    assert h.shape == (shape[0], 12, *shape[2:])
    h2 = model.step(x, h)
    assert h2.shape == h.shape and (h2 >= 0).all()
    assert model.readout(h2).shape == (shape[0], 2, *shape[2:])


def test_recall_is_a_switch_that_changes_the_recurrent_unit():
    with_recall = DTNet(SPEC_1D, width=8, recall=True)
    without = DTNet(SPEC_1D, width=8, recall=False)
    assert sum(p.numel() for p in with_recall.recur.parameters()) == sum(p.numel() for p in without.recur.parameters()) + 8 * 9 * 3


def test_head_widths_come_from_the_config():
    model = build_model(ModelConfig(width=10, head_widths=[7, 5, 3]), SPEC_1D)
    widths = [m.out_channels for m in model.head if isinstance(m, torch.nn.Conv1d)]
    assert widths == [7, 5, 3, 2]
    assert [m.out_channels for m in DTNet(SPEC_2D, width=16).head if isinstance(m, torch.nn.Conv2d)] == [32, 8, 2]


def test_feedforward_unties_the_same_layers_and_stops_at_its_depth():
    ff = build_model(ModelConfig(name="feedforward", width=8, depth=3), SPEC_1D)
    dt = build_model(ModelConfig(name="dt_net", width=8), SPEC_1D)
    assert isinstance(ff, FeedForwardNet) and ff.max_iters == 3
    per_unit = sum(p.numel() for p in dt.recur.parameters())
    assert sum(p.numel() for p in ff.recur.parameters()) == 3 * per_unit
    assert ff.recurrent_parameters() == []
    x = torch.randn(2, 1, 9)
    thoughts = list(think(ff, x, 3))
    assert [t.t for t in thoughts] == [1, 2, 3] and thoughts[-1].logits.shape == (2, 2, 9)
    with pytest.raises(ValueError, match="3 layers"):
        list(think(ff, x, 4))


def test_think_streams_lazily_and_keeps_no_old_states():
    model = DTNet(SPEC_1D, width=8)
    x = torch.randn(2, 1, 16)
    stream = think(model, x, 1000)
    first = next(stream)
    assert first.t == 1
    watcher = weakref.ref(first.state)
    del first
    for _ in range(5):
        thought = next(stream)
    gc.collect()
    assert thought.t == 6 and watcher() is None


def test_think_matches_manual_unrolling():
    model = DTNet(SPEC_1D, width=8)
    x = torch.randn(3, 1, 10)
    h = model.init_state(x)
    for thought in think(model, x, 4):
        h = model.step(x, h)
        assert torch.equal(thought.logits, model.readout(h))


class ScriptedModel(torch.nn.Module):
    """Predictions follow a script: instance i predicts class script[i][t-1] everywhere at iteration t."""

    max_iters = None

    def __init__(self, script):
        super().__init__()
        self.script = torch.tensor(script)

    def init_state(self, x):
        return torch.zeros((), dtype=torch.long)

    def step(self, x, h):
        return h + 1

    def readout(self, h):
        classes = self.script[:, min(int(h), self.script.shape[1]) - 1]
        return torch.nn.functional.one_hot(classes, 2).float()[:, :, None].expand(-1, -1, 4).clone()


def test_halting_reports_the_iteration_each_instance_halts():
    script = [
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # stable from t=1: with k=2 it halts at t=3
        [0, 1, 0, 1, 1, 1, 1, 1, 1, 1],  # last change at t=4: halts at t=6
        [0, 1, 1, 1, 0, 0, 0, 0, 0, 0],  # stable for 2 at t=4, so halts there despite changing later
    ]
    thoughts = list(think(ScriptedModel(script), torch.zeros(3, 1, 4), 10, halt_after=2))
    assert thoughts[-1].t == 6  # the loop stops once every instance has halted
    assert thoughts[-1].halted_at.tolist() == [3, 6, 4]
    # a halted instance's answer is frozen at its halting iteration
    assert thoughts[-1].answer[2].argmax(0).tolist() == [1, 1, 1, 1]
    assert thoughts[-1].logits[2].argmax(0).tolist() == [0, 0, 0, 0]


def test_halting_can_continue_to_the_budget():
    thoughts = list(think(ScriptedModel([[0] * 10]), torch.zeros(1, 1, 4), 8, halt_after=1, stop_when_halted=False))
    assert len(thoughts) == 8 and thoughts[-1].halted_at.tolist() == [2]


def test_without_halting_nothing_halts_and_bad_k_is_refused():
    thoughts = list(think(ScriptedModel([[0] * 5]), torch.zeros(1, 1, 4), 5))
    assert len(thoughts) == 5 and not thoughts[-1].halted.any()
    with pytest.raises(ValueError, match="halt_after"):
        next(think(ScriptedModel([[0]]), torch.zeros(1, 1, 4), 5, halt_after=0))


def test_detach_state_handles_tensors_and_named_tuples():
    ff = FeedForwardNet(SPEC_1D, width=4, depth=2)
    h = ff.step(torch.randn(1, 1, 5), ff.init_state(torch.randn(1, 1, 5)))
    detached = detach_state(h)
    assert type(detached) is type(h) and detached.depth == 1 and not detached.features.requires_grad

import math

import pytest
import torch

from algosynth.losses import (
    delta_formula,
    delta_loss,
    final_step_loss,
    make_loss,
    masked_cross_entropy,
    progressive_loss,
)
from algosynth.tasks import Batch


def ce_of_margin(m: float) -> float:
    """Cross-entropy of logits [0, m] against class 1: log(1 + e^-m)."""
    return math.log1p(math.exp(-m))


class MarginModel(torch.nn.Module):
    """After t steps every position's logits are [0, margins[t-1] * w]; records grad mode per step."""

    max_iters = None

    def __init__(self, margins):
        super().__init__()
        self.margins = torch.tensor(margins, dtype=torch.float32)
        self.w = torch.nn.Parameter(torch.tensor(1.0))
        self.grad_modes: list[bool] = []

    def init_state(self, x):
        return torch.zeros((), dtype=torch.long), x.shape[0], x.shape[-1]

    def step(self, x, h):
        self.grad_modes.append(torch.is_grad_enabled())
        return h[0] + 1, h[1], h[2]

    def readout(self, h):
        t, batch, length = h
        margin = self.margins[int(t) - 1] * self.w
        logits = torch.stack([torch.zeros(()), margin])
        return logits[None, :, None].expand(batch, 2, length)


def batch_of(batch=2, length=3):
    return Batch(torch.zeros(batch, 1, length), torch.ones(batch, length, dtype=torch.long),
                 torch.ones(batch, length, dtype=torch.bool))


def test_masked_cross_entropy_by_hand():
    logits = torch.tensor([[[2.0, 0.0], [0.0, 0.0]]])  # [B=1, C=2, L=2]: position 0 scores (2, 0), position 1 (0, 0)
    targets = torch.tensor([[0, 1]])
    both = masked_cross_entropy(logits, targets, torch.tensor([[True, True]]))
    first_only = masked_cross_entropy(logits, targets, torch.tensor([[True, False]]))
    assert both.item() == pytest.approx((math.log(1 + math.exp(-2)) + math.log(2)) / 2)
    assert first_only.item() == pytest.approx(math.log(1 + math.exp(-2)))


def test_final_step_loss_uses_only_step_T():
    margins = [0.1, 5.0, -1.0, 2.0]
    out = final_step_loss(MarginModel(margins), batch_of(), 4, torch.Generator())
    assert out.loss.item() == pytest.approx(ce_of_margin(2.0), rel=1e-5)
    assert out.logits.shape == (2, 2, 3)


def test_delta_formula_by_hand():
    assert delta_formula(torch.tensor([1.0, 0.5, 1.5, 0.2])).item() == pytest.approx(0.2 - 1.0 + 1.5)
    assert delta_formula(torch.tensor([3.0, 2.0, 1.0])).item() == pytest.approx(1.0 - 3.0 + 3.0)


def test_delta_loss_over_per_step_losses():
    margins = [0.0, 1.0, -2.0, 3.0]
    per_step = [ce_of_margin(m) for m in margins]
    out = delta_loss()(MarginModel(margins), batch_of(), 4, torch.Generator())
    assert out.loss.item() == pytest.approx(per_step[3] - per_step[0] + max(per_step), rel=1e-5)


def test_delta_loss_with_random_horizon_draws_T_in_2_to_T():
    margins = [0.0, 1.0, -2.0, 3.0, 0.5]
    per_step = [ce_of_margin(m) for m in margins]
    seen = set()
    rng = torch.Generator().manual_seed(0)
    for _ in range(200):
        model = MarginModel(margins)
        out = delta_loss(random_T=True)(model, batch_of(), 5, rng)
        horizon = len(model.grad_modes)
        seen.add(horizon)
        expected = per_step[horizon - 1] - per_step[0] + max(per_step[:horizon])
        assert out.loss.item() == pytest.approx(expected, rel=1e-5)
        assert (out.logits is None) == (horizon != 5)
    assert seen == {2, 3, 4, 5}


def expected_draws(seed: int, T: int) -> tuple[int, int]:
    rng = torch.Generator().manual_seed(seed)
    n = int(torch.randint(0, T, (1,), generator=rng))
    k = int(torch.randint(1, T - n + 1, (1,), generator=rng))
    return n, k


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("seed", range(6))
def test_progressive_loss_by_hand(alpha, seed):
    T = 6
    margins = [0.5, -1.0, 2.0, 0.2, 1.5, 3.0]
    n, k = expected_draws(seed, T)
    model = MarginModel(margins)
    out = progressive_loss(alpha)(model, batch_of(), T, torch.Generator().manual_seed(seed))
    expected = (1 - alpha) * ce_of_margin(margins[T - 1]) + (alpha * ce_of_margin(margins[n + k - 1]) if alpha > 0 else 0)
    assert out.loss.item() == pytest.approx(expected, rel=1e-5)
    full_pass = [] if alpha == 1.0 else [True] * T
    partial = [] if alpha == 0.0 else [False] * n + [True] * k
    assert model.grad_modes == full_pass + partial  # the first n steps build no graph; no full pass at alpha = 1


def test_progressive_draws_cover_the_documented_ranges():
    rng = torch.Generator().manual_seed(1)
    pairs = set()
    for _ in range(400):
        model = MarginModel([1.0] * 4)
        progressive_loss(1.0)(model, batch_of(), 4, rng)
        n = model.grad_modes.count(False)
        k = model.grad_modes.count(True)
        assert 0 <= n <= 3 and 1 <= k <= 4 - n
        pairs.add((n, k))
    assert len(pairs) == 10  # every (n, k) with n in 0..3 and k in 1..4-n


def test_progressive_loss_reaches_the_weights():
    model = MarginModel([1.0, 2.0, 3.0])
    out = progressive_loss(0.5)(model, batch_of(), 3, torch.Generator().manual_seed(0))
    out.loss.backward()
    assert model.w.grad is not None and model.w.grad.item() < 0


def test_make_loss_and_bad_alpha():
    assert make_loss("final") is final_step_loss
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]"):
        progressive_loss(1.5)
    with pytest.raises(ValueError, match="unknown loss"):
        make_loss("focal")

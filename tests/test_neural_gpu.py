"""The Neural GPU: gate cutoff, CGRU and masking against hand values, relaxation, gradient noise,
checkpoints, the memory refusal, and a real learning test that extrapolates."""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from algosynth.checkpoints import load_checkpoint, load_weights_into
from algosynth.cli import app, eval_title, run_eval
from algosynth.config import from_dict
from algosynth.errors import AlgosynthError
from algosynth.evaluate import EvalResult, evaluate, evaluate_data, final_predictions, load_model
from algosynth.losses import held_horizon, masked_cross_entropy
from algosynth.memory import fit_batch_size
from algosynth.models.neural_gpu import (CGRU, GridState, NeuralGPU, diagonal_shift, gate_cutoff, hard_sigmoid,
                                         hard_tanh, saturation_cost)
from algosynth.models.registry import build_model
from algosynth.tasks import get_task
from algosynth.think import think
from algosynth.train import Trainer

from conftest import tiny_config

SPEC = get_task("badd").spec


def ngpu_config(**sections) -> dict:
    """A Neural GPU on 3-bit binary addition, small enough for unit tests."""
    base = {
        "task": {"name": "badd", "train_size": 3, "n_train": 32, "n_val": 8},
        "model": {"name": "neural_gpu", "width": 4},
        "loss": {"name": "final", "iters": 1},
        "optim": {"warmup_epochs": 0, "schedule": "constant", "weight_decay": 0.0},
        "train": {"batch_size": 8, "epochs": 2},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    extra = {name: base.pop(name) for name in ("curriculum",) if name in base}
    return tiny_config(**base) | extra


def final_logits(model, x):
    thought = None
    for thought in think(model, x, model.iters_for(x)):
        pass
    return thought.logits, thought.state


def test_gate_cutoff_hand_values():
    x = torch.tensor([0.0, math.log(1 / 3), 3.0, -3.0, 50.0, -50.0])
    # sigmoid: 1/2, 1/4, > 11/12, < 1/12: the cutoff saturates exactly beyond |x| = ln 11.
    assert torch.allclose(gate_cutoff(x), torch.tensor([0.5, 0.2, 1.0, 0.0, 1.0, 0.0]), atol=1e-6)
    assert gate_cutoff(torch.tensor(3.0)) == 1.0 and gate_cutoff(torch.tensor(-3.0)) == 0.0


@pytest.mark.parametrize("update_bias, reset_bias, expected", [
    (10.0, 0.0, lambda s: s),                                     # update gate shut: state kept exactly
    (-10.0, -10.0, lambda s: torch.tanh(torch.full_like(s, 0.3))),  # all new: tanh(bias) since reset zeroes s
    (0.0, 10.0, lambda s: 0.5 * s + 0.5 * torch.tanh(2 * s + 0.3)),  # half and half, reset open
])
def test_cgru_against_hand_values(update_bias, reset_bias, expected):
    cgru = CGRU(width=1, sets=1)
    with torch.no_grad():
        cgru.gate_weight.zero_()
        cgru.gate_bias.copy_(torch.tensor([[update_bias, reset_bias]]))
        cgru.candidate_weight.zero_()
        cgru.candidate_weight[0, 0, 0, 1, 1] = 2.0  # centre tap only: a pointwise map
        cgru.candidate_bias.fill_(0.3)
    s = torch.tensor([-0.7, 0.1, 0.9]).view(1, 1, 3, 1).expand(1, 1, 3, 4).contiguous()
    assert torch.allclose(cgru(s, 0), expected(s), atol=1e-6)


def test_state_starts_with_symbols_in_the_first_row_and_runs_2n_steps():
    model = NeuralGPU(SPEC, width=6)
    x = get_task("badd").generate(4, 2, 0).inputs
    h = model.init_state(x)
    assert h.grid.shape == (2, 6, 9, 4) and h.t == 0
    assert torch.equal(h.grid[..., 0], model.embed(x)) and not h.grid[..., 1:].any()
    assert model.iters_for(x) == 18


@pytest.mark.parametrize("seed", range(3))
def test_the_input_and_the_gradient_survive_2n_steps_at_initialisation(seed):
    # 20-bit addition: 82 steps, 164 CGRUs. At variance 1 / fan-in (gain 1) the final state was
    # about 1e-9 and the embedding's gradient about 1e-10 for these seeds; the 1.8 gain keeps both alive.
    batch = get_task("badd").generate(20, 8, 0)
    torch.manual_seed(seed)
    model = NeuralGPU(SPEC, width=16)
    logits, state = final_logits(model, batch.inputs)
    masked_cross_entropy(logits, batch.targets, batch.mask).backward()
    assert state.grid[..., 0].detach().pow(2).mean().sqrt() > 1e-3
    assert model.embed.weight.grad.norm() > 1e-4


IMPROVED = dict(rows=1, cgrus_per_step=1, steps_per_symbol=1, gates="hard", diagonal=True)
"""The improved Neural GPU of Freivalds & Liepins (2017), as NeuralGPU switches."""


def test_hard_units_and_their_saturation_cost_against_hand_values():
    x = torch.tensor([[-3.0, -1.0, 0.0, 0.5, 0.95, 2.0]])
    assert torch.equal(hard_sigmoid(x), torch.tensor([[0.0, 0.0, 0.5, 0.75, 0.975, 1.0]]))
    assert torch.equal(hard_tanh(x), torch.tensor([[-1.0, -1.0, 0.0, 0.5, 0.95, 1.0]]))
    # relu(|x| - 0.9): 2.1 + 0.1 + 0 + 0 + 0.05 + 1.1
    assert saturation_cost(x).item() == pytest.approx(3.35)


def test_diagonal_shift_moves_a_third_of_the_channels_each_way():
    s = torch.arange(1.0, 19.0).view(1, 6, 3, 1)  # 6 channels of 3 positions: [1 2 3], [4 5 6], ...
    shifted = diagonal_shift(s)[0, :, :, 0]
    assert shifted.tolist() == [[2, 3, 0], [5, 6, 0],      # first third: one position left, zero fill
                                [0, 7, 8], [0, 10, 11],    # second third: one position right
                                [13, 14, 15], [16, 17, 18]]


def test_improved_variant_is_one_row_one_cgru_and_n_steps():
    model = NeuralGPU(SPEC, width=6, **IMPROVED)
    x = get_task("badd").generate(4, 2, 0).inputs
    assert model.init_state(x).grid.shape == (2, 6, 9, 1) and model.iters_for(x) == 9
    assert len(model.cgrus) == 1 and model.cgrus[0].gate_weight.shape == (1, 12, 6, 3, 1)


def test_hard_diagonal_cgru_against_hand_values():
    cgru = CGRU(width=3, sets=1, rows=1, gates="hard", diagonal=True)
    with torch.no_grad():
        cgru.gate_weight.zero_()
        cgru.gate_bias.copy_(torch.tensor([[0.0] * 3 + [1.0] * 3]))  # update 0.5, reset open
        cgru.candidate_weight.zero_()
        cgru.candidate_bias.fill_(3.0)                                # candidate saturates at 1
    s = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]).view(1, 3, 2, 1)
    tally = []
    out = cgru(s, 0, tally)[0, :, :, 0]
    # kept: channel 0 moves left, channel 1 right, channel 2 stays; half kept, half the candidate 1.
    assert torch.allclose(out, 0.5 * torch.tensor([[2.0, 0.0], [0.0, 3.0], [5.0, 6.0]]) + 0.5)
    # gates: three inputs at 0.1 over the corner per position (reset bias 1); candidate 2.1 each.
    assert torch.allclose(tally[0], torch.tensor([2 * 3 * 0.1])) and torch.allclose(tally[1], torch.tensor([2 * 3 * 2.1]))


def test_trainer_adds_the_saturation_cost_and_only_while_training(tmp_path):
    config = from_dict(ngpu_config(model={**IMPROVED, "saturation": 0.5}))
    trainer = Trainer(config, tmp_path, show_progress=False)
    model = trainer.model
    with torch.no_grad():
        for p in model.cgrus.parameters():
            p.zero_()  # gates at 0.5, inside their corners ...
        model.cgrus[0].candidate_bias.fill_(5.0)  # ... and every candidate input 4.1 past its corner
    batch = get_task("badd").generate(3, 8, 0)
    seen = []
    inner = trainer.loss_fn
    trainer.loss_fn = lambda m, b, T, rng: seen.append(inner(m, b, T, rng)) or seen[-1]
    model.train()
    for thought in think(model, batch.inputs, model.iters_for(batch.inputs)):
        pass
    expected = model.saturation_penalty().item()
    assert expected == pytest.approx(0.5 * 4 * 4.1)  # weight x width 4 x 4.1, at every position and step
    loss, _ = trainer._train_step(batch)
    assert loss == pytest.approx(float(seen[0].loss.detach()) + expected, rel=1e-5)
    model.eval()
    with torch.no_grad():
        for thought in think(model, batch.inputs, model.iters_for(batch.inputs)):
            pass
    assert model.saturation_penalty().item() == 0.0


def test_candidate_dropout_acts_in_training_only():
    torch.manual_seed(0)
    model = NeuralGPU(SPEC, width=6, dropout=0.5, dropout_on="candidate", **IMPROVED)
    x = get_task("badd").generate(4, 2, 0).inputs
    model.train()
    assert not torch.equal(final_logits(model, x)[0], final_logits(model, x)[0])
    model.eval()
    with torch.no_grad():
        assert torch.equal(final_logits(model, x)[0], final_logits(model, x)[0])
    reference = NeuralGPU(SPEC, width=6, **IMPROVED).eval()
    reference.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(final_logits(model, x)[0], final_logits(reference, x)[0])


@pytest.mark.parametrize("variant", [{}, IMPROVED], ids=["original", "improved"])
def test_padding_is_masked_so_a_padded_instance_thinks_like_the_unpadded_one(variant):
    torch.manual_seed(0)
    model = NeuralGPU(SPEC, width=6, **variant).eval()
    with torch.no_grad():
        for p in model.cgrus.parameters():
            p.add_(0.5)  # biases far from zero: unmasked padding would fill with tanh(bias) and leak back
    x = get_task("badd").generate(3, 4, 1).inputs  # length 7
    padded = torch.cat([x, torch.zeros(4, x.shape[1], 5)], dim=2)  # length 12: five columns with no symbol
    with torch.no_grad():
        h = model.init_state(x)
        hp = model.init_state(padded)
        for _ in range(2 * 12):
            h, hp = model.step(x, h), model.step(padded, hp)
        assert not hp.grid[:, :, 7:].any()  # padding zero after every step
        assert torch.allclose(model.readout(hp)[..., :7], model.readout(h), atol=1e-5)


def test_relaxed_sets_are_used_round_robin():
    torch.manual_seed(0)
    relaxed = NeuralGPU(SPEC, width=4, relax_sets=3, relax_pull=0.1).eval()
    single = NeuralGPU(SPEC, width=4).eval()
    single.load_state_dict({k: v[1:2] if k.startswith("cgrus") else v for k, v in relaxed.state_dict().items()
                            if k != "tied"} | {"tied": single.tied}, strict=True)
    x = get_task("badd").generate(3, 2, 0).inputs
    grid = torch.rand(2, 4, 7, 4)
    with torch.no_grad():
        assert torch.allclose(relaxed.step(x, GridState(grid, 4)).grid, single.step(x, GridState(grid, 0)).grid)
        assert not torch.allclose(relaxed.step(x, GridState(grid, 5)).grid, single.step(x, GridState(grid, 0)).grid)


def test_relaxation_pull_and_averaging_against_hand_values():
    model = NeuralGPU(SPEC, width=3, relax_sets=2, relax_pull=0.25, relax_growth=2.0, relax_tie_at=1.0)
    with torch.no_grad():
        for p in model.cgrus.parameters():
            p.copy_(p[:1].expand_as(p))  # all sets equal ...
        model.cgrus[0].gate_bias.copy_(torch.tensor([[0.0] * 6, [2.0] * 6]))  # ... except one bias: 0 and 2
    # mean 1, each of 2 sets x 6 entries off by 1: the sum of squares is 12.
    assert model.penalty().item() == pytest.approx(0.25 * 12)
    model.curriculum_advanced()
    assert model.pull_weight.item() == 0.5 and not model.tied
    assert model.penalty().item() == pytest.approx(0.5 * 12)
    model.curriculum_advanced()  # lambda reaches 1.0: the sets are averaged into one
    assert model.tied and model.penalty().item() == 0.0
    assert torch.equal(model.cgrus[0].gate_bias, torch.ones(2, 6))
    x = get_task("badd").generate(3, 2, 0).inputs
    grid = torch.rand(2, 3, 7, 4)
    with torch.no_grad():
        assert torch.equal(model.step(x, GridState(grid, 0)).grid, model.step(x, GridState(grid, 1)).grid)


def test_a_curriculum_advance_ties_the_weight_average_too(tmp_path):
    """With train.ema the checkpoint holds the average; when the live sets are tied into one, the
    average's sets must be tied as well, or it would keep running differing sets round-robin."""
    config = from_dict(ngpu_config(model={"relax_sets": 2, "relax_pull": 0.5, "relax_tie_at": 1.0},
                                   train={"ema": 0.9}, curriculum={"enabled": True}))
    trainer = Trainer(config, tmp_path, show_progress=False)
    trainer._train_step(get_task("badd").generate(3, 8, 0))
    trainer.curriculum.record = lambda error: True  # as if the window had just passed the threshold
    trainer._advance_curriculum(0.0)
    for model in (trainer.model, trainer.average):
        assert model.tied
        for p in model.cgrus.parameters():
            assert torch.equal(p[0], p[1])
    assert not torch.equal(trainer.model.cgrus[0].gate_weight, trainer.average.cgrus[0].gate_weight)


def test_trainer_thinks_2n_steps_and_adds_the_pull_to_the_loss(tmp_path):
    config = from_dict(ngpu_config(model={"relax_sets": 2, "relax_pull": 0.5}))
    trainer = Trainer(config, tmp_path, show_progress=False)
    seen = []
    inner = trainer.loss_fn

    def recording(model, batch, T, rng):
        out = inner(model, batch, T, rng)
        seen.append((T, batch.inputs.shape[-1], float(out.loss.detach())))
        return out

    trainer.loss_fn = recording
    batch = get_task("badd").generate(3, 8, 0)
    penalty = float(trainer.model.penalty().detach())
    loss, _ = trainer._train_step(batch)
    assert seen[0][0] == 2 * seen[0][1] == 14
    assert penalty > 0 and loss == pytest.approx(seen[0][2] + penalty, rel=1e-5)


def test_gradient_noise_reaches_the_update(tmp_path):
    sigma = 0.01
    sgd = {"name": "sgd", "lr": 1.0, "momentum": 0.0, "clip": None}
    batch = get_task("badd").generate(3, 8, 0)
    updates = []
    for noise in (0.0, sigma):
        config = from_dict(ngpu_config(optim={**sgd, "grad_noise": noise}))
        trainer = Trainer(config, tmp_path / str(noise), show_progress=False)
        before = torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()])
        trainer._train_step(batch)
        updates.append(torch.cat([p.detach().flatten() for p in trainer.model.parameters()]) - before)
    noise = updates[1] - updates[0]  # lr 1 and plain SGD: the update differs by exactly the noise (step 0)
    assert noise.std().item() == pytest.approx(sigma, rel=0.15)
    assert abs(noise.mean().item()) < sigma / 10


def test_checkpoint_round_trip_keeps_relaxation_state(tmp_path):
    config = from_dict(ngpu_config(model={"relax_sets": 2, "relax_pull": 0.3}, train={"epochs": 1}))
    trainer = Trainer(config, tmp_path, show_progress=False)
    trainer.model.curriculum_advanced()
    trainer.fit()
    model = build_model(config.model, SPEC)
    load_weights_into(model, load_checkpoint(tmp_path))
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert model.pull_weight.item() == pytest.approx(0.6)
    loaded, _, _ = load_model(tmp_path, torch.device("cpu"))
    x = get_task("badd").generate(5, 4, 3).inputs
    with torch.no_grad():
        assert torch.equal(final_logits(loaded, x)[0], final_logits(trainer.model.eval(), x)[0])
    with pytest.raises(AlgosynthError, match=r"^size 50000000 needs about [\d.]+ GiB per instance"):
        evaluate(tmp_path, [5, 50_000_000], iters=1, n=4, batch_size=4)  # refused before generating anything


def test_an_over_long_length_is_refused_before_allocating():
    model = NeuralGPU(SPEC, width=24)
    with pytest.raises(AlgosynthError, match=r"^size 50000000 needs about .* GiB per instance.*use a smaller size") as info:
        fit_batch_size(model, (11, 10**8), 50, torch.device("cpu"), "size 50000000")
    assert "\n" not in str(info.value)
    assert fit_batch_size(model, (11, 4001), 50, torch.device("cpu"), "size 2000") == 50


def test_eval_title_names_the_step_counts_the_model_planned(tmp_path):
    Trainer(from_dict(ngpu_config(train={"epochs": 1})), tmp_path, show_progress=False).fit()
    _, _, table = run_eval(tmp_path, [2, 5], iters=3, n=2, batch_size=2, seed=0, halt=None)
    assert table.title == ("exact match on 2 fresh instances per size, iterations set by the model per input "
                           "(10 at size 2, 22 at size 5); --iters is not used")
    budget = EvalResult(sizes=[], iters=3, planned=False)  # a model that thinks as long as it is told
    assert eval_title("2 fresh instances per size", budget) == "exact match on 2 fresh instances per size, up to 3 iterations"


def test_eval_can_think_past_the_trained_step_count(tmp_path):
    Trainer(from_dict(ngpu_config(train={"epochs": 1})), tmp_path, show_progress=False).fit()
    run = lambda steps: evaluate(tmp_path, [3], iters=1, n=6, batch_size=6, seed=1, steps_per_symbol=steps)  # noqa: E731
    trained, shorter, fraction, longer = run(None), run(1), run(1.5), run(5)
    # 3-bit addition is 7 symbols long (3 + separator + 3): 14 steps as trained, 7, 11 (10.5 rounded up) or 35 when told
    assert [len(r.sizes[0].curve) for r in (trained, shorter, fraction, longer)] == [14, 7, 11, 35]
    for told in (shorter, longer):  # the same thinking, stopped sooner or carried on
        steps = min(len(told.sizes[0].curve), 14)
        assert told.sizes[0].per_position_curve[:steps] == trained.sizes[0].per_position_curve[:steps]
    assert (trained.steps_per_symbol, longer.steps_per_symbol) == (None, 5)
    _, _, table = run_eval(tmp_path, [3], iters=1, n=2, batch_size=2, seed=0, halt=None, steps_per_symbol=3)
    assert table.title == ("exact match on 2 fresh instances per size, iterations 3 per input symbol (21 at size 3); "
                           "--iters is not used")


def test_a_fractional_step_count_rounds_up_without_float_error():
    model = NeuralGPU(SPEC, width=8)
    model.steps_per_symbol = 1.1
    assert model.iters_for(torch.zeros(1, 11, 10)) == 11  # 1.1 x 10 is 11.000000000000002 in floating point
    model.steps_per_symbol = 1.5
    assert model.iters_for(torch.zeros(1, 11, 41)) == 62


def test_eval_reads_at_the_runs_configured_steps_per_symbol_unless_told_otherwise(tmp_path):
    Trainer(from_dict(ngpu_config(train={"epochs": 1}, eval={"steps_per_symbol": 1.5})), tmp_path, show_progress=False).fit()
    for flags, steps in (([], 11), (["--steps-per-symbol", "1"], 7)):
        out = tmp_path / f"eval{steps}"
        result = CliRunner().invoke(app, ["eval", str(tmp_path), "--sizes", "3", "--n", "2", "--out", str(out), *flags])
        assert result.exit_code == 0, result.output
        assert len(json.loads((out / "eval.json").read_text())["sizes"][0]["curve"]) == steps


def test_held_horizon_draws_every_count_from_T_to_one_and_a_half_T():
    rng = torch.Generator().manual_seed(0)
    draws = [held_horizon(10, 0.5, rng) for _ in range(300)]
    assert set(draws) == {10, 11, 12, 13, 14, 15}
    assert {held_horizon(10, 0.0, rng) for _ in range(20)} == {10}
    again = torch.Generator().manual_seed(0)
    assert draws == [held_horizon(10, 0.5, again) for _ in range(300)]  # the trainer's generator replays on resume


@pytest.mark.parametrize("hold,expected", [(0.0, {14}), (1.0, set(range(14, 29)))])
def test_loss_hold_makes_the_neural_gpu_think_past_its_count_in_training(tmp_path, hold, expected):
    config = from_dict(ngpu_config(loss={"hold": hold}, train={"epochs": 6}))
    trainer = Trainer(config, tmp_path, show_progress=False)
    horizons, loss_fn = [], trainer.loss_fn
    trainer.loss_fn = lambda model, batch, T, rng: horizons.append(T) or loss_fn(model, batch, T, rng)
    trainer.fit()
    # 3-bit sums are 7 symbols: 14 steps as planned, 14..28 with hold 1.0 (24 batches draw most of them)
    assert set(horizons) <= expected and len(set(horizons)) >= min(len(expected), 8)


def test_final_predictions_are_the_same_in_any_chunking_and_agree_with_the_scores():
    task = get_task("badd")
    torch.manual_seed(1)  # an untrained network that writes 0s and 1s, so some digits come out right
    model = NeuralGPU(task.spec, width=8).eval()
    data = task.generate(6, 7, seed=5)
    cpu = torch.device("cpu")
    whole = final_predictions(model, task, data, 1, 7, cpu)
    assert whole.shape == data.targets.shape
    assert torch.equal(whole, final_predictions(model, task, data, 1, 3, cpu))
    scored = evaluate_data(model, task, data, 6, 1, 7, cpu)
    right = (whole == data.targets) & data.mask
    per_position = (right.sum(1) / data.mask.sum(1)).mean()
    assert 0 < float(per_position) < 1
    assert float(per_position) == pytest.approx(scored.per_position_curve[-1])
    assert float((right | ~data.mask).all(1).float().mean()) == pytest.approx(scored.final_accuracy)

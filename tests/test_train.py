import json
import shutil
import signal

import pytest
import torch

from algosynth.averaging import averaged_copy, polyak_update
from algosynth.checkpoints import CheckpointError, list_checkpoints, load_checkpoint, load_weights_into, resolve_checkpoint, unprefixed_state
from algosynth.config import from_dict
from algosynth.errors import AlgosynthError
from algosynth.models.registry import build_model
from algosynth.tasks import get_task
from algosynth.train import LIVE, Trainer, TrainingDiverged, TrainingInterrupted, lr_factor, make_optimizer

from conftest import tiny_config


def final_weights(run_dir):
    return load_checkpoint(run_dir).weights


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("loss", ["progressive", "delta_random_T"])
def test_resume_from_an_epoch_checkpoint_is_bitwise_identical(tmp_path, tiny, loss):
    config = tiny(loss={"name": loss}, train={"epochs": 4})
    Trainer(config, tmp_path / "whole", show_progress=False).fit()
    Trainer(config, tmp_path / "split", show_progress=False).fit()
    for later in list_checkpoints(tmp_path / "split" / "checkpoints")[2:]:
        shutil.rmtree(later)  # as if the run died after epoch 2
    assert load_checkpoint(tmp_path / "split").meta["epoch"] == 2
    Trainer.resume(tmp_path / "split", show_progress=False).fit()
    assert_same_weights(final_weights(tmp_path / "whole"), final_weights(tmp_path / "split"))
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3, 4]  # metrics logged after the last checkpoint were replaced, not duplicated


def test_sigterm_mid_epoch_checkpoints_and_resume_matches(tmp_path, tiny):
    config = tiny(train={"epochs": 3, "checkpoint_every": 10})
    Trainer(config, tmp_path / "whole", show_progress=False).fit()
    trainer = Trainer(config, tmp_path / "cut", show_progress=False)
    inner = trainer.loss_fn

    def loss_then_signal(*args):
        if trainer.global_step == 5:
            signal.raise_signal(signal.SIGTERM)
        return inner(*args)

    trainer.loss_fn = loss_then_signal
    with pytest.raises(TrainingInterrupted, match="SIGTERM at step 6.*--resume"):
        trainer.fit()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    assert load_checkpoint(tmp_path / "cut").meta["global_step"] == 6
    Trainer.resume(tmp_path / "cut", show_progress=False).fit()
    assert_same_weights(final_weights(tmp_path / "whole"), final_weights(tmp_path / "cut"))


def test_polyak_update_by_hand():
    model = torch.nn.BatchNorm1d(2)
    average = averaged_copy(model)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([3.0, -1.0]))
        model.running_mean.copy_(torch.tensor([5.0, 6.0]))
    polyak_update(average, model, 0.25)
    assert torch.allclose(average.weight, torch.tensor([1.5, 0.5]))  # 1 + 0.25 * (3 - 1), 1 + 0.25 * (-1 - 1)
    assert torch.equal(average.running_mean, model.running_mean)  # buffers are state: copied, not averaged
    assert not average.weight.requires_grad


def test_the_weight_average_is_what_a_checkpoint_holds_and_leaves_training_alone(tmp_path, tiny):
    """train.ema must not change a single live update, and the saved weights must be the average of
    the live weights after every step, folded in by hand here."""
    trainer = Trainer(tiny(train={"epochs": 2}), tmp_path / "plain", show_progress=False)
    expected = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    step = trainer.optimizer.step

    def step_and_fold(*args, **kwargs):
        result = step(*args, **kwargs)
        for key, value in trainer.model.state_dict().items():
            expected[key] = expected[key] + 0.1 * (value - expected[key]) if value.is_floating_point() else value.clone()
        return result

    trainer.optimizer.step = step_and_fold
    trainer.fit()
    Trainer(tiny(train={"epochs": 2, "ema": 0.9}), tmp_path / "averaged", show_progress=False).fit()
    averaged = load_checkpoint(tmp_path / "averaged")
    live = unprefixed_state(averaged.training, LIVE)
    assert_same_weights(final_weights(tmp_path / "plain"), live)
    assert all(torch.allclose(averaged.weights[k], v, atol=1e-6) for k, v in expected.items())
    assert not all(torch.equal(averaged.weights[k], v) for k, v in live.items())


def test_resume_with_a_weight_average_is_bitwise_identical(tmp_path, tiny):
    config = tiny(train={"epochs": 4, "ema": 0.9})
    Trainer(config, tmp_path / "whole", show_progress=False).fit()
    Trainer(config, tmp_path / "split", show_progress=False).fit()
    for later in list_checkpoints(tmp_path / "split" / "checkpoints")[2:]:
        shutil.rmtree(later)
    Trainer.resume(tmp_path / "split", show_progress=False).fit()
    whole, split = load_checkpoint(tmp_path / "whole"), load_checkpoint(tmp_path / "split")
    assert_same_weights(whole.weights, split.weights)
    assert_same_weights(whole.training, split.training)


def test_checkpoint_round_trip(tmp_path, tiny):
    config = tiny(train={"epochs": 1})
    trainer = Trainer(config, tmp_path, show_progress=False)
    trainer.fit()
    checkpoint = load_checkpoint(tmp_path)
    assert checkpoint.meta["finished"] and checkpoint.meta["config"] == config.to_dict()
    model = build_model(config.model, get_task("prefix_sums").spec)
    load_weights_into(model, checkpoint)
    assert_same_weights(model.state_dict(), trainer.model.state_dict())
    fresh = Trainer(config, tmp_path / "other", show_progress=False)
    fresh.restore(checkpoint)
    saved, restored = trainer.optimizer.state_dict(), fresh.optimizer.state_dict()
    assert json.loads(json.dumps(saved["param_groups"])) == restored["param_groups"]
    for index, state in saved["state"].items():
        for key, value in state.items():
            assert torch.equal(value, restored["state"][index][key])
    assert torch.equal(fresh.loss_rng.get_state(), trainer.loss_rng.get_state())
    assert (tmp_path / "config.yaml").exists() and (tmp_path / "plots").is_dir()


def test_only_the_newest_checkpoints_are_kept(tmp_path, tiny):
    Trainer(tiny(train={"epochs": 4, "keep_checkpoints": 2}), tmp_path, show_progress=False).fit()
    kept = list_checkpoints(tmp_path / "checkpoints")
    assert [load_checkpoint(p).meta["epoch"] for p in kept] == [3, 4]
    assert not list((tmp_path / "checkpoints").glob(".tmp-*"))


def test_resume_refuses_a_finished_run(tmp_path, tiny):
    Trainer(tiny(train={"epochs": 1}), tmp_path, show_progress=False).fit()
    with pytest.raises(AlgosynthError, match="already finished"):
        Trainer.resume(tmp_path)


def test_a_finished_run_extended_with_more_epochs_equals_the_longer_run(tmp_path, tiny):
    """The warm-up and the step milestone lie inside the first epochs, so the schedule of the later
    epochs does not depend on the total and the extension must match the longer run bit for bit."""
    Trainer(tiny(train={"epochs": 4}), tmp_path / "long", show_progress=False).fit()
    Trainer(tiny(train={"epochs": 2}), tmp_path / "short", show_progress=False).fit()
    with pytest.raises(CheckpointError, match="--epochs 2 does not extend .* has done 2 epochs"):
        Trainer.resume(tmp_path / "short", epochs=2)
    Trainer.resume(tmp_path / "short", epochs=4, show_progress=False).fit()
    assert_same_weights(final_weights(tmp_path / "long"), final_weights(tmp_path / "short"))
    assert load_checkpoint(tmp_path / "short").meta["finished"]
    assert "epochs: 4" in (tmp_path / "short" / "config.yaml").read_text()


def test_damaged_checkpoints_are_refused_clearly(tmp_path, tiny):
    Trainer(tiny(train={"epochs": 1}), tmp_path, show_progress=False).fit()
    weights = resolve_checkpoint(tmp_path) / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-20])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path)
    (resolve_checkpoint(tmp_path) / "meta.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="meta.json is missing or corrupt"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")


def test_a_checkpoint_of_another_model_is_refused(tmp_path, tiny):
    Trainer(tiny(train={"epochs": 1}), tmp_path, show_progress=False).fit()
    wider = build_model(tiny(model={"width": 12}).model, get_task("prefix_sums").spec)
    with pytest.raises(CheckpointError, match="different model"):
        load_weights_into(wider, load_checkpoint(tmp_path))


def test_init_from_starts_a_new_run_from_another_runs_weights(tmp_path, tiny):
    Trainer(tiny(train={"epochs": 1}), tmp_path / "source", show_progress=False).fit()
    source = load_checkpoint(tmp_path / "source").weights
    barely = {"lr": 1e-12, "warmup_epochs": 0}  # the new run's own updates stay far below the tolerance
    for init_from, should_match in ((str(tmp_path / "source"), True), (None, False)):
        run = tmp_path / f"run_{should_match}"
        Trainer(tiny(train={"epochs": 1, "seed": 5, "init_from": init_from}, optim=barely), run, show_progress=False).fit()
        weights = load_checkpoint(run).weights
        assert all(torch.allclose(weights[k], v, atol=1e-8) for k, v in source.items()) == should_match
    started = load_checkpoint(tmp_path / "run_True").meta
    assert started["config"]["train"]["init_from"] == str(tmp_path / "source")  # the run records where it began


def test_a_run_started_from_another_resumes_without_it(tmp_path, tiny):
    Trainer(tiny(train={"epochs": 1}), tmp_path / "source", show_progress=False).fit()
    config = tiny(train={"epochs": 3, "seed": 5, "init_from": str(tmp_path / "source")})
    Trainer(config, tmp_path / "whole", show_progress=False).fit()
    Trainer(config, tmp_path / "split", show_progress=False).fit()
    for later in list_checkpoints(tmp_path / "split" / "checkpoints")[1:]:
        shutil.rmtree(later)  # as if the run died after epoch 1
    shutil.rmtree(tmp_path / "source")  # the weights it started from are gone; the resume must not need them
    Trainer.resume(tmp_path / "split", show_progress=False).fit()
    assert_same_weights(final_weights(tmp_path / "whole"), final_weights(tmp_path / "split"))


@pytest.mark.parametrize("init_from, message", [("nowhere", "does not exist"), ("source", "different model")])
def test_init_from_refuses_a_missing_run_or_another_model(tmp_path, tiny, init_from, message):
    Trainer(tiny(train={"epochs": 1}), tmp_path / "source", show_progress=False).fit()
    wider = tiny(model={"width": 12}, train={"epochs": 1, "init_from": str(tmp_path / init_from)})
    with pytest.raises(CheckpointError, match=message):
        Trainer(wider, tmp_path / "run", show_progress=False).fit()
    assert not (tmp_path / "run").exists()


def test_nan_loss_stops_with_a_clear_message_and_keeps_checkpoints(tmp_path, tiny):
    trainer = Trainer(tiny(train={"epochs": 3}), tmp_path, show_progress=False)
    inner = trainer.loss_fn

    def poisoned(model, batch, T, rng):
        out = inner(model, batch, T, rng)
        if trainer.global_step >= 6:
            out.loss = out.loss * float("nan")
        return out

    trainer.loss_fn = poisoned
    with pytest.raises(TrainingDiverged, match="loss became nan at step 6; the last good checkpoint is .*step_000000004"):
        trainer.fit()
    kept = load_checkpoint(tmp_path)
    assert all(torch.isfinite(v).all() for v in kept.weights.values())


def test_warmup_then_multistep_and_cosine():
    config = from_dict(tiny_config(optim={"warmup_epochs": 2, "milestones": [3, 5], "gamma": 0.5}, train={"epochs": 6}))
    factors = [lr_factor(config, step, steps_per_epoch=10) for step in range(60)]
    assert factors[0] == pytest.approx(0.05) and factors[19] == pytest.approx(1.0)
    assert factors[29] == 1.0 and factors[30] == 0.5 and factors[50] == 0.25
    cosine = from_dict(tiny_config(optim={"warmup_epochs": 0, "schedule": "cosine"}, train={"epochs": 4}))
    assert lr_factor(cosine, 0, 10) == pytest.approx(1.0)
    assert lr_factor(cosine, 20, 10) == pytest.approx(0.5)
    assert lr_factor(cosine, 40, 10) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name,kind", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("sgd", torch.optim.SGD)])
def test_optimisers_and_the_lr_throttle(name, kind):
    config = from_dict(tiny_config(optim={"name": name, "throttle": True}, loss={"iters": 5}))
    model = build_model(config.model, get_task("prefix_sums").spec)
    optimizer = make_optimizer(config, model)
    assert isinstance(optimizer, kind)
    scales = sorted(g["lr_scale"] for g in optimizer.param_groups)
    assert scales == [pytest.approx(0.2), 1.0]
    recurrent = next(g for g in optimizer.param_groups if g["lr_scale"] < 1)
    assert {id(p) for p in recurrent["params"]} == {id(p) for p in model.recur.parameters()}


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_optim_betas_set_how_fast_adam_forgets(name):
    """After one step Adam's mean square is (1 - beta2) g^2 and its mean (1 - beta1) g: the
    configured rates, not torch's defaults, reach the optimiser."""
    config = from_dict(tiny_config(optim={"name": name, "betas": [0.8, 0.99], "weight_decay": 0.0}))
    model = build_model(config.model, get_task("prefix_sums").spec)
    optimizer = make_optimizer(config, model)
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)
    optimizer.step()
    state = optimizer.state[next(model.parameters())]
    assert torch.allclose(state["exp_avg_sq"], torch.full_like(state["exp_avg_sq"], 0.01 * 0.25))
    assert torch.allclose(state["exp_avg"], torch.full_like(state["exp_avg"], 0.2 * 0.5))


def test_gradient_clipping_bounds_the_gradient_norm(tmp_path, tiny):
    trainer = Trainer(tiny(optim={"clip": 1e-3}), tmp_path, show_progress=False)
    train, _ = trainer._data()
    trainer._train_step(train.select(slice(0, 16)))
    clipped = torch.cat([p.grad.flatten() for p in trainer.model.parameters()]).norm()
    assert 0.99e-3 < clipped <= 1.0001e-3  # the raw gradient is far larger; clipping scaled it down to the limit


def test_feedforward_baseline_trains_through_the_same_loop(tmp_path, tiny):
    result = Trainer(tiny(model={"name": "feedforward", "depth": 4}), tmp_path, show_progress=False).fit()
    assert result.last_metrics["epoch"] == 3 and 0.0 <= result.last_metrics["val_acc"] <= 1.0


def test_bf16_autocast_switch_trains_and_keeps_fp32_master_weights(tmp_path, tiny):
    trainer = Trainer(tiny(train={"epochs": 1, "amp": "bf16"}), tmp_path, show_progress=False)
    result = trainer.fit()
    assert result.last_metrics["loss"] == pytest.approx(result.last_metrics["loss"])  # finite, not NaN
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())


def test_tensorboard_when_asked(tmp_path, tiny):
    """Logs scalars where the [tb] extra is installed, and says how to install it where it is not."""
    trainer = Trainer(tiny(train={"epochs": 1, "tensorboard": True}), tmp_path, show_progress=False)
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(AlgosynthError, match=r"pip install 'algosynth\[tb\]'"):
            trainer.fit()
        return
    trainer.fit()
    assert any((tmp_path / "tensorboard").iterdir())


def test_compile_switch_computes_the_same_training_step(tmp_path, tiny):
    config = tiny(train={"epochs": 1})
    eager = Trainer(config, tmp_path / "eager", show_progress=False)
    eager.fit()
    compiled = Trainer(tiny(train={"epochs": 1, "compile": True}), tmp_path / "compiled", show_progress=False)
    compiled.fit()
    for (name, a), b in zip(eager.model.state_dict().items(), compiled.model.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-4), name

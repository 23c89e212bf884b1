"""Learning by acting: the dynamic discount and Q(lambda) targets against hand-computed values,
the REINFORCE gradient check, the curriculum, checkpoint round trips and a real learning test."""

import json
import shutil

import pytest
import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from algosynth.checkpoints import CheckpointError, load_checkpoint, unprefixed_state
from algosynth.config import from_dict, load_config
from algosynth.tape.controllers import Controller
from algosynth.tape.curriculum import LengthCurriculum
from algosynth.tape.evaluate import load_controller, success_rate
from algosynth.tape.gradcheck import check_reinforce_gradient
from algosynth.tape.qlearning import dynamic_discount_target, q_loss, watkins_targets
from algosynth.tape.reinforce import rewards_to_go
from algosynth.tape.rollout import exploration_runs, perturb, replay_scores, rollout
from algosynth.tape.tasks import get_tape_task
from algosynth.tape.trainer import TapeTrainer
from algosynth.train import LIVE

T, F = True, False


def tape_config(**sections) -> dict:
    base = {
        "task": {"name": "tape_copy", "train_size": 5},
        "model": {"name": "ff", "width": 16},
        "optim": {"lr": 0.01, "weight_decay": 0.0, "clip": 1.0, "schedule": "constant", "warmup_epochs": 0},
        "train": {"epochs": 40, "batch_size": 64, "checkpoint_every": 1, "keep_checkpoints": 50, "device": "cpu"},
        "eval": {"sizes": [20], "n": 50, "batch_size": 50},
        "rl": {"epsilon": 0.2, "window": 100, "updates_per_epoch": 20},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return base


def test_dynamic_discount_by_hand():
    # a correct write with 3 symbols left: (1 + 2 * 0.5) / 3; no write: (0 + 3 * 0.6) / 3; with gamma 0.9
    reward, left = torch.tensor([1.0, 0.0, 0.0, 1.0]), torch.tensor([3.0, 3.0, 2.0, 1.0])
    value, ended = torch.tensor([0.5, 0.6, 0.6, 0.7]), torch.tensor([F, F, T, F])
    assert torch.allclose(dynamic_discount_target(reward, left, value, ended), torch.tensor([2 / 3, 0.6, 0.0, 1.0]))
    assert torch.allclose(dynamic_discount_target(reward, left, value, ended, gamma=0.9),
                          torch.tensor([(1 + 0.9 * 2 * 0.5) / 3, 0.9 * 0.6, 0.0, 1.0]))


def test_watkins_q_lambda_targets_by_hand():
    # one episode of 3 steps: write (correct), move, write (correct, last symbol); 2 symbols to write
    rewards = torch.tensor([[1.0], [0.0], [1.0]])
    left = torch.tensor([[2], [1], [1]])
    next_max = torch.tensor([[0.8], [0.6], [0.0]])
    ended = torch.tensor([[F], [F], [T]])
    lam = 0.5
    # all greedy: y2 = 1; y1 = (0 + 1*(0.5*0.6 + 0.5*1)) / 1 = 0.8; y0 = (1 + 1*(0.5*0.8 + 0.5*0.8)) / 2 = 0.9
    greedy = torch.tensor([[T], [T], [T]])
    assert torch.allclose(watkins_targets(rewards, left, next_max, greedy, ended, lam), torch.tensor([[0.9], [0.8], [1.0]]))
    # step 2 explored: the trace is cut there, y1 = 0 + 0.6; y0 unchanged as step 1 stayed greedy: (1 + 0.5*0.8 + 0.5*0.6) / 2
    greedy = torch.tensor([[T], [T], [F]])
    assert torch.allclose(watkins_targets(rewards, left, next_max, greedy, ended, lam), torch.tensor([[0.85], [0.6], [1.0]]))
    # lambda = 0 is one-step Q-learning with the dynamic discount
    assert torch.allclose(watkins_targets(rewards, left, next_max, greedy, ended, 0.0), torch.tensor([[0.9], [0.6], [1.0]]))


def solved_episode_return(symbols: int, gamma: float) -> torch.Tensor:
    """The return of a perfect episode that moves once before each correct write, at every step."""
    steps = 2 * symbols
    rewards = torch.tensor([[float(t % 2)] for t in range(steps)])
    left = torch.tensor([[symbols - t // 2] for t in range(steps)])
    ended = torch.tensor([[t == steps - 1] for t in range(steps)])
    return watkins_targets(rewards, left, torch.zeros(steps, 1), torch.ones(steps, 1, dtype=torch.bool), ended, 1.0, gamma)


def test_the_dynamic_discount_makes_a_solved_episode_worth_1_at_any_length_only_at_gamma_1():
    for symbols in (1, 5, 50):
        assert torch.allclose(solved_episode_return(symbols, 1.0), torch.ones(2 * symbols, 1))
    # gamma < 1 makes the value depend on the symbols left, which a controller cannot see
    first = [float(solved_episode_return(symbols, 0.95)[0]) for symbols in (1, 5, 50)]
    assert first[0] == pytest.approx(0.95) and first[0] > first[1] > first[2]
    assert first[1] == pytest.approx(float(solved_episode_return(50, 0.95)[2 * 45]))


def test_rewards_to_go():
    assert torch.equal(rewards_to_go(torch.tensor([[1.0], [0.0], [1.0], [1.0]])), torch.tensor([[3.0], [2.0], [2.0], [1.0]]))


@pytest.mark.parametrize("kind, use_baseline", [("ff", False), ("gru", True)])
def test_reinforce_estimator_matches_the_exact_gradient(kind, use_baseline):
    """Every one of the 4**3 action sequences on a 2-symbol copy; the symbol head always writes 3,
    so the first write earns +1 and the second (4 expected) ends the episode."""
    torch.manual_seed(0)
    task = get_tape_task("copy")
    controller = Controller(kind, task.num_actions, 6)
    with torch.no_grad():
        controller.symbol.weight.zero_()
        controller.symbol.bias.copy_(torch.nn.functional.one_hot(torch.tensor(3), 10).float())
    episode = task.generate(2, 1, 0)
    episode.targets[0, :2] = torch.tensor([3, 4])
    check = check_reinforce_gradient(controller, episode, steps=3, samples=30_000, seed=1, use_baseline=use_baseline)
    assert 0.3 < check.expected_reward < 1.0 and check.exact.norm() > 0.01
    assert check.cosine > 0.99 and check.relative_error < 0.1, (check.cosine, check.relative_error)


def test_curriculum_lengthens_only_on_a_full_window_at_threshold():
    curriculum = LengthCurriculum(start=2, step=2, final=6, window=4, threshold=0.8)
    assert not curriculum.record([T, T, T])
    assert not curriculum.record([F]) and curriculum.length == 2
    assert curriculum.record([T, T, T, T]) and curriculum.length == 4 and curriculum.accuracy == 0.0
    assert curriculum.record([T, T, T, T]) and curriculum.length == 6
    curriculum.record([T, F, T, T])
    assert not curriculum.solved
    curriculum.record([T])
    assert not curriculum.solved
    curriculum.record([T])
    assert curriculum.solved and curriculum.length == 6
    restored = LengthCurriculum(2, 2, 6, 4, 0.8)
    restored.load_state_dict(curriculum.state_dict())
    assert restored.length == 6 and restored.solved


def test_copy_is_learned_at_short_lengths_and_runs_at_four_times_the_length(tmp_path):
    config = from_dict(tape_config())
    result = TapeTrainer(config, tmp_path / "run", show_progress=False).fit()
    assert result.last_metrics["solved"], result.last_metrics
    controller, _, task = load_controller(tmp_path / "run")
    assert success_rate(controller, task, 4 * config.task.train_size, 100, 100, seed=7, slack=2.0).success_rate >= 0.99


def test_a_run_started_from_a_solved_controller_needs_only_one_window(tmp_path):
    TapeTrainer(from_dict(tape_config()), tmp_path / "source", show_progress=False).fit()
    for init_from in (str(tmp_path / "source"), None):
        config = from_dict(tape_config(rl={"start_length": 5}, train={"init_from": init_from}))
        result = TapeTrainer(config, tmp_path / f"run_{init_from is None}", show_progress=False).fit()
        one_window = config.rl.window / round(config.train.batch_size * config.rl.greedy_share)  # 100 greedy episodes
        assert (result.last_metrics["step"] <= one_window + 1) == (init_from is not None), result.last_metrics


def _same_weights(a_run, b_run) -> None:
    a, _, _ = load_controller(a_run)
    b, _, _ = load_controller(b_run)
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(x, y), name


def resume_from_checkpoint(whole, resumed, keep_until: int) -> None:
    """Copy a finished run, drop its checkpoints after update ``keep_until``, resume it to the end,
    and check it ends with the very weights the uninterrupted run did."""
    shutil.copytree(whole, resumed)
    for checkpoint in (resumed / "checkpoints").iterdir():
        if int(checkpoint.name.split("_")[1]) > keep_until:
            shutil.rmtree(checkpoint)
    TapeTrainer.resume(resumed, show_progress=False).fit()
    _same_weights(whole, resumed)


@pytest.mark.parametrize("extra", [{}, {"target_tau": 0.1}])
def test_a_finished_run_extended_with_more_epochs_matches_the_longer_run(tmp_path, extra):
    rl = {"updates_per_epoch": 5, "stop_when_solved": False, **extra}
    TapeTrainer(from_dict(tape_config(train={"epochs": 2}, rl=rl)), tmp_path / "whole", show_progress=False).fit()
    TapeTrainer(from_dict(tape_config(train={"epochs": 1}, rl=rl)), tmp_path / "halves", show_progress=False).fit()
    halves = tmp_path / "halves"
    TapeTrainer.resume(halves, epochs=2, show_progress=False).fit()  # extends the finished one-epoch run
    _same_weights(tmp_path / "whole", halves)


@pytest.mark.parametrize("rl", [{"stop_when_solved": False, "updates_per_epoch": 5, "target_tau": 0.1}, {}])
def test_a_second_pass_is_a_new_run_from_the_first_ones_weights(tmp_path, rl):
    """rl.passes=2 in one run gives, bit for bit, what two runs give, the second with train.init_from
    the first; with stop_when_solved the first pass ends mid-epoch, once solved."""
    train = {"epochs": 2} if rl else {}
    TapeTrainer(from_dict(tape_config(train=train, rl={**rl, "passes": 2})), tmp_path / "two", show_progress=False).fit()
    TapeTrainer(from_dict(tape_config(train=train, rl=rl)), tmp_path / "first", show_progress=False).fit()
    second = tape_config(train={**train, "init_from": str(tmp_path / "first")}, rl=rl)
    TapeTrainer(from_dict(second), tmp_path / "second", show_progress=False).fit()
    _same_weights(tmp_path / "two", tmp_path / "second")
    logged = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [m["pass"] for m in logged] == sorted(m["pass"] for m in logged) and logged[-1]["pass"] == 2
    assert [m["epoch"] for m in logged] == list(range(1, len(logged) + 1))


@pytest.mark.parametrize("epochs, updates, chosen", [(4, 5, 2), (20, 10, 1)])  # pass 2 better; both at 100%, the earlier kept
def test_selection_keeps_the_pass_that_scores_best_on_validation_episodes(tmp_path, epochs, updates, chosen):
    rl = {"stop_when_solved": False, "updates_per_epoch": updates}
    select = {"passes": 2, "select_size": 3, "select_n": 40, "select_seed": 99}
    TapeTrainer(from_dict(tape_config(train={"epochs": epochs}, rl={**rl, **select})), tmp_path / "chosen", show_progress=False).fit()
    TapeTrainer(from_dict(tape_config(train={"epochs": epochs}, rl=rl)), tmp_path / "first", show_progress=False).fit()
    second = tape_config(train={"epochs": epochs, "init_from": str(tmp_path / "first")}, rl=rl)
    TapeTrainer(from_dict(second), tmp_path / "second", show_progress=False).fit()
    scores = []
    for run in ("first", "second"):
        controller, config, task = load_controller(tmp_path / run)
        scores.append(success_rate(controller, task, 3, 40, config.eval.batch_size, 99, config.rl.step_slack).success_rate)
    assert chosen == (2 if scores[1] > scores[0] else 1), scores
    _same_weights(tmp_path / "chosen", tmp_path / ("first", "second")[chosen - 1])
    assert load_checkpoint(tmp_path / "chosen").meta["best"][:2] == [chosen, max(scores)]


@pytest.mark.parametrize("ema", [0.0, 0.8])
def test_selection_every_few_epochs_keeps_the_best_checkpoint_of_the_pass(tmp_path, ema):
    """With rl.select_every the run ends with the epoch-end weights that scored best on validation:
    those of the same run's checkpoint at that epoch, as validation draws nothing from training;
    with train.ema, the weight average's, which is what checkpoints hold."""
    rl = {"stop_when_solved": False, "updates_per_epoch": 4}
    train = {"epochs": 16, "checkpoint_every": 1, "ema": ema}
    select = {"select_size": 3, "select_n": 40, "select_seed": 99, "select_every": 1}
    TapeTrainer(from_dict(tape_config(train=train, rl={**rl, **select})), tmp_path / "chosen", show_progress=False).fit()
    TapeTrainer(from_dict(tape_config(train=train, rl=rl)), tmp_path / "plain", show_progress=False).fit()
    scores = []
    for checkpoint in sorted((tmp_path / "plain" / "checkpoints").iterdir()):
        controller, config, task = load_controller(checkpoint)
        scores.append(success_rate(controller, task, 3, 40, config.eval.batch_size, 99, config.rl.step_slack).success_rate)
    best = scores.index(max(scores))  # the earliest of equal scores, and above 0 (checked below)
    assert best < len(scores) - 1 and max(scores) > 0, scores  # a checkpoint inside the pass beat its end: a real choice
    plain = sorted((tmp_path / "plain" / "checkpoints").iterdir())
    _same_weights(tmp_path / "chosen", plain[best])
    assert load_checkpoint(tmp_path / "chosen").meta["best"] == [1, max(scores), best + 1]
    assert_kept_weights_follow_the_best_score_so_far(sorted((tmp_path / "chosen" / "checkpoints").iterdir()), plain, scores)


def assert_kept_weights_follow_the_best_score_so_far(chosen: list, plain: list, scores: list[float]) -> None:
    """What ``load_controller(..., kept=True)`` (``eval --kept``) reads from a run stopped after
    epoch e: the plain run's weights at the epoch with the best score up to e, none before a score
    above 0; and without ``kept``, the weights of epoch e itself."""
    assert len(chosen) == len(plain) == len(scores)
    for epoch, checkpoint in enumerate(chosen[:-1], start=1):  # the last one ends the pass, holding the kept weights
        _same_weights(checkpoint, plain[epoch - 1])
        so_far = scores[:epoch]
        if max(so_far) == 0:
            with pytest.raises(CheckpointError, match="has kept no weights yet"):
                load_controller(checkpoint, kept=True)
            continue
        kept, expected = load_controller(checkpoint, kept=True)[0], load_controller(plain[so_far.index(max(so_far))])[0]
        for (name, x), y in zip(kept.state_dict().items(), expected.state_dict().values()):
            assert torch.equal(x, y), (epoch, name)


def test_checkpoints_inside_a_pass_that_never_succeed_are_not_kept(tmp_path):
    """Validated at a length it cannot do yet, every score is 0: the run must end with its pass's
    final weights (what a run without selection ends with), not with its first checkpoint's."""
    rl = {"stop_when_solved": False, "updates_per_epoch": 2}
    select = {"select_size": 200, "select_n": 10, "select_seed": 99, "select_every": 1}
    TapeTrainer(from_dict(tape_config(train={"epochs": 3}, rl={**rl, **select})), tmp_path / "chosen", show_progress=False).fit()
    TapeTrainer(from_dict(tape_config(train={"epochs": 3}, rl=rl)), tmp_path / "plain", show_progress=False).fit()
    _same_weights(tmp_path / "chosen", tmp_path / "plain")
    assert load_checkpoint(tmp_path / "chosen").meta["best"] == [1, 0.0, 3]


@pytest.mark.parametrize("every", [0, 1])  # the best weights kept at passes' ends, or after every epoch too
@pytest.mark.parametrize("keep_until", [5, 10, 15])  # inside pass 1, at the boundary, inside pass 2
def test_a_two_pass_run_resumes_exactly_from_any_checkpoint(tmp_path, keep_until, every):
    rl = {"stop_when_solved": False, "updates_per_epoch": 5, "passes": 2, "select_size": 3, "select_n": 40, "select_every": every}
    config = from_dict(tape_config(train={"epochs": 2}, rl=rl))
    TapeTrainer(config, tmp_path / "whole", show_progress=False).fit()
    resume_from_checkpoint(tmp_path / "whole", tmp_path / "resumed", keep_until)
    assert (tmp_path / "whole" / "metrics.jsonl").read_text().count("\n") == (tmp_path / "resumed" / "metrics.jsonl").read_text().count("\n")


def fit_recording_rates(config, run_dir) -> list[float]:
    """Train a run and return the learning rate of every optimiser step it took."""
    rates: list[float] = []
    hook = register_optimizer_step_pre_hook(lambda opt, *_: rates.append(opt.param_groups[0]["lr"]))
    try:
        TapeTrainer(config, run_dir, show_progress=False).fit()
    finally:
        hook.remove()
    return rates


def test_the_learning_rate_schedule_runs_over_each_pass_and_resumes_exactly(tmp_path):
    """optim.schedule reaches the tape optimiser: warm-up over one epoch of 5 updates, then cosine
    to the pass's end, started again by the second pass; a resumed run takes the same steps."""
    rl = {"stop_when_solved": False, "updates_per_epoch": 5, "passes": 2}
    optim = {"schedule": "cosine", "warmup_epochs": 1}
    rates = fit_recording_rates(from_dict(tape_config(train={"epochs": 2}, rl=rl, optim=optim)), tmp_path / "whole")
    # 0.01 x (u + 1) / 5 while warming up, then 0.01 x (1 + cos(pi (u/5 - 1))) / 2 for updates u = 5..9 of a pass
    one_pass = [0.002, 0.004, 0.006, 0.008, 0.01, 0.01, 0.00904508, 0.00654508, 0.00345492, 0.00095492]
    assert rates == pytest.approx(one_pass * 2, abs=1e-8)
    resume_from_checkpoint(tmp_path / "whole", tmp_path / "resumed", 13)
    constant = from_dict(tape_config(train={"epochs": 2}, rl=rl))
    TapeTrainer(constant, tmp_path / "constant", show_progress=False).fit()
    with pytest.raises(AssertionError):
        _same_weights(tmp_path / "whole", tmp_path / "constant")


def test_the_rate_drops_by_solved_lr_scale_once_the_pass_is_solved_and_resumes_exactly(tmp_path):
    """rl.solved_lr_scale: every update after the one that first masters the final length steps at
    the scaled rate, to the pass's end; a run resumed from before or after that update does the same."""
    rl = {"stop_when_solved": False, "solved_lr_scale": 0.5}
    rates = fit_recording_rates(from_dict(tape_config(train={"epochs": 12}, rl=rl)), tmp_path / "whole")
    solved_at = load_checkpoint(tmp_path / "whole").meta["solved_at"]
    assert 0 < solved_at < len(rates) == 240, solved_at
    assert rates == [0.01] * solved_at + [0.005] * (240 - solved_at)
    logged = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert not logged[solved_at // 20 - 1]["solved"] and logged[-1]["length"] == 5
    for keep_until in (solved_at - solved_at % 20, solved_at - solved_at % 20 + 20):  # checkpoints before and after it
        resume_from_checkpoint(tmp_path / "whole", tmp_path / f"resumed_{keep_until}", keep_until)
    second_pass = fit_recording_rates(from_dict(tape_config(train={"epochs": 12}, rl={**rl, "passes": 2})), tmp_path / "two")[240:]
    assert second_pass[0] == 0.01 and second_pass[-1] == 0.005  # the next pass starts at the full rate again
    TapeTrainer(from_dict(tape_config(train={"epochs": 12}, rl={"stop_when_solved": False})), tmp_path / "unscaled", show_progress=False).fit()
    with pytest.raises(AssertionError):
        _same_weights(tmp_path / "whole", tmp_path / "unscaled")


@pytest.mark.parametrize("model", [{}, {"name": "lstm", "symbol_head": "input"}])
def test_checkpoint_round_trip_and_refusal_of_another_task(tmp_path, model):
    config = from_dict(tape_config(model=model, train={"epochs": 1}, rl={"updates_per_epoch": 3}))
    trainer = TapeTrainer(config, tmp_path / "run", show_progress=False)
    trainer.fit()
    loaded, _, task = load_controller(tmp_path / "run", "copy")
    assert loaded.symbol_head == config.model.symbol_head
    episodes = task.generate(6, 8, 0)
    with torch.no_grad():
        a = rollout(trainer.controller.eval(), episodes)
        b = rollout(loaded, episodes)
    assert torch.equal(a.scores, b.scores) and torch.equal(a.symbol_logits, b.symbol_logits) and torch.equal(a.actions, b.actions)
    with pytest.raises(CheckpointError, match=f"trained on tape_copy with a {config.model.name} controller, not on tape_reverse"):
        load_controller(tmp_path / "run", "reverse")


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_an_input_symbol_head_cannot_write_from_memory(kind):
    torch.manual_seed(0)
    symbol, previous = torch.tensor([3, 3]), torch.tensor([1, 1])
    for head, memoryless in (("state", False), ("input", True)):
        controller = Controller(kind, 4, 8, symbol_head=head)
        _, _, _, state = controller.step(torch.tensor([5, 9]), torch.tensor([4, 0]), None)  # two different pasts
        scores, logits, _, _ = controller.step(symbol, previous, state)
        assert torch.equal(logits[0], logits[1]) == memoryless
        assert not torch.equal(scores[0], scores[1])  # the moves still see the past


def test_reinforce_trainer_updates_the_policy_and_baseline(tmp_path):
    config = from_dict(tape_config(train={"epochs": 1}, rl={"algorithm": "reinforce", "updates_per_epoch": 3}))
    trainer = TapeTrainer(config, tmp_path / "run", show_progress=False)
    before = {k: v.clone() for k, v in trainer.controller.state_dict().items()}
    metrics = trainer.fit().last_metrics
    assert {"policy_loss", "baseline_loss", "symbol_loss"} <= set(metrics)
    for key in ("actions.weight", "baseline.weight", "symbol.weight"):
        assert not torch.equal(before[key], trainer.controller.state_dict()[key]), key


@pytest.mark.parametrize("sets, message", [
    ({"model": {"name": "dt_net"}}, "not a tape controller"),
    ({"rl": {"algorithm": "sarsa"}}, "rl.algorithm"),
    ({"rl": {"start_length": 9}}, "rl.start_length"),
    ({"rl": {"epsilon": 1.5}}, "rl.epsilon"),
    ({"rl": {"state_noise": 0.01}}, "the ff controller has none"),
    ({"model": {"name": "gru"}, "rl": {"state_noise": -0.1}}, "rl.state_noise must be non-negative"),
    ({"rl": {"explore_duration": 0}}, "rl.explore_duration must be at least 1"),
    ({"model": {"symbol_head": "memory"}}, "model.symbol_head must be one of state, input"),
    ({"rl": {"explore_duration": 4, "algorithm": "reinforce"}}, "reinforce samples its policy instead"),
    ({"rl": {"beyond_share": 1.5}}, "rl.beyond_share is a share"),
    ({"rl": {"beyond_factor": 1.0}}, "rl.beyond_factor must exceed 1"),
    ({"rl": {"short_share": -0.1}}, "rl.short_share is a share"),
    ({"rl": {"short_max": 0}}, "rl.short_max is the longest short exploring episode"),
    ({"rl": {"target_tau": 1.5}}, "rl.target_tau is the target network's Polyak rate"),
    ({"rl": {"passes": 0}}, "rl.passes is how many times the curriculum runs"),
    ({"rl": {"select_every": 5}}, "rl.select_every validates during a pass at rl.select_size"),
    ({"rl": {"select_every": -1, "select_size": 10}}, "rl.select_every is a number of epochs"),
    ({"rl": {"select_size": 100}}, "rl.select_size chooses among curriculum passes"),
    ({"rl": {"passes": 2, "select_size": 100, "select_seed": 12345}, "eval": {"seed": 12345}}, "validation would choose on the test episodes"),
    ({"rl": {"target_tau": 0.1, "algorithm": "reinforce"}}, "reinforce has no Q targets"),
    ({"optim": {"betas": [0.9, 1.0]}}, "optim.betas must be two numbers"),
    ({"optim": {"betas": [0.9]}}, "optim.betas must be two numbers"),
    ({"rl": {"easy_until": 4}}, "tape_copy has no easy variant"),
    ({"rl": {"easy_share": 0.0}}, "rl.easy_share is a share"),
    ({"rl": {"easy_until": -1}}, "rl.easy_until is a curriculum length"),
    ({"rl": {"easy_max": 9}}, "rl.easy_max is the largest small digit"),
    ({"rl": {"solved_lr_scale": 0.0, "stop_when_solved": False}}, "rl.solved_lr_scale multiplies the rate once a pass is solved"),
    ({"rl": {"solved_lr_scale": 0.1}}, "rl.stop_when_solved ends the pass there"),
])
def test_bad_tape_configs_are_refused(sets, message):
    from algosynth.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        from_dict(tape_config(**sets))


@pytest.mark.parametrize("name", ["tape_copy", "tape_reverse"])
def test_shipped_tape_models_write_sequences_20x_their_training_length(name):
    controller, config, task = load_controller(name)
    assert config.task.train_size == 10
    assert success_rate(controller, task, 200, 20, 20, seed=5, slack=2.0).success_rate == 1.0


def test_penalty_pushes_q_values_outside_zero_one_back_by_hand():
    # every Q-hat is 1.5: each of the 4 actions is 0.5 above 1, so the penalty is 4 * 0.25 per step
    task = get_tape_task("copy")
    controller = Controller("ff", task.num_actions, 4)
    with torch.no_grad():
        controller.actions.weight.zero_()
        controller.actions.bias.fill_(1.5)
    trajectory = rollout(controller, task.generate(3, 5, 0), "epsilon", 0.5, torch.Generator().manual_seed(0))
    plain, parts = q_loss(trajectory, lam=0.5)
    penalised, _ = q_loss(trajectory, lam=0.5, penalty=2.0)
    assert parts["q_outside"] == pytest.approx(1.0)
    assert float((penalised - plain).detach()) == pytest.approx(2.0)


def test_perturb_adds_seeded_noise_to_every_part_of_the_state():
    state = (torch.zeros(4, 3), torch.ones(4, 3))
    a = perturb(state, 0.5, torch.Generator().manual_seed(3))
    b = perturb(state, 0.5, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    for noisy, clean in zip(a, state):
        assert 0.2 < float((noisy - clean).std()) < 0.9
    assert perturb(None, 0.5, None) is None


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_state_noise_reaches_the_update(tmp_path, kind):
    weights = {}
    for noise in (0.0, 0.3):
        config = from_dict(tape_config(model={"name": kind}, train={"epochs": 1}, rl={"updates_per_epoch": 2, "state_noise": noise}))
        trainer = TapeTrainer(config, tmp_path / f"run{noise}", show_progress=False)
        trainer.fit()
        weights[noise] = trainer.controller.state_dict()
    assert not torch.equal(weights[0.0]["actions.weight"], weights[0.3]["actions.weight"])


def test_exploration_runs_follow_the_inverse_square_law():
    runs = exploration_runs(40_000, 4, torch.Generator().manual_seed(0))
    assert int(runs.min()) == 1 and int(runs.max()) == 4
    norm = sum(1 / n**2 for n in range(1, 5))
    for n in range(1, 5):
        assert float((runs == n).float().mean()) == pytest.approx(1 / n**2 / norm, abs=0.01)


def _repeat_share(actions: torch.Tensor, alive: torch.Tensor) -> float:
    """The share of consecutive living steps whose action repeats the previous one."""
    both = alive[1:] & alive[:-1]
    return float(((actions[1:] == actions[:-1]) & both).sum() / both.sum())


def test_held_exploration_repeats_exploratory_actions_and_leaves_greedy_episodes_alone():
    task = get_tape_task("copy")
    torch.manual_seed(0)
    controller = Controller("ff", task.num_actions, 8)
    episodes = task.generate(60, 512, 0, slack=3.0)
    def run(epsilon: float, duration: int):
        return rollout(controller, episodes, "epsilon", epsilon, torch.Generator().manual_seed(1), keep_outputs=False,
                       explore_duration=duration)
    # every action exploratory: i.i.d. over 4 actions repeats a quarter of the time; runs of
    # 1..16 steps (mean about 2.1) repeat far more often
    plain, held = run(1.0, 1), run(1.0, 16)
    assert _repeat_share(plain.actions, plain.alive) < 0.35
    assert _repeat_share(held.actions, held.alive) > 0.5
    assert not held.greedy[held.alive].all()
    greedy = rollout(controller, episodes, keep_outputs=False)
    assert torch.equal(run(0.0, 16).actions, greedy.actions)


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_beyond_share_draws_exploring_episodes_past_the_current_length(tmp_path, share):
    config = from_dict(tape_config(train={"batch_size": 400}, rl={"start_length": 3, "beyond_share": share, "beyond_factor": 4.0}))
    trainer = TapeTrainer(config, tmp_path, show_progress=False)
    episodes, greedy = trainer._episodes(torch.Generator().manual_seed(0))
    greedy_lengths, exploring = episodes.n_out[:greedy], episodes.n_out[greedy:]  # copy writes one symbol per input
    assert bool((greedy_lengths == 3).all())
    longer = exploring > 3
    assert float(longer.float().mean()) == pytest.approx(share, abs=0.08)
    assert int(exploring.min()) >= 1 and int(exploring.max()) <= 12
    if share:
        assert set(exploring[longer].tolist()) == set(range(4, 13))


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_short_share_draws_exploring_episodes_from_the_first_lengths(tmp_path, share):
    """At curriculum length 40, uniform draws put 5 of 40 exploring episodes at length 5 or less;
    rl.short_share 0.5 with rl.short_max 5 adds half of all of them, and none is longer than 40."""
    config = from_dict(tape_config(task={"train_size": 40}, train={"batch_size": 800}, rl={"start_length": 40, "short_share": share, "short_max": 5}))
    trainer = TapeTrainer(config, tmp_path, show_progress=False)
    episodes, greedy = trainer._episodes(torch.Generator().manual_seed(0))
    exploring = episodes.n_out[greedy:]  # copy writes one symbol per input
    assert bool((episodes.n_out[:greedy] == 40).all())
    assert float((exploring <= 5).float().mean()) == pytest.approx(share + (1 - share) * 5 / 40, abs=0.06)
    assert int(exploring.min()) >= 1 and int(exploring.max()) <= 40


def test_short_share_zero_draws_what_runs_before_the_option_drew(tmp_path):
    """The default draws no extra random numbers, so runs from before the option resume and replay
    exactly: the exploring lengths are the plain uniform draw, and the generator is left where the
    trainer before the option (c2a9900) left it (the three numbers it drew next, recorded there)."""
    config = from_dict(tape_config(task={"train_size": 9}, rl={"start_length": 9}))
    trainer = TapeTrainer(config, tmp_path, show_progress=False)
    generator = torch.Generator().manual_seed(1)
    episodes, greedy = trainer._episodes(generator)
    uniform = torch.randint(1, 10, (64 - greedy,), generator=torch.Generator().manual_seed(1))
    assert torch.equal(episodes.n_out[greedy:], uniform)
    assert torch.rand(3, generator=generator).tolist() == pytest.approx([0.8222842216, 0.9828232527, 0.3881735206])


@pytest.mark.parametrize("until, share", [(0, 0.0), (3, 0.5), (2, 0.0)])
def test_easy_episodes_replace_a_share_of_the_exploring_ones_up_to_a_length(tmp_path, until, share):
    """At curriculum length 3, rl.easy_until 3 makes half the exploring episodes easy; 0 or 2, none."""
    config = from_dict(tape_config(task={"name": "tape_add3"}, train={"batch_size": 400},
                                   rl={"start_length": 3, "easy_until": until, "easy_share": 0.5}))
    trainer = TapeTrainer(config, tmp_path, show_progress=False)
    episodes, greedy = trainer._episodes(torch.Generator().manual_seed(0))
    first_column = episodes.grid[:, 1:3, 1]  # rows 0 and 1, read before row 2 on the way down
    small = ((first_column == 1) | (first_column == 2)).all(1)  # symbols of the digits 0 and 1
    chance = 0.04  # a plain instance has 0 or 1 in both by chance, 1 in 25
    assert float(small[:greedy].float().mean()) < 0.15
    assert float(small[greedy:].float().mean()) == pytest.approx(share + (1 - share) * chance, abs=0.08)


def test_easy_episodes_change_training_and_resume_exactly(tmp_path):
    def config(easy_until: int):
        rl = {"stop_when_solved": False, "updates_per_epoch": 5, "start_length": 2, "easy_until": easy_until}
        return from_dict(tape_config(task={"name": "tape_add3", "train_size": 3}, model={"name": "gru", "width": 16},
                                     train={"epochs": 2}, rl=rl))

    TapeTrainer(config(3), tmp_path / "whole", show_progress=False).fit()
    resume_from_checkpoint(tmp_path / "whole", tmp_path / "resumed", 5)  # drops step 10, the last
    TapeTrainer(config(0), tmp_path / "plain", show_progress=False).fit()
    with pytest.raises(AssertionError):
        _same_weights(tmp_path / "whole", tmp_path / "plain")


@pytest.mark.parametrize("kind", ["ff", "gru", "lstm"])
def test_replaying_a_trajectory_gives_the_scores_the_rollout_saw(kind):
    task = get_tape_task("copy")
    torch.manual_seed(0)
    controller = Controller(kind, task.num_actions, 8)
    trajectory = rollout(controller, task.generate(6, 16, 0), "epsilon", 0.5, torch.Generator().manual_seed(1))
    alive = trajectory.alive
    assert torch.allclose(replay_scores(controller, trajectory)[alive], trajectory.scores.detach()[alive], atol=1e-6)


def assert_followed_by_polyak(trainer: TapeTrainer, follower: torch.nn.Module, start: dict, tau: float) -> None:
    """After one update from ``start``, the follower (target network or weight average) is
    start + tau * (controller - start)."""
    now, followed = trainer.controller.state_dict(), follower.state_dict()
    for key in start:
        assert torch.allclose(followed[key], start[key] + tau * (now[key] - start[key]), atol=1e-7), key


def test_target_network_follows_the_controller_by_polyak_averaging_and_sets_the_targets(tmp_path):
    config = from_dict(tape_config(model={"name": "gru"}, rl={"target_tau": 0.25}))
    trainer = TapeTrainer(config, tmp_path, show_progress=False)
    before = {k: v.clone() for k, v in trainer.controller.state_dict().items()}
    trainer.train_update()
    assert_followed_by_polyak(trainer, trainer.target, before, 0.25)
    # the targets bootstrap from the target network's scores, not the controller's
    trajectory = rollout(trainer.controller, get_tape_task("copy").generate(4, 8, 0), "epsilon", 0.3, torch.Generator().manual_seed(2))
    own, _ = q_loss(trajectory, lam=0.5, gamma=0.95)
    with torch.no_grad():
        trainer.target.actions.bias.add_(1.0)
    lifted, _ = q_loss(trajectory, lam=0.5, gamma=0.95, target_scores=replay_scores(trainer.target, trajectory))
    assert not torch.isclose(own, lifted)


@pytest.mark.parametrize("follower, train, rl", [("target", {}, {"target_tau": 0.5}), ("average", {"ema": 0.5}, {})])
def test_a_target_network_and_a_weight_average_start_from_the_weights_a_run_is_initialised_from(tmp_path, follower, train, rl):
    TapeTrainer(from_dict(tape_config(train={"epochs": 1}, rl={"updates_per_epoch": 2})), tmp_path / "source", show_progress=False).fit()
    source, _, _ = load_controller(tmp_path / "source")
    config = from_dict(tape_config(train={"epochs": 1, "init_from": str(tmp_path / "source"), **train},
                                   rl={"updates_per_epoch": 1, "stop_when_solved": False, **rl}))
    trainer = TapeTrainer(config, tmp_path / "run", show_progress=False)
    trainer.fit()  # one update: follower = source + 0.5 * (controller - source) if it started at the source
    assert_followed_by_polyak(trainer, getattr(trainer, follower), source.state_dict(), 0.5)


def test_the_weight_average_leaves_training_alone_and_is_what_a_tape_checkpoint_holds(tmp_path):
    """train.ema must not change a single live update (the live weights travel with the training
    state), and checkpoints, eval and selection get the average, here followed update by update."""
    rl = {"updates_per_epoch": 3, "stop_when_solved": False}
    TapeTrainer(from_dict(tape_config(train={"epochs": 2}, rl=rl)), tmp_path / "plain", show_progress=False).fit()
    trainer = TapeTrainer(from_dict(tape_config(train={"epochs": 2, "ema": 0.75}, rl=rl)), tmp_path / "averaged", show_progress=False)
    before = {k: v.clone() for k, v in trainer.controller.state_dict().items()}
    trainer.train_update()
    assert_followed_by_polyak(trainer, trainer.average, before, 0.25)
    TapeTrainer(from_dict(tape_config(train={"epochs": 2, "ema": 0.75}, rl=rl)), tmp_path / "averaged", show_progress=False).fit()
    averaged, plain = load_checkpoint(tmp_path / "averaged"), load_checkpoint(tmp_path / "plain")
    live = unprefixed_state(averaged.training, LIVE)
    assert all(torch.equal(plain.weights[k], v) for k, v in live.items())
    assert not all(torch.equal(averaged.weights[k], v) for k, v in live.items())
    assert not any(k.startswith(LIVE) for k in plain.training)


@pytest.mark.parametrize("keep_until", [3, 6, 9])  # inside pass 1, at the boundary, inside pass 2
def test_a_run_with_a_weight_average_resumes_exactly(tmp_path, keep_until):
    """Resuming restores the average and the live weights both; a new pass restarts the average."""
    config = from_dict(tape_config(train={"epochs": 2, "ema": 0.8}, rl={"stop_when_solved": False, "updates_per_epoch": 3, "passes": 2}))
    TapeTrainer(config, tmp_path / "whole", show_progress=False).fit()
    resume_from_checkpoint(tmp_path / "whole", tmp_path / "resumed", keep_until)
    whole, resumed = load_checkpoint(tmp_path / "whole"), load_checkpoint(tmp_path / "resumed")
    assert whole.training.keys() == resumed.training.keys() and any(k.startswith(LIVE) for k in whole.training)
    assert all(torch.equal(v, resumed.training[k]) for k, v in whole.training.items())


def test_repeat_copy_preset_sweeps_back_to_the_bar_at_four_times_its_training_length(tmp_path):
    """The shipped recipe (LSTM, symbol read from the input, gamma 1, two curriculum passes, the
    better one kept): seed 0 solves length 8 in nine epochs (about 10 s) and must then sweep back to
    the | over tapes 4x longer; with the paper's state symbol head the LSTM memorised the digits and
    stalled at length 5-6 of 8. Validation uses 20 episodes instead of 200, for time."""
    config = load_config("tape_repeat_copy_lstm", ["rl.select_n=20"])
    result = TapeTrainer(config, tmp_path / "run", show_progress=False).fit()
    assert result.last_metrics["solved"] and result.last_metrics["pass"] == 2, result.last_metrics
    controller, _, task = load_controller(tmp_path / "run")
    assert success_rate(controller, task, 4 * config.task.train_size, 100, 100, seed=7, slack=2.0).success_rate >= 0.99

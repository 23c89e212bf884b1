"""The curriculum: when it advances, what it draws, and that a resumed run is bitwise the same."""

import shutil

import pytest
import torch

from algosynth.checkpoints import list_checkpoints, load_checkpoint
from algosynth.config import ConfigError, from_dict
from algosynth.curriculum import Curriculum
from algosynth.train import Trainer

from test_neural_gpu import ngpu_config


def curriculum_config(tasks=None, **curriculum):
    settings = {"enabled": True, "start_size": 1, "window": 3, "threshold": 0.1, "any_size_share": 0.0}
    settings.update(curriculum)
    if tasks:
        settings["tasks"] = tasks
    task = {"name": tasks[-1] if tasks else "badd", "train_size": 3}
    return from_dict(ngpu_config(task=task, curriculum=settings))


def test_advances_when_the_window_error_falls_under_the_threshold():
    curriculum = Curriculum(curriculum_config())
    assert [curriculum.record(e) for e in (0.5, 0.0, 0.0)] == [False, False, False]  # window mean 0.17
    assert curriculum.record(0.0)  # last three: 0, 0, 0
    assert curriculum.state.size == 2 and curriculum.state.errors == [] and curriculum.state.advances == 1
    assert [curriculum.record(0.09) for _ in range(3)] == [False, False, True]
    assert curriculum.state.size == 3 and curriculum.finished
    assert not any(curriculum.record(0.0) for _ in range(5))  # nowhere left to go


def test_any_size_batches_do_not_count_toward_advancing():
    curriculum = Curriculum(curriculum_config(any_size_share=1.0))
    curriculum.draw(0)
    assert curriculum.last_any_size
    assert not any(curriculum.record(0.0) for _ in range(5)) and curriculum.state.errors == []


def test_draws_stay_under_the_current_size_and_repeat_exactly():
    curriculum = Curriculum(curriculum_config(start_size=2, any_size_share=0.5))
    sizes, anys = [], []
    for step in range(200):
        batch = curriculum.draw(step)
        sizes.append((batch.inputs.shape[-1] - 1) // 2)
        anys.append(curriculum.last_any_size)
    assert all(size <= 2 for size, any_size in zip(sizes, anys) if not any_size)
    assert set(sizes) == {1, 2, 3} and 60 < sum(anys) < 140
    again = Curriculum(curriculum_config(start_size=2, any_size_share=0.5))
    assert torch.equal(again.draw(17).inputs, curriculum.draw(17).inputs)


def test_suite_batches_are_the_named_suites_at_the_drawn_size_and_do_not_count():
    curriculum = Curriculum(curriculum_config(start_size=2, suite_share=0.5, suites=["carry_chains"]))
    task, drawn = curriculum.task, []
    for step in range(60):
        batch = curriculum.draw(step)
        size = (batch.inputs.shape[-1] - 1) // 2
        if curriculum.last_suite is None:
            curriculum.record(0.5)  # random batches fill the window, too badly to advance
            continue
        assert curriculum.last_suite == "carry_chains" and size <= curriculum.state.size
        a, b = task.decode(batch)
        ones = task.base - 1
        assert all((x[:-1] == ones).all() or (y[:-1] == ones).all() for x, y in zip(a, b))
        errors_before = list(curriculum.state.errors)
        assert not curriculum.record(0.0) and curriculum.state.errors == errors_before
        drawn.append(step)
    assert 15 < len(drawn) < 45


def test_suite_share_draws_every_suite_when_none_are_named_and_leaves_other_draws_alone():
    plain = Curriculum(curriculum_config(start_size=3))
    mixed = Curriculum(curriculum_config(start_size=3, suite_share=0.5))
    names = set()
    for step in range(80):
        batch, reference = mixed.draw(step), plain.draw(step)
        if mixed.last_suite is None:
            assert torch.equal(batch.inputs, reference.inputs)  # the same size and instances as without suites
        names.add(mixed.last_suite)
    assert names - {None} == set(mixed.task.suites)


def test_a_warmup_draws_its_suite_at_every_training_size_then_the_length_curriculum_starts():
    warm = Curriculum(curriculum_config(warmup_steps=40, warmup_suite="carry_free", any_size_share=0.25))
    plain = Curriculum(curriculum_config(any_size_share=0.25))
    task, sizes = warm.task, set()
    for step in range(40):
        batch = warm.draw(step)
        assert warm.last_suite == "carry_free" and warm.last_any_size
        a, b = task.decode(batch)
        assert ((a.astype(int) + b) <= task.base - 1).all()
        sizes.add((batch.inputs.shape[-1] - 1) // 2)
        assert not warm.record(0.0) and warm.state.errors == []  # warm-up batches never move the curriculum
    assert sizes == {1, 2, 3} and warm.state.size == 1  # the whole training range, while the curriculum waits at its start
    for step in range(40, 80):  # afterwards, exactly the batches of a run without a warm-up
        batch, reference = warm.draw(step), plain.draw(step)
        assert torch.equal(batch.inputs, reference.inputs) and warm.last_suite is None
        assert warm.last_any_size == plain.last_any_size


def test_a_batch_of_several_sizes_is_its_groups_padded_to_the_longest():
    curriculum = Curriculum(curriculum_config(start_size=3, sizes_per_batch=4))  # batch 8: four groups of 2
    task, seen = curriculum.task, set()
    for step in range(30):
        batch = curriculum.draw(step)
        assert len(batch) == 8 and batch.inputs.shape[-1] <= 7
        counted = batch.mask.sum(dim=1)
        for group in range(4):
            rows = slice(2 * group, 2 * group + 2)
            length = int(counted[rows][0])  # an instance of size k counts its 2k + 1 positions
            assert (counted[rows] == length).all() and length % 2 == 1
            seen.add(length)
            size = (length - 1) // 2
            alone = batch.select(rows)
            a, b = task.decode(type(batch)(alone.inputs[..., :length], alone.targets[..., :length], alone.mask[..., :length]))
            assert [int("".join(map(str, x.tolist()[::-1])), 2) + int("".join(map(str, y.tolist()[::-1])), 2)
                    for x, y in zip(a, b)] == [int("".join(map(str, t[: size + 1].tolist()[::-1])), 2) for t in alone.targets]
            assert not alone.inputs[..., length:].any() and not alone.mask[..., length:].any()
            assert not alone.targets[..., length:].any()
    assert seen == {3, 5, 7}
    again = Curriculum(curriculum_config(start_size=3, sizes_per_batch=4))
    assert torch.equal(again.draw(11).inputs, curriculum.draw(11).inputs)


@pytest.mark.parametrize("settings, message", [
    ({"sizes_per_batch": 3}, "must be at least 1 and divide train.batch_size"),
    ({"suite_share": 1.5}, "suite_share must be in"),
    ({"suite_share": 0.2, "suites": ["nonsense"]}, "does not have; choose from carry_chains"),
    ({"suites": ["carry_chains"]}, "suite_share is 0"),
    ({"warmup_steps": 100}, "go together; set both"),
    ({"warmup_suite": "carry_free"}, "go together; set both"),
    ({"warmup_steps": -1, "warmup_suite": "carry_free"}, "warmup_steps must be 0 or more"),
    ({"warmup_steps": 100, "warmup_suite": "nonsense"}, "warmup_suite names 'nonsense', which task 'badd' does not have; choose from carry_chains"),
])
def test_bad_training_suites_are_refused(settings, message):
    with pytest.raises(ConfigError, match=message):
        curriculum_config(**settings)


def test_suite_share_needs_a_task_with_suites():
    config = ngpu_config(task={"name": "chess", "train_size": 3},
                         curriculum={"enabled": True, "suite_share": 0.2})
    with pytest.raises(ConfigError, match="'chess' has none"):
        from_dict(config)


def test_base_curriculum_moves_through_its_tasks_in_order():
    curriculum = Curriculum(curriculum_config(tasks=["addition_base2", "addition_base4", "addition_base10"]))
    seen = []
    for _ in range(12):
        seen.append((curriculum.task.name, curriculum.state.size))
        for _ in range(3):
            curriculum.record(0.0)
    assert seen[:7] == [("addition_base2", 1), ("addition_base2", 2), ("addition_base2", 3),
                        ("addition_base4", 1), ("addition_base4", 2), ("addition_base4", 3), ("addition_base10", 1)]
    assert curriculum.finished and curriculum.task.name == "addition_base10"
    fresh = Curriculum(curriculum_config(tasks=["addition_base2", "addition_base4", "addition_base10"]))
    fresh.load_state_dict({"stage": 1, "size": 2, "errors": [], "advances": 4})
    digits = fresh.draw(0).targets
    assert int(digits.max()) == 3  # base-4 results


@pytest.mark.parametrize("tasks, message", [
    (["addition_base2", "nonsense"], "unknown task 'nonsense'"),
    (["addition_base10", "addition_base2"], "must end with task.name"),
])
def test_bad_curriculum_tasks_are_refused(tasks, message):
    config = ngpu_config(task={"name": "badd", "train_size": 3}, curriculum={"enabled": True, "tasks": tasks})
    with pytest.raises(ConfigError, match=message):
        from_dict(config)


@pytest.mark.parametrize("warmup", [{}, {"warmup_steps": 4, "warmup_suite": "carry_free"}])
def test_curriculum_run_resumes_bitwise_and_grows_the_pull(tmp_path, warmup):
    config = from_dict(ngpu_config(
        task={"train_size": 3, "n_train": 24},
        model={"relax_sets": 2, "relax_pull": 0.01, "relax_growth": 1.5, "relax_tie_at": 10.0},
        optim={"lr": 0.01},
        curriculum={"enabled": True, "start_size": 1, "window": 1, "threshold": 1.0, "any_size_share": 0.25, **warmup},
        train={"epochs": 3, "batch_size": 8, "checkpoint_every": 1, "keep_checkpoints": 10},
    ))
    Trainer(config, tmp_path / "whole", show_progress=False).fit()
    Trainer(config, tmp_path / "split", show_progress=False).fit()
    for later in list_checkpoints(tmp_path / "split" / "checkpoints")[1:]:
        shutil.rmtree(later)  # as if the run died after epoch 1 (with a warm-up: inside it)
    Trainer.resume(tmp_path / "split", show_progress=False).fit()
    whole, split = load_checkpoint(tmp_path / "whole"), load_checkpoint(tmp_path / "split")
    assert whole.meta["curriculum"] == split.meta["curriculum"]
    advances = whole.meta["curriculum"]["advances"]
    assert advances >= 2  # the test means something only if the curriculum moved
    assert whole.weights["pull_weight"].item() == pytest.approx(0.01 * 1.5**advances)
    for key in whole.weights:
        assert torch.equal(whole.weights[key], split.weights[key]), key

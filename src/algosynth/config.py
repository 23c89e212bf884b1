"""Dataclass configs, YAML presets, dotted ``key=value`` overrides, and validation with clear errors."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from algosynth.errors import AlgosynthError
from algosynth.losses import LOSS_NAMES

PRESET_DIR = Path(__file__).parent / "configs"


class ConfigError(AlgosynthError):
    """A config that cannot be used; the message names the key, the value and the fix."""


@dataclass
class TaskConfig:
    name: str = "prefix_sums"
    train_size: int = 32
    n_train: int = 8000
    n_val: int = 500
    seed: int = 0
    cache: bool = False


@dataclass
class ModelConfig:
    name: str = "dt_net"
    width: int = 400
    num_blocks: int = 2
    recall: bool = True
    head_widths: list[int] | None = None
    depth: int = 30
    dropout: float = 0.0
    relax_sets: int = 1
    relax_pull: float = 0.0
    relax_growth: float = 2.0
    relax_tie_at: float = 1.0
    checkpoint_steps: bool = False
    rows: int = 4
    cgrus_per_step: int = 2
    steps_per_symbol: int = 2
    gates: str = "cutoff"
    diagonal: bool = False
    saturation: float = 0.0
    dropout_on: str = "state"
    controller: str = "lstm"
    memory_width: int = 20
    memory_per_position: float = 1.0
    read_heads: int = 1
    write_heads: int = 1
    shift_range: int = 1
    symbol_head: str = "state"


@dataclass
class LossConfig:
    """``hold`` > 0 draws each batch's thinking count from T..(1 + hold)·T (T: ``iters``, or the
    model's own count, such as the Neural GPU's n or 2n steps), so the answer must appear by step T
    and then stay: a rule timed to exactly T steps no longer fits (``losses.held_horizon``)."""

    name: str = "progressive"
    alpha: float = 1.0
    iters: int = 30
    hold: float = 0.0


@dataclass
class OptimConfig:
    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 2e-4
    momentum: float = 0.9
    warmup_epochs: float = 10
    schedule: str = "multistep"
    milestones: list[int] = field(default_factory=lambda: [60, 100])
    gamma: float = 0.1
    throttle: bool = False
    clip: float | None = 1.0
    grad_noise: float = 0.0
    # Adam's decay rates for the mean and the mean square of the gradient; a lower second rate
    # (0.99) lets the step shrink within about a hundred updates when gradients suddenly grow
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])


@dataclass
class TrainConfig:
    epochs: int = 150
    batch_size: int = 100
    seed: int = 0
    checkpoint_every: int = 10
    keep_checkpoints: int = 3
    device: str = "auto"
    amp: str = "off"
    compile: bool = False
    tensorboard: bool = False
    init_from: str | None = None
    """A run, checkpoint or shipped model whose weights a new run starts from (fine-tuning, or a task
    curriculum such as 2-row addition before 3-row); its optimiser, step and curriculum start anew."""
    ema: float = 0.0
    """Decay of an exponential moving average of the weights, updated after every step (0: off).
    With it, validation scores the average and checkpoints hold it as the model's weights (what
    eval, export, solve and probes load); the live weights travel with the training state, so
    training itself and resuming are unchanged. 0.999 averages about the last thousand steps.
    A tape run averages its controller the same way: the live weights act and learn, the average
    is what rl.select_size scores and keeps (it is not the Q(lambda) target network, rl.target_tau)."""


@dataclass
class EvalConfig:
    sizes: list[int] = field(default_factory=lambda: [32, 128, 512])
    iters: int = 300
    n: int = 500
    batch_size: int = 250
    halt: int | None = None
    seed: int = 12345
    suites: list[str] = field(default_factory=list)
    # Neural GPU only: steps per input symbol that `algosynth eval` reads at (null: the trained count,
    # model.steps_per_symbol); 1.5 with loss.hold 0.5 reads at the end of the window trained to hold.
    steps_per_symbol: float | None = None


@dataclass
class CurriculumConfig:
    """Fresh batches per step instead of a fixed set; see algosynth.curriculum."""

    enabled: bool = False
    start_size: int = 1
    size_step: int = 1
    window: int = 20
    threshold: float = 0.05
    any_size_share: float = 0.2
    suite_share: float = 0.0
    suites: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    sizes_per_batch: int = 1
    warmup_steps: int = 0
    warmup_suite: str = ""


@dataclass
class RLConfig:
    """Learning by acting on the tape tasks (algosynth.tape); supervised runs ignore this section.

    ``algorithm`` is q_lambda (Q-learning with the dynamic discount and Watkins Q(lambda)) or
    reinforce. The length curriculum starts at ``start_length`` and adds ``length_step`` whenever
    the last ``window`` greedy episodes at the current length were at least ``threshold`` correct,
    up to task.train_size. An epoch is ``updates_per_epoch`` updates of train.batch_size episodes.
    ``state_noise`` is the std of Gaussian noise added to a recurrent controller's state after every
    step of every training episode (never in evaluation): a GRU holding a carry must then learn to
    pull its state back, instead of drifting over columns it never saw in training.
    ``explore_duration`` > 1 holds each exploratory action for a run of 1..explore_duration steps
    (P(n) ~ 1/n^2, ez-greedy): a sweep of n silent moves is then tried in one go, where plain
    epsilon-greedy would need n exploratory coin flips in a row.
    ``beyond_share`` of the exploring episodes are drawn longer than the current length, up to
    ``beyond_factor`` times it: a policy that counts out the training lengths instead of reading
    the tape then fails, and learns from it, before its greedy episodes pass the window.
    ``short_share`` of the exploring episodes are drawn from lengths 1..``short_max`` (at most the
    current length): as the curriculum lengthens, uniform draws leave the first columns of an
    episode, where the controller's state has not settled yet, a shrinking share of the training
    steps, and a policy trained long can lose them (3-row addition, benchmarks/README.md).
    ``target_tau`` > 0 bootstraps the Q(lambda) targets from a target network, a copy of the
    controller that follows it by Polyak averaging (theta' += tau * (theta - theta') after every
    update; Mnih et al. 2015, Lillicrap et al. 2016), so a target no longer moves with each update.
    0 bootstraps from the controller itself, as Zaremba et al. do.
    ``passes`` > 1 runs the whole curriculum again from start_length once a pass ends (solved, or
    its train.epochs used up), from the weights it ended with and with a fresh optimiser: the same as
    a new run with ``train.init_from`` the last, in one resumable run. ``select_size`` > 0 scores
    each pass's final weights on ``select_n`` greedy episodes of that length (validation seed
    ``select_seed``, which must differ from eval.seed) and ends the run with the best pass's weights
    (the earliest on a tie); 0 keeps the last pass's. ``select_every`` > 0 also scores the weights
    every that many epochs within each pass, so the kept weights may come from inside a pass (if
    they score above 0): the greedy policy keeps moving under Q(lambda), and checkpoints a few
    epochs apart differ widely at lengths far past training.
    ``easy_share`` of the exploring episodes come from the task's easy variant while the curriculum
    length is at most ``easy_until`` (0: never); the greedy episodes, which move the curriculum on,
    are always the real task; the small digits of an easy instance go up to ``easy_max``. The easy
    addition instances are Zaremba et al.'s extra curriculum.
    ``solved_lr_scale`` < 1 multiplies the learning rate for the rest of a pass once its curriculum
    is solved (the final length mastered; with rl.stop_when_solved=false, so the pass goes on): with gamma < 1 the Q(lambda)
    regression keeps eroding a solved policy whose action gaps are small (benchmarks/tape_action_gap.py),
    and a smaller step slows that erosion down while selection keeps scoring the weights.
    """

    algorithm: str = "q_lambda"
    epsilon: float = 0.2
    lam: float = 0.5
    gamma: float = 0.95
    penalty: float = 0.0
    penalty_after: float = 0.9
    start_length: int = 2
    length_step: int = 1
    window: int = 200
    threshold: float = 0.99
    greedy_share: float = 0.25
    updates_per_epoch: int = 100
    step_slack: float = 2.0
    stop_when_solved: bool = True
    state_noise: float = 0.0
    explore_duration: int = 1
    beyond_share: float = 0.0
    beyond_factor: float = 4.0
    short_share: float = 0.0
    short_max: int = 10
    target_tau: float = 0.0
    passes: int = 1
    select_size: int = 0
    select_n: int = 200
    select_seed: int = 99
    select_every: int = 0
    easy_share: float = 0.5
    easy_until: int = 0
    easy_max: int = 1
    solved_lr_scale: float = 1.0


@dataclass
class Config:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig)
    rl: RLConfig = field(default_factory=RLConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _suggest(key: str, options: list[str]) -> str:
    close = difflib.get_close_matches(key, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check (and gently convert) a value against a field's type, e.g. the string "64" from --set."""
    args = get_args(annotation)
    if get_origin(annotation) in (list,) or annotation is list:
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return [_coerce(v, args[0] if args else Any, where) for v in value]
    if type(None) in args:
        if value is None or (isinstance(value, str) and value.lower() in ("null", "none", "")):
            return None
        return _coerce(value, next(a for a in args if a is not type(None)), where)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if annotation is float:
        try:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{where} must be a number, got {value!r}") from None
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    return value


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"section {prefix.rstrip('.') or 'config'} must be a mapping of keys to values, got {data!r}")
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in names:
            raise ConfigError(
                f"unknown key {prefix}{key}{_suggest(key, names)}; valid keys under {prefix.rstrip('.') or 'the top level'}: {', '.join(names)}"
            )
    values = {}
    for name in names:
        if name not in data:
            continue
        if dataclasses.is_dataclass(hints[name]):
            values[name] = _build(hints[name], data[name] or {}, f"{prefix}{name}.")
        else:
            values[name] = _coerce(data[name], hints[name], f"{prefix}{name}")
    return cls(**values)


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def check_clip_and_betas(o: OptimConfig) -> None:
    """The optimiser settings that every trainer reads the same way."""
    _check(o.clip is None or o.clip > 0, f"optim.clip must be positive or null, got {o.clip}")
    _check(len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas), f"optim.betas must be two numbers in [0, 1), e.g. [0.9, 0.99], got {o.betas}")


def check_ema(tr: TrainConfig) -> None:
    """Supervised and tape runs alike average their weights with train.ema."""
    _check(0 <= tr.ema < 1, f"train.ema is the weight average's decay per step, in [0, 1) (0: off, 0.999: about the last 1000 steps), got {tr.ema}")


def validate(config: Config) -> Config:
    """Reject values that would fail later, or silently do the wrong thing, with the key named."""
    from algosynth.models.neural_gpu import DROPOUT_SITES, GATES
    from algosynth.models.registry import MODEL_NAMES
    from algosynth.tasks import TASKS
    from algosynth.tasks.arithmetic import arithmetic_task

    from algosynth.tape.tasks import TAPE_TASKS

    if config.task.name in TAPE_TASKS:
        return validate_tape(config)
    t, m, lo, o, tr, ev = config.task, config.model, config.loss, config.optim, config.train, config.eval
    # arithmetic_task raises for a base outside 2..10, e.g. addition_base11, so that gets its own message
    _check(t.name in TASKS or arithmetic_task(t.name) is not None,
           f"task.name {t.name!r} is unknown; choose one of {', '.join(sorted([*TASKS, *TAPE_TASKS]))}")
    known_suites = sorted(TASKS[t.name]().suites)
    _check(ev.suites == ["all"] or set(ev.suites) <= set(known_suites),
           f"eval.suites must name suites of {t.name} ({', '.join(known_suites) or 'none'}) or be [all], got {ev.suites}")
    for key in ("train_size", "n_train", "n_val"):
        _check(getattr(t, key) >= 1, f"task.{key} must be at least 1, got {getattr(t, key)}")
    _check(m.name in MODEL_NAMES, f"model.name {m.name!r} is unknown; choose one of {', '.join(MODEL_NAMES)}")
    _check(m.width >= 1, f"model.width must be a positive integer, got {m.width}")
    _check(m.num_blocks >= 1, f"model.num_blocks must be at least 1, got {m.num_blocks}")
    _check(m.depth >= 1, f"model.depth must be at least 1, got {m.depth}")
    _check(m.head_widths is None or all(w >= 1 for w in m.head_widths), f"model.head_widths must be positive, got {m.head_widths}")
    _check(lo.name in LOSS_NAMES, f"loss.name {lo.name!r} is unknown; choose one of {', '.join(LOSS_NAMES)}")
    _check(0.0 <= lo.alpha <= 1.0, f"loss.alpha must be in [0, 1], got {lo.alpha}")
    _check(lo.iters >= (2 if lo.name.startswith("delta") else 1), f"loss.iters (T) is too small for the {lo.name} loss: {lo.iters}")
    _check(lo.hold >= 0, f"loss.hold must be non-negative (a fraction of T to think past it), got {lo.hold}")
    _check(ev.steps_per_symbol is None or (m.name == "neural_gpu" and ev.steps_per_symbol >= 1),
           f"eval.steps_per_symbol must be null, or at least 1 for a neural_gpu model (it sets its own step count); "
           f"got {ev.steps_per_symbol} for {m.name}")
    if m.name == "feedforward":
        _check(lo.hold == 0, "loss.hold needs a recurrent model; a feed-forward model has no steps past its depth")
        _check(lo.iters <= m.depth, f"loss.iters ({lo.iters}) exceeds the feed-forward model's depth ({m.depth}); set model.depth >= loss.iters")
    _check(o.name in ("adam", "adamw", "sgd"), f"optim.name {o.name!r} is unknown; choose adam, adamw or sgd")
    _check(o.lr > 0, f"optim.lr must be positive, got {o.lr}")
    _check(o.weight_decay >= 0, f"optim.weight_decay must be non-negative, got {o.weight_decay}")
    _check(0 <= o.momentum < 1, f"optim.momentum must be in [0, 1), got {o.momentum}")
    _check(o.warmup_epochs >= 0, f"optim.warmup_epochs must be non-negative, got {o.warmup_epochs}")
    _check(o.schedule in ("multistep", "cosine", "constant"), f"optim.schedule {o.schedule!r} is unknown; choose multistep, cosine or constant")
    _check(0 < o.gamma <= 1, f"optim.gamma must be in (0, 1], got {o.gamma}")
    check_clip_and_betas(o)
    _check(tr.epochs >= 1, f"train.epochs must be at least 1, got {tr.epochs}")
    _check(tr.batch_size >= 1, f"train.batch_size must be at least 1, got {tr.batch_size}")
    _check(tr.checkpoint_every >= 1, f"train.checkpoint_every must be at least 1, got {tr.checkpoint_every}")
    _check(tr.keep_checkpoints >= 1, f"train.keep_checkpoints must be at least 1, got {tr.keep_checkpoints}")
    _check(tr.device in ("auto", "cpu", "cuda") or tr.device.startswith("cuda:"), f"train.device must be auto, cpu or cuda, got {tr.device!r}")
    check_ema(tr)
    _check(tr.amp in ("off", "bf16", "fp16"), f"train.amp must be off, bf16 or fp16, got {tr.amp!r}")
    _check(len(ev.sizes) >= 1 and all(s >= 1 for s in ev.sizes), f"eval.sizes must be positive sizes, got {ev.sizes}")
    for key in ("iters", "n", "batch_size"):
        _check(getattr(ev, key) >= 1, f"eval.{key} must be at least 1, got {getattr(ev, key)}")
    _check(ev.halt is None or ev.halt >= 1, f"eval.halt must be at least 1 or null, got {ev.halt}")
    _check(0.0 <= m.dropout < 1.0, f"model.dropout must be in [0, 1), got {m.dropout}")
    _check(m.relax_sets >= 1, f"model.relax_sets must be at least 1, got {m.relax_sets}")
    _check(m.rows >= 1 and m.cgrus_per_step >= 1 and m.steps_per_symbol >= 1,
           f"model.rows, cgrus_per_step and steps_per_symbol must be at least 1; got {m.rows}, {m.cgrus_per_step}, {m.steps_per_symbol}")
    _check(m.gates in GATES, f"model.gates {m.gates!r} is unknown; choose one of {', '.join(GATES)}")
    _check(m.dropout_on in DROPOUT_SITES, f"model.dropout_on must be {' or '.join(DROPOUT_SITES)}, got {m.dropout_on!r}")
    _check(m.saturation >= 0, f"model.saturation must be >= 0, got {m.saturation}")
    _check(m.saturation == 0 or m.gates == "hard", "model.saturation needs model.gates: hard (only hard units saturate); set it to 0 or use hard gates")
    _check(m.relax_pull >= 0 and m.relax_growth >= 1 and m.relax_tie_at > 0,
           f"model.relax_pull must be >= 0, relax_growth >= 1 and relax_tie_at > 0; got {m.relax_pull}, {m.relax_growth}, {m.relax_tie_at}")
    validate_ntm(m)
    _check(o.grad_noise >= 0, f"optim.grad_noise must be non-negative, got {o.grad_noise}")
    validate_curriculum(config)
    return config


def validate_ntm(m: ModelConfig) -> None:
    """The Neural Turing Machine's controller, memory and heads (read only when model.name is ntm)."""
    from algosynth.models.ntm import CONTROLLERS

    if m.name != "ntm":
        return
    _check(m.controller in CONTROLLERS, f"model.controller {m.controller!r} is unknown; choose one of {', '.join(CONTROLLERS)}")
    for key in ("memory_width", "read_heads", "write_heads", "shift_range"):
        _check(getattr(m, key) >= 1, f"model.{key} must be at least 1, got {getattr(m, key)}")
    _check(m.memory_per_position > 0, f"model.memory_per_position must be positive (slots per input position), got {m.memory_per_position}")


def validate_curriculum(config: Config) -> None:
    """The curriculum's sizes must climb inside the training range, and its tasks must exist."""
    from algosynth.tasks import TASKS

    c, t = config.curriculum, config.task
    if not c.enabled:
        return
    _check(1 <= c.start_size <= t.train_size, f"curriculum.start_size must be in 1..task.train_size ({t.train_size}), got {c.start_size}")
    _check(c.size_step >= 1, f"curriculum.size_step must be at least 1, got {c.size_step}")
    _check(c.window >= 1, f"curriculum.window must be at least 1 batch, got {c.window}")
    _check(0.0 < c.threshold <= 1.0, f"curriculum.threshold (sequence error) must be in (0, 1], got {c.threshold}")
    _check(0.0 <= c.any_size_share <= 1.0, f"curriculum.any_size_share must be in [0, 1], got {c.any_size_share}")
    _check(0.0 <= c.suite_share <= 1.0, f"curriculum.suite_share must be in [0, 1], got {c.suite_share}")
    _check(c.sizes_per_batch >= 1 and config.train.batch_size % c.sizes_per_batch == 0,
           f"curriculum.sizes_per_batch must be at least 1 and divide train.batch_size ({config.train.batch_size}), got {c.sizes_per_batch}")
    _check(c.sizes_per_batch == 1 or TASKS[c.tasks[0] if c.tasks else t.name]().spec.dims == 1,
           "curriculum.sizes_per_batch > 1 pads instances along a string; it needs a one-dimensional task, so set it to 1")
    for name in c.tasks:
        _check(name in TASKS, f"curriculum.tasks names unknown task {name!r}; choose from {', '.join(sorted(TASKS))}")
    if c.suite_share > 0 or c.suites:
        validate_training_suites(c, c.tasks or [t.name])
    validate_warmup(c, (c.tasks or [t.name])[0])
    _check(not c.tasks or c.tasks[-1] == t.name,
           f"curriculum.tasks must end with task.name ({t.name!r}), got {c.tasks}; the last stage is the task that is validated")


def validate_warmup(c: CurriculumConfig, first_task: str) -> None:
    """A warm-up needs both a step count and a suite of the curriculum's first task."""
    from algosynth.tasks import TASKS

    _check(c.warmup_steps >= 0, f"curriculum.warmup_steps must be 0 or more, got {c.warmup_steps}")
    _check((c.warmup_steps > 0) == bool(c.warmup_suite),
           f"curriculum.warmup_steps ({c.warmup_steps}) and curriculum.warmup_suite ({c.warmup_suite!r}) go together; "
           "set both (e.g. warmup_steps=2000, warmup_suite=carry_free) or neither")
    known = TASKS[first_task]().suites
    _check(not c.warmup_suite or c.warmup_suite in known,
           f"curriculum.warmup_suite names {c.warmup_suite!r}, which task {first_task!r} does not have; "
           f"choose from {', '.join(sorted(known)) or 'none: this task has no suites'}")


def validate_training_suites(c: CurriculumConfig, task_names: list[str]) -> None:
    """Hard-suite batches need suites that every task of the curriculum has, and a share to draw them."""
    from algosynth.tasks import TASKS

    _check(c.suite_share > 0, f"curriculum.suites is set ({', '.join(c.suites)}) but curriculum.suite_share is 0; "
                              "set a share in (0, 1] or drop the suites")
    for name in task_names:
        known = TASKS[name]().suites
        _check(bool(known), f"curriculum.suite_share needs a task with named hard suites, and {name!r} has none; set it to 0")
        for suite in c.suites:
            _check(suite in known, f"curriculum.suites names {suite!r}, which task {name!r} does not have; "
                                   f"choose from {', '.join(sorted(known))}")


def validate_tape(config: Config) -> Config:
    """A tape run reads task.name and train_size, model.name (ff, lstm, gru) and width, optim.lr, train, eval and rl."""
    from algosynth.tape.controllers import CONTROLLER_NAMES, SYMBOL_HEADS
    from algosynth.tape.tasks import TAPE_TASKS, tasks_with_easy_variant

    t, m, o, tr, ev, rl = config.task, config.model, config.optim, config.train, config.eval, config.rl
    _check(m.name in CONTROLLER_NAMES, f"model.name {m.name!r} is not a tape controller; choose one of {', '.join(CONTROLLER_NAMES)}")
    _check(m.width >= 1, f"model.width must be a positive integer, got {m.width}")
    _check(m.symbol_head in SYMBOL_HEADS, f"model.symbol_head must be one of {', '.join(SYMBOL_HEADS)}, got {m.symbol_head!r}")
    _check(o.name in ("adam", "adamw", "sgd") and o.lr > 0, f"optim.name must be adam, adamw or sgd and optim.lr positive, got {o.name!r}, {o.lr}")
    check_clip_and_betas(o)
    for key in ("epochs", "batch_size", "checkpoint_every", "keep_checkpoints"):
        _check(getattr(tr, key) >= 1, f"train.{key} must be at least 1, got {getattr(tr, key)}")
    _check(ev.steps_per_symbol is None, "eval.steps_per_symbol sets a Neural GPU's thinking steps; a tape run acts until its episode ends: set it to null")
    check_ema(tr)
    _check(tr.device in ("auto", "cpu"), f"train.device must be auto or cpu for tape runs (the controllers are tiny), got {tr.device!r}")
    _check(len(ev.sizes) >= 1 and min(ev.sizes) >= 1 and ev.n >= 1 and ev.batch_size >= 1,
           f"eval.sizes, eval.n and eval.batch_size must be positive, got {ev.sizes}, {ev.n}, {ev.batch_size}")
    _check(rl.algorithm in ("q_lambda", "reinforce"), f"rl.algorithm {rl.algorithm!r} is unknown; choose q_lambda or reinforce")
    for key in ("epsilon", "lam", "gamma", "penalty_after", "threshold", "greedy_share"):
        _check(0.0 <= getattr(rl, key) <= 1.0, f"rl.{key} must be in [0, 1], got {getattr(rl, key)}")
    _check(rl.penalty >= 0, f"rl.penalty must be non-negative, got {rl.penalty}")
    _check(rl.explore_duration >= 1, f"rl.explore_duration must be at least 1 (1 is plain epsilon-greedy), got {rl.explore_duration}")
    _check(rl.explore_duration == 1 or rl.algorithm == "q_lambda",
           "rl.explore_duration holds epsilon-greedy's exploratory actions, and reinforce samples its policy instead; "
           "set rl.algorithm=q_lambda or rl.explore_duration=1")
    _check(0 <= rl.beyond_share <= 1, f"rl.beyond_share is a share of the exploring episodes, between 0 and 1, got {rl.beyond_share}")
    _check(rl.beyond_factor > 1, f"rl.beyond_factor must exceed 1 (episodes longer than the current length), got {rl.beyond_factor}")
    _check(0 <= rl.short_share <= 1, f"rl.short_share is a share of the exploring episodes, between 0 and 1, got {rl.short_share}")
    _check(rl.short_max >= 1, f"rl.short_max is the longest short exploring episode, at least 1, got {rl.short_max}")
    _check(rl.passes >= 1, f"rl.passes is how many times the curriculum runs, at least 1, got {rl.passes}")
    _check(rl.select_size >= 0 and rl.select_n >= 1, f"rl.select_size must be 0 (no selection) or a length, and rl.select_n positive, "
                                                     f"got {rl.select_size}, {rl.select_n}")
    _check(rl.select_every >= 0, f"rl.select_every is a number of epochs, 0 for the end of each pass only, got {rl.select_every}")
    _check(rl.select_size == 0 or rl.passes > 1 or rl.select_every > 0,
           "rl.select_size chooses among curriculum passes or checkpoints; set rl.passes to 2 or more, rl.select_every to some epochs, or rl.select_size=0")
    _check(rl.select_every == 0 or rl.select_size > 0, "rl.select_every validates during a pass at rl.select_size; set rl.select_size to a length too")
    _check(rl.select_size == 0 or rl.select_seed != ev.seed,
           f"rl.select_seed {rl.select_seed} is eval.seed too: validation would choose on the test episodes; give them different seeds")
    _check(0 <= rl.target_tau <= 1, f"rl.target_tau is the target network's Polyak rate, between 0 (no target network) and 1, got {rl.target_tau}")
    _check(rl.target_tau == 0 or rl.algorithm == "q_lambda", "rl.target_tau sets the Q(lambda) target network, and reinforce has no Q targets; set rl.algorithm=q_lambda or rl.target_tau=0")
    _check(0 < rl.easy_share <= 1, f"rl.easy_share is a share of the exploring episodes, above 0 and at most 1, got {rl.easy_share}")
    _check(0 <= rl.easy_max <= 8, f"rl.easy_max is the largest small digit of an easy episode, 0 to 8, got {rl.easy_max}")
    _check(rl.easy_until >= 0, f"rl.easy_until is a curriculum length (0: no easy episodes), got {rl.easy_until}")
    _check(rl.easy_until == 0 or TAPE_TASKS[t.name].easy,
           f"rl.easy_until draws easy episodes, and {t.name} has no easy variant; set rl.easy_until=0 "
           f"or use one of {', '.join('tape_' + name for name in tasks_with_easy_variant())}")
    _check(0 < rl.solved_lr_scale <= 1, f"rl.solved_lr_scale multiplies the rate once a pass is solved, above 0 and at most 1 (1: off), got {rl.solved_lr_scale}")
    _check(rl.solved_lr_scale == 1 or not rl.stop_when_solved,
           "rl.solved_lr_scale sets the rate after a pass is solved, and rl.stop_when_solved ends the pass there; set rl.stop_when_solved=false or rl.solved_lr_scale=1")
    _check(rl.state_noise >= 0, f"rl.state_noise must be non-negative, got {rl.state_noise}")
    _check(rl.state_noise == 0 or m.name != "ff", "rl.state_noise perturbs a recurrent state, and the ff controller has none; use model.name=lstm or gru, or set rl.state_noise=0")
    _check(1 <= rl.start_length <= t.train_size, f"rl.start_length must be in 1..task.train_size ({t.train_size}), got {rl.start_length}")
    for key in ("length_step", "window", "updates_per_epoch"):
        _check(getattr(rl, key) >= 1, f"rl.{key} must be at least 1, got {getattr(rl, key)}")
    _check(rl.step_slack >= 1, f"rl.step_slack must be at least 1 (times the ideal number of steps), got {rl.step_slack}")
    _check(tr.batch_size * rl.greedy_share >= 1, f"rl.greedy_share ({rl.greedy_share}) x train.batch_size ({tr.batch_size}) must leave at least one greedy episode per batch")
    return config


def from_dict(data: dict[str, Any]) -> Config:
    return validate(_build(Config, data or {}, ""))


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Turn ``["model.width=64", "loss.name=delta"]`` into a nested dict; values are parsed as YAML."""
    nested: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value (e.g. model.width=64), got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {part} is a value, not a section")
        node[parts[-1]] = value
    return nested


def merge(base: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections (task, model, loss, ...), got {type(data).__name__}")
    return data or {}


def _locate(name: str, relative_to: Path | None = None) -> Path:
    """A preset name from ``configs/``, or a YAML path (relative to the extending file's folder)."""
    if name in preset_names():
        return PRESET_DIR / f"{name}.yaml"
    path = Path(name)
    if relative_to is not None and not path.is_absolute():
        path = relative_to.parent / path
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    names = preset_names()
    where = f" (named by 'extends' in {relative_to})" if relative_to is not None else ""
    raise ConfigError(
        f"unknown preset {name!r}{where}{_suggest(name, names)}; use one of {', '.join(names)} or a path to a .yaml file"
    )


def read_preset(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML config with its ``extends:`` resolved: the parent's settings, then this file's over them.

    Presets that differ from another in a few keys say only those keys, so a change to the shared
    recipe cannot drift apart between copies.
    """
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(p.stem for p in (*chain, resolved))
        raise ConfigError(f"'extends' goes round in a circle ({cycle}); make one of these files stand on its own")
    data = read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent.strip():
        raise ConfigError(f"{path}: 'extends' must name one preset or YAML file, got {parent!r}")
    base = read_preset(_locate(parent.strip(), relative_to=path), (*chain, resolved))
    return merge(base, data)


def load_config(preset_or_yaml: str, overrides: list[str] | None = None) -> Config:
    """A preset name from ``configs/`` or a path to a YAML file, with dotted overrides applied."""
    data = read_preset(_locate(preset_or_yaml))
    return from_dict(merge(data, parse_overrides(overrides or [])))

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


@dataclass
class LossConfig:
    name: str = "progressive"
    alpha: float = 1.0
    iters: int = 30


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


@dataclass
class EvalConfig:
    sizes: list[int] = field(default_factory=lambda: [32, 128, 512])
    iters: int = 300
    n: int = 500
    batch_size: int = 250
    halt: int | None = None
    seed: int = 12345


@dataclass
class Config:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

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


def validate(config: Config) -> Config:
    """Reject values that would fail later, or silently do the wrong thing, with the key named."""
    from algosynth.models.registry import MODEL_NAMES
    from algosynth.tasks import TASKS

    t, m, lo, o, tr, ev = config.task, config.model, config.loss, config.optim, config.train, config.eval
    _check(t.name in TASKS, f"task.name {t.name!r} is unknown; choose one of {', '.join(sorted(TASKS))}")
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
    if m.name == "feedforward":
        _check(lo.iters <= m.depth, f"loss.iters ({lo.iters}) exceeds the feed-forward model's depth ({m.depth}); set model.depth >= loss.iters")
    _check(o.name in ("adam", "adamw", "sgd"), f"optim.name {o.name!r} is unknown; choose adam, adamw or sgd")
    _check(o.lr > 0, f"optim.lr must be positive, got {o.lr}")
    _check(o.weight_decay >= 0, f"optim.weight_decay must be non-negative, got {o.weight_decay}")
    _check(0 <= o.momentum < 1, f"optim.momentum must be in [0, 1), got {o.momentum}")
    _check(o.warmup_epochs >= 0, f"optim.warmup_epochs must be non-negative, got {o.warmup_epochs}")
    _check(o.schedule in ("multistep", "cosine", "constant"), f"optim.schedule {o.schedule!r} is unknown; choose multistep, cosine or constant")
    _check(0 < o.gamma <= 1, f"optim.gamma must be in (0, 1], got {o.gamma}")
    _check(o.clip is None or o.clip > 0, f"optim.clip must be positive or null, got {o.clip}")
    _check(tr.epochs >= 1, f"train.epochs must be at least 1, got {tr.epochs}")
    _check(tr.batch_size >= 1, f"train.batch_size must be at least 1, got {tr.batch_size}")
    _check(tr.checkpoint_every >= 1, f"train.checkpoint_every must be at least 1, got {tr.checkpoint_every}")
    _check(tr.keep_checkpoints >= 1, f"train.keep_checkpoints must be at least 1, got {tr.keep_checkpoints}")
    _check(tr.device in ("auto", "cpu", "cuda") or tr.device.startswith("cuda:"), f"train.device must be auto, cpu or cuda, got {tr.device!r}")
    _check(tr.amp in ("off", "bf16", "fp16"), f"train.amp must be off, bf16 or fp16, got {tr.amp!r}")
    _check(len(ev.sizes) >= 1 and all(s >= 1 for s in ev.sizes), f"eval.sizes must be positive sizes, got {ev.sizes}")
    for key in ("iters", "n", "batch_size"):
        _check(getattr(ev, key) >= 1, f"eval.{key} must be at least 1, got {getattr(ev, key)}")
    _check(ev.halt is None or ev.halt >= 1, f"eval.halt must be at least 1 or null, got {ev.halt}")
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


def load_config(preset_or_yaml: str, overrides: list[str] | None = None) -> Config:
    """A preset name from ``configs/`` or a path to a YAML file, with dotted overrides applied."""
    path = Path(preset_or_yaml)
    if preset_or_yaml in preset_names():
        data = read_yaml(PRESET_DIR / f"{preset_or_yaml}.yaml")
    elif path.suffix in (".yaml", ".yml") and path.exists():
        data = read_yaml(path)
    else:
        names = preset_names()
        raise ConfigError(
            f"unknown preset {preset_or_yaml!r}{_suggest(preset_or_yaml, names)}; use one of {', '.join(names)} or a path to a .yaml file"
        )
    return from_dict(merge(data, parse_overrides(overrides or [])))

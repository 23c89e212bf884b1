"""The Trainer: one straight path from config to checkpoints.

config -> data -> model -> optimiser -> loop (loss, clip, step, schedule) -> metrics -> checkpoint.
Mixed precision and ``torch.compile`` are switches; resuming replays the exact same computation.
"""

from __future__ import annotations

import json
import math
import signal
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from algosynth.averaging import averaged_copy, polyak_update
from algosynth.checkpoints import (
    list_checkpoints,
    load_initial_weights,
    load_weights_into,
    optimizer_state_from_json,
    optimizer_state_to_json,
    prefixed_state,
    resumable_checkpoint,
    save_checkpoint,
    unprefixed_state,
)
from algosynth.config import Config, from_dict
from algosynth.curriculum import Curriculum
from algosynth.data_cache import generate_cached
from algosynth.errors import AlgosynthError
from algosynth.losses import held_horizon, make_loss
from algosynth.models.registry import build_model
from algosynth.tasks import Batch, get_task
from algosynth.think import planned_iters, think


LIVE = "live."
"""Prefix of the live weights among a checkpoint's training tensors when ``train.ema`` is on: the
checkpoint's model weights are then the average, and resuming needs both."""


class TrainingDiverged(AlgosynthError):
    """The loss became NaN or inf; the checkpoints written before it are kept."""


class TrainingInterrupted(AlgosynthError):
    """Ctrl-C or SIGTERM: a checkpoint was written and ``--resume`` continues from it."""


@dataclass
class TrainResult:
    run_dir: Path
    epochs: int
    seconds: float
    last_metrics: dict[str, Any]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AlgosynthError(f"train.device is {name!r} but no CUDA GPU is visible; use train.device=cpu")
    return torch.device(name)


def lr_factor(config: Config, step: int, steps_per_epoch: int) -> float:
    """Linear warm-up, then a multistep or cosine schedule; a pure function of the step."""
    o, epochs = config.optim, config.train.epochs
    epoch = step / steps_per_epoch
    warmup_steps = o.warmup_epochs * steps_per_epoch
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    if o.schedule == "multistep":
        decay = o.gamma ** sum(int(epoch) >= m for m in o.milestones)
    elif o.schedule == "cosine":
        span = max(epochs - o.warmup_epochs, 1e-9)
        progress = min(max((epoch - o.warmup_epochs) / span, 0.0), 1.0)
        decay = 0.5 * (1 + math.cos(math.pi * progress))
    else:
        decay = 1.0
    return warm * decay


def set_learning_rate(optimizer: torch.optim.Optimizer, config: Config, step: int, steps_per_epoch: int) -> None:
    """Every group's rate for this step: optim.lr x its scale (the throttle) x the schedule. Both
    trainers call it before each update, so optim.schedule means the same thing for every task."""
    factor = lr_factor(config, step, steps_per_epoch)
    for group in optimizer.param_groups:
        group["lr"] = config.optim.lr * group["lr_scale"] * factor


def make_optimizer(config: Config, model: torch.nn.Module) -> torch.optim.Optimizer:
    """Two parameter groups so the LR throttle can give the recurrent unit lr/T."""
    o = config.optim
    recurrent = {id(p) for p in model.recurrent_parameters()}
    groups = [
        {"params": [p for p in model.parameters() if id(p) not in recurrent], "lr_scale": 1.0},
        {"params": [p for p in model.parameters() if id(p) in recurrent],
         "lr_scale": 1.0 / config.loss.iters if o.throttle else 1.0},
    ]
    groups = [g for g in groups if g["params"]]
    if o.name in ("adam", "adamw"):
        adam = torch.optim.Adam if o.name == "adam" else torch.optim.AdamW
        return adam(groups, lr=o.lr, weight_decay=o.weight_decay, betas=tuple(o.betas))
    return torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


def prepare_run_dir(run_dir: Path, config: Config, epochs_done: int) -> None:
    """Create the run directory, record the config it trains under (an extended run records its new
    epochs), and drop metrics logged after the checkpoint being resumed, so none is written twice.
    Both trainers start every fit here."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    metrics = run_dir / "metrics.jsonl"
    if metrics.exists():
        kept = [line for line in metrics.read_text().splitlines() if line and json.loads(line)["epoch"] <= epochs_done]
        metrics.write_text("".join(line + "\n" for line in kept))


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The shuffle of one epoch, derived from (seed, epoch) alone so a resumed run reshuffles identically."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


@torch.no_grad()
def exact_accuracy(model: torch.nn.Module, task, batch: Batch, iters: int, batch_size: int) -> float:
    """Exact-match accuracy after ``iters`` thoughts, in chunks so memory stays bounded."""
    correct = 0
    for start in range(0, len(batch), batch_size):
        part = batch.select(slice(start, start + batch_size))
        thought = None
        for thought in think(model, part.inputs, planned_iters(model, part.inputs, iters)):
            pass
        correct += int(task.score(thought.logits, part.targets, part.mask).exact.sum())
    return correct / len(batch)


@contextmanager
def stop_requests():
    """Turn SIGINT and SIGTERM into a flag the loop checks between batches, so it can checkpoint first."""
    requested: list[str] = []
    handler = lambda signum, frame: requested.append(signal.Signals(signum).name)  # noqa: E731
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Trainer:
    """Trains one model on one task into a run directory; ``resume=True`` continues from its last checkpoint."""

    def __init__(self, config: Config, run_dir: Path, console: Console | None = None, show_progress: bool = True):
        self.config = config
        self.run_dir = Path(run_dir)
        self.console = console or Console(stderr=True, log_path=False)
        self.show_progress = show_progress
        self.device = pick_device(config.train.device)
        self.task = get_task(config.task.name)
        torch.manual_seed(config.train.seed)
        self.model = build_model(config.model, self.task.spec).to(self.device)
        self.average = averaged_copy(self.model) if config.train.ema > 0 else None
        self.optimizer = make_optimizer(config, self.model)
        self.loss_fn = make_loss(config.loss.name, config.loss.alpha)
        self.loss_rng = torch.Generator().manual_seed(config.train.seed)
        self.step_fn = torch.compile(self.model.step) if config.train.compile else None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=config.train.amp == "fp16")
        self.curriculum = Curriculum(config) if config.curriculum.enabled else None
        self.global_step = 0
        self.finished = False

    @classmethod
    def resume(cls, run_dir: Path, epochs: int | None = None, **kwargs) -> Trainer:
        """Rebuild a trainer from a run's last checkpoint, refusing a run that already finished
        unless ``epochs`` extends it."""
        checkpoint = resumable_checkpoint(
            run_dir, " all its epochs; nothing to resume (evaluate it with algosynth eval, extend it with --epochs, "
                     "or start a new run)", epochs
        )
        trainer = cls(from_dict(checkpoint.meta["config"]), run_dir, **kwargs)
        trainer.restore(checkpoint)
        return trainer

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.config.task.n_train / self.config.train.batch_size)

    @property
    def saved_model(self) -> torch.nn.Module:
        """What validation scores and checkpoints hold as the weights: the average when train.ema is on."""
        return self.model if self.average is None else self.average

    def restore(self, checkpoint) -> None:
        load_weights_into(self.saved_model, checkpoint)
        state = checkpoint.training
        if self.average is not None:
            self.model.load_state_dict(unprefixed_state(state, LIVE))
        self.optimizer.load_state_dict(optimizer_state_from_json(checkpoint.meta["optimizer"], state))
        self.loss_rng.set_state(state["rng.loss"])
        torch.set_rng_state(state["rng.torch"])
        if "scaler" in checkpoint.meta:
            self.scaler.load_state_dict(checkpoint.meta["scaler"])
        self.global_step = checkpoint.meta["global_step"]
        if self.curriculum is not None:
            self.curriculum.load_state_dict(checkpoint.meta["curriculum"])

    def save(self, metrics: dict[str, Any] | None = None) -> Path:
        training: dict[str, torch.Tensor] = {"rng.loss": self.loss_rng.get_state(), "rng.torch": torch.get_rng_state()}
        if self.average is not None:
            training.update(prefixed_state(self.model, LIVE))
        meta = {
            "config": self.config.to_dict(),
            "global_step": self.global_step,
            "epoch": self.global_step / self.steps_per_epoch,
            "finished": self.finished,
            "optimizer": optimizer_state_to_json(self.optimizer.state_dict(), training),
            "scaler": self.scaler.state_dict(),
            "curriculum": self.curriculum.state_dict() if self.curriculum is not None else None,
            "metrics": metrics or {},
        }
        return save_checkpoint(
            self.run_dir / "checkpoints", self.global_step, self.saved_model.state_dict(), meta, training,
            keep=self.config.train.keep_checkpoints,
        )

    def _tensorboard(self):
        if not self.config.train.tensorboard:
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise AlgosynthError("train.tensorboard is true but tensorboard is not installed; pip install 'algosynth[tb]'") from None
        return SummaryWriter(str(self.run_dir / "tensorboard"))

    def _data(self) -> tuple[Batch | None, Batch]:
        """The fixed training set (None under a curriculum, which draws fresh batches) and the validation set."""
        t = self.config.task
        generate = generate_cached if t.cache else lambda task, *args: task.generate(*args)
        val = generate(self.task, t.train_size, t.n_val, t.seed + 1).to(self.device)
        if self.curriculum is not None:
            return None, val
        return generate(self.task, t.train_size, t.n_train, t.seed).to(self.device), val

    def _epoch_batches(self, epoch: int, position: int, train: Batch | None):
        """The rest of an epoch's batches from step ``position`` on: the curriculum's, or the shuffled fixed set's."""
        if self.curriculum is not None:
            for _ in range(position, self.steps_per_epoch):
                yield self.curriculum.draw(self.global_step).to(self.device)
            return
        size = self.config.train.batch_size
        order = epoch_order(self.config.train.seed, epoch, len(train))
        for start in range(position * size, len(train), size):
            yield train.select(order[start : start + size].to(self.device))

    def _add_gradient_noise(self) -> None:
        """Gaussian noise on every gradient, sigma_t = grad_noise / (1 + t)^0.55 (Neelakantan et al. 2015).

        It is added to ``p.grad`` in place, right before ``optimizer.step``, so the update really
        carries it (the original Neural GPU code computed the noise and then never applied it).
        """
        sigma = self.config.optim.grad_noise / (1 + self.global_step) ** 0.55
        for p in self.model.parameters():
            if p.grad is not None:
                p.grad.add_(torch.randn_like(p.grad), alpha=sigma)

    def _autocast(self):
        if self.config.train.amp == "off":
            return nullcontext()
        dtype = torch.bfloat16 if self.config.train.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _train_step(self, batch: Batch) -> tuple[float, float | None]:
        """One optimiser step; returns the loss and, when the loss saw iteration T, the exact-match rate."""
        model, o = self.model, self.config.optim
        set_learning_rate(self.optimizer, self.config, self.global_step, self.steps_per_epoch)
        self.optimizer.zero_grad(set_to_none=True)
        T = held_horizon(planned_iters(model, batch.inputs, self.config.loss.iters), self.config.loss.hold, self.loss_rng)
        with self._autocast():
            out = self.loss_fn(model, batch, T, self.loss_rng)
        penalty = getattr(model, "penalty", None)
        total = out.loss if penalty is None else out.loss + penalty()
        loss = float(total.detach())
        if not math.isfinite(loss):
            kept = list_checkpoints(self.run_dir / "checkpoints")
            where = f"the last good checkpoint is {kept[-1]}" if kept else "no checkpoint had been written yet"
            raise TrainingDiverged(
                f"loss became {loss} at step {self.global_step}; {where}. Lower optim.lr or set optim.clip"
            )
        self.scaler.scale(total).backward()
        if o.clip is not None or o.grad_noise > 0:
            self.scaler.unscale_(self.optimizer)
        if o.clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), o.clip)
        if o.grad_noise > 0:
            self._add_gradient_noise()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.average is not None:
            polyak_update(self.average, model, 1 - self.config.train.ema)
        self.global_step += 1
        if out.logits is None:
            return loss, None
        return loss, float(self.task.score(out.logits.detach(), batch.targets, batch.mask).exact.float().mean())

    def fit(self) -> TrainResult:
        cfg = self.config
        if self.global_step == 0 and cfg.train.init_from:
            load_initial_weights(self.model, cfg.train.init_from)
            if self.average is not None:
                self.average.load_state_dict(self.model.state_dict())
        prepare_run_dir(self.run_dir, cfg, self.global_step // self.steps_per_epoch)
        (self.run_dir / "plots").mkdir(exist_ok=True)
        train, val = self._data()
        writer = self._tensorboard()
        if self.step_fn is not None:
            self.model.step = self.step_fn
        started = time.time()
        metrics: dict[str, Any] = {}
        total_steps = cfg.train.epochs * self.steps_per_epoch
        progress = Progress(
            TextColumn("[bold]train"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console, disable=not self.show_progress, transient=True,
        )
        with progress, stop_requests() as stop:
            bar = progress.add_task("train", total=total_steps, completed=self.global_step, status="")
            while self.global_step < total_steps:
                epoch, position = divmod(self.global_step, self.steps_per_epoch)
                losses, accs, epoch_started = [], [], time.time()
                for batch in self._epoch_batches(epoch, position, train):
                    self.model.train()
                    loss, acc = self._train_step(batch)
                    losses.append(loss)
                    if acc is not None:
                        accs.append(acc)
                        self._advance_curriculum(1.0 - acc)
                    progress.update(bar, completed=self.global_step, status=f"epoch {epoch + 1} loss {loss:.4f}")
                    if stop:
                        path = self.save(metrics)
                        raise TrainingInterrupted(
                            f"stopped by {stop[0]} at step {self.global_step}; checkpoint saved to {path}. "
                            f"Continue with: algosynth train --resume {self.run_dir}"
                        )
                metrics = self._end_epoch(epoch + 1, losses, accs, val, time.time() - epoch_started, writer)
                self.finished = self.global_step >= total_steps
                if self.finished or (epoch + 1) % cfg.train.checkpoint_every == 0:
                    self.save(metrics)
        if writer is not None:
            writer.close()
        return TrainResult(self.run_dir, cfg.train.epochs, time.time() - started, metrics)

    def _advance_curriculum(self, error: float) -> None:
        """Feed the batch's sequence error to the curriculum; at an advance, tell a model that listens
        (and its average, so that the Neural GPU's tie averages the averaged weight sets too)."""
        if self.curriculum is None or not self.curriculum.record(error):
            return
        for model in [self.model] if self.average is None else [self.model, self.average]:
            hook = getattr(model, "curriculum_advanced", None)
            if hook is not None:
                hook()
        if self.show_progress:
            self.console.log(f"step {self.global_step}: curriculum advanced to {self.curriculum.describe()}")

    def _end_epoch(self, epoch: int, losses, accs, val: Batch, seconds: float, writer) -> dict[str, Any]:
        self.saved_model.eval()
        T = self.config.loss.iters
        metrics = {
            "epoch": epoch,
            "step": self.global_step,
            "loss": sum(losses) / max(len(losses), 1),
            "train_acc": sum(accs) / len(accs) if accs else None,
            "val_acc": exact_accuracy(self.saved_model, self.task, val, T, self.config.eval.batch_size),
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": seconds,
        }
        if self.curriculum is not None:
            metrics.update(curriculum_stage=self.curriculum.state.stage, curriculum_size=self.curriculum.state.size)
        with (self.run_dir / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps(metrics) + "\n")
        if writer is not None:
            for key, value in metrics.items():
                if key not in ("epoch", "step") and value is not None:
                    writer.add_scalar(key, value, epoch)
        if self.show_progress:
            self.console.log(
                f"epoch {epoch}/{self.config.train.epochs}  loss {metrics['loss']:.4f}  "
                f"val@{self.config.task.train_size} {metrics['val_acc']:.3f}  ({seconds:.1f}s)"
            )
        return metrics

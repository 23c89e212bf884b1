"""The trainer for learning by acting: rollouts, Q(lambda) or REINFORCE updates, the length
curriculum, metrics and resumable checkpoints in the same run-directory layout as supervised runs."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.console import Console

from algosynth.averaging import averaged_copy, polyak_update
from algosynth.checkpoints import (
    CheckpointError,
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
from algosynth.tape.controllers import build_controller
from algosynth.tape.curriculum import LengthCurriculum
from algosynth.tape.evaluate import KEPT, success_rate
from algosynth.tape.qlearning import q_loss
from algosynth.tape.reinforce import reinforce_loss
from algosynth.tape.rollout import Trajectory, one_thread, replay_scores, rollout
from algosynth.tape.tasks import TAPE_TASKS, Episodes
from algosynth.train import (LIVE, TrainingDiverged, TrainingInterrupted, TrainResult, make_optimizer, prepare_run_dir,
                             set_learning_rate, stop_requests)


TARGET = "target_network."  # prefix of the target network's weights among a checkpoint's training tensors


def is_tape_run_dir(run_dir: Path) -> bool:
    """Whether a run directory was started by ``algosynth train`` on a tape task (read from its config.yaml)."""
    config_file = Path(run_dir) / "config.yaml"
    if not config_file.exists():
        return False
    data = yaml.safe_load(config_file.read_text()) or {}
    return isinstance(data, dict) and (data.get("task") or {}).get("name") in TAPE_TASKS


def redraw_share(lengths: torch.Tensor, share: float, low: int, high: int, generator: torch.Generator) -> torch.Tensor:
    """``lengths`` with a ``share`` of them (a coin each) drawn again from ``low..high``; a share of 0
    draws no random numbers, so runs made before an option that uses this replay exactly."""
    if share <= 0:
        return lengths
    chosen = torch.rand(len(lengths), generator=generator) < share
    return torch.where(chosen, torch.randint(low, high + 1, (len(lengths),), generator=generator), lengths)


class TapeTrainer:
    """Trains one controller on one tape task into a run directory; ``resume`` continues a run exactly."""

    def __init__(self, config: Config, run_dir: Path, console: Console | None = None, show_progress: bool = True):
        self.config, self.run_dir = config, Path(run_dir)
        self.console = console or Console(stderr=True, log_path=False)
        self.show_progress = show_progress
        self.task = TAPE_TASKS[config.task.name]
        torch.manual_seed(config.train.seed)
        self.controller = build_controller(config.model, self.task)
        self.optimizer = make_optimizer(config, self.controller)
        rl = config.rl
        self.target = averaged_copy(self.controller) if rl.target_tau > 0 else None
        self.average = averaged_copy(self.controller) if config.train.ema > 0 else None
        self.curriculum = self._new_curriculum()
        self.update = 0
        self.pass_index, self.pass_start = 0, 0  # which curriculum pass, and the update it began at
        self.solved_at: int | None = None  # the update of the current pass that first solved its curriculum
        self.epochs_logged = 0  # every pass's epochs in turn; a pass may end mid-epoch, once solved
        self.best: tuple[int, float, int] | None = None  # (pass, validation success, epoch) of the best weights so far
        self.best_weights: dict[str, torch.Tensor] = {}
        self.finished = False

    def _new_curriculum(self) -> LengthCurriculum:
        rl = self.config.rl
        return LengthCurriculum(rl.start_length, rl.length_step, self.config.task.train_size, rl.window, rl.threshold)

    @classmethod
    def resume(cls, run_dir: Path, epochs: int | None = None, **kwargs) -> TapeTrainer:
        """``epochs`` extends the run (finished or not) to that many epochs in all; with rl.passes,
        that many in the current pass, as train.epochs counts per pass. A finished run of several
        passes or with selection is refused: it holds the kept weights, not the state it ended in."""
        checkpoint = resumable_checkpoint(run_dir, f"; evaluate it with algosynth eval {run_dir}, extend it with --epochs, "
                                                   f"or start a new run", epochs)
        config = from_dict(checkpoint.meta["config"])
        if checkpoint.meta.get("finished") and (config.rl.passes > 1 or config.rl.select_size > 0):
            raise CheckpointError(f"run {run_dir} finished its curriculum passes and holds the weights it kept (rl.passes, rl.select_size), "
                                  f"so --epochs cannot extend it; train on from them with a new run: --set train.init_from={run_dir}")
        trainer = cls(config, run_dir, **kwargs)
        load_weights_into(trainer.saved_controller, checkpoint)
        if trainer.average is not None:
            trainer.controller.load_state_dict(unprefixed_state(checkpoint.training, LIVE))
        trainer.optimizer.load_state_dict(optimizer_state_from_json(checkpoint.meta["optimizer"], checkpoint.training))
        if trainer.target is not None:
            trainer.target.load_state_dict(unprefixed_state(checkpoint.training, TARGET))
        trainer.curriculum.load_state_dict(checkpoint.meta["curriculum"])
        trainer.update = checkpoint.meta["global_step"]
        trainer.pass_index, trainer.pass_start = checkpoint.meta.get("pass", [0, 0])
        trainer.solved_at = checkpoint.meta.get("solved_at")
        per_epoch = trainer.config.rl.updates_per_epoch  # runs saved before passes existed: one pass
        trainer.epochs_logged = checkpoint.meta.get("epochs_logged", math.ceil(trainer.update / per_epoch))
        trainer.best = tuple(checkpoint.meta["best"]) if checkpoint.meta.get("best") else None
        trainer.best_weights = unprefixed_state(checkpoint.training, KEPT)
        return trainer

    @property
    def saved_controller(self) -> torch.nn.Module:
        """What validation scores and checkpoints hold as the weights: with train.ema, the average of
        the live weights, whose greedy path does not swing with every update's small reordering of
        near-tied actions; the live weights still act in training."""
        return self.controller if self.average is None else self.average

    @property
    def pass_updates(self) -> int:
        """Updates made in the current curriculum pass: they seed its episodes and count its epochs."""
        return self.update - self.pass_start

    @property
    def pass_over(self) -> bool:
        """A pass ends when its train.epochs are used up, or (with rl.stop_when_solved) once it solved the curriculum."""
        used_up = self.pass_updates >= self.config.train.epochs * self.config.rl.updates_per_epoch
        return used_up or (self.config.rl.stop_when_solved and self.curriculum.solved)

    def _validate(self, pass_end: bool) -> None:
        """Score the controller on rl.select_n greedy episodes of length rl.select_size (seed
        rl.select_seed, never eval.seed) and keep its weights if they beat every earlier score.
        Weights from inside a pass must score above 0, so a run that never succeeds at that length
        ends with a pass's final weights, not with its first, barely trained ones."""
        rl, ev = self.config.rl, self.config.eval
        scored = self.saved_controller.eval()
        score = success_rate(scored, self.task, rl.select_size, rl.select_n, ev.batch_size, rl.select_seed, rl.step_slack).success_rate
        to_beat = self.best[1] if self.best else (-1.0 if pass_end else 0.0)
        if score > to_beat:
            self.best = (self.pass_index + 1, score, self.epochs_logged)
            self.best_weights = {k: v.detach().clone() for k, v in scored.state_dict().items()}
        if self.show_progress:
            kept = f"epoch {self.best[2]} of pass {self.best[0]}" if self.best else "none (none scored above 0)"
            self.console.log(f"pass {self.pass_index + 1}, epoch {self.epochs_logged}: {100 * score:.1f}% of {rl.select_n} validation "
                             f"episodes at length {rl.select_size}; best so far: {kept}")

    def _sync_followers(self) -> None:
        """Restart the target network and the weight average from the controller's weights, as a run
        from ``init_from`` does."""
        for follower in (self.target, self.average):
            if follower is not None:
                follower.load_state_dict(self.controller.state_dict())

    def _end_pass(self) -> bool:
        """Validate the pass that ended (with rl.select_size), then start the next one; True when
        none is left, with the controller holding the kept pass's weights."""
        rl = self.config.rl
        if rl.select_size:
            self._validate(pass_end=True)
        if self.pass_index + 1 < rl.passes:
            self._start_next_pass()
            return False
        if rl.select_size:
            self.controller.load_state_dict(self.best_weights)
            self._sync_followers()
        return True

    def _start_next_pass(self) -> None:
        """What ``train.init_from`` would give a new run from these weights: the curriculum back at
        rl.start_length, a fresh optimiser, the target network synced, and the episodes drawn again
        from the start of the seed's stream."""
        self.pass_index, self.pass_start = self.pass_index + 1, self.update
        self.solved_at = None
        self.curriculum = self._new_curriculum()
        self.optimizer = make_optimizer(self.config, self.controller)
        self._sync_followers()

    def save(self, metrics: dict[str, Any]) -> Path:
        training: dict[str, torch.Tensor] = {}
        if self.target is not None:
            training.update(prefixed_state(self.target, TARGET))
        if self.average is not None:
            training.update(prefixed_state(self.controller, LIVE))
        training.update({KEPT + k: v for k, v in self.best_weights.items()})
        meta = {
            "config": self.config.to_dict(),
            "global_step": self.update,
            "epoch": self.pass_updates / self.config.rl.updates_per_epoch,  # of the current pass: what --epochs extends
            "pass": [self.pass_index, self.pass_start],
            "solved_at": self.solved_at,
            "epochs_logged": self.epochs_logged,
            "best": list(self.best) if self.best else None,
            "finished": self.finished,
            "optimizer": optimizer_state_to_json(self.optimizer.state_dict(), training),
            "curriculum": self.curriculum.state_dict(),
            "metrics": metrics,
        }
        return save_checkpoint(self.run_dir / "checkpoints", self.update, self.saved_controller.state_dict(), meta,
                               training, keep=self.config.train.keep_checkpoints)  # empty just after a pass reset the optimiser

    def _episodes(self, generator: torch.Generator):
        """Greedy episodes at the current length (they drive the curriculum) and exploring ones at
        lengths drawn from 1..current, so the controller keeps seeing every length it has learned;
        with rl.beyond_share some exploring ones are longer, up to rl.beyond_factor x current; with
        rl.short_share some are drawn last from 1..rl.short_max; with rl.easy_until, a share of the
        exploring ones come from the task's easy variant."""
        batch, rl, length = self.config.train.batch_size, self.config.rl, self.curriculum.length
        greedy = max(1, round(batch * rl.greedy_share))
        exploring = torch.randint(1, length + 1, (batch - greedy,), generator=generator)
        exploring = redraw_share(exploring, rl.beyond_share, length + 1, max(length + 1, int(rl.beyond_factor * length)), generator)
        exploring = redraw_share(exploring, rl.short_share, 1, min(length, rl.short_max), generator)
        lengths = torch.cat([torch.full((greedy,), length), exploring])
        easy = None
        if length <= rl.easy_until:
            easy = torch.cat([torch.zeros(greedy, dtype=torch.bool), torch.rand(batch - greedy, generator=generator) < rl.easy_share])
        return self.task.generate(lengths, batch, generator, rl.step_slack, easy, rl.easy_max), greedy

    def explore(self, episodes: Episodes, greedy: int, generator: torch.Generator) -> Trajectory:
        """The Q(lambda) rollout of a batch from ``_episodes``: the first ``greedy`` episodes act
        greedily (they score the curriculum), the others epsilon-greedily, with the run's state noise."""
        rl = self.config.rl
        epsilon = torch.cat([torch.zeros(greedy), torch.full((len(episodes) - greedy,), rl.epsilon)])
        return rollout(self.controller, episodes, "epsilon", epsilon, generator, state_noise=rl.state_noise,
                       explore_duration=rl.explore_duration)

    def _set_learning_rate(self) -> None:
        """The schedule's rate for this update of the pass, times rl.solved_lr_scale once the pass is solved."""
        set_learning_rate(self.optimizer, self.config, self.pass_updates, self.config.rl.updates_per_epoch)
        if self.solved_at is not None:
            for group in self.optimizer.param_groups:
                group["lr"] *= self.config.rl.solved_lr_scale

    def train_update(self) -> dict[str, float]:
        """One update from one batch of episodes; returns its loss terms and greedy accuracy."""
        rl, seed = self.config.rl, self.config.train.seed
        generator = torch.Generator().manual_seed(seed * 1_000_003 + self.pass_updates)
        episodes, greedy = self._episodes(generator)
        self.controller.train()
        if rl.algorithm == "q_lambda":
            trajectory = self.explore(episodes, greedy, generator)
            penalty = rl.penalty if self.curriculum.accuracy >= rl.penalty_after else 0.0
            target_scores = None if self.target is None else replay_scores(self.target, trajectory)
            loss, parts = q_loss(trajectory, rl.lam, rl.gamma, penalty, target_scores)
            outcomes = trajectory.success[:greedy]
        else:
            trajectory = rollout(self.controller, episodes, "sample", generator=generator, state_noise=rl.state_noise)
            loss, parts = reinforce_loss(trajectory)
            with torch.no_grad():
                outcomes = rollout(self.controller, episodes, "greedy", keep_outputs=False).success[:greedy]
        if not math.isfinite(float(loss.detach())):
            raise TrainingDiverged(f"loss became {float(loss.detach())} at update {self.update}; lower optim.lr or set optim.clip")
        self._set_learning_rate()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.optim.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.controller.parameters(), self.config.optim.clip)
        self.optimizer.step()
        if self.target is not None:
            polyak_update(self.target, self.controller, rl.target_tau)
        if self.average is not None:
            polyak_update(self.average, self.controller, 1 - self.config.train.ema)
        self.update += 1
        self.curriculum.record(outcomes.tolist())
        if self.solved_at is None and self.curriculum.solved:
            self.solved_at = self.pass_updates
            if self.show_progress and rl.solved_lr_scale < 1:
                self.console.log(f"length {self.curriculum.length} mastered at update {self.solved_at} of the pass: "
                                 f"the rate is x{rl.solved_lr_scale} from here to the pass's end (rl.solved_lr_scale)")
        return {**parts, "greedy_acc": float(outcomes.float().mean()), "length": self.curriculum.length}

    def _end_epoch(self, parts: list[dict[str, float]], seconds: float) -> dict[str, Any]:
        self.epochs_logged += 1
        keys = [k for k in parts[0] if k != "length"]
        metrics = {"epoch": self.epochs_logged, "pass": self.pass_index + 1, "step": self.update, **{k: sum(p[k] for p in parts) / len(parts) for k in keys},
                   "length": self.curriculum.length, "window_acc": self.curriculum.accuracy, "solved": self.curriculum.solved,
                   "seconds": seconds}
        with (self.run_dir / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps(metrics) + "\n")
        if self.show_progress:
            passes = f"pass {self.pass_index + 1}/{self.config.rl.passes}  " if self.config.rl.passes > 1 else ""
            in_pass = math.ceil(self.pass_updates / self.config.rl.updates_per_epoch)
            self.console.log(f"{passes}epoch {in_pass}/{self.config.train.epochs}  length {metrics['length']}/{self.config.task.train_size}  "
                             f"window acc {metrics['window_acc']:.3f}  ({seconds:.1f}s)")
        return metrics

    def fit(self) -> TrainResult:
        """Run rl.passes curriculum passes, each until its epochs are used up or (with
        rl.stop_when_solved) the final length is mastered; each later pass starts from the weights
        the one before ended with. ``epoch`` in the log counts every pass's epochs in turn."""
        cfg, started, metrics = self.config, time.time(), {}
        if self.update == 0 and cfg.train.init_from:
            load_initial_weights(self.controller, cfg.train.init_from)
            self._sync_followers()
        per_epoch = cfg.rl.updates_per_epoch
        prepare_run_dir(self.run_dir, cfg, self.epochs_logged)
        with stop_requests() as stop, one_thread():
            while not self.finished:
                epoch_started, parts = time.time(), []
                while self.pass_updates % per_epoch or not parts:
                    parts.append(self.train_update())
                    if stop:
                        path = self.save(metrics)
                        raise TrainingInterrupted(f"stopped by {stop[0]} at update {self.update}; checkpoint saved to {path}. "
                                                  f"Continue with: algosynth train --resume {self.run_dir}")
                    if self.pass_over:
                        break
                metrics = self._end_epoch(parts, time.time() - epoch_started)
                if self.pass_over:
                    self.finished = self._end_pass()
                elif cfg.rl.select_every and self.epochs_logged % cfg.rl.select_every == 0:
                    self._validate(pass_end=False)
                if self.finished or self.epochs_logged % cfg.train.checkpoint_every == 0:
                    self.save(metrics)
        return TrainResult(self.run_dir, self.epochs_logged, time.time() - started, metrics)

"""Checkpoints without pickle: safetensors for every tensor, a JSON sidecar for everything else.

A checkpoint is a folder ``checkpoints/step_000001234/`` holding ``model.safetensors`` (the
weights), ``training.safetensors`` (optimiser tensors and RNG states) and ``meta.json`` (config,
progress, optimiser hyper-parameters and the files' SHA-256). It is written under a temporary
name and renamed into place, so a crash never leaves a half-written checkpoint that looks whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from algosynth.errors import AlgosynthError

PREFIX = "step_"
FORMAT = 1


class CheckpointError(AlgosynthError):
    """A checkpoint that is missing, truncated, corrupt, or belongs to another model."""


@dataclass
class Checkpoint:
    path: Path
    meta: dict[str, Any]
    weights: dict[str, torch.Tensor]
    training: dict[str, torch.Tensor] | None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tensors_to_json(value: Any, prefix: str, tensors: dict[str, torch.Tensor]) -> Any:
    """Move every tensor inside a nested structure into ``tensors``, leaving a reference behind."""
    if isinstance(value, torch.Tensor):
        tensors[prefix] = value.detach().cpu().clone().contiguous()
        return {"__tensor__": prefix}
    if isinstance(value, dict):
        return {str(k): _tensors_to_json(v, f"{prefix}.{k}", tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tensors_to_json(v, f"{prefix}.{i}", tensors) for i, v in enumerate(value)]
    return value


def _json_to_tensors(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__tensor__"}:
            return tensors[value["__tensor__"]]
        return {k: _json_to_tensors(v, tensors) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_to_tensors(v, tensors) for v in value]
    return value


def optimizer_state_to_json(state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Any:
    return _tensors_to_json(state, "optim", tensors)


def optimizer_state_from_json(data: Any, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Rebuild ``optimizer.state_dict()``; JSON turned its integer parameter ids into strings."""
    state = _json_to_tensors(data, tensors)
    state["state"] = {int(k): v for k, v in state["state"].items()}
    return state


def prefixed_state(module: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    """A second network's weights under ``prefix``, to travel among a checkpoint's training tensors
    (the live weights beside their saved average, a tape run's target network)."""
    return {prefix + k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def unprefixed_state(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The weights ``prefixed_state`` stored under ``prefix``, as a state dict again."""
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


def save_checkpoint(
    checkpoint_dir: Path,
    step: int,
    weights: dict[str, torch.Tensor],
    meta: dict[str, Any],
    training: dict[str, torch.Tensor] | None = None,
    keep: int | None = None,
) -> Path:
    """Write a checkpoint atomically and prune all but the newest ``keep`` ones."""
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    final = checkpoint_dir / f"{PREFIX}{step:09d}"
    tmp = checkpoint_dir / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({k: v.detach().cpu().contiguous() for k, v in weights.items()}, str(tmp / "model.safetensors"))
    files = {"model.safetensors": _sha256(tmp / "model.safetensors")}
    if training is not None:
        save_file(training, str(tmp / "training.safetensors"))
        files["training.safetensors"] = _sha256(tmp / "training.safetensors")
    (tmp / "meta.json").write_text(json.dumps({"format": FORMAT, **meta, "files": files}, indent=1))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    if keep is not None:
        for old in list_checkpoints(checkpoint_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(checkpoint_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    if not checkpoint_dir.is_dir():
        return []
    return sorted(p for p in checkpoint_dir.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


SHIPPED_DIR = Path(__file__).parent / "weights"


def shipped_models() -> dict[str, Path]:
    """Models that come with the package, by name: usable wherever a run directory is."""
    if not SHIPPED_DIR.is_dir():
        return {}
    return {p.name: p for p in sorted(SHIPPED_DIR.iterdir()) if (p / "meta.json").exists()}


def resolve_checkpoint(path: Path) -> Path:
    """Accept a run directory, its ``checkpoints/`` folder, one checkpoint folder or a shipped model's name."""
    path = Path(path)
    if not path.exists() and str(path) in shipped_models():
        return shipped_models()[str(path)]
    if not path.exists():
        names = ", ".join(shipped_models()) or "none"
        raise CheckpointError(
            f"{path} does not exist; give a run directory (e.g. runs/demo), a checkpoint folder or a shipped model ({names})"
        )
    if (path / "meta.json").exists():
        return path
    for folder in (path / "checkpoints", path):
        found = list_checkpoints(folder)
        if found:
            return found[-1]
    raise CheckpointError(f"{path} holds no checkpoint; train first (algosynth train ...) or point at a run directory")


def load_checkpoint(path: Path, with_training: bool = True) -> Checkpoint:
    """Read and verify a checkpoint; any damage becomes one CheckpointError naming the file."""
    folder = resolve_checkpoint(path)
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        raise CheckpointError(f"{folder / 'meta.json'} is missing or corrupt; use an earlier checkpoint in {folder.parent}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or "files" not in meta:
        raise CheckpointError(f"{folder} is not an algosynth checkpoint (format {FORMAT})")
    tensors: dict[str, dict[str, torch.Tensor]] = {}
    for name, digest in meta["files"].items():
        file = folder / name
        if name == "training.safetensors" and not with_training:
            continue
        if not file.exists() or _sha256(file) != digest:
            raise CheckpointError(f"{file} is truncated or corrupt (checksum mismatch); use an earlier checkpoint in {folder.parent}")
        try:
            tensors[name] = load_file(str(file))
        except (SafetensorError, OSError, ValueError) as error:
            raise CheckpointError(f"{file} cannot be read ({error}); use an earlier checkpoint") from None
    return Checkpoint(folder, meta, tensors["model.safetensors"], tensors.get("training.safetensors"))


def load_weights_into(model: torch.nn.Module, checkpoint: Checkpoint) -> None:
    """Load weights, refusing a checkpoint whose parameter names or shapes belong to another model."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in checkpoint.weights.items()}
    if expected != found:
        missing = sorted(set(expected) - set(found))[:3]
        mismatched = [k for k in expected if k in found and expected[k] != found[k]][:3]
        detail = f"missing {missing}" if missing else f"shape differs for {mismatched}" if mismatched else "extra parameters"
        raise CheckpointError(
            f"checkpoint {checkpoint.path} holds a different model than the config describes ({detail}); "
            "point at a run trained with this model config"
        )
    model.load_state_dict(checkpoint.weights)


def load_initial_weights(model: torch.nn.Module, source: str | Path) -> None:
    """Start a new run from another run's weights (``train.init_from``); only the weights travel."""
    try:
        load_weights_into(model, load_checkpoint(Path(source), with_training=False))
    except CheckpointError as error:
        raise CheckpointError(f"train.init_from: {error}") from None


def export_weights(run_or_checkpoint: Path, destination: Path, provenance: dict[str, Any]) -> Path:
    """Write a run's weights as a self-contained inference checkpoint: weights, config and provenance only."""
    checkpoint = load_checkpoint(run_or_checkpoint, with_training=False)
    if destination.exists():
        raise CheckpointError(f"{destination} already exists; choose a new destination")
    meta = {key: checkpoint.meta[key] for key in ("config", "global_step", "epoch", "finished", "metrics")}
    folder = save_checkpoint(destination.parent / f".export-{destination.name}", checkpoint.meta["global_step"],
                             checkpoint.weights, {**meta, "provenance": provenance})
    os.replace(folder, destination)
    shutil.rmtree(folder.parent, ignore_errors=True)
    return destination


def resumable_checkpoint(run_dir: Path, finished_hint: str, epochs: int | None = None) -> Checkpoint:
    """A run's last checkpoint with its training state, refusing a run with nothing left to resume.

    Every trainer resumes through this, so the refusals read the same; ``finished_hint`` says what
    the finished run holds and what to do instead. ``epochs`` extends the run, finished or not, to
    that many epochs in all by changing the saved config the trainer is rebuilt from; under a
    constant schedule the extended run is step for step the run that had those epochs from the start.
    """
    run_dir = Path(run_dir)
    if not list_checkpoints(run_dir / "checkpoints"):
        raise CheckpointError(f"{run_dir} has no checkpoint to resume from; start it with algosynth train")
    checkpoint = load_checkpoint(run_dir)
    if epochs is not None:
        done = checkpoint.meta["epoch"]
        if epochs <= done:
            raise CheckpointError(f"--epochs {epochs} does not extend run {run_dir}, which has done {done:g} epochs; give more")
        checkpoint.meta["config"]["train"]["epochs"] = epochs
    elif checkpoint.meta.get("finished"):
        raise CheckpointError(f"run {run_dir} already finished{finished_hint}")
    if checkpoint.training is None:
        raise CheckpointError(f"{checkpoint.path} holds weights only, not the training state needed to resume")
    return checkpoint

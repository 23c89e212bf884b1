"""An on-disk cache of generated datasets, keyed by every parameter that shapes them.

Writes go to a temporary file in the same folder and are renamed into place, so a crash mid-write
leaves either the old state or the new file, never a truncated one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from algosynth.tasks.base import Batch, Task

CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    return Path(os.environ.get("ALGOSYNTH_CACHE_DIR", Path.home() / ".cache" / "algosynth"))


def cache_key(task: Task, size: int, n: int, seed: int) -> str:
    params = {"format": CACHE_FORMAT, "task": task.name, "spec": repr(task.spec), "size": size, "n": n, "seed": seed}
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:32]


def _write_atomically(path: Path, batch: Batch) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, inputs=batch.inputs.numpy(), targets=batch.targets.numpy(), mask=batch.mask.numpy())
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> Batch | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return Batch(*(torch.from_numpy(data[k].copy()) for k in ("inputs", "targets", "mask")))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def generate_cached(task: Task, size: int, n: int, seed: int, cache_dir: Path | None = None) -> Batch:
    """``task.generate(size, n, seed)``, read from the cache when present and written to it when not."""
    path = (cache_dir or default_cache_dir()) / f"{task.name}-{size}-{n}-{seed}-{cache_key(task, size, n, seed)}.npz"
    if path.exists() and (batch := _read(path)) is not None:
        return batch
    batch = task.generate(size, n, seed)
    _write_atomically(path, batch)
    return batch

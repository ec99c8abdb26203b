"""Files in an output folder cached by content: a sidecar records what each was made from.

    cached_measure(out, metric, options, cfg, run_, progress) -> ((names, values), notes, "reused" | "computed")
    current_measure(out, metric, options, cfg, run_) -> ((names, values), notes) or None (nothing computed or written)
    saved_if_current(path, key) -> the sidecar's record, or None (recompute)
    write_sidecar(path, key, **extra)

The sidecar of `DIR/x.csv` is `DIR/x.key.json`: {"key": key, "sha256": the file's
sha256, **extra}. A file is current when its sidecar records the same key and
the file still has that sha256, so an edited, truncated or foreign file is made
again. A similarity measure's key is its name, its options, the seed, every
model's content key (label and weights hash) and the images' key. `archsim demo`
computes and writes `DIR/<metric>.csv`; `archsim ensemble` and `archsim distill`
read it back when it is current for their models, and never overwrite it (distill
builds only its student and teachers, whose matrix must not replace the zoo's).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def measure_key(metric: str, options: dict, cfg, run_) -> dict:
    """The content key of `metric` with `options` on the run's models and test images (JSON-normalised)."""
    from archsim.store import dataset_entry, model_entry

    key = {"metric": metric, "options": options, "seed": cfg.seed,
           "models": [[s.label, model_entry(s.label, s.name, s.kwargs, run_.models[s.label]).key]
                      for s in cfg.models],
           "images": dataset_entry(run_.images).key}
    return json.loads(json.dumps(key, default=str))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.stem + ".key.json")


def saved_if_current(path: Path, key) -> dict | None:
    """The sidecar of `path` when it records `key` and path's current sha256; else None (recompute)."""
    if not (path.is_file() and _sidecar(path).is_file()):
        return None
    try:
        saved = json.loads(_sidecar(path).read_text())
    except ValueError:
        return None
    return saved if saved.get("key") == key and saved.get("sha256") == _sha256(path) else None


def write_sidecar(path: Path, key, **extra) -> None:
    """Record that `path` was made from `key` (with its sha256), atomically."""
    from archsim.files import atomic_path

    with atomic_path(_sidecar(path)) as tmp:
        tmp.write_text(json.dumps({"key": key, "sha256": _sha256(path), **extra}, indent=1))


def current_measure(out, metric: str, options: dict, cfg, run_, key: dict | None = None):
    """((names, values), notes) from DIR/<metric>.csv when its sidecar records this run's key; else None.

    `key` is `measure_key(metric, options, cfg, run_)`, computed here when not given.
    """
    from archsim.matrix_csv import read_matrix

    csv_path = Path(out) / f"{metric}.csv"
    saved = saved_if_current(csv_path, key or measure_key(metric, options, cfg, run_))
    return None if saved is None else (read_matrix(csv_path), saved.get("notes", []))


def cached_measure(out, metric: str, options: dict, cfg, run_, progress: bool):
    """((names, values), notes, "reused") from DIR/<metric>.csv when current; else computed, written, "computed"."""
    from archsim.similarity.registry import MEASURES
    from archsim.similarity_command import write_measure

    key = measure_key(metric, options, cfg, run_)  # hashes every model's weights: once
    found = current_measure(out, metric, options, cfg, run_, key)
    if found is not None:
        return (*found, "reused")
    result = MEASURES[metric](run_, options, seed=cfg.seed, progress=progress)
    write_measure(Path(out), metric, result)
    notes = result.labelled_notes(metric)
    write_sidecar(Path(out) / f"{metric}.csv", key, notes=notes)
    return (result.names, result.values), notes, "computed"

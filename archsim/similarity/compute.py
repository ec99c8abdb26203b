"""Measures computed for a run, cached by content in its output folder.

    compute_measure(name, options, cfg, run_, out, progress) -> SimilarityResult     (nothing cached or written)
    cached_measure(out, name, options, cfg, run_, progress) -> ((names, values), notes, "reused" | "computed")
    current_measure(out, name, options, cfg, run_) -> ((names, values), notes) or None (nothing computed or written)
    similarity_matrices(out, cfg, run_, names, options, progress) -> ({name: (names, values)}, notes)

`DIR/<name>.csv` is current when its sidecar (`archsim.files.saved_if_current`)
records the measure's content key: its name and version, its options, the seed, every
model's content key (label and weights hash) and the images' key. `archsim demo`
computes and writes `DIR/<name>.csv`; `archsim ensemble` and `archsim distill`
(`similarity_matrices`) read it back when it is current for their models, else
compute it without writing (distill builds only its student and teachers, whose
matrix must not replace the zoo's). SAT is read from, or computed into, the run
store in `out`, like `archsim sat --out out`.
"""

from __future__ import annotations

import json
from pathlib import Path

from archsim.files import saved_if_current, write_sidecar
from archsim.matrices import read_matrix, write_measure
from archsim.similarity.measure import MeasureInputs, SimilarityResult
from archsim.similarity.registry import get_measure
from archsim.store import dataset_entry, model_entry


def measure_key(name: str, options: dict, cfg, run_) -> dict:
    """The content key of measure `name` with `options` on the run's models and test images (JSON-normalised)."""
    key = {"metric": name, "version": get_measure(name).version, "options": options, "seed": cfg.seed,
           "models": [[s.label, model_entry(s.label, s.name, s.kwargs, run_.models[s.label]).key]
                      for s in cfg.models],
           "images": dataset_entry(run_.images).key}
    return json.loads(json.dumps(key, default=str))


def compute_measure(name: str, options: dict, cfg, run_, out, progress: bool) -> SimilarityResult:
    """Measure `name` of the run's models (sat through the run store in `out`)."""
    inputs = MeasureInputs(run_, seed=cfg.seed, progress=progress, cfg=cfg, out=Path(out))
    return get_measure(name)(inputs, options)


def current_measure(out, name: str, options: dict, cfg, run_, key: dict | None = None):
    """((names, values), notes) from DIR/<name>.csv when its sidecar records this run's key; else None.

    `key` is `measure_key(name, options, cfg, run_)`, computed here when not given.
    """
    csv_path = Path(out) / f"{name}.csv"
    saved = saved_if_current(csv_path, key or measure_key(name, options, cfg, run_))
    return None if saved is None else (read_matrix(csv_path), saved.get("notes", []))


def cached_measure(out, name: str, options: dict, cfg, run_, progress: bool):
    """((names, values), notes, "reused") from DIR/<name>.csv when current; else computed, written, "computed"."""
    key = measure_key(name, options, cfg, run_)  # hashes every model's weights: once
    found = current_measure(out, name, options, cfg, run_, key)
    if found is not None:
        return (*found, "reused")
    result = compute_measure(name, options, cfg, run_, out, progress)
    write_measure(Path(out), name, result)
    notes = result.labelled_notes(name)
    write_sidecar(Path(out) / f"{name}.csv", key, notes=notes)
    return (result.names, result.values), notes, "computed"


def similarity_matrices(out, cfg, run_, names: list[str], options: dict, *, progress: bool = True):
    """({name: (names, values)}, the measures' notes), in the order of `names`; nothing is written."""
    sims, notes = {}, []
    for name in names:
        found = current_measure(out, name, options[name], cfg, run_)
        if found is not None:
            sims[name], measure_notes = found
        else:
            result = compute_measure(name, options[name], cfg, run_, out, progress)
            sims[name], measure_notes = (result.names, result.values), result.labelled_notes(name)
        notes += measure_notes
    return sims, notes

"""Measures computed for a run, cached by content in its output folder.

    compute_measure(name, options, cfg, run_, out, progress) -> SimilarityResult     (nothing cached or written)
    cached_measure(out, name, options, cfg, run_, progress) -> ((names, values), notes, "reused" | "computed")
    current_measure(out, name, options, cfg, run_) -> ((names, values), notes) or None (nothing computed or written)
    similarity_matrices(out, cfg, run_, names, options, progress) -> ({name: (names, values)}, notes)
    decision_similarities(out, cfg, run_, names, options, progress) -> the same on the validation images
    cached_similarities(out, cfg, run_, names, options, folder, progress) -> ({name: (names, values)}, notes), cached
    cached_decision_similarities(out, cfg, run_, names, options, progress) -> the same on the validation images

`DIR/<name>.csv` is current when its sidecar (`archsim.files.saved_if_current`)
records the measure's content key: its name and version, its options, the seed, every
model's content key (label and weights hash) and the images' key. `archsim demo`
computes and writes `DIR/<name>.csv`; `archsim ensemble` and `archsim distill`
(`similarity_matrices`) read it back when it is current for their models, else
compute it without writing (distill builds only its student and teachers, whose
matrix must not replace the zoo's). SAT is read from, or computed into, the run
store in `out`, like `archsim sat --out out`.

Every choice (ensemble members, lambda, the selection rule, teachers) is made
from `decision_similarities`: the measures of `run_.on_validation()`, whose
evaluation images are the validation images, with SAT's own attack and
evaluation units on them in the same run store. Their matrices are cached in
`DIR/validation/<name>.csv` (the demo writes them). The test images only score
what was chosen.
"""

from __future__ import annotations

import json
from pathlib import Path

from archsim.files import saved_if_current, write_sidecar
from archsim.matrices import read_matrix, write_measure
from archsim.similarity.measure import MeasureInputs, SimilarityResult
from archsim.similarity.registry import get_measure
from archsim.store import dataset_entry, model_entry

VALIDATION_FOLDER = "validation"  # DIR/validation/<name>.csv: the measures on the validation images


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


def current_measure(out, name: str, options: dict, cfg, run_, key: dict | None = None, *, folder=None):
    """((names, values), notes) from FOLDER/<name>.csv (FOLDER: `out` by default) when its sidecar records this
    run's key; else None.

    `key` is `measure_key(name, options, cfg, run_)`, computed here when not given.
    """
    csv_path = Path(folder or out) / f"{name}.csv"
    saved = saved_if_current(csv_path, key or measure_key(name, options, cfg, run_))
    return None if saved is None else (read_matrix(csv_path), saved.get("notes", []))


def cached_measure(out, name: str, options: dict, cfg, run_, progress: bool, *, folder=None):
    """((names, values), notes, "reused") from FOLDER/<name>.csv (FOLDER: `out` by default) when current; else
    computed, written there and read back, "computed"."""
    key = measure_key(name, options, cfg, run_)  # hashes every model's weights: once
    found = current_measure(out, name, options, cfg, run_, key, folder=folder)
    if found is not None:
        return (*found, "reused")
    result = compute_measure(name, options, cfg, run_, out, progress)
    write_measure(Path(folder or out), name, result)
    write_sidecar(Path(folder or out) / f"{name}.csv", key, notes=result.labelled_notes(name))
    # the values as written (6 significant digits), so that a rerun that reads them back gives the same answers
    return (*current_measure(out, name, options, cfg, run_, key, folder=folder), "computed")


def similarity_matrices(out, cfg, run_, names: list[str], options: dict, *, progress: bool = True, folder=None):
    """({name: (names, values)}, the measures' notes), in the order of `names`; nothing is written."""
    sims, notes = {}, []
    for name in names:
        found = current_measure(out, name, options[name], cfg, run_, folder=folder)
        if found is not None:
            sims[name], measure_notes = found
        else:
            result = compute_measure(name, options[name], cfg, run_, out, progress)
            sims[name], measure_notes = (result.names, result.values), result.labelled_notes(name)
        notes += measure_notes
    return sims, notes


def decision_similarities(out, cfg, run_, names: list[str], options: dict, *, progress: bool = True):
    """`similarity_matrices` on the validation images (`run_.on_validation()`), read back from
    DIR/validation/<name>.csv when current: the similarities every choice is made from."""
    return similarity_matrices(out, cfg, run_.on_validation(), names, options, progress=progress,
                               folder=Path(out) / VALIDATION_FOLDER)


def cached_similarities(out, cfg, run_, names: list[str], options: dict, *, folder=None, progress: bool = True,
                        where: str = ""):
    """({name: (names, values)}, notes), each measure computed once and cached in FOLDER/<name>.csv (FOLDER: `out`
    by default; `cached_measure`); a measure that fails is left out with a note naming why (and `where`)."""
    sims, notes = {}, []
    for name in names:
        try:
            sims[name], measure_notes, _ = cached_measure(out, name, options.get(name, {}), cfg, run_, progress,
                                                          folder=folder)
            notes += measure_notes
        except Exception as e:  # noqa: BLE001 - as on the test images: a measure that fails for this zoo is skipped
            notes.append(f"{name}{where}: skipped: {type(e).__name__}: {e}")
    return sims, notes


def cached_decision_similarities(out, cfg, run_, names: list[str], options: dict, *, progress: bool = True):
    """({name: (names, values)}, notes) on the validation images, each computed once and cached in
    DIR/validation/<name>.csv (`cached_similarities`); a measure that fails is left out with a note naming why."""
    return cached_similarities(out, cfg, run_.on_validation(), names, options, folder=Path(out) / VALIDATION_FOLDER,
                               progress=progress, where=" on the validation images")

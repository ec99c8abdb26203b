"""The scorecard of a run: every measure through the known-answer tests (`archsim scorecard`, the demo's stage).

    run_scorecard(out, cfg, run_, sat, measures, options, tests, progress) -> Scorecard

`sat` is the run's SATResult and `measures` {name: (names, values)} the run's other matrices, as
`archsim demo` computes them; each becomes a row, beside SAT, sat-adjusted and the fused measure (the mean
rank of all of them, `analysis.scorecard.fusion`). The tests (TEST_NAMES; `known_answers`, `reliability`,
`layer_order` have the formulas):

- seeds: on the run's models, when some architecture has two or more seeds (else skipped with a note);
- untrained: on the run's models and one untrained copy per architecture (`pools.untrained_pool`), every
  measure computed afresh on that pool (SAT: the copies' attacks and evaluations added to the run store);
- reliability: every measure on each half of the evaluation images (SAT's halves from the stored outcomes;
  a measure of weights alone, which uses no images, is not applicable);
- layer-order: for `cka`, the minibatch CKA of `archsim layers` inside every trained model.

A test the pool cannot take (ArchsimError: too few images to split, ...) is skipped with its reason in the
notes; the other tests still run.

The scorecard goes to DIR/scorecard.csv and DIR/scorecard_seeds.csv, with a sidecar recording what it was made
from (`scorecard_key`), so a rerun on the same models, images and matrices reads it back; what the tests
computed is cached in DIR/scorecard/ (the pools' matrices with their content keys, the layer curves), so a
change of one measure recomputes only that measure's pools.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from analysis.scorecard.fusion import NAME as FUSED
from analysis.scorecard.fusion import fused
from analysis.scorecard.known_answers import (
    Estimate,
    architecture_auc,
    mutual_nearest,
    mutual_nearest_share,
    seed_auc,
    untrained_auc,
)
from analysis.scorecard.layer_order import first_layer_curves, layer_order
from analysis.scorecard.pools import (
    architectures,
    half_run,
    pool_matrices,
    sat_matrices,
    untrained_pool,
    untrained_sat,
)
from analysis.scorecard.reliability import image_halves, reliability, sat_halves
from analysis.scorecard.table import ArchitectureSeeds, Scorecard
from archsim.errors import ArchsimError
from archsim.files import saved_if_current, write_rows, write_sidecar
from archsim.sat.effects import effects_or_reason
from archsim.similarity.compute import measure_key
from archsim.similarity.registry import get_measure, oriented
from archsim.similarity.weight_measures import MEASURES as WEIGHT_MEASURES
from archsim.store import dataset_entry, model_entry

TEST_NAMES = ("seeds", "untrained", "reliability", "layer-order")
VERSION = 1  # raised when a statistic changes, so a scorecard of the old one is not read back
IMAGE_FREE = {m.name for m in WEIGHT_MEASURES}  # measures of the weights alone: the same on any images


def run_scorecard(out, cfg, run_, sat, measures: dict, options: dict, *, tests=TEST_NAMES,
                  progress: bool = False) -> Scorecard:
    """The scorecard of `tests` for SAT, sat-adjusted, every measure of `measures` and the fused measure, written to
    DIR/scorecard.csv and DIR/scorecard_seeds.csv; read back from them when their sidecar records this key."""
    out, names = Path(out), list(sat.names)
    trained = {**sat_matrices(sat), **similarities(measures, options, names)}
    key = scorecard_key(cfg, run_, trained, options, tests)
    saved = saved_if_current(out / "scorecard.csv", key)
    if saved is not None and (out / "scorecard_seeds.csv").is_file():
        return Scorecard.read(out, saved.get("notes", []))
    card, arch = Scorecard(measures=[*trained, FUSED]), architectures(cfg)
    if "sat-adjusted" not in trained:
        reason = effects_or_reason(sat.sat, sat.censored)[1]
        card.notes.append(f"sat-adjusted: not scored on the run's models: {reason}")
    steps = {"seeds": lambda: _seeds(card, trained, [arch[n] for n in names], cfg.seed),
             "untrained": lambda: _untrained(card, out, cfg, run_, list(measures), options, arch, progress),
             "reliability": lambda: _reliability(card, out, cfg, run_, sat, trained, options, progress),
             "layer-order": lambda: _layer_order(card, out, cfg, run_, names, arch, progress)}
    for test in (t for t in TEST_NAMES if t in tests):
        start = time.perf_counter()
        try:
            steps[test]()
        except ArchsimError as e:  # a test this pool cannot take is skipped with its reason; the others still run
            card.notes.append(f"{test}: skipped: {e}")
        card.seconds[test] = time.perf_counter() - start
    card.write(out)
    write_sidecar(out / "scorecard.csv", key, notes=card.notes)
    return card


def scorecard_key(cfg, run_, trained: dict, options: dict, tests) -> dict:
    """What a scorecard is made from: the tests, seed and attack, every model (weights hash) and the images, and each
    measure's name, version, options and matrix (sha256 of its values)."""
    key = {"version": VERSION, "tests": sorted(tests), "seed": cfg.seed, "batch_size": cfg.batch_size,
           "attack": cfg.attack, "eps_s": cfg.eps_s, "precision": cfg.precision,
           "models": [[s.label, model_entry(s.label, s.name, s.kwargs, run_.models[s.label]).key] for s in cfg.models],
           "images": dataset_entry(run_.images).key,
           "measures": [[m, get_measure(m).version, options.get(m, {}),
                         hashlib.sha256(np.ascontiguousarray(v, dtype=float).tobytes()).hexdigest()]
                        for m, v in trained.items()]}
    return json.loads(json.dumps(key, default=str))


def similarities(measures: dict, options: dict, order: list[str]) -> dict[str, np.ndarray]:
    """{measure: its matrix as a similarity (larger = more similar), models in `order`} of {measure: (names,
    values)}."""
    out = {}
    for measure, (names, values) in measures.items():
        idx = [list(names).index(n) for n in order]
        out[measure] = oriented(measure, np.asarray(values, dtype=float)[np.ix_(idx, idx)], options[measure])
    return out


def _with_fused(matrices: dict) -> dict:
    return {**matrices, FUSED: fused(matrices)} if matrices else {}


def _seeds(card: Scorecard, matrices: dict, groups: list[str], seed: int) -> None:
    repeated = sorted({g for g in groups if groups.count(g) > 1}, key=groups.index)
    if not repeated:
        card.notes.append("seeds: skipped: no architecture has two or more models in this pool (add one that "
                          "differs from another only in its `seed` or its weights)")
        return
    for measure, values in _with_fused(matrices).items():
        card.add(measure, "seeds: AUC", seed_auc(values, groups, seed=seed))
        card.add(measure, "seeds: mutual nearest", mutual_nearest_share(values, groups, seed=seed))
        found = mutual_nearest(values, groups)
        for a in repeated:
            hits = [ok for (i, _), ok in found.items() if groups[i] == a]
            card.per_architecture.append(ArchitectureSeeds(measure, a, groups.count(a),
                                                           architecture_auc(values, groups, a), sum(hits), len(hits)))
    card.notes.append(f"seeds: {len(repeated)} architecture(s) with seeds ({', '.join(repeated)}); the per-"
                      "architecture values rest on a few pairs each and have no interval")


def _untrained(card: Scorecard, out: Path, cfg, run_, names: list[str], options: dict, arch: dict,
               progress: bool) -> None:
    pool_cfg, pool_run, copies = untrained_pool(cfg, run_)
    labels = [s.label for s in pool_cfg.models]
    computed, notes = pool_matrices(out / "scorecard" / "untrained", pool_cfg, pool_run, names, options, progress)
    matrices = {**untrained_sat(out, pool_cfg, pool_run, progress), **similarities(computed, options, labels)}
    groups = [arch.get(n) or arch[copies[n]] for n in labels]
    trained = [n not in copies for n in labels]
    if "sat-adjusted" not in matrices:
        card.notes.append("untrained: sat-adjusted not scored: too few models with a measured pair for per-model "
                          "effects")
    for measure, values in _with_fused(matrices).items():
        card.add(measure, "untrained: AUC", untrained_auc(values, groups, trained, seed=cfg.seed))
    card.notes += brief(notes, "untrained", "scorecard/untrained")
    card.notes.append(f"untrained: {len(copies)} untrained copies (one per architecture, `<label>_untrained`) "
                      "scored against the trained models; their matrices are in scorecard/untrained/")


def _reliability(card: Scorecard, out: Path, cfg, run_, sat, trained: dict, options: dict, progress: bool) -> None:
    halves = image_halves(run_.images.labels.numpy(), cfg.seed)
    matrices = [dict(sat_matrices(s)) for s in sat_halves(sat, halves)]
    image_measures = [m for m in trained if m not in matrices[0] and m not in IMAGE_FREE]
    notes = []
    for k, (idx, part) in enumerate(zip(halves, matrices)):
        computed, half_notes = pool_matrices(out / "scorecard" / f"half_{'ab'[k]}", cfg, half_run(run_, idx),
                                             image_measures, options, progress)
        part.update(similarities(computed, options, list(sat.names)))
        part.update({m: trained[m] for m in trained if m in IMAGE_FREE})  # the same on either half
        notes += [f"half {'ab'[k]}: {n}" for n in half_notes]
    card.notes += brief(notes, "reliability", "scorecard/half_a and half_b")
    halves_a, halves_b = _with_fused(matrices[0]), _with_fused(matrices[1])
    for measure in halves_a:
        if measure in IMAGE_FREE:
            card.add(measure, "reliability", Estimate(np.nan, note="uses no images: not applicable"))
        elif measure in halves_b:
            card.add(measure, "reliability", reliability(halves_a[measure], halves_b[measure], seed=cfg.seed))
    card.notes.append(f"reliability: each measure on two halves of {len(halves[0])} and {len(halves[1])} "
                      "evaluation images (stratified by class); rho of their pairs, at half the images")


def _layer_order(card: Scorecard, out: Path, cfg, run_, names: list[str], arch: dict, progress: bool) -> None:
    path = out / "scorecard" / "layer_order.csv"
    key = measure_key("cka", {"scorecard": "layer order", "batch_size": cfg.batch_size}, cfg, run_)
    saved = saved_if_current(path, key)
    if saved is None:
        curves, notes = first_layer_curves(run_, names, cfg.batch_size, progress)
        write_rows(path, ["model", "layer", "depth", "cka_with_first"],
                   [[m, layer, k, float(v)] for m, (layers, curve) in curves.items()
                    for k, (layer, v) in enumerate(zip(layers, curve))])
        write_sidecar(path, key, notes=notes)
    else:
        notes = saved.get("notes", [])
    curves = _read_curves(path)  # the written values, so that a rerun that reads them back scores the same
    card.notes += [f"layer order: {n}" for n in notes]
    card.add("cka", "layer order", layer_order(curves, arch, seed=cfg.seed))
    card.notes.append("layer order: the minibatch CKA of `archsim layers` (unbiased HSIC) of each trained "
                      "model's first stage with its later stages and pre_logits (scorecard/layer_order.csv)")


def brief(notes: list[str], where: str, folders: str) -> list[str]:
    """A pool's notes for the scorecard: the measures left out of it, then where every measure's own notes are."""
    return [f"{where}: {note}" for note in notes if ": skipped: " in note] + [
        f"{where}: each measure's notes on this pool are in {folders}/<measure>.key.json"]


def _read_curves(path: Path) -> dict[str, np.ndarray]:
    curves: dict[str, list[float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            curves.setdefault(row["model"], []).append(float(row["cka_with_first"]))
    return {m: np.array(v) for m, v in curves.items()}

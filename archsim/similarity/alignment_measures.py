"""Shape metrics, RSA, neighbourhoods and linear predictivity as registered measures on a run's models.

Like the other representation measures (`archsim.similarity.representation_measures`),
each compares the models on the run's evaluation images at one layer (options
`layer: pre_logits` and `batch_size: 100`, the activations shared through
`archsim.similarity.run_outputs`). Their own options:

    procrustes           (none)                       orthogonal Procrustes distance, a distance (0 on the diagonal)
    shape                alpha: 0.5, unit_norm: false  angular shape metric with partial whitening of the centred
                                                      data (0: CCA, 1: angular Procrustes), a distance in
                                                      [0, pi/2]; unit_norm: archsim's scale-free variant
    rsa                  rdm: correlation | euclidean   compare: spearman | pearson
    mutual-knn, cknna    k: 10                        neighbours per example
    linear-predictivity  folds: 5, ridge: 0.001       cross-validated ridge R^2; the matrix holds
                                                      (R^2(a -> b) + R^2(b -> a)) / 2, both directions in
                                                      the detail table; 1 on the diagonal

Formulas and sources: `shape_metrics`, `rsa`, `neighbours`, `linear_predictivity`.
A pair a measure cannot compare gets NaN and a note saying why.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from archsim.errors import ArchsimError
from archsim.options import Option
from archsim.similarity.linear_predictivity import fold_indices, predictivity, predictor, target
from archsim.similarity.measure import Measure, MeasureInputs, SimilarityResult
from archsim.similarity.neighbours import cknna, mutual_knn, neighbourhood
from archsim.similarity.representation_measures import COMMON, _layer, _layer_notes
from archsim.similarity.rsa import COMPARISONS, RDMS, rdm, standardised
from archsim.similarity.run_outputs import memoised, run_features
from archsim.similarity.shape_metrics import angular_shape_distance, procrustes_distance, shape_of


def procrustes_measure(inputs: MeasureInputs, opts: dict) -> SimilarityResult:
    return _pairwise(inputs, opts, _shape(inputs.run, opts), procrustes_distance, diagonal=0.0)


def shape_measure(inputs: MeasureInputs, opts: dict) -> SimilarityResult:
    alpha, unit_norm = opts["alpha"], opts["unit_norm"]
    return _pairwise(inputs, opts, _shape(inputs.run, opts),
                     lambda a, b: angular_shape_distance(a, b, alpha, unit_norm=unit_norm), diagonal=0.0)


def rsa_measure(inputs: MeasureInputs, opts: dict) -> SimilarityResult:
    kind, compare = opts["rdm"], opts["compare"]
    return _pairwise(inputs, opts, lambda f, label: standardised(rdm(f, kind, label), compare),
                     lambda a, b: float(a @ b), diagonal=1.0)


def mutual_knn_measure(inputs: MeasureInputs, opts: dict) -> SimilarityResult:
    k = opts["k"]
    return _pairwise(inputs, opts, lambda f, label: neighbourhood(f, k, label), mutual_knn, diagonal=1.0)


def cknna_measure(inputs: MeasureInputs, opts: dict) -> SimilarityResult:
    k = opts["k"]
    return _pairwise(inputs, opts, lambda f, label: neighbourhood(f, k, label), cknna, diagonal=1.0)


def _shape(run, opts: dict) -> Callable:
    """prepare(features, label) -> the model's `Shape`, shared by procrustes and shape (`Run.memo`)."""
    return lambda f, label: memoised(run, ("shape", label, _layer(opts, label, run), opts["batch_size"]),
                                     lambda: shape_of(f, label))


def predictivity_measure(inputs: MeasureInputs, opts: dict) -> SimilarityResult:
    """The symmetrised matrix; the detail table holds R^2 in both directions for every pair."""
    run, notes = inputs.run, _layer_notes(inputs.run, opts)
    feats = run_features(run, opts, inputs.progress)
    folds = fold_indices(len(run.images), opts["folds"], inputs.seed)
    predictors = _prepared(feats, lambda f, label: (predictor(f, folds, opts["ridge"], label),
                                                    target(f, folds, label)), notes)
    names = list(feats)
    values, rows = np.full((len(names), len(names)), np.nan), []
    for i, a in enumerate(names):
        values[i, i] = 1.0 if a in predictors else np.nan
        for b in names[i + 1:]:
            j = names.index(b)
            ab = _attempt(lambda: predictivity(predictors[a][0], predictors[b][1]), a, b, predictors, notes)
            ba = _attempt(lambda: predictivity(predictors[b][0], predictors[a][1]), a, b, predictors, notes)
            values[i, j] = values[j, i] = (ab + ba) / 2
            rows.append([a, b, ab, ba])
    return SimilarityResult(names, values, ["a", "b", "r2_a_to_b", "r2_b_to_a"], rows, notes)


def _pairwise(inputs: MeasureInputs, opts: dict, prepare: Callable, compare: Callable, *,
              diagonal: float) -> SimilarityResult:
    """Each model's activations prepared once, then `compare` on every pair i < j (symmetric)."""
    run, notes = inputs.run, _layer_notes(inputs.run, opts)
    feats = run_features(run, opts, inputs.progress)
    prepared = _prepared(feats, prepare, notes)
    names = list(feats)
    values = np.full((len(names), len(names)), np.nan)
    for i, a in enumerate(names):
        values[i, i] = diagonal if a in prepared else np.nan
        for j in range(i + 1, len(names)):
            b = names[j]
            values[i, j] = values[j, i] = _attempt(lambda: compare(prepared[a], prepared[b]), a, b, prepared, notes)
    return SimilarityResult(names, values, notes=notes)


def _prepared(feats: dict, prepare: Callable, notes: list[str]) -> dict:
    """{label: prepare(features, label)} for the models it can prepare; a note for each it cannot."""
    out = {}
    for label, f in feats.items():
        try:
            out[label] = prepare(f, label)
        except ArchsimError as e:
            notes.append(f"{label}: {e}")
    return out


def _attempt(compute: Callable, a: str, b: str, prepared: dict, notes: list[str]) -> float:
    """compute(), or NaN: silently where a model could not be prepared (noted already), else with a note."""
    if a not in prepared or b not in prepared:
        return np.nan
    try:
        return compute()
    except ArchsimError as e:
        notes.append(f"{a} vs {b}: {e}")
        return np.nan


K = Option(10, "int", minimum=1, help="neighbours per example")
MEASURES = [
    Measure("procrustes", procrustes_measure, dict(COMMON),
            "orthogonal Procrustes distance (Williams et al. 2021)", distance_when=True),
    Measure("shape", shape_measure, {**COMMON, "alpha": Option(0.5, "float", minimum=0, maximum=1),
                                     "unit_norm": Option(False, "bool", help="scale each representation to unit "
                                                                              "norm first (archsim's variant)")},
            "angular shape metric with partial whitening alpha (Williams et al. 2021)", distance_when=True,
            version=2),
    Measure("rsa", rsa_measure, {**COMMON, "rdm": Option("correlation", "choice", choices=RDMS),
                                 "compare": Option("spearman", "choice", choices=COMPARISONS)},
            "representational similarity analysis (Kriegeskorte et al. 2008)"),
    Measure("mutual-knn", mutual_knn_measure, {**COMMON, "k": K}, "mutual k-NN alignment (Huh et al. 2024)"),
    Measure("cknna", cknna_measure, {**COMMON, "k": K}, "CKNNA (Huh et al. 2024)"),
    Measure("linear-predictivity", predictivity_measure,
            {**COMMON, "folds": Option(5, "int", minimum=2), "ridge": Option(1e-3, "float", minimum=0, above=True)},
            "cross-validated ridge R^2, mean of both directions"),
]

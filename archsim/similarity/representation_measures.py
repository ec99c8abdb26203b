"""Representation measures, each registered by name: cka, cka-rbf, cca, svcca, pwcca, gradient.

Every measure compares the run's models on the run's evaluation images (the
images SAT uses, through each model's own resize and normalisation) at one
layer. Options (the config's `similarity: {NAME: {...}}`, or `--set key=value`; declared in `MEASURES`):

    every metric  layer: pre_logits   timm's forward_head(pre_logits=True); or a module name (blocks.3),
                                      or {label: layer} per model (others keep pre_logits)
                  batch_size: 100     images per forward pass
    cka           debiased: false     unbiased HSIC (Song et al. 2012) instead of HSIC_0
                  minibatch: null     an int b: Nguyen et al.'s minibatch CKA over batches of b images
                                      (unbiased HSIC; memory O(b^2) per model instead of O(n^2))
    cka-rbf       debiased: false, fraction: 0.5   sigma^2 = fraction^2 x median squared distance
                  median: all | pairs              over all n^2 entries (Kornblith et al.'s code) or pairs i < j
    cca, svcca    statistic: mean_rho | r2         the matrix value (both are in the detail table)
    svcca         keep: 0.99                       share of variance kept before CCA
    gradient      index: cka | nbs | euclidean     nbs: normalised Bures similarity; euclidean is a distance
                  buckets: 256, nonzeros: 4        CountSketch size M and nonzeros T (buckets: null = exact)
                  beta: 0.5                        q = p^beta / sum p^beta

A pair a measure cannot compare (too few examples for CCA's dimensions, a
constant representation, ...) gets NaN and a note saying why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from tqdm import tqdm

from archsim.errors import ArchsimError
from archsim.options import Option
from archsim.similarity.activations import PRE_LOGITS, check_layers, layer_features, layer_gradients
from archsim.similarity.cca import cca, pwcca, svcca
from archsim.similarity.cka import cka_matrix, gram_linear, gram_rbf
from archsim.similarity.cka_minibatch import MinibatchCKA
from archsim.similarity.gradient_kernel import INDICES, GradientKernel
from archsim.similarity.inputs import batch_slices, is_constant
from archsim.similarity.measure import Measure, MeasureInputs, SimilarityResult
from archsim.zoo.build import Run

COMMON = {"layer": Option(PRE_LOGITS, help="a layer name, or {label: layer}"),
          "batch_size": Option(100, "int", minimum=1)}
STATISTIC = Option("mean_rho", "choice", choices=("mean_rho", "r2"))
DEBIASED = Option(False, "bool")


def cka_measure(inputs: MeasureInputs, opts: dict) -> SimilarityResult:
    """Linear CKA, full-batch (biased or debiased) or minibatch."""
    run, progress = inputs.run, inputs.progress
    if opts["minibatch"] is not None:
        if opts["debiased"] is False:
            raise ArchsimError("minibatch CKA is built on the unbiased HSIC; drop debiased: false")
        return _minibatch_cka(run, opts, opts["minibatch"], progress)
    return _full_batch_cka(run, opts, gram_linear, bool(opts["debiased"]), progress)


def rbf_cka_measure(inputs: MeasureInputs, opts: dict) -> SimilarityResult:
    """RBF CKA, bandwidth a fraction of each representation's median distance between examples."""
    fraction, median = opts["fraction"], opts["median"]
    return _full_batch_cka(inputs.run, opts, lambda f, label: gram_rbf(f, fraction, label, median), opts["debiased"],
                           inputs.progress)


def cca_measure(inputs: MeasureInputs, opts: dict) -> SimilarityResult:
    return _cca_family(inputs.run, opts, cca, inputs.progress)


def svcca_measure(inputs: MeasureInputs, opts: dict) -> SimilarityResult:
    keep = opts["keep"]
    return _cca_family(inputs.run, opts, lambda x, y: svcca(x, y, keep), inputs.progress)


def pwcca_measure(inputs: MeasureInputs, opts: dict) -> SimilarityResult:
    """PWCCA for every ordered pair (row: the representation whose variates weigh, when ranks tie)."""
    run, progress = inputs.run, inputs.progress
    notes = _layer_notes(run, opts)
    feats = dict(_features(run, opts, progress))
    names, values = list(feats), _diagonal_of_ones(feats)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            if i != j:
                value = _attempt(lambda: pwcca(feats[a], feats[b]), f"{a} vs {b}", notes)
                values[i, j] = np.nan if value is None else value
    return SimilarityResult(names, values, notes=notes)


def gradient_measure(inputs: MeasureInputs, opts: dict) -> SimilarityResult:
    """Gradient-kernel similarity (Tang et al. 2020); every model sees the same sketch (drawn from `seed`)."""
    run, seed, progress = inputs.run, inputs.seed, inputs.progress
    index, beta, buckets = opts["index"], opts["beta"], opts["buckets"]
    if beta == 1:
        raise ArchsimError("beta = 1 makes q = p and every gradient 0; use another beta (default 0.5)")
    nonzeros, batch_size = opts["nonzeros"], opts["batch_size"]
    notes, kernels = _layer_notes(run, opts), {}
    for label, model in tqdm(run.models.items(), desc="gradient kernels", disable=not progress):
        acc = GradientKernel(buckets, nonzeros, seed)
        for f, g in layer_gradients(model, run.images.images, _layer(opts, label, run), batch_size, beta):
            acc.update(f, g)
        kernels[label] = acc.kernel()
    names = list(kernels)
    values, rows = np.full((len(names), len(names)), np.nan), []
    for i, a in enumerate(names):
        for j, b in enumerate(names[i:], start=i):
            scores = {}
            for k, f in INDICES.items():
                value = _attempt(lambda: f(kernels[a], kernels[b]), f"{a} vs {b}", notes)
                scores[k] = np.nan if value is None else value
            values[i, j] = values[j, i] = scores[index]
            rows.append([a, b, *(scores[k] for k in sorted(INDICES))])
    return SimilarityResult(names, values, ["a", "b", *sorted(INDICES)], rows, notes)


MEASURES = [
    Measure("cka", cka_measure, {**COMMON, "debiased": Option(None, "bool", nullable=True,
                                                              help="default false; minibatch: always unbiased"),
                                 "minibatch": Option(None, "int", minimum=4, nullable=True)},
            "linear CKA (Kornblith et al. 2019); minibatch: Nguyen et al. 2021"),
    Measure("cka-rbf", rbf_cka_measure, {**COMMON, "debiased": DEBIASED,
                                         "fraction": Option(0.5, "float", minimum=0, above=True),
                                         "median": Option("all", "choice", choices=("all", "pairs"))},
            "RBF-kernel CKA (Kornblith et al. 2019)", version=2),  # 2: the reference bandwidth by default
    Measure("cca", cca_measure, {**COMMON, "statistic": STATISTIC}, "mean canonical correlation or R^2_CCA"),
    Measure("svcca", svcca_measure, {**COMMON, "statistic": STATISTIC,
                                     "keep": Option(0.99, "float", minimum=0, maximum=1, above=True)},
            "SVCCA (Raghu et al. 2017)"),
    Measure("pwcca", pwcca_measure, dict(COMMON), "projection-weighted CCA (Morcos et al. 2018)"),
    Measure("gradient", gradient_measure,
            {**COMMON, "index": Option("cka", "choice", choices=tuple(sorted(INDICES))),
             "buckets": Option(256, "int", minimum=1, nullable=True), "nonzeros": Option(4, "int", minimum=1),
             "beta": Option(0.5, "float", minimum=0)},
            "gradient-kernel similarity (Tang et al. 2020)", distance_when=("index", "euclidean"),
            version=2),  # 2: the sketch centred and debiased
]


def _full_batch_cka(run: Run, opts: dict, gram: Callable, debiased: bool, progress: bool) -> SimilarityResult:
    """Each model's Gram matrix formed once (n x n), then every pair from the centred, normalised Grams."""
    names, notes, grams = list(run.models), _layer_notes(run, opts), {}
    if debiased and len(run.images) < 4:
        raise ArchsimError(f"debiased CKA needs at least 4 images; the run has {len(run.images)}")
    for label, f in _features(run, opts, progress):
        try:
            grams[label] = gram(f, label)
        except ArchsimError as e:
            notes.append(f"{label}: {e}")
    values = np.full((len(names), len(names)), np.nan)
    if grams:
        idx = [names.index(label) for label in grams]
        values[np.ix_(idx, idx)] = cka_matrix(list(grams.values()), debiased)
    return SimilarityResult(names, values, notes=notes)


def _minibatch_cka(run: Run, opts: dict, minibatch: int, progress: bool) -> SimilarityResult:
    names, notes = list(run.models), _layer_notes(run, opts)
    if len(run.images) < 4:
        raise ArchsimError(f"minibatch CKA needs at least 4 images; the run has {len(run.images)}")
    streams = [layer_features(m, run.images.images, [_layer(opts, label, run)], minibatch)
               for label, m in run.models.items()]
    acc = MinibatchCKA()
    total = len(batch_slices(len(run.images), minibatch))
    for batch in tqdm(zip(*streams), total=total, desc="minibatch CKA", disable=not progress):
        acc.update([next(iter(f.values())) for f in batch])
    values = acc.result()
    notes += [f"{names[i]}: constant within every batch; CKA undefined"
              for i in np.flatnonzero(np.isnan(np.diag(values)))]
    return SimilarityResult(names, values, notes=notes)


def _cca_family(run: Run, opts: dict, fn: Callable, progress: bool) -> SimilarityResult:
    statistic = opts["statistic"]
    notes = _layer_notes(run, opts)
    feats = dict(_features(run, opts, progress))
    names, values, rows = list(feats), _diagonal_of_ones(feats), []
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            b = names[j]
            result = _attempt(lambda: fn(feats[a], feats[b]), f"{a} vs {b}", notes)
            if result is not None:
                values[i, j] = values[j, i] = getattr(result, statistic)
                rows.append([a, b, len(result.rho), result.r2, result.mean_rho])
    return SimilarityResult(names, values, ["a", "b", "n_correlations", "r2", "mean_rho"], rows, notes)


def _features(run: Run, opts: dict, progress: bool) -> Iterator[tuple[str, torch.Tensor]]:
    """(label, (n, p) activations at the chosen layer, on the CPU), model after model."""
    batch_size = opts["batch_size"]
    for label, model in tqdm(run.models.items(), desc="activations", disable=not progress):
        layer = _layer(opts, label, run)
        yield label, torch.cat([f[layer].cpu() for f in layer_features(model, run.images.images, [layer],
                                                                          batch_size)])


def _layer(opts: dict, label: str, run: Run) -> str:
    layer = opts["layer"]
    if isinstance(layer, dict):
        unknown = sorted(set(layer) - set(run.models))
        if unknown:
            raise ArchsimError(f"option layer names {unknown[0]!r}, which is not a model label of this run")
        layer = layer.get(label, PRE_LOGITS)
    if not isinstance(layer, str):
        raise ArchsimError(f"option layer must be a layer name or {{label: layer}}; got {layer!r}")
    return check_layers(run.models[label], [layer], label)[0]


def _layer_notes(run: Run, opts: dict) -> list[str]:
    layers = sorted({_layer(opts, label, run) for label in run.models})
    return [f"layer {', '.join(layers)}; {len(run.images)} images"]


def _diagonal_of_ones(feats: dict) -> np.ndarray:
    """NaN off the diagonal; 1 on it (identical representations), NaN for a constant one."""
    values = np.full((len(feats), len(feats)), np.nan)
    np.fill_diagonal(values, [np.nan if is_constant(f) else 1.0 for f in feats.values()])
    return values


def _attempt(compute: Callable, what: str, notes: list[str]):
    """compute(), or None with a note saying why it is undefined."""
    try:
        return compute()
    except ArchsimError as e:
        notes.append(f"{what}: {e}")
        return None

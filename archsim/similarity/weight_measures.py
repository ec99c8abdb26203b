"""Weight-space measures as `archsim similarity` metrics: data-free, computed from the models' weights.

    atoms      filter atoms under coefficients shared from a reference model (or a file);
               options: reference (label, default the first model), coefficients (safetensors
               file, relative to the working directory), m (atoms per layer, default 6),
               weighting (uniform | params)
    grassmann  filter-subspace similarity across architectures; options: m (subspace
               dimension, default 3), k (common kernel size, default 3), match (depth |
               assignment), score (similarity | distance)
    weights    chain-normalized, aligned weights of one architecture; options: score
               (cosine | distance)

A model a measure cannot handle gets NaN (written empty) and a note saying why;
when no model can be handled the measure raises ArchsimError with the reasons.
`atoms` and `grassmann` run their many small matrix products on one BLAS thread:
more threads only wait on each other (ten times slower on a busy 2-core machine).
"""

from __future__ import annotations

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from archsim.errors import ArchsimError
from archsim.options import Option
from archsim.similarity.chain_norm import NormalizedChain, align, layer_similarity, normalized_chain, overall
from archsim.similarity.conv_layers import parameter_count, spatial_convs
from archsim.similarity.filter_atoms import (
    WEIGHTINGS,
    atom_cosines,
    fit_atoms,
    load_coefficients,
    model_scores,
    reference_coefficients,
)
from archsim.similarity.grassmann import MATCHES, compare_subspaces, layer_subspaces
from archsim.similarity.measure import Measure, MeasureInputs, SimilarityResult


@threadpool_limits.wrap(limits=1, user_api="blas")
def atoms(inputs: MeasureInputs, o: dict) -> SimilarityResult:
    """Shared-coefficient atom cosines; detail: per model and layer the fit's residual and cosine to the reference."""
    run = inputs.run
    names = list(run.models)
    layers = {n: spatial_convs(run.models[n].model) for n in names}
    if o["coefficients"] is not None:
        alphas, source = load_coefficients(o["coefficients"]), f"coefficients from {o['coefficients']}"
        reference = names[0]
    else:
        reference = o["reference"] if o["reference"] is not None else names[0]
        if reference not in layers:
            raise ArchsimError(f"atoms: reference {reference!r} is not a model of the config; "
                               f"models: {', '.join(names)}")
        alphas, source = reference_coefficients(layers[reference], o["m"]), f"coefficients of {reference}"
    if not alphas:
        raise ArchsimError(f"atoms: {reference} has no k x k conv layers to take coefficients from")
    fits, refused = {}, {}  # refused: reason -> the models it applies to (one note per reason)
    for n in names:
        try:
            fits[n] = fit_atoms(alphas, layers[n])
        except ArchsimError as e:
            refused.setdefault(str(e), []).append(n)
    notes = [f"atoms: {', '.join(ns)} not applicable: {reason}" for reason, ns in refused.items()]
    ok = _require_some(names, fits, notes)
    per_layer = np.stack([atom_cosines([fits[n] for n in ok], layer) for layer in alphas])
    params = [next(x.params for x in layers[ok[0]] if x.name == layer) for layer in alphas]
    values = _embed(names, ok, model_scores(per_layer, params, o["weighting"]))
    notes.insert(0, f"atoms: {source}, {len(alphas)} layers decomposed")
    ref = ok.index(reference) if reference in ok else 0
    rows = [[n, layer, "x".join(map(str, alphas[layer].shape[:2])), alphas[layer].shape[2],
             fits[n].residuals[layer], per_layer[li, i, ref]]
            for i, n in enumerate(ok) for li, layer in enumerate(alphas)]
    return SimilarityResult(names, values, ["model", "layer", "c_out x c_in", "m", "relative_residual",
                                            f"cosine_to_{ok[ref]}"], rows, notes)


@threadpool_limits.wrap(limits=1, user_api="blas")
def grassmann(inputs: MeasureInputs, o: dict) -> SimilarityResult:
    """Mean filter-subspace similarity (or distance) over matched layers; detail: every matched layer pair."""
    run = inputs.run
    names, bases, notes, coverage = list(run.models), {}, [], []
    layers = {n: spatial_convs(run.models[n].model) for n in names}
    for n in names:
        if layers[n]:
            bases[n] = layer_subspaces(layers[n], o["m"], o["k"])
        else:
            notes.append(f"grassmann: {n} not applicable: it has no k x k conv layers")
    ok = _require_some(names, bases, notes)
    total = {n: parameter_count(run.models[n].model) for n in ok}
    depth = {n: np.array([x.depth for x in layers[n]]) for n in ok}
    for n in ok:
        coverage.append(f"{n} {len(layers[n])} ({sum(x.params for x in layers[n]) / total[n]:.0%})")
    values, rows = np.full((len(ok), len(ok)), np.nan), []
    kernel = {n: ["x".join(map(str, x.kernel)) for x in layers[n]] for n in ok}
    for i, a in enumerate(ok):
        for j in range(i, len(ok)):
            b = ok[j]
            pairs, dist, sim = compare_subspaces(bases[a], bases[b], depth[a], depth[b], o["match"])
            values[i, j] = values[j, i] = (sim if o["score"] == "similarity" else dist).mean()
            if i == j:
                continue
            share_a = sum(layers[a][p].params for p in {p for p, _ in pairs}) / total[a]
            share_b = sum(layers[b][q].params for q in {q for _, q in pairs}) / total[b]
            rows += [[a, b, layers[a][p].name, layers[b][q].name, kernel[a][p], kernel[b][q], d, s, share_a, share_b]
                     for (p, q), d, s in zip(pairs, dist, sim)]
    notes.append("grassmann: coverage, k x k conv layers (share of parameters): " + ", ".join(coverage))
    header = ["a", "b", "layer_a", "layer_b", "kernel_a", "kernel_b", "distance", "similarity",
              "param_share_a", "param_share_b"]
    return SimilarityResult(names, _embed(names, ok, values), header, rows, notes)


def weights(inputs: MeasureInputs, o: dict) -> SimilarityResult:
    """Mean per-layer cosine (or distance) of chain-normalised, aligned weights; detail: per pair and layer."""
    run, seed = inputs.run, inputs.seed
    names, chains, notes = list(run.models), {}, []
    for n in names:
        try:
            chains[n] = model_chain(run.models[n], seed)
        except ArchsimError as e:
            notes.append(f"weights: {n} not applicable: {e}")
    ok = _require_some(names, chains, notes)
    values, rows = np.full((len(ok), len(ok)), np.nan), []
    for i, a in enumerate(ok):
        values[i, i] = 1.0 if o["score"] == "cosine" else 0.0
        for j in range(i + 1, len(ok)):
            b = ok[j]
            try:
                aligned, _ = align(chains[a], chains[b])
            except ArchsimError as e:
                notes.append(f"weights: {a} vs {b} not comparable: {e}")
                continue
            cos, dist = layer_similarity(chains[a].layers, aligned)
            values[i, j] = values[j, i] = overall(cos, dist)[0 if o["score"] == "cosine" else 1]
            rows += [[a, b, layer, c, d] for layer, c, d in zip(chains[a].names, cos, dist)]
    return SimilarityResult(names, _embed(names, ok, values), ["a", "b", "layer", "cosine", "distance"], rows, notes)


def model_chain(pixel_model, seed: int) -> NormalizedChain:
    """The chain-normalised layers of a PixelModel's network, checked on a seeded random input of its native size."""
    net = pixel_model.model
    device = next(net.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    example = torch.randn(2, pixel_model.in_chans, *pixel_model.input_size, generator=gen).to(device)
    return normalized_chain(net, example)


def _require_some(names: list[str], done: dict, notes: list[str]) -> list[str]:
    ok = [n for n in names if n in done]
    if not ok:
        raise ArchsimError("no model can be compared: " + "; ".join(notes))
    return ok


def _embed(names: list[str], ok: list[str], values: np.ndarray) -> np.ndarray:
    """The ok x ok matrix placed in a names x names matrix of NaN."""
    out = np.full((len(names), len(names)), np.nan)
    idx = [names.index(n) for n in ok]
    out[np.ix_(idx, idx)] = values
    return out


MEASURES = [
    Measure("atoms", atoms, {"reference": Option(None, "str", nullable=True, what="a model label"),
                             "coefficients": Option(None, "str", nullable=True, what="a safetensors file"),
                             "m": Option(6, "int", minimum=1), "weighting": Option("uniform", "choice",
                                                                                  choices=tuple(WEIGHTINGS))},
            "filter atoms under shared coefficients (Chen, Miao and Qiu, NeurIPS 2023)"),
    Measure("grassmann", grassmann, {"m": Option(3, "int", minimum=1), "k": Option(3, "int", minimum=2),
                                     "match": Option("depth", "choice", choices=tuple(MATCHES)), "score": Option("similarity", "choice", choices=("similarity", "distance"))},
            "filter-subspace similarity by principal angles", distance_when=("score", "distance")),
    Measure("weights", weights, {"score": Option("cosine", "choice", choices=("cosine", "distance"))},
            "chain-normalized, aligned weights (Wang, Wang, Liang and Lai, 2022)", distance_when=("score", "distance")),
]

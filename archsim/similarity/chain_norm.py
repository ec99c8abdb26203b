"""Chain-normalized, aligned weights (Wang, Wang, Liang and Lai, "Understanding Weight Similarity of
Neural Networks via Chain Normalization Rule and Hypothesis-Training-Testing", 2022).

Layers (W_l, b_l), l = 1..L, BatchNorm folded (`chain_layers.fold`). Chain
normalization, layer by layer for l < L and every hidden unit i of layer l:

    n_i = ||(W_l[i], b_l[i])||_2,   W_l[i] /= n_i,   b_l[i] /= n_i,   W_{l+1}[:, i] *= n_i

(every input column of unit i; the scale pushed into layer l+1 counts in its own
norms). Because relu(c x) = c relu(x) for c > 0, and pooling acts per channel,
the network computes the same function; the last layer keeps all the scale.
`normalized_chain` checks this on the model itself and refuses models whose
outputs change (their structure is not a chain).

Alignment to a reference, layer by layer for l < L: the permutation pi of the
other model's units that maximises sum_i <R_l[i], X_l[pi(i)]> over the unit
rows (W, b) (Hungarian method, scipy's linear_sum_assignment), computed after
X_l's input columns were permuted by the previous layer's pi; pi then reorders
X_l's rows and X_{l+1}'s input columns. This too preserves the function.

Weight similarity of aligned models, per layer and overall:

    cos_l = cos(vec R_l, vec X_l),   dist_l = ||vec R_l - vec X_l||_2,
    cosine = mean_l cos_l,           distance = ||concat_l vec R_l - concat_l vec X_l||_2
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from archsim.errors import ArchsimError
from archsim.similarity.chain_layers import RESIDUAL_HINT, fold, load_chain, trace_chain

Layers = list[tuple[np.ndarray, np.ndarray]]


@dataclass
class NormalizedChain:
    """A model's chain-normalised layers (W, b), their module names and input fans."""

    names: list[str]
    layers: Layers
    fans: list[int]

    def shapes(self) -> list[tuple[int, ...]]:
        return [W.shape for W, _ in self.layers]


def normalized_chain(model: nn.Module, example: torch.Tensor) -> NormalizedChain:
    """Trace, fold BatchNorm and chain-normalise `model`; ArchsimError unless its outputs on `example` stay the same."""
    links = trace_chain(model, example)
    fans = [link.fan for link in links]
    layers = chain_normalize(fold(links), fans)
    _check_same_function(model, layers, example)
    return NormalizedChain([link.name for link in links], layers, fans)


def chain_normalize(layers: Layers, fans: list[int]) -> Layers:
    """Unit-norm incoming (weights, bias) for every hidden unit, each scale pushed into the next layer."""
    out = [(W.copy(), b.copy()) for W, b in layers]
    for l in range(len(out) - 1):
        W, b = out[l]
        norms = np.sqrt((W.reshape(len(W), -1) ** 2).sum(1) + b ** 2)
        norms[norms == 0] = 1.0  # a dead unit stays zero
        out[l] = (W / norms.reshape(-1, *([1] * (W.ndim - 1))), b / norms)
        W_next, b_next = out[l + 1]
        out[l + 1] = (_map_inputs(W_next, fans[l + 1], lambda x: x * norms.reshape(1, -1, 1, 1)), b_next)
    return out


def align(reference: NormalizedChain, other: NormalizedChain) -> tuple[Layers, list[np.ndarray]]:
    """`other`'s layers with hidden units permuted to match `reference`, and the permutation per hidden layer."""
    if reference.shapes() != other.shapes() or reference.fans != other.fans:
        raise ArchsimError(f"the models have different layer shapes ({_shape_text(reference)} vs "
                           f"{_shape_text(other)}); weight similarity needs one architecture")
    out = [(W.copy(), b.copy()) for W, b in other.layers]
    perms = []
    for l in range(len(out) - 1):
        R, X = _unit_rows(reference.layers[l]), _unit_rows(out[l])
        _, perm = linear_sum_assignment(R @ X.T, maximize=True)
        W, b = out[l]
        out[l] = (W[perm], b[perm])
        W_next, b_next = out[l + 1]
        out[l + 1] = (_map_inputs(W_next, reference.fans[l + 1], lambda x, p=perm: x[:, p]), b_next)
        perms.append(perm)
    return out, perms


def layer_similarity(reference: Layers, aligned: Layers) -> tuple[np.ndarray, np.ndarray]:
    """Per layer: cosine and Euclidean distance of the flattened (W, b)."""
    cos, dist = [], []
    for a, b in zip(reference, aligned):
        x, y = flat(a), flat(b)
        denom = np.linalg.norm(x) * np.linalg.norm(y)
        cos.append(float(x @ y / denom) if denom > 0 else 0.0)
        dist.append(float(np.linalg.norm(x - y)))
    return np.array(cos), np.array(dist)


def overall(cos: np.ndarray, dist: np.ndarray) -> tuple[float, float]:
    """(mean per-layer cosine, distance of the concatenations = sqrt(sum of squared per-layer distances))."""
    return float(cos.mean()), float(np.sqrt((dist ** 2).sum()))


def flat(layer: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    W, b = layer
    return np.concatenate([W.ravel(), b])


def representation(layers: Layers) -> np.ndarray:
    """The weight representation: every layer's (W, b), flattened and concatenated."""
    return np.concatenate([flat(layer) for layer in layers])


def _unit_rows(layer: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    W, b = layer
    return np.concatenate([W.reshape(len(W), -1), b[:, None]], axis=1)


def _map_inputs(W: np.ndarray, fan: int, f) -> np.ndarray:
    """Apply `f` to W viewed as (out, units, fan, rest): input columns grouped by the unit they come from."""
    shape = W.shape
    units = shape[1] // fan
    return f(W.reshape(shape[0], units, fan, -1)).reshape(shape)


def _shape_text(chain: NormalizedChain) -> str:
    return " ".join("x".join(map(str, s[:2])) for s in chain.shapes())


def _check_same_function(model: nn.Module, layers: Layers, example: torch.Tensor) -> None:
    twin = copy.deepcopy(model).eval()
    load_chain(trace_chain(twin, example), layers)
    was_training = model.training
    try:
        with torch.no_grad():
            before, after = model.eval()(example), twin(example)
    finally:
        model.train(was_training)
    gap = (before - after).abs().max().item()
    scale = before.abs().max().item()
    if not gap <= 1e-3 * scale + 1e-6:
        raise ArchsimError(f"chain normalization changed the model's outputs (max difference {gap:.3g} at "
                           f"output scale {scale:.3g}): {RESIDUAL_HINT}")

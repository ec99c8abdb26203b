"""Filter subspaces and their Grassmann distance: architecture-agnostic, data-free.

A conv layer W (c_out, c_in, k, k), reshaped to M = (c_out * c_in) x k^2 (one
row per 2-D filter), spans a spatial filter subspace: the span of M's top-m
right singular vectors, an orthonormal basis U (k^2 x m). For two layers with
bases U, V the principal angles are theta_j = arccos(sigma_j(U^T V)), and

    d(U, V) = sqrt( sum_j theta_j^2 )              (Grassmann distance, 0 when the subspaces agree)
    s(U, V) = (1/m) sum_j cos^2 theta_j = ||U^T V||_F^2 / m     (in [0, 1], 1 when they agree)

Both ignore the order of the channels and the scale of the weights (neither
changes M's row space). Kernels of other sizes are resampled to a common k first
(see `conv_layers.resample`).

Two models are compared layer by layer: each layer of the model with fewer
spatial convs is matched to the layer of the other whose relative depth is
closest (`match="depth"`), or the layers are paired by an optimal assignment
that minimises the summed distance (`match="assignment"`, scipy's
linear_sum_assignment). The model-level score is the mean over matched pairs.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from archsim.errors import ArchsimError
from archsim.similarity.conv_layers import ConvLayer, filter_matrix, resample

MATCHES = ("depth", "assignment")


def filter_subspace(weight: np.ndarray, m: int) -> np.ndarray:
    """Orthonormal basis (kh * kw) x m of the top-m right singular vectors of the filter matrix.

    Computed from the small Gram matrix M^T M (its top eigenvectors are M's top right singular vectors).
    """
    M = filter_matrix(weight)
    if not 1 <= m <= M.shape[1]:
        raise ArchsimError(f"m must be between 1 and the kernel's {M.shape[1]} taps, got {m}")
    _, vectors = np.linalg.eigh(M.T @ M)  # ascending eigenvalues
    return vectors[:, ::-1][:, :m]


def principal_angles(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Principal angles (radians, ascending) between the spans of orthonormal U and V; batched over leading axes."""
    cosines = np.linalg.svd(np.swapaxes(U, -1, -2) @ V, compute_uv=False)
    return np.arccos(np.clip(cosines, -1.0, 1.0))


def grassmann_distance(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """sqrt(sum theta_j^2)."""
    return _distance(principal_angles(U, V))


def subspace_similarity(U: np.ndarray, V: np.ndarray) -> np.ndarray:
    """mean_j cos^2 theta_j = ||U^T V||_F^2 / m, in [0, 1]."""
    return _similarity(principal_angles(U, V))


def _distance(angles: np.ndarray) -> np.ndarray:
    return np.sqrt((angles ** 2).sum(-1))


def _similarity(angles: np.ndarray) -> np.ndarray:
    return (np.cos(angles) ** 2).mean(-1)


def layer_subspaces(layers: list[ConvLayer], m: int, k: int) -> np.ndarray:
    """The filter subspaces of `layers`, kernels resampled to k x k: an array (L, k^2, m)."""
    if k < 2:
        raise ArchsimError(f"k must be at least 2 (a 1 x 1 kernel has no spatial structure), got {k}")
    if not 1 <= m <= k * k:
        raise ArchsimError(f"m must be between 1 and k^2 = {k * k}, got {m}")
    return np.stack([filter_subspace(resample(layer.weight, k), m) for layer in layers])


def match_layers(depth_a: np.ndarray, depth_b: np.ndarray, how: str,
                 distances: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Pairs (i, j) of matched layers, one per layer of the shorter list.

    "depth": each layer of the shorter list to the nearest relative depth in the other (ties to the
    shallower layer). "assignment": a one-to-one pairing minimising the summed `distances` (La x Lb).
    """
    if how == "assignment":
        rows, cols = linear_sum_assignment(distances)
        return list(zip(rows.tolist(), cols.tolist()))
    if how != "depth":
        raise ArchsimError(f"match must be one of {', '.join(MATCHES)}, got {how!r}")
    if len(depth_a) <= len(depth_b):
        nearest = np.argmin(np.abs(depth_a[:, None] - depth_b[None, :]), axis=1)
        return list(zip(range(len(depth_a)), nearest.tolist()))
    nearest = np.argmin(np.abs(depth_b[:, None] - depth_a[None, :]), axis=1)
    return list(zip(nearest.tolist(), range(len(depth_b))))


def compare_subspaces(A: np.ndarray, B: np.ndarray, depth_a: np.ndarray, depth_b: np.ndarray,
                      how: str = "depth") -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """Matched layer pairs with their Grassmann distances and similarities, for bases A (La, k^2, m), B (Lb, k^2, m)."""
    if how == "assignment":
        all_d = grassmann_distance(A[:, None], B[None, :])
        pairs = match_layers(depth_a, depth_b, how, all_d)
    else:
        pairs = match_layers(depth_a, depth_b, how)
    i, j = (np.array(ix) for ix in zip(*pairs))
    angles = principal_angles(A[i], B[j])
    return pairs, _distance(angles), _similarity(angles)

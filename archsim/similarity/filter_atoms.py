"""Filter atoms with shared coefficients (Chen, Miao and Qiu, "Inner Product-based Neural Network
Similarity", NeurIPS 2023): for models that share an ancestor.

A conv layer W (c_out, c_in, k, k) is written W = alpha x D, or with the filter
matrix M = (c_out * c_in) x k^2 (one row per 2-D filter):

    M = alpha D,   alpha (c_out * c_in) x m  coefficients (mix channels),   D  m x k^2  atoms (spatial filtering)

The coefficients come from a reference model, M_ref = U S V^T:

    D_ref = V^T[:m]  (top-m right singular vectors),   alpha = M_ref D_ref^T = U_m S_m

or from the user (a safetensors file, one (c_out, c_in, m) tensor per layer).
With alpha fixed, every model's atoms are the least-squares solution

    D = argmin_D ||M - alpha D||_F = alpha^+ M = (alpha^T alpha)^+ alpha^T M
    relative residual  r = ||M - alpha D||_F / ||M||_F

and, alpha being shared, the similarity of two models at a layer is the cosine
of their flattened atoms, cos(vec D_a, vec D_b). The model-level score is the
mean over the decomposed layers, uniform or weighted by the layers' parameter
counts. 1 x 1 convs are not decomposed (`conv_layers.spatial_convs`); m is
capped at a layer's k^2 taps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

from archsim.errors import ArchsimError
from archsim.similarity.conv_layers import ConvLayer, filter_matrix

WEIGHTINGS = ("uniform", "params")


@dataclass
class AtomFit:
    """A model's atoms per decomposed layer (m x k^2) and the relative residual of each fit."""
    atoms: dict[str, np.ndarray]
    residuals: dict[str, float]


def reference_coefficients(layers: list[ConvLayer], m: int) -> dict[str, np.ndarray]:
    """alpha = U_m S_m of each layer's filter matrix, as (c_out, c_in, m') with m' = min(m, k^2).

    The top right singular vectors come from the small Gram matrix M^T M (its top eigenvectors).
    """
    if m < 1:
        raise ArchsimError(f"m must be at least 1, got {m}")
    out = {}
    for layer in layers:
        M = filter_matrix(layer.weight)
        _, vectors = np.linalg.eigh(M.T @ M)  # ascending eigenvalues
        atoms = vectors[:, ::-1][:, :min(m, M.shape[1])].T
        out[layer.name] = (M @ atoms.T).reshape(*layer.weight.shape[:2], -1)
    return out


def load_coefficients(path: str | Path) -> dict[str, np.ndarray]:
    """User-given coefficients: a safetensors file mapping layer names to (c_out, c_in, m) tensors."""
    path = Path(path)
    if not path.is_file():
        raise ArchsimError(f"coefficients file not found: {path}")
    try:
        alphas = {name: a.astype(np.float64) for name, a in load_file(str(path)).items()}
    except Exception as e:  # safetensors raises its own error types for malformed files
        raise ArchsimError(f"cannot read coefficients {path} as safetensors: {e}") from None
    bad = [name for name, a in alphas.items() if a.ndim != 3]
    if bad:
        raise ArchsimError(f"coefficients {path}: {bad[0]!r} has shape {alphas[bad[0]].shape}, "
                           "expected (c_out, c_in, m)")
    return alphas


def fit_atoms(coefficients: dict[str, np.ndarray], layers: list[ConvLayer]) -> AtomFit:
    """Least-squares atoms of `layers` under fixed coefficients; ArchsimError when a layer is missing or misshapen."""
    by_name = {layer.name: layer for layer in layers}
    atoms, residuals = {}, {}
    for name, alpha in coefficients.items():
        layer = by_name.get(name)
        if layer is None:
            raise ArchsimError(f"has no spatial conv layer {name!r}")
        if layer.weight.shape[:2] != alpha.shape[:2] or alpha.shape[2] > np.prod(layer.kernel):
            raise ArchsimError(f"layer {name!r} has weights {layer.weight.shape}, which coefficients "
                               f"{alpha.shape} cannot decompose")
        M = filter_matrix(layer.weight)
        A = alpha.reshape(-1, alpha.shape[2])
        D = np.linalg.pinv(A.T @ A) @ (A.T @ M)  # = pinv(A) M, through the small m x m Gram matrix
        atoms[name] = D
        norm = np.linalg.norm(M)
        residuals[name] = float(np.linalg.norm(M - A @ D) / norm) if norm > 0 else 0.0
    return AtomFit(atoms, residuals)


def atom_cosines(fits: list[AtomFit], layer: str) -> np.ndarray:
    """N x N cosines of the flattened atoms of `layer` across the fits (0 where an atom is all zero)."""
    X = np.stack([fit.atoms[layer].ravel() for fit in fits])
    norms = np.linalg.norm(X, axis=1)
    X = np.divide(X, norms[:, None], out=np.zeros_like(X), where=norms[:, None] > 0)
    return X @ X.T


def model_scores(per_layer: np.ndarray, layer_params: np.ndarray, weighting: str = "uniform") -> np.ndarray:
    """Mean over layers of per-layer values (L, N, N), uniform or weighted by parameter count."""
    if weighting not in WEIGHTINGS:
        raise ArchsimError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    w = np.ones(len(per_layer)) if weighting == "uniform" else np.asarray(layer_params, dtype=float)
    return np.tensordot(w / w.sum(), per_layer, axes=1)

"""Canonical correlation analysis between two representations of the same examples:
CCA, SVCCA (Raghu et al., NeurIPS 2017) and PWCCA (Morcos et al., NeurIPS 2018).

For column-centred X (n x p_x) and Y (n x p_y) with orthonormal bases Q_X, Q_Y of
their column spaces, the canonical correlations rho_1 >= ... >= rho_k,
k = min(rank X, rank Y), are the singular values of Q_X^T Q_Y (the cosines of the
principal angles between the two column spaces). The summaries of Kornblith et
al. (2019):

    R^2_CCA = (1/k) sum_i rho_i^2 = ||Q_Y^T Q_X||_F^2 / k,      mean rho = (1/k) sum_i rho_i

are invariant to any invertible linear map of X or of Y. A rank counts the
singular values above max(n, p) x eps x the largest, eps of the input's own
floating type (float32 activations are not more precise than that).

CCA needs rank X + rank Y <= n - 1: centred columns live in an (n-1)-dimensional
space, so larger column spaces must share directions, and that many correlations
are 1 whatever the data. Such input is refused (use more examples, or SVCCA).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from archsim.errors import ArchsimError
from archsim.similarity.inputs import as_pair, center_features, input_eps


@dataclass
class CCAResult:
    """Canonical correlations `rho` (descending) and their two summaries."""

    rho: np.ndarray

    @property
    def r2(self) -> float:
        """R^2_CCA: the mean squared canonical correlation."""
        return float(np.mean(self.rho ** 2))

    @property
    def mean_rho(self) -> float:
        """The mean canonical correlation (SVCCA's summary)."""
        return float(np.mean(self.rho))


def cca(x, y) -> CCAResult:
    """Canonical correlations of two (n, p) representations."""
    xc, yc, eps = _centred_pair(x, y)
    rho, _ = _canonical(xc, yc, eps)
    return CCAResult(rho.cpu().numpy())


def svcca(x, y, keep: float = 0.99) -> CCAResult:
    """SVCCA: each representation reduced to its top principal directions holding `keep` of its variance, then CCA.

    The reduced representation is U_k S_k from the SVD of the centred X, with k
    the fewest directions whose squared singular values sum to >= keep x the total.
    """
    if not 0 < keep <= 1:
        raise ArchsimError(f"svcca keep must be in (0, 1]; got {keep}")
    xc, yc, eps = _centred_pair(x, y)
    rho, _ = _canonical(_top_directions(xc, keep), _top_directions(yc, keep), eps)
    return CCAResult(rho.cpu().numpy())


def pwcca(x, y) -> float:
    """Projection-weighted CCA: sum_i alpha_i rho_i / sum_i alpha_i.

    alpha_i = sum_j |<h_i, z_j>|, where h_i is the i-th canonical variate (unit
    norm) and z_j the j-th centred feature column of the representation with the
    smaller rank (X on a tie), as in Morcos et al.'s code. Asymmetric when the
    ranks are equal.
    """
    xc, yc, eps = _centred_pair(x, y)
    rho, (hx, hy) = _canonical(xc, yc, eps)
    h, z = (hx, xc) if hx.shape[1] <= hy.shape[1] else (hy, yc)
    h = h[:, : len(rho)]
    alpha = (h.T @ z).abs().sum(dim=1)
    return float((alpha * rho).sum() / alpha.sum())


def _centred_pair(x, y) -> tuple[torch.Tensor, torch.Tensor, float]:
    eps = max(input_eps(x), input_eps(y))
    x, y = as_pair(x, y, min_examples=3, why="CCA")
    return center_features(x, "x"), center_features(y, "y"), eps


def _basis(xc: torch.Tensor, eps: float) -> torch.Tensor:
    """Orthonormal basis (n, rank) of the column space of xc."""
    u, s, _ = torch.linalg.svd(xc, full_matrices=False)
    return u[:, s > s[0] * max(xc.shape) * eps]


def _top_directions(xc: torch.Tensor, keep: float) -> torch.Tensor:
    u, s, _ = torch.linalg.svd(xc, full_matrices=False)
    share = torch.cumsum(s ** 2, 0) / (s ** 2).sum()
    k = int(torch.searchsorted(share, torch.tensor(keep, dtype=share.dtype) * (1 - 1e-12))) + 1
    return u[:, :k] * s[:k]


def _canonical(xc: torch.Tensor, yc: torch.Tensor, eps: float):
    """Canonical correlations (descending) and the canonical variates of x and of y (orthonormal columns)."""
    qx, qy = _basis(xc, eps), _basis(yc, eps)
    n, rx, ry = xc.shape[0], qx.shape[1], qy.shape[1]
    if rx + ry > n - 1:
        raise ArchsimError(f"CCA is degenerate here: rank x = {rx} and rank y = {ry} with n = {n} examples "
                           f"(needs rank x + rank y <= n - 1, else {rx + ry - n + 1} canonical correlations are 1 "
                           f"whatever the data); use more examples or svcca")
    u, rho, vh = torch.linalg.svd(qx.T @ qy)
    return rho.clamp(0, 1), (qx @ u, qy @ vh.T)

"""Shape metrics between representations (Williams, Kunz, Kornblith and Linderman, "Generalized Shape Metrics
on Neural Representations", NeurIPS 2021; their code: netrep's LinearMetric).

Each representation X (n x p) is centred and scaled to unit Frobenius norm, X^ = Xc / ||Xc||_F, so
every metric here is invariant to translation, isotropic scale and any rotation (orthogonal map) of X,
permutations of its units included. p_x and p_y may differ (the smaller is implicitly zero-padded,
which changes no singular value below).

- Orthogonal Procrustes distance: the Euclidean distance after the best rotation,

      d_P(X, Y) = min_{Q orthogonal} ||X^ - Y^ Q||_F = sqrt(2 - 2 ||X^^T Y^||_*)      in [0, sqrt 2],

  ||.||_* the nuclear norm (the sum of singular values; its maximiser is scipy.linalg.orthogonal_procrustes).

- Generalized angular shape metric with partial whitening alpha in [0, 1]:

      X~ = X^ (alpha I + (1 - alpha) (X^^T X^)^{-1/2}),
      theta_alpha(X, Y) = arccos(||X~^T Y~||_* / (||X~||_F ||Y~||_F))                 in [0, pi/2].

  With X^ = U S V^T (rank r), X~ = U (alpha S + (1 - alpha) I) V^T: alpha = 1 leaves X^ as it is
  (the angular Procrustes metric, cos theta_1 = 1 - d_P^2 / 2); alpha = 0 whitens X fully, so
  cos theta_0 = sum_i rho_i / sqrt(r_x r_y) with rho the canonical correlations (CCA; invariant to any
  invertible linear map). netrep whitens the centred X before scaling it; scaling first, as here,
  keeps 0 < alpha < 1 invariant to isotropic scale. Singular values at or below
  max(n, p) x eps x the largest count as zero (eps of the input's floating type), as in `cca`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from archsim.errors import ArchsimError
from archsim.similarity.inputs import as_features, center_features, input_eps


@dataclass(frozen=True)
class Shape:
    """A centred, unit-norm representation as its thin SVD: U (n x r) and singular values S (r,), sum S^2 = 1."""

    u: torch.Tensor
    s: torch.Tensor

    def weights(self, alpha: float) -> torch.Tensor:
        """The singular values of the partially whitened X~: alpha S + (1 - alpha)."""
        return alpha * self.s + (1 - alpha)


def shape_of(x, name: str = "x") -> Shape:
    """Centre x, scale it to unit Frobenius norm, keep its thin SVD above the rank tolerance."""
    eps = input_eps(x)
    xc = center_features(as_features(x, name), name)
    if xc.shape[0] < 2:
        raise ArchsimError("a shape metric needs at least 2 examples")
    u, s, _ = torch.linalg.svd(xc, full_matrices=False)
    keep = s > s[0] * max(xc.shape) * eps
    s = s[keep]
    return Shape(u[:, keep], s / torch.linalg.norm(s))


def _nuclear(a: Shape, b: Shape, wa: torch.Tensor, wb: torch.Tensor) -> float:
    """||diag(wa) Ua^T Ub diag(wb)||_*, the nuclear norm of the aligned cross-product."""
    if a.u.shape[0] != b.u.shape[0]:
        raise ArchsimError(f"x and y must hold the same examples: {a.u.shape[0]} and {b.u.shape[0]} rows")
    return float(torch.linalg.svdvals((wa[:, None] * (a.u.T @ b.u)) * wb[None, :]).sum())


def procrustes_distance(x, y) -> float:
    """d_P = sqrt(2 - 2 ||X^^T Y^||_*) for (n, p) arrays or prepared `Shape`s."""
    a, b = _shape(x, "x"), _shape(y, "y")
    return math.sqrt(max(0.0, 2 - 2 * _nuclear(a, b, a.s, b.s)))


def angular_shape_distance(x, y, alpha: float = 1.0) -> float:
    """theta_alpha = arccos(||X~^T Y~||_* / (||X~|| ||Y~||)) for (n, p) arrays or prepared `Shape`s."""
    if not 0 <= alpha <= 1:
        raise ArchsimError(f"alpha must be in [0, 1]; got {alpha}")
    a, b = _shape(x, "x"), _shape(y, "y")
    wa, wb = a.weights(alpha), b.weights(alpha)
    cos = _nuclear(a, b, wa, wb) / float(torch.linalg.norm(wa) * torch.linalg.norm(wb))
    return math.acos(min(1.0, max(-1.0, cos)))


def _shape(x, name: str) -> Shape:
    return x if isinstance(x, Shape) else shape_of(x, name)

"""Shape metrics between representations (Williams, Kunz, Kornblith and Linderman, "Generalized Shape Metrics
on Neural Representations", NeurIPS 2021; their code: netrep's LinearMetric).

Each representation X (n x p) is centred, Xc = X - mean; p_x and p_y may differ (the smaller is implicitly
zero-padded, as netrep pads it, which changes no singular value below). With Xc = U S V^T (rank r):

- Orthogonal Procrustes distance of the unit-norm representations, X^ = Xc / ||Xc||_F:

      d_P(X, Y) = min_{Q orthogonal} ||X^ - Y^ Q||_F = sqrt(2 - 2 ||X^^T Y^||_*)      in [0, sqrt 2],

  ||.||_* the nuclear norm (the sum of singular values; its maximiser is scipy.linalg.orthogonal_procrustes).
  Invariant to translation, isotropic scale and rotation. netrep's LinearMetric(alpha=1,
  score_method="euclidean") is the same distance without the scaling to unit norm.

- Generalized angular shape metric with partial whitening alpha in [0, 1] (Williams et al.'s definition,
  netrep's LinearMetric(alpha, score_method="angular")): the centred data, not rescaled, partially whitened,

      X~ = Xc (alpha I + (1 - alpha) (Xc^T Xc)^{-1/2}) = U diag(alpha S + (1 - alpha)) V^T,
      theta_alpha(X, Y) = arccos(||X~^T Y~||_* / (||X~||_F ||Y~||_F))                 in [0, pi/2].

  alpha = 1 is the angular Procrustes metric (cos theta_1 = 1 - d_P^2 / 2); alpha = 0 whitens fully, cos
  theta_0 = sum_i rho_i / sqrt(r_x r_y) with rho the canonical correlations (CCA). Both ends are invariant to
  isotropic scale (alpha = 0 to any invertible linear map); **0 < alpha < 1 is not**: the weights
  alpha S + (1 - alpha) compare the singular values S to 1, so scaling X up moves theta_alpha towards
  theta_1 and scaling it down towards theta_0 (netrep behaves the same; `tests/test_similarity_alignment.py`
  measures it). Every alpha is invariant to translation and rotation (unit permutations included).

- The **unit-norm shape metric** (`unit_norm=True`, archsim's own variant, not Williams et al.'s): X^ in
  place of Xc above, i.e. S / ||S|| in place of S, so every alpha is also invariant to isotropic scale;
  it equals netrep's metric on inputs first divided by their Frobenius norms.

Deviation from netrep: netrep clips the eigenvalues S^2 of Xc^T Xc at 1e-7 (absolute), so a direction with
S^2 < 1e-7 keeps the weight S (alpha + (1 - alpha) / sqrt(1e-7)); archsim drops singular values at or below
max(n, p) x eps x the largest (relative; eps of the input's floating type), as `cca` does. The two agree
whenever every direction is either kept with S > 3.2e-4 or exactly zero; netrep's variance-preserving
rescaling of X~ leaves the angle unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from archsim.errors import ArchsimError
from archsim.similarity.inputs import as_features, center_features, input_eps


@dataclass(frozen=True)
class Shape:
    """A centred representation as its thin SVD: U (n x r) and the singular values S (r,) of Xc, unscaled."""

    u: torch.Tensor
    s: torch.Tensor

    def weights(self, alpha: float, unit_norm: bool = False) -> torch.Tensor:
        """The singular values of the partially whitened X~: alpha S + (1 - alpha) (S / ||S|| with `unit_norm`)."""
        s = self.s / torch.linalg.norm(self.s) if unit_norm else self.s
        return alpha * s + (1 - alpha)


def shape_of(x, name: str = "x") -> Shape:
    """Centre x and keep its thin SVD above the rank tolerance."""
    eps = input_eps(x)
    xc = center_features(as_features(x, name), name)
    if xc.shape[0] < 2:
        raise ArchsimError("a shape metric needs at least 2 examples")
    u, s, _ = torch.linalg.svd(xc, full_matrices=False)
    keep = s > s[0] * max(xc.shape) * eps
    return Shape(u[:, keep], s[keep])


def _nuclear(a: Shape, b: Shape, wa: torch.Tensor, wb: torch.Tensor) -> float:
    """||diag(wa) Ua^T Ub diag(wb)||_*, the nuclear norm of the aligned cross-product."""
    if a.u.shape[0] != b.u.shape[0]:
        raise ArchsimError(f"x and y must hold the same examples: {a.u.shape[0]} and {b.u.shape[0]} rows")
    return float(torch.linalg.svdvals((wa[:, None] * (a.u.T @ b.u)) * wb[None, :]).sum())


def procrustes_distance(x, y) -> float:
    """d_P = sqrt(2 - 2 ||X^^T Y^||_*) for (n, p) arrays or prepared `Shape`s."""
    a, b = _shape(x, "x"), _shape(y, "y")
    return math.sqrt(max(0.0, 2 - 2 * _nuclear(a, b, a.weights(1.0, True), b.weights(1.0, True))))


def angular_shape_distance(x, y, alpha: float = 1.0, *, unit_norm: bool = False) -> float:
    """theta_alpha = arccos(||X~^T Y~||_* / (||X~|| ||Y~||)) for (n, p) arrays or prepared `Shape`s; with
    `unit_norm` the scale-free variant (module docstring)."""
    if not 0 <= alpha <= 1:
        raise ArchsimError(f"alpha must be in [0, 1]; got {alpha}")
    a, b = _shape(x, "x"), _shape(y, "y")
    wa, wb = a.weights(alpha, unit_norm), b.weights(alpha, unit_norm)
    cos = _nuclear(a, b, wa, wb) / float(torch.linalg.norm(wa) * torch.linalg.norm(wb))
    return math.acos(min(1.0, max(-1.0, cos)))


def _shape(x, name: str) -> Shape:
    return x if isinstance(x, Shape) else shape_of(x, name)

"""Centred kernel alignment (Kornblith et al., "Similarity of Neural Network
Representations Revisited", ICML 2019), as small functions that read like the formulas.

    CKA(K, L) = <K~, L~>_F / (||K~||_F ||L~||_F)

K and L are the n x n Gram matrices of two representations of the same n examples:
linear, K = X X^T, or RBF, K_ij = exp(-|x_i - x_j|^2 / (2 sigma^2)) (bandwidth: `gram_rbf`).

- Biased (`debiased=False`): K~ = H K H with H = I - 11^T/n; <K~, L~>/(n-1)^2 is
  HSIC_0 (Gretton et al. 2005).
- Debiased: K~ is the U-centred K (Szekely & Rizzo 2014), zero on the diagonal and
      K~_ij = K_ij - r_i/(n-2) - r_j/(n-2) + s/((n-1)(n-2)),  r_i = sum_{l!=i} K_il,  s = sum_{k!=l} K_kl;
  <K~, L~>/(n(n-3)) is the unbiased HSIC_1 of Song et al. (2012), so debiased CKA is
  HSIC_1(K, L) / sqrt(HSIC_1(K, K) HSIC_1(L, L)). It needs n >= 4.

Everything is computed in float64, and the features are centred before the Gram
matrix is formed: both centrings remove exactly what centring the features
removes, and float32 inputs with a large common offset keep their precision.
"""

from __future__ import annotations

import numpy as np
import torch

from archsim.errors import ArchsimError
from archsim.similarity.inputs import as_features, as_pair, center_features


def gram_linear(x, name: str = "x") -> torch.Tensor:
    """Linear Gram matrix Xc Xc^T of the column-centred features (n x n, float64)."""
    xc = center_features(as_features(x, name), name)
    return xc @ xc.T


MEDIANS = ("all", "pairs")


def gram_rbf(x, fraction: float = 0.5, name: str = "x", median: str = "all") -> torch.Tensor:
    """RBF Gram matrix exp(-d_ij^2 / (2 sigma^2)), the bandwidth from the median of the distances d_ij.

    `median="all"` (the default) is Kornblith et al.'s reference convention:
    sigma^2 = fraction^2 x median(d_ij^2) over all n^2 entries, the zero diagonal
    included (their `gram_rbf(x, threshold)`). `median="pairs"`: sigma = fraction x
    median(d_ij) over the distinct pairs i < j, which leaves the diagonal out.
    """
    if not fraction > 0:
        raise ArchsimError(f"the RBF bandwidth fraction must be > 0; got {fraction}")
    if median not in MEDIANS:
        raise ArchsimError(f"median must be one of {', '.join(MEDIANS)}; got {median!r}")
    xc = center_features(as_features(x, name), name)
    if xc.shape[0] < 2:
        raise ArchsimError("an RBF Gram matrix needs at least 2 examples")
    sq_norms = (xc * xc).sum(dim=1)
    sq_dist = (sq_norms[:, None] + sq_norms[None, :] - 2 * xc @ xc.T).clamp_min(0)
    sq_dist.fill_diagonal_(0)
    if median == "all":
        sigma2 = fraction ** 2 * float(np.median(sq_dist.cpu().numpy()))
    else:
        i, j = torch.triu_indices(len(xc), len(xc), offset=1)
        sigma2 = (fraction * float(np.median(sq_dist[i, j].sqrt().cpu().numpy()))) ** 2
    if sigma2 == 0:
        raise ArchsimError("the median distance between examples is 0 (most examples are identical); "
                           "the RBF bandwidth is undefined")
    return torch.exp(-sq_dist / (2 * sigma2))


def center_gram(gram, unbiased: bool = False) -> torch.Tensor:
    """H K H (biased) or the U-centred K (unbiased; zero diagonal). See the module docstring."""
    k = as_features(gram, "gram").clone()
    n = k.shape[0]
    if k.shape != (n, n):
        raise ArchsimError(f"a Gram matrix must be square; got shape {tuple(k.shape)}")
    if (k - k.T).abs().max() > 1e-9 * k.abs().max():
        raise ArchsimError("a Gram matrix must be symmetric")
    if unbiased:
        if n < 4:
            raise ArchsimError(f"the unbiased (debiased) estimator needs at least 4 examples; got {n}")
        k.fill_diagonal_(0)
        means = k.sum(dim=0) / (n - 2)
        means -= means.sum() / (2 * (n - 1))
        k -= means[:, None] + means[None, :]
        k.fill_diagonal_(0)
    else:
        means = k.mean(dim=0)
        means -= means.mean() / 2
        k -= means[:, None] + means[None, :]
    return k


def cka(gram_x, gram_y, debiased: bool = False) -> float:
    """CKA of two Gram matrices of the same examples."""
    kx, ky = center_gram(gram_x, debiased), center_gram(gram_y, debiased)
    if kx.shape != ky.shape:
        raise ArchsimError(f"the Gram matrices must be of the same examples; "
                           f"shapes {tuple(kx.shape)}, {tuple(ky.shape)}")
    nx, ny = torch.linalg.norm(kx), torch.linalg.norm(ky)
    for norm, name in ((nx, "x"), (ny, "y")):
        if not torch.isfinite(norm):
            raise ArchsimError(f"the Gram matrix of {name} overflows float64; rescale {name}")
        if norm == 0:
            raise ArchsimError(f"the centred Gram matrix of {name} is 0; CKA is undefined")
    return float((kx * ky).sum() / (nx * ny))


def feature_space_linear_cka(x, y, debiased: bool = False) -> float:
    """Linear CKA from p x p cross-products, ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F).

    Equal to `cka(gram_linear(x), gram_linear(y))`; cheaper when p_x + p_y < n.
    The debiased form is the same expansion of HSIC_1 in feature space
    (Kornblith et al.'s `_debiased_dot_product_similarity_helper`).
    """
    x, y = as_pair(x, y, min_examples=4 if debiased else 2, why="debiased CKA" if debiased else "CKA")
    x, y = center_features(x, "x"), center_features(y, "y")
    xy = torch.linalg.norm(y.T @ x) ** 2
    xx = torch.linalg.norm(x.T @ x) ** 2
    yy = torch.linalg.norm(y.T @ y) ** 2
    if debiased:
        n = x.shape[0]
        rx, ry = (x * x).sum(dim=1), (y * y).sum(dim=1)  # squared row norms = diagonals of the Gram matrices

        def debias(dot, ra, rb):
            return dot - n / (n - 2) * (ra @ rb) + ra.sum() * rb.sum() / ((n - 1) * (n - 2))

        xy, xx, yy = debias(xy, rx, ry), debias(xx, rx, rx), debias(yy, ry, ry)
    if xx <= 0 or yy <= 0:
        raise ArchsimError("a representation has no variation left after centring; CKA is undefined")
    return float(xy / torch.sqrt(xx * yy))


def linear_cka(x, y, debiased: bool = False) -> float:
    """Linear CKA of two (n, p) representations, by the cheaper of the Gram and the feature-space forms."""
    x, y = as_pair(x, y, min_examples=4 if debiased else 2, why="debiased CKA" if debiased else "CKA")
    if x.shape[1] + y.shape[1] < x.shape[0]:
        return feature_space_linear_cka(x, y, debiased)
    return cka(gram_linear(x, "x"), gram_linear(y, "y"), debiased)


def rbf_cka(x, y, fraction: float = 0.5, debiased: bool = False, median: str = "all") -> float:
    """RBF CKA, each bandwidth from that representation's median distance (`gram_rbf`)."""
    x, y = as_pair(x, y, min_examples=4 if debiased else 2, why="debiased CKA" if debiased else "CKA")
    return cka(gram_rbf(x, fraction, "x", median), gram_rbf(y, fraction, "y", median), debiased)


def cka_matrix(grams: list[torch.Tensor], debiased: bool = False) -> np.ndarray:
    """CKA between every pair of Gram matrices, each centred and normalised once.

    A Gram matrix whose centred form is 0 gets NaN in its row and column.
    """
    rows = []
    for gram in grams:
        k = center_gram(gram, debiased)
        norm = torch.linalg.norm(k)
        rows.append(k.flatten() / norm if norm > 0 else torch.full((k.numel(),), float("nan"), dtype=k.dtype))
    stacked = torch.stack(rows)
    return (stacked @ stacked.T).cpu().numpy()

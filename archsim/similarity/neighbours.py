"""Nearest-neighbour alignment of representations (Huh, Cheung, Wang and Isola, "The Platonic Representation
Hypothesis", ICML 2024; their code: platonic-rep's metrics.py, `mutual_knn` and `cknna`).

Every example x_i (a row of X, n x p) is scaled to unit length, as in that code; the kernel is
K = X^ X^^T (cosine similarities, not centred), and N_X(i) holds the k examples j != i with the
largest K_ij (ties in index order).

- Mutual k-NN alignment:  m_k(X, Y) = (1/n) sum_i |N_X(i) & N_Y(i)| / k                    in [0, 1].
- CKNNA (centred kernel nearest-neighbour alignment): with the mask
  a_ij(X, Y) = 1[j in N_X(i) and j in N_Y(i)],

      CKNNA(X, Y) = HSIC_1(a(X, Y) * K, a(X, Y) * L) / sqrt(HSIC_1(a(X, X) * K, a(X, X) * K) HSIC_1(a(Y, Y) * L, ...))

  (elementwise products), HSIC_1 the unbiased estimator of Song et al. (2012) written for matrices
  that need not be symmetric (the masked ones are not): with A~, B~ the matrices with zero diagonal,
      HSIC_1(A, B) = [tr(A~ B~) + 1^T A~ 1 1^T B~ 1 / ((n-1)(n-2)) - 2 1^T A~ B~ 1 / (n-2)] / (n(n-3)).
  With k = n - 1 every mask is all-ones off the diagonal, and CKNNA is debiased linear CKA of the
  unit-length rows. (The reference code adds 1e-6 to the denominator; this does not.)

Both are invariant to rotations and isotropic scale of X and to permutations of its units; not to
a translation (the rows are scaled, not centred) or to scaling one unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from archsim.errors import ArchsimError
from archsim.similarity.inputs import as_features


@dataclass(frozen=True)
class Neighbourhood:
    """The cosine kernel K (n x n), the k-nearest-neighbour mask (n x n, bool, row i marks N(i)) and
    HSIC_1(mask * K, mask * K), the self-alignment in CKNNA's denominator."""

    kernel: torch.Tensor
    mask: torch.Tensor
    self_alignment: float


def neighbourhood(x, k: int, name: str = "x") -> Neighbourhood:
    """The unit-length rows' kernel and k-NN mask; ArchsimError for k outside [1, n-1] or a zero row."""
    x = as_features(x, name)
    n = x.shape[0]
    if not 1 <= k <= n - 1:
        raise ArchsimError(f"k = {k} neighbours needs 1 <= k <= n - 1 with n = {n} examples")
    norms = torch.linalg.norm(x, dim=1)
    if (norms == 0).any():
        raise ArchsimError(f"{name} has an all-zero example; its neighbours are undefined")
    xn = x / norms[:, None]
    kernel = xn @ xn.T
    ranked = kernel.clone().fill_diagonal_(-torch.inf)
    idx = torch.sort(ranked, dim=1, descending=True, stable=True).indices[:, :k]
    mask = torch.zeros(n, n, dtype=torch.bool).scatter_(1, idx, True)
    masked = mask * kernel
    return Neighbourhood(kernel, mask, hsic_unbiased(masked, masked) if n >= 4 else float("nan"))


def mutual_knn(a: Neighbourhood, b: Neighbourhood) -> float:
    """m_k: the mean share of each example's k neighbours that the two representations have in common."""
    _same_examples(a, b)
    k = int(a.mask[0].sum())
    return float((a.mask & b.mask).sum()) / (a.mask.shape[0] * k)


def hsic_unbiased(a: torch.Tensor, b: torch.Tensor) -> float:
    """Song et al.'s HSIC_1 of two n x n matrices (not necessarily symmetric), n >= 4."""
    n = a.shape[0]
    if n < 4:
        raise ArchsimError(f"the unbiased HSIC needs at least 4 examples; got {n}")
    a, b = a.clone().fill_diagonal_(0), b.clone().fill_diagonal_(0)
    value = (a * b.T).sum() + a.sum() * b.sum() / ((n - 1) * (n - 2)) - 2 * (a.sum(0) @ b.sum(1)) / (n - 2)
    return float(value) / (n * (n - 3))


def cknna(a: Neighbourhood, b: Neighbourhood) -> float:
    """CKNNA of two neighbourhoods with the same k; ArchsimError where a self-alignment is not positive."""
    _same_examples(a, b)
    both = (a.mask & b.mask).double()
    kk, ll = a.self_alignment, b.self_alignment
    if not (kk > 0 and ll > 0):
        raise ArchsimError("a representation's masked kernel has no positive self-alignment; CKNNA is undefined")
    return hsic_unbiased(both * a.kernel, both * b.kernel) / (kk * ll) ** 0.5


def _same_examples(a: Neighbourhood, b: Neighbourhood) -> None:
    if a.mask.shape != b.mask.shape:
        raise ArchsimError(f"the two representations must hold the same examples: {a.mask.shape[0]} and "
                           f"{b.mask.shape[0]}")

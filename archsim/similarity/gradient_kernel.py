"""Gradient-kernel similarity (Tang, Maddox, Dickens, Diethe & Damianou, "Similarity of
Neural Networks with Gradients", 2020).

At a layer h, each example has features f = h(x) and gradients
g = d/dh sum_c q_c log p_c (`archsim.similarity.activations.tempered_objective`:
p the softmax output, q = p^beta / sum p^beta held constant, no labels). The
kernel between examples is k(x, x') = <f, f'> <g, g'> = <phi, phi'>, the inner
product of the per-example outer products phi = f (x) g. Exact (`buckets=None`):
K = (F F^T) o (G G^T), n x n, and every index centres it, K~ = H K H = (H Phi)(H Phi)^T.

Sketched (the default, memory independent of n): a CountSketch S (M x n) sends
each example to T distinct buckets of M, each with a random sign and the scale
1/sqrt(T), so diag(S^T S) = 1 and E[S^T S] = I. A fresh sketch is drawn for every
minibatch from a generator seeded with a seed that all compared models share,
and the rows are summed into the same M buckets, in float64:

    A = sum_b S_b Phi_b,   s = sum_b S_b 1,   phi_bar = (1/n) sum_i phi_i
    S H Phi = A - s phi_bar^T          (exact: the examples' mean is removed, whatever S is)
    K~_S = (S H Phi)(S H Phi)^T = S K~ S^T   (M x M)

When dim(phi) = p_f p_g exceeds `max_dim`, f and g are first projected by seeded
Gaussian matrices to d = floor(sqrt(max_dim)) dimensions each (E[<R f, R f'>] = <f, f'>),
which adds noise of order 1/sqrt(d) to the kernel entries.

Sharing S inflates inner products: with E_ij = (S^T S)_ij for i != j, E[E_ij^2] ~ 1/M, so
E <S A S^T, S B S^T> ~ (1 + 1/M) <A, B> + tr(A) tr(B) / M. The indices therefore use the
debiased inner product <A, B>_S = <S A S^T, S B S^T> - tr(S A S^T) tr(S B S^T) / M, whose
error shrinks like 1/M: on independent random data (n = 2,000, tests/test_gradient_kernel.py)
|sketched - exact| kernel CKA is at most 0.05 at M = 256 and at most a quarter of that at M = 1,024.

Indices between two models' kernels (exact: on K~ = H K H; sketched: on K~_S with <., .>_S):

- `kernel_cka`: <K~1, K~2> / sqrt(<K~1, K~1> <K~2, K~2>);
- `normalized_bures_similarity`: tr((K~1^1/2 K~2 K~1^1/2)^1/2) / sqrt(tr K~1 tr K~2)
  = ||K~1^1/2 K~2^1/2||_* / sqrt(tr K~1 tr K~2), in [0, 1], 1 iff K~1 and K~2 are proportional
  (sketched: on K~_S, not debiased, so biased upward);
- `kernel_euclidean`: ||K~1/||K~1||_F - K~2/||K~2||_F||_F = sqrt(2 - 2 kernel_cka), a distance
  in [0, sqrt(2)] (CKA of centred PSD kernels is >= 0), 0 for proportional kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from archsim.errors import ArchsimError
from archsim.similarity.cka import center_gram
from archsim.similarity.inputs import as_features


def count_sketch(n: int, buckets: int, nonzeros: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows, weights), each (n, T): example i goes to buckets rows[i] (distinct) with weights +-1/sqrt(T)."""
    if not 1 <= nonzeros <= buckets:
        raise ArchsimError(f"a CountSketch needs 1 <= nonzeros <= buckets; got nonzeros={nonzeros}, buckets={buckets}")
    rows = torch.rand(n, buckets, generator=generator).topk(nonzeros, dim=1).indices
    signs = torch.randint(0, 2, (n, nonzeros), generator=generator, dtype=torch.float64) * 2 - 1
    return rows, signs / math.sqrt(nonzeros)


@dataclass(frozen=True)
class SketchedKernel:
    """The centred sketched kernel S K~ S^T (M x M) of one model; indices debias it (module docstring)."""

    matrix: torch.Tensor

    @property
    def buckets(self) -> int:
        return self.matrix.shape[0]


class GradientKernel:
    """Accumulates one model's (sketched) gradient kernel at one layer, minibatch by minibatch."""

    def __init__(self, buckets: int | None = 256, nonzeros: int = 4, seed: int = 0, max_dim: int = 16384):
        if buckets is not None and buckets < 1:
            raise ArchsimError(f"buckets must be >= 1 or None; got {buckets}")
        self.buckets, self.nonzeros, self.max_dim, self.seed = buckets, nonzeros, max_dim, seed
        self._generator = torch.Generator().manual_seed(seed)
        self._f, self._g = [], []  # exact: the batches
        self._sum = self._ones = self._phi_sum = self._project = None  # sketched: A, s, sum of phi, (Rf, Rg)
        self._n = 0

    def update(self, f, g) -> None:
        """Add a minibatch: features f (b, p_f) and gradients g (b, p_g) of the same b examples."""
        f, g = as_features(f, "features"), as_features(g, "gradients")
        if f.shape[0] != g.shape[0]:
            raise ArchsimError(f"features and gradients of a batch must be of the same examples; "
                               f"got {f.shape[0]} and {g.shape[0]} rows")
        if self.buckets is None:
            self._f.append(f)
            self._g.append(g)
            return
        if self._project is None:
            self._project = self._projections(f.shape[1], g.shape[1], f.dtype)
        rf, rg = self._project
        f, g = (f if rf is None else f @ rf.to(f.device)), (g if rg is None else g @ rg.to(g.device))
        phi = (f[:, :, None] * g[:, None, :]).reshape(len(f), -1)
        rows, weights = count_sketch(len(phi), self.buckets, self.nonzeros, self._generator)
        rows, weights = rows.to(phi.device), weights.to(phi.device)
        if self._sum is None:
            self._sum = torch.zeros(self.buckets, phi.shape[1], dtype=phi.dtype, device=phi.device)
            self._ones = torch.zeros(self.buckets, dtype=phi.dtype, device=phi.device)
            self._phi_sum = torch.zeros(phi.shape[1], dtype=phi.dtype, device=phi.device)
        for t in range(self.nonzeros):
            self._sum.index_add_(0, rows[:, t], phi * weights[:, t, None])
            self._ones.index_add_(0, rows[:, t], weights[:, t])
        self._phi_sum += phi.sum(0)
        self._n += len(phi)

    def kernel(self) -> torch.Tensor | SketchedKernel:
        """The exact (F F^T) o (G G^T) (n x n), or the centred sketch S K~ S^T (M x M)."""
        if self.buckets is None:
            if not self._f:
                raise ArchsimError("the gradient kernel saw no batches")
            f, g = torch.cat(self._f), torch.cat(self._g)
            return (f @ f.T) * (g @ g.T)
        if self._sum is None:
            raise ArchsimError("the gradient kernel saw no batches")
        centred = self._sum - self._ones[:, None] * (self._phi_sum / self._n)[None, :]
        return SketchedKernel(centred @ centred.T)

    def _projections(self, p_f: int, p_g: int, dtype) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(Rf, Rg): seeded Gaussian projections to floor(sqrt(max_dim)) dimensions, or None when p_f p_g fits."""
        if p_f * p_g <= self.max_dim:
            return None, None
        d = max(1, math.isqrt(self.max_dim))
        gen = torch.Generator().manual_seed(self.seed + 1)  # not the sketch's stream; the same for every model
        return tuple(torch.randn(p, d, generator=gen, dtype=dtype) / math.sqrt(d) if p > d else None
                     for p in (p_f, p_g))


def kernel_cka(k1, k2) -> float:
    """<K~1, K~2> / sqrt(<K~1, K~1> <K~2, K~2>) on the centred kernels (debiased when sketched)."""
    a, b, bias = _centred(k1, k2)
    inner = _inner(bias)
    return float(inner(a, b) / torch.sqrt(inner(a, a) * inner(b, b)))


def normalized_bures_similarity(k1, k2) -> float:
    """||K~1^1/2 K~2^1/2||_* / sqrt(tr K~1 tr K~2) on the centred kernels."""
    a, b, _ = _centred(k1, k2)
    ra, rb = _psd_sqrt(a), _psd_sqrt(b)
    trace = torch.sqrt((ra * ra).sum() * (rb * rb).sum())  # tr K = ||K^1/2||_F^2, negative rounding clipped
    return float(torch.linalg.svdvals(ra @ rb).sum() / trace)


def kernel_euclidean(k1, k2) -> float:
    """||K~1/||K~1|| - K~2/||K~2|| ||_F = sqrt(2 - 2 kernel_cka) on the centred kernels: 0 when proportional."""
    return math.sqrt(max(0.0, 2 - 2 * kernel_cka(k1, k2)))


INDICES = {"cka": kernel_cka, "nbs": normalized_bures_similarity, "euclidean": kernel_euclidean}


def _inner(sketched: bool):
    """<A, B>, or for sketched kernels the debiased <A, B> - tr A tr B / M (module docstring)."""
    if not sketched:
        return lambda a, b: (a * b).sum()
    return lambda a, b: (a * b).sum() - torch.trace(a) * torch.trace(b) / a.shape[0]


def _centred(k1, k2) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(K~1, K~2, sketched): exact kernels centred by H; sketched kernels are centred already."""
    kinds = {isinstance(k, SketchedKernel) for k in (k1, k2)}
    if len(kinds) > 1:
        raise ArchsimError("cannot compare a sketched kernel with an exact one")
    sketched = kinds == {True}
    a, b = (k1.matrix, k2.matrix) if sketched else (center_gram(k1), center_gram(k2))
    if a.shape != b.shape:
        raise ArchsimError(f"the kernels must be over the same examples or buckets; shapes "
                           f"{tuple(a.shape)}, {tuple(b.shape)}")
    for k, name in ((a, "first"), (b, "second")):
        if not k.any():
            raise ArchsimError(f"the {name} centred kernel is 0 (no variation in features or gradients)")
    return a, b, sketched


def _psd_sqrt(k: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(k)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T

"""Gradient-kernel similarity (Tang, Maddox, Dickens, Diethe & Damianou, "Similarity of
Neural Networks with Gradients", 2020).

At a layer h, each example has features f = h(x) and gradients
g = d/dh sum_c q_c log p_c (`archsim.similarity.activations.tempered_objective`:
p the softmax output, q = p^beta / sum p^beta held constant, no labels). The
kernel between examples is k(x, x') = <f, f'> <g, g'>, the inner product of the
per-example outer products g f^T.

Sketching: a CountSketch S (M x n) sends each example to T distinct buckets of
M, each with a random sign and the scale 1/sqrt(T) (so E[S^T S] = I). A fresh
sketch is drawn for every minibatch from a generator seeded with a seed that
all compared models share (so all of them see the same S), and the sketched
rows are summed into the same M buckets, in float64:

    SF = sum_b S_b F_b,   SG = sum_b S_b G_b,   K = (SF)(SF)^T o (SG)(SG)^T   (o: Hadamard product)

K is M x M and memory is O(M (p_f + p_g)) however many examples stream
through. Without sketching (`buckets=None`) K is the exact n x n kernel.

Indices between two models' kernels, on the centred kernels K~ = H K H:

- `kernel_cka`: <K~1, K~2>_F / (||K~1||_F ||K~2||_F);
- `normalized_bures_similarity`: tr((K~1^1/2 K~2 K~1^1/2)^1/2) / sqrt(tr K~1 tr K~2)
  = ||K~1^1/2 K~2^1/2||_* / sqrt(tr K~1 tr K~2), in [0, 1], 1 iff K~1 and K~2 are proportional;
- `kernel_euclidean`: ||K~1/||K~1||_F - K~2/||K~2||_F||_F, a distance in [0, 2]
  (0 for proportional kernels); it equals sqrt(2 - 2 kernel_cka).
"""

from __future__ import annotations

import math

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


class GradientKernel:
    """Accumulates one model's (sketched) gradient kernel at one layer, minibatch by minibatch."""

    def __init__(self, buckets: int | None = 256, nonzeros: int = 4, seed: int = 0):
        if buckets is not None and buckets < 1:
            raise ArchsimError(f"buckets must be >= 1 or None; got {buckets}")
        self.buckets, self.nonzeros = buckets, nonzeros
        self._generator = torch.Generator().manual_seed(seed)
        self._f, self._g = [], []

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
        rows, weights = count_sketch(f.shape[0], self.buckets, self.nonzeros, self._generator)
        rows, weights = rows.to(f.device), weights.to(f.device)
        if not self._f:
            self._f = [torch.zeros(self.buckets, f.shape[1], dtype=f.dtype, device=f.device)]
            self._g = [torch.zeros(self.buckets, g.shape[1], dtype=g.dtype, device=g.device)]
        for t in range(self.nonzeros):
            self._f[0].index_add_(0, rows[:, t], f * weights[:, t, None])
            self._g[0].index_add_(0, rows[:, t], g * weights[:, t, None])

    def kernel(self) -> torch.Tensor:
        """K = (SF)(SF)^T o (SG)(SG)^T (M x M), or (F F^T) o (G G^T) (n x n) without sketching."""
        if not self._f:
            raise ArchsimError("the gradient kernel saw no batches")
        f, g = torch.cat(self._f), torch.cat(self._g)
        return (f @ f.T) * (g @ g.T)


def kernel_cka(k1, k2) -> float:
    """<K~1, K~2> / (||K~1|| ||K~2||) on the centred kernels."""
    a, b = _centred(k1, k2)
    return float((a * b).sum() / (torch.linalg.norm(a) * torch.linalg.norm(b)))


def normalized_bures_similarity(k1, k2) -> float:
    """||K~1^1/2 K~2^1/2||_* / sqrt(tr K~1 tr K~2) on the centred kernels."""
    a, b = _centred(k1, k2)
    ra, rb = _psd_sqrt(a), _psd_sqrt(b)
    trace = torch.sqrt((ra * ra).sum() * (rb * rb).sum())  # tr K = ||K^1/2||_F^2, negative rounding clipped
    return float(torch.linalg.svdvals(ra @ rb).sum() / trace)


def kernel_euclidean(k1, k2) -> float:
    """||K~1/||K~1|| - K~2/||K~2|| ||_F on the centred kernels: a distance, 0 when proportional."""
    a, b = _centred(k1, k2)
    return float(torch.linalg.norm(a / torch.linalg.norm(a) - b / torch.linalg.norm(b)))


INDICES = {"cka": kernel_cka, "nbs": normalized_bures_similarity, "euclidean": kernel_euclidean}


def _centred(k1, k2) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = center_gram(k1), center_gram(k2)
    if a.shape != b.shape:
        raise ArchsimError(f"the kernels must be over the same examples or buckets; shapes "
                           f"{tuple(a.shape)}, {tuple(b.shape)}")
    for k, name in ((a, "first"), (b, "second")):
        if not k.any():
            raise ArchsimError(f"the {name} centred kernel is 0 (no variation in features or gradients)")
    return a, b


def _psd_sqrt(k: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(k)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T

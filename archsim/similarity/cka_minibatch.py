"""Minibatch linear CKA (Nguyen, Raghu & Kornblith, "Do Wide and Deep Networks Learn
the Same Things?", ICLR 2021): unbiased HSIC accumulated over minibatches, normalised once.

For minibatches b = 1..k of n_b >= 4 examples and two representations X, Y:

    S_XY = sum_b n_b HSIC_1(K_b, L_b) / sum_b n_b,        CKA(X, Y) = S_XY / sqrt(S_XX S_YY)

K_b, L_b are the linear Gram matrices of batch b (`centred_gram`: features
centred first, products in the activations' own precision), HSIC_1(K, L) = <K~, L~>/(n_b (n_b - 3))
with K~ the U-centred K (see `archsim.similarity.cka`). Each batch counts in
proportion to the examples it holds, so a partial last batch is neither dropped
nor given a full batch's weight; with equal batches the weights cancel and this
is exactly Nguyen et al.'s mean over batches. Memory is one n_b x n_b Gram
matrix per representation, whatever the number of examples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from archsim.errors import ArchsimError
from archsim.similarity.cka import center_gram
from archsim.similarity.inputs import as_features, as_pair, batch_slices, is_constant


class MinibatchCKA:
    """Accumulates minibatch CKA between every representation of group X and every one of group Y.

    `update(xs, ys)` takes one minibatch: `xs` the (n_b, ...) activations of each
    X representation, `ys` of each Y representation (None: Y is X, for a
    symmetric matrix). Each representation's Gram matrix is formed and centred
    once per batch, so L_X + L_Y representations cost L_X + L_Y Gram matrices,
    not L_X x L_Y. `result()` is the (L_X, L_Y) CKA matrix, NaN in the row or
    column of a representation that never varied within a batch.
    """

    def __init__(self):
        self._xy = self._xx = self._yy = None
        self._symmetric = None

    def update(self, xs: Sequence, ys: Sequence | None = None) -> None:
        symmetric = ys is None
        if self._symmetric is not None and symmetric != self._symmetric:
            raise ArchsimError("every update must pass ys, or none may")
        gx, n = self._centred_grams(xs)
        gy, ny = (gx, n) if symmetric else self._centred_grams(ys)
        if ny != n:
            raise ArchsimError(f"xs and ys must hold the same examples; got {n} and {ny} in this batch")
        scale = 1.0 / (n - 3)  # n_b x HSIC_1 = <K~, L~> / (n_b - 3)
        xy = (gx @ gy.T) * scale
        xx, yy = (gx * gx).sum(dim=1) * scale, (gy * gy).sum(dim=1) * scale
        if self._xy is None:
            self._xy, self._xx, self._yy, self._symmetric = xy, xx, yy, symmetric
        elif xy.shape != self._xy.shape:
            raise ArchsimError(f"expected {tuple(self._xy.shape)} representations per batch, got {tuple(xy.shape)}")
        else:
            self._xy += xy
            self._xx += xx
            self._yy += yy

    def result(self) -> np.ndarray:
        if self._xy is None:
            raise ArchsimError("minibatch CKA saw no batches")
        xx = torch.where(self._xx > 0, self._xx, torch.nan)
        yy = torch.where(self._yy > 0, self._yy, torch.nan)
        return (self._xy / torch.sqrt(xx[:, None] * yy[None, :])).cpu().numpy()

    @staticmethod
    def _centred_grams(reps: Sequence) -> tuple[torch.Tensor, int]:
        """(len(reps), n_b^2): each representation's U-centred linear Gram matrix, flattened; and n_b."""
        if not len(reps):
            raise ArchsimError("a minibatch needs at least one representation")
        rows = []
        for i, rep in enumerate(reps):
            x = as_features(rep, f"representation {i}", keep_float32=True)
            if rows and x.shape[0] ** 2 != rows[0].numel():
                raise ArchsimError(f"the representations of one batch must hold the same examples; "
                                   f"representation {i} has {x.shape[0]} rows")
            if is_constant(x):  # contributes nothing; a representation constant in every batch ends as NaN
                rows.append(torch.zeros(x.shape[0] ** 2, dtype=torch.float64, device=x.device))
            else:
                rows.append(center_gram(centred_gram(x), unbiased=True).flatten())
        return torch.stack(rows), x.shape[0]


def centred_gram(x: torch.Tensor) -> torch.Tensor:
    """Gram matrix (float64) of x's column-centred rows, computed in x's own precision.

    Centring first is what keeps a large common offset from cancelling: float32
    x minus its float32 column mean is exact up to one rounding of each
    difference, and the rounding of the mean is a shift of each column, which
    U-centring removes. The products then run on the centred x scaled by a power
    of 2 to a largest |value| in [0.5, 1) (no overflow, no underflow), and the
    result is scaled back exactly. Float32 activations thus keep float32
    relative accuracy whatever their offset; pass float64 activations for
    float64 products.
    """
    xc = x - x.mean(dim=0, keepdim=True)
    low, high = torch.aminmax(xc)
    scale = 2.0 ** -float(torch.frexp(torch.maximum(-low, high)).exponent)
    xc *= scale
    return (xc @ xc.T).to(torch.float64) / scale ** 2


def minibatch_cka(x, y, batch_size: int = 256) -> float:
    """Minibatch CKA of two (n, p) representations, over ceil(n / batch_size) balanced batches."""
    x, y = as_pair(x, y, min_examples=4, why="minibatch CKA")
    slices = batch_slices(x.shape[0], batch_size)
    if x.shape[0] // len(slices) < 4:
        raise ArchsimError(f"minibatch CKA needs batches of at least 4 examples; batch_size={batch_size}")
    acc = MinibatchCKA()
    for s in slices:
        acc.update([x[s]], [y[s]])
    value = float(acc.result()[0, 0])
    if np.isnan(value):
        raise ArchsimError("a representation never varies within a batch; minibatch CKA is undefined")
    return value

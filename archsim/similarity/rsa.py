"""Representational similarity analysis (Kriegeskorte, Mur and Bandettini, "Representational similarity
analysis - connecting the branches of systems neuroscience", Front. Syst. Neurosci. 2008).

A representation X (n x p) gives its representational dissimilarity matrix over the examples,
kept as the condensed vector of its n(n-1)/2 entries i < j (scipy's `pdist` order):

    correlation  D_ij = 1 - corr(x_i, x_j)        each row centred over its p features
    euclidean    D_ij = ||x_i - x_j||_2

Two RDMs are compared by Pearson's r of the entries, or Spearman's rho (Pearson's r of their
ranks, ties averaged). Both RDMs invariant to isotropic scale and a permutation of the units; the
Euclidean RDM also to any rotation and translation of X, the correlation RDM not to a rotation
(it centres each example over its units). An RDM whose entries are all equal (or NaN, a
constant example under correlation) has no defined comparison.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata

from archsim.errors import ArchsimError
from archsim.similarity.inputs import as_features

RDMS = ("correlation", "euclidean")
COMPARISONS = ("spearman", "pearson")


def rdm(x, kind: str = "correlation", name: str = "x") -> np.ndarray:
    """The condensed RDM (n(n-1)/2,) of x, float64."""
    if kind not in RDMS:
        raise ArchsimError(f"rdm must be one of {', '.join(RDMS)}; got {kind!r}")
    x = as_features(x, name)
    if x.shape[0] < 3:
        raise ArchsimError(f"RSA needs at least 3 examples; got {x.shape[0]}")
    if kind == "correlation":
        xc = x - x.mean(dim=1, keepdim=True)
        norms = torch.linalg.norm(xc, dim=1)
        if (norms == 0).any():
            raise ArchsimError(f"{name} has an example constant over its units; its correlation distance is undefined")
        xn = xc / norms[:, None]
        d = 1 - xn @ xn.T
    else:
        sq = (x * x).sum(dim=1)
        d = (sq[:, None] + sq[None, :] - 2 * x @ x.T).clamp_min(0).sqrt()
    i, j = np.triu_indices(x.shape[0], 1)
    return d.numpy()[i, j]


def standardised(vector: np.ndarray, compare: str = "spearman") -> np.ndarray:
    """(v - mean) / ||v - mean|| of the RDM's entries (spearman: of their ranks), so r = dot of two of these."""
    if compare not in COMPARISONS:
        raise ArchsimError(f"compare must be one of {', '.join(COMPARISONS)}; got {compare!r}")
    v = rankdata(vector) if compare == "spearman" else np.asarray(vector, dtype=float)
    v = v - v.mean()
    norm = np.linalg.norm(v)
    if not norm > 0:
        raise ArchsimError("the RDM's entries are all equal; its correlation with another RDM is undefined")
    return v / norm


def rsa(x, y, kind: str = "correlation", compare: str = "spearman") -> float:
    """The RSA similarity: the RDMs of x and y compared by `compare`."""
    a, b = rdm(x, kind, "x"), rdm(y, kind, "y")
    if len(a) != len(b):
        raise ArchsimError("x and y must hold the same examples")
    return float(standardised(a, compare) @ standardised(b, compare))

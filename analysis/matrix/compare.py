"""Agreement between two similarity matrices over the same models.

All statistics use the off-diagonal pairs i < j (the diagonal is ignored):

- Pearson r, Spearman rho and Kendall tau-b of the pair values (scipy.stats),
  with their asymptotic p-values (which treat pairs as independent; they are
  not, hence the Mantel test);
- Mantel test: r_obs = Pearson r of the pair values; the null distribution
  relabels the models of the second matrix by a uniformly random permutation
  (rows and columns together), `permutations` times; one-sided p-value
  p = (1 + #{r_perm >= r_obs}) / (1 + permutations);
- nearest-neighbour agreement: the fraction of models whose most similar other
  model is the same under both matrices;
- k-NN overlap: the mean over models of |top-k(A) intersect top-k(B)| / k.
Ties in nearest neighbours are broken by matrix order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
from scipy import stats

from analysis.matrix.load import SimilarityMatrix, common_models


@dataclass
class Comparison:
    matrix_a: str
    matrix_b: str
    n_models: int
    n_pairs: int
    pearson: float
    pearson_p: float
    spearman: float
    spearman_p: float
    kendall: float
    kendall_p: float
    mantel_r: float
    mantel_p: float
    permutations: int
    nn_agreement: float
    knn_overlap: float
    k: int
    pairs_a: np.ndarray = field(repr=False, default=None)  # the compared pair values (not in row())
    pairs_b: np.ndarray = field(repr=False, default=None)

    def row(self) -> dict:
        """The statistics as a flat dict (one comparison.csv row)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("pairs_")}


def mantel(a: np.ndarray, b: np.ndarray, *, permutations: int = 999, seed: int = 0) -> tuple[float, float]:
    """(r_obs, one-sided permutation p-value) of the Mantel test between symmetric matrices `a` and `b`."""
    n = len(a)
    i, j = np.triu_indices(n, k=1)
    x = a[i, j] - a[i, j].mean()
    x /= np.linalg.norm(x)

    def corr(rows: np.ndarray) -> np.ndarray:  # rows: (P, n_pairs) values of b under P relabelings
        y = rows - rows.mean(axis=1, keepdims=True)
        return y @ x / np.linalg.norm(y, axis=1)

    r_obs = float(corr(b[i, j][None, :])[0])
    rng = np.random.default_rng(seed)
    perms = np.argsort(rng.random((permutations, n)), axis=1)
    r_perm = corr(b[perms[:, i], perms[:, j]])
    return r_obs, float((1 + np.sum(r_perm >= r_obs - 1e-12)) / (1 + permutations))


def _top_k(values: np.ndarray, k: int) -> np.ndarray:
    v = values.astype(float).copy()
    np.fill_diagonal(v, -np.inf)
    return np.argsort(-v, axis=1, kind="stable")[:, :k]


def neighbour_agreement(a: np.ndarray, b: np.ndarray, k: int) -> tuple[float, float]:
    """(nearest-neighbour agreement, mean top-k overlap)."""
    ta, tb = _top_k(a, k), _top_k(b, k)
    nn = float(np.mean(ta[:, 0] == tb[:, 0]))
    overlap = float(np.mean([len(set(x) & set(y)) / k for x, y in zip(ta, tb)]))
    return nn, overlap


def compare_matrices(a: SimilarityMatrix, b: SimilarityMatrix, *, permutations: int = 999, k: int = 5,
                     seed: int = 0) -> Comparison:
    """Compare `a` and `b` on the models they share (a warning names the others)."""
    names = common_models(a.names, b.names, what=a.source or "the first matrix", other_what=b.source or "the second")
    a, b = a.subset(names), b.subset(names)
    x, y = a.pairs(), b.pairs()
    k = min(k, len(names) - 1)
    pr, sr, kt = stats.pearsonr(x, y), stats.spearmanr(x, y), stats.kendalltau(x, y)
    m_r, m_p = mantel(a.values, b.values, permutations=permutations, seed=seed)
    nn, overlap = neighbour_agreement(a.values, b.values, k)
    return Comparison(a.source, b.source, len(names), len(x), float(pr.statistic), float(pr.pvalue),
                      float(sr.statistic), float(sr.pvalue), float(kt.statistic), float(kt.pvalue),
                      m_r, m_p, permutations, nn, overlap, k, x, y)

"""Choosing K members of a pool of M models for an ensemble.

`accuracy` is (M,) validation accuracies; `similarity` is (M, M) with larger =
more similar (callers orient distances). Methods:

- top_k: the K most accurate models.
- random_draws: seeded random K-subsets (a baseline).
- greedy_diverse: greedy maximisation of
      J(S) = mean_{i in S} acc_i - lam * mean_{i<j in S} s_ij
  (the similarity term is 0 for |S| = 1), lam chosen on validation images by
  choose_lambda over LAMBDA_GRID; pass `normalised(similarity)` so one grid
  fits every measure.
- one_per_cluster: average-linkage clusters of D = max_offdiag(s) - s, the
  most accurate model of each.

Bad input (k < 1, k > M, a non-square similarity or one with NaN or infinite
off-diagonal values) raises ValueError; the diagonal is never used.
"""

from __future__ import annotations

import functools

import numpy as np
from sklearn.cluster import AgglomerativeClustering

from analysis.decisions.ensemble_eval import softmax_predictions

LAMBDA_GRID = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def _check_k(k: int, m: int) -> None:
    if not 1 <= k <= m:
        raise ValueError(f"k must be between 1 and the pool size {m}, got {k}")


def _checked_similarity(similarity, m: int | None = None) -> np.ndarray:
    """The similarity as floats, checked square ((m, m) when m is given) with a finite off-diagonal."""
    s = np.asarray(similarity, dtype=float)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"similarity must be a square matrix, got shape {s.shape}")
    if m is not None and len(s) != m:
        raise ValueError(f"similarity is {s.shape} but there are {m} accuracies")
    if not np.isfinite(s[~np.eye(len(s), dtype=bool)]).all():
        raise ValueError("similarity has NaN or infinite off-diagonal values")
    return s


def top_k(accuracy, k: int) -> list[int]:
    """The k highest accuracies, in rank order (lower index first on ties)."""
    accuracy = np.asarray(accuracy, dtype=float)
    _check_k(k, len(accuracy))
    return np.argsort(-accuracy, kind="stable")[:k].tolist()


def random_draws(m: int, k: int, draws: int, seed: int) -> list[list[int]]:
    """`draws` random k-subsets of range(m), each sorted ascending.

    Each is rng.choice(m, k, replace=False) with one numpy default_rng(seed).
    """
    _check_k(k, m)
    rng = np.random.default_rng(seed)
    return [sorted(rng.choice(m, size=k, replace=False).tolist()) for _ in range(draws)]


def normalised(similarity) -> np.ndarray:
    """Off-diagonal min-max scaled to [0, 1] (all 0 if they are equal); diagonal 1."""
    s = _checked_similarity(similarity)
    off = s[~np.eye(len(s), dtype=bool)]
    out = np.zeros_like(s) if off.size == 0 or np.ptp(off) == 0 else (s - off.min()) / np.ptp(off)
    np.fill_diagonal(out, 1.0)
    return out


def _objective(accuracy: np.ndarray, s: np.ndarray, members: list[int], lam: float) -> float:
    """J(S) = mean_{i in S} acc_i - lam * mean_{i<j in S} s_ij (0 similarity term for one member)."""
    idx = np.array(sorted(members))
    rows, cols = _upper(len(idx))
    pair = s[idx[rows], idx[cols]]  # the pairs i < j of S in row-major order
    return float(accuracy[idx].mean() - (lam * pair.mean() if len(pair) else 0.0))


@functools.lru_cache(maxsize=None)
def _upper(n: int) -> tuple[np.ndarray, np.ndarray]:
    """np.triu_indices(n, 1), made once per n: the greedy search asks for it hundreds of thousands of times."""
    return np.triu_indices(n, 1)


def greedy_diverse(accuracy, similarity, k: int, lam: float) -> list[int]:
    """Greedy maximisation of J(S) (module docstring), in the order added.

    Starts from the most accurate model and repeatedly adds the model that
    maximises J of the enlarged set; lowest index on ties at every step.
    The similarity is used as given.
    """
    accuracy = np.asarray(accuracy, dtype=float)
    s = _checked_similarity(similarity, len(accuracy))
    _check_k(k, len(accuracy))
    chosen = [int(np.argmax(accuracy))]
    while len(chosen) < k:
        rest = [i for i in range(len(accuracy)) if i not in chosen]
        scores = [_objective(accuracy, s, chosen + [i], lam) for i in rest]
        chosen.append(rest[int(np.argmax(scores))])
    return chosen


def choose_lambda(val_probs: np.ndarray, val_labels: np.ndarray, accuracy, similarity, k: int,
                  grid=LAMBDA_GRID) -> tuple[float, list[int], list[tuple[float, list[int], float]]]:
    """The lambda in `grid` whose greedy selection has the best validation softmax-ensemble accuracy.

    Returns (lam, members, table) with table = [(lam, members, val_softmax_acc)]
    in grid order; ties between lambdas go to the smallest lambda.
    """
    table = []
    for lam in grid:
        members = greedy_diverse(accuracy, similarity, k, lam)
        acc = float(np.mean(softmax_predictions(val_probs, members) == val_labels))
        table.append((lam, members, acc))
    lam, members, _ = min(table, key=lambda row: (-row[2], row[0]))
    return lam, members, table


def one_per_cluster(accuracy, similarity, k: int) -> list[int]:
    """The most accurate model (lowest index on ties) of each of k clusters, by accuracy descending.

    Clusters: sklearn average-linkage AgglomerativeClustering of the precomputed
    dissimilarity D = max_offdiag(s) - s with zero diagonal, s = (S + S^T) / 2.
    k == 1 and k == M give top_k(accuracy, k).
    """
    accuracy = np.asarray(accuracy, dtype=float)
    s = _checked_similarity(similarity, len(accuracy))
    _check_k(k, len(accuracy))
    if k in (1, len(accuracy)):
        return top_k(accuracy, k)
    s = (s + s.T) / 2
    off = ~np.eye(len(s), dtype=bool)
    d = np.where(off, s[off].max() - s, 0.0)
    labels = AgglomerativeClustering(n_clusters=k, metric="precomputed", linkage="average").fit_predict(d)
    best = [int(np.flatnonzero(labels == c)[np.argmax(accuracy[labels == c])]) for c in range(k)]
    return sorted(best, key=lambda i: (-accuracy[i], i))

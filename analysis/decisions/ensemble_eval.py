"""Ensembles evaluated from per-model class probabilities.

`probs` is a float array (M, n, C): the softmax probabilities of M models on n
images; `labels` is an int array (n,); `members` is a list of model indices.

- Softmax ensemble: argmax_c mean_{m in members} probs[m, :, c].
- Vote ensemble: the class predicted (argmax) by most members.
- Gain of an ensemble: its accuracy minus that of its best member.

`similarity_gain_correlation` asks whether more similar pairs of models gain
less from being ensembled: Spearman's rho between pair similarity and pair
gain, with a confidence interval from a bootstrap over models (see there).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


def softmax_predictions(probs: np.ndarray, members) -> np.ndarray:
    """(n,) argmax over classes of mean_{m in members} probs[m] (lowest class on ties)."""
    return probs[list(members)].mean(axis=0).argmax(axis=1)


def vote_predictions(probs: np.ndarray, members) -> np.ndarray:
    """(n,) majority vote of the members' argmax predictions.

    A tie between classes is broken by the larger mean softmax probability
    (over the members) among the tied classes, then by the lowest class index.
    """
    sub = probs[list(members)]
    n_classes = sub.shape[2]
    votes = np.eye(n_classes, dtype=int)[sub.argmax(axis=2)].sum(axis=0)  # (n, C)
    tied = votes == votes.max(axis=1, keepdims=True)
    return np.where(tied, sub.mean(axis=0), -np.inf).argmax(axis=1)


def _accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predictions == labels))


def member_accuracies(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(M,) accuracy of each model's argmax prediction."""
    return (probs.argmax(axis=2) == labels[None, :]).mean(axis=1)


def evaluate_members(probs: np.ndarray, labels: np.ndarray, members) -> dict:
    """Accuracies of the softmax and vote ensembles of `members` and their gains.

    Keys: softmax_acc, vote_acc, best_member (the position in `members` of the
    most accurate member, lowest position on ties, so the model is
    members[best_member]), best_member_acc,
    gain_softmax = softmax_acc - best_member_acc, gain_vote = vote_acc - best_member_acc.
    """
    members = list(members)
    accs = member_accuracies(probs[members], labels)
    best = int(np.argmax(accs))
    softmax_acc = _accuracy(softmax_predictions(probs, members), labels)
    vote_acc = _accuracy(vote_predictions(probs, members), labels)
    return {
        "softmax_acc": softmax_acc,
        "vote_acc": vote_acc,
        "best_member": best,
        "best_member_acc": float(accs[best]),
        "gain_softmax": softmax_acc - float(accs[best]),
        "gain_vote": vote_acc - float(accs[best]),
    }


def pair_gains(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(M, M) symmetric: G_ij = acc(softmax ensemble {i, j}) - max(acc_i, acc_j); NaN diagonal."""
    m = len(probs)
    accs = member_accuracies(probs, labels)
    gains = np.full((m, m), np.nan)
    for i, j in zip(*np.triu_indices(m, 1)):
        gains[i, j] = gains[j, i] = _accuracy(softmax_predictions(probs, [i, j]), labels) - max(accs[i], accs[j])
    return gains


@dataclass(frozen=True)
class Correlation:
    """Spearman rho with a bootstrap confidence interval.

    n_pairs: finite pairs i < j used for rho; n_models: M; resamples: the
    number of usable bootstrap resamples behind the interval.
    """

    rho: float
    ci_low: float
    ci_high: float
    n_pairs: int
    n_models: int
    resamples: int


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rho, NaN for fewer than 3 pairs or a constant input."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan
    return float(np.corrcoef(stats.rankdata(x), stats.rankdata(y))[0, 1])  # scipy's spearmanr, without its checks


def similarity_gain_correlation(similarity: np.ndarray, gains: np.ndarray, *, resamples: int = 1000,
                                seed: int = 0, level: float = 0.95) -> Correlation:
    """Spearman rho between similarity[i, j] and gains[i, j] over pairs i < j where both are finite.

    Pairs share models, so they are not independent; the interval comes from a
    bootstrap over models: draw M model indices with replacement
    (numpy default_rng(seed)), take every pair of drawn positions p < q whose
    model indices a, b differ, with the values at (min(a, b), max(a, b)) where
    both are finite, and compute rho on them. Resamples with fewer than 3 pairs
    or a constant input are skipped; the percentile interval at `level` is NaN
    when fewer than half of the resamples are usable. With fewer than 3 finite
    pairs rho and the interval are NaN.
    """
    similarity, gains = np.asarray(similarity, float), np.asarray(gains, float)
    m = len(similarity)
    if similarity.shape != (m, m) or gains.shape != (m, m):
        raise ValueError(f"similarity {similarity.shape} and gains {gains.shape} must be the same square shape")
    finite = np.isfinite(similarity) & np.isfinite(gains)
    iu, ju = np.triu_indices(m, 1)
    keep = finite[iu, ju]
    n_pairs = int(keep.sum())
    rho = _spearman(similarity[iu, ju][keep], gains[iu, ju][keep]) if n_pairs >= 3 else np.nan
    if np.isnan(rho):
        return Correlation(rho, np.nan, np.nan, n_pairs, m, 0)

    rng = np.random.default_rng(seed)
    rhos = []
    for _ in range(resamples):
        drawn = rng.choice(m, size=m, replace=True)
        a, b = drawn[iu], drawn[ju]
        i, j = np.minimum(a, b), np.maximum(a, b)
        use = (a != b) & finite[i, j]
        r = _spearman(similarity[i[use], j[use]], gains[i[use], j[use]])
        if not np.isnan(r):
            rhos.append(r)
    if len(rhos) < resamples / 2:
        return Correlation(rho, np.nan, np.nan, n_pairs, m, len(rhos))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(rhos, [tail, 100 - tail])
    return Correlation(rho, float(low), float(high), n_pairs, m, len(rhos))

"""Known-answer statistics of one similarity matrix over a pool of models grouped by architecture.

A pool is N models; `groups[i]` names model i's architecture (seeds of one architecture share it).
`values` is (N, N), larger = more similar, NaN where undefined; only the pairs i < j with a finite value
count, and the diagonal never does.

Seeds (the pool holds two or more seeds of some architecture):

- seed AUC = P(s_same > s_diff) + 0.5 P(s_same = s_diff), over the pairs of one architecture (same) against
  the pairs of two architectures (diff): `sklearn.metrics.roc_auc_score`. Per architecture a: a's pairs
  against the pairs of one model of a with one model of another architecture.
- mutual nearest seeds: a same-architecture pair (i, j) is mutual nearest when j is more similar to i than
  every model of another architecture is, and i to j (other seeds of the same architecture are not
  competitors, so with 3 seeds every pair can pass; with 2 it is the plain mutual nearest neighbour).

Untrained copies (a pool of trained models and one untrained copy per architecture):

- untrained AUC: trained-trained pairs against trained-untrained pairs, both of different architectures
  (same-architecture pairs are left to the seed test). 1: every trained model is more similar to the
  trained models than to the untrained copies; 0.5: the measure cannot tell a trained network from a
  random one.

Intervals (`architecture_draws`, `resampled_auc`, `share`): the cluster bootstrap over architectures. Each
resample draws the K architectures with replacement (counts c_a); a pair of two architectures a != b weighs
c_a c_b, a pair within a weighs c_a, and each architecture's share statistics (mutual nearest, layer steps)
weigh c_a. The percentile interval at `level`, NaN with a note when the pool has fewer than MIN_RESAMPLED
architectures that carry the statistic (it would look decisive and is not) or fewer than half the resamples
are usable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

MIN_RESAMPLED = 5  # the fewest architectures (models, for reliability) a bootstrap interval is given from
RESAMPLES = 1000


@dataclass(frozen=True)
class Estimate:
    """A statistic with its 95% interval (NaN when not given, `note` says why) and the count behind it."""

    value: float
    low: float = np.nan
    high: float = np.nan
    n: int = 0  # pairs, seed pairs or steps behind the value
    note: str = ""


def group_index(groups) -> np.ndarray:
    """Each model's architecture as an index 0..K-1, in order of first appearance."""
    order = list(dict.fromkeys(groups))
    return np.array([order.index(g) for g in groups], dtype=int)


def architecture_draws(k: int, *, resamples: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """(resamples, k) counts: how often each of k architectures is drawn in each bootstrap resample."""
    drawn = np.random.default_rng(seed).integers(0, k, size=(resamples, k))
    return np.stack([np.bincount(d, minlength=k) for d in drawn])


def interval(draws: np.ndarray, resampled: int, *, unit: str = "architectures",
             level: float = 0.95) -> tuple[float, float, str]:
    """(low, high, note): the percentile interval of the resampled statistic `draws` (NaN: unusable), none when
    fewer than MIN_RESAMPLED `unit` carry the statistic."""
    if resampled < MIN_RESAMPLED:
        return np.nan, np.nan, f"no interval: from {resampled} {unit}, fewer than {MIN_RESAMPLED}"
    usable = draws[np.isfinite(draws)]
    if len(usable) < len(draws) / 2:
        return np.nan, np.nan, f"no interval: {len(usable)} of {len(draws)} resamples usable"
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(usable, [tail, 100 - tail])
    return float(low), float(high), ""


def _pair_weights(counts: np.ndarray, ga: np.ndarray, gb: np.ndarray) -> np.ndarray:
    """(resamples, pairs) bootstrap weights of pairs whose models have architectures ga, gb (module docstring)."""
    return np.where(ga == gb, counts[:, ga], counts[:, ga] * counts[:, gb])


def weighted_auc(positive: np.ndarray, negative: np.ndarray, w_pos: np.ndarray, w_neg: np.ndarray) -> np.ndarray:
    """AUC of the positive against the negative scores under each row of weights (resamples, P) and (resamples, Q):
    sum_pq w_p w_q (1(s_p > s_q) + 0.5 1(s_p = s_q)) / (sum w_p sum w_q); NaN where a side weighs 0."""
    wins = (positive[:, None] > negative[None, :]) + 0.5 * (positive[:, None] == negative[None, :])
    total = w_pos.sum(1) * w_neg.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, np.einsum("rp,pq,rq->r", w_pos, wins, w_neg) / total, np.nan)


def _pairs(values, positive: np.ndarray, negative: np.ndarray):
    """(i, j, scores, pos, neg) over the pairs i < j: the finite positive and negative pairs."""
    values = np.asarray(values, dtype=float)
    i, j = np.triu_indices(len(values), 1)
    s = values[i, j]
    return i, j, s, positive[i, j] & np.isfinite(s), negative[i, j] & np.isfinite(s)


def auc(values, positive: np.ndarray, negative: np.ndarray) -> float:
    """roc_auc_score of the finite pairs i < j marked `positive` against those marked `negative` ((N, N) masks);
    NaN when either side has none."""
    _, _, s, pos, neg = _pairs(values, positive, negative)
    if not pos.any() or not neg.any():
        return np.nan
    keep = pos | neg
    return float(roc_auc_score(pos[keep], s[keep]))


def resampled_auc(values, groups, positive: np.ndarray, negative: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """`auc` under each row of architecture counts (resamples, K): the pairs weighted as the module docstring says."""
    gi = group_index(groups)
    i, j, s, pos, neg = _pairs(values, positive, negative)
    return weighted_auc(s[pos], s[neg], _pair_weights(counts, gi[i[pos]], gi[j[pos]]),
                        _pair_weights(counts, gi[i[neg]], gi[j[neg]]))


def pair_auc(values, groups, positive: np.ndarray, negative: np.ndarray, *, seed: int = 0) -> Estimate:
    """`auc` with the bootstrap interval over the architectures that have a positive pair."""
    gi = group_index(groups)
    i, j, _, pos, neg = _pairs(values, positive, negative)
    value = auc(values, positive, negative)
    if np.isnan(value):
        return Estimate(np.nan, n=int(pos.sum() + neg.sum()),
                        note=f"no {'positive' if not pos.any() else 'negative'} pair with a finite value")
    draws = resampled_auc(values, groups, positive, negative, architecture_draws(gi.max() + 1, seed=seed))
    low, high, note = interval(draws, len(set(gi[i[pos]]) | set(gi[j[pos]])))
    return Estimate(value, low, high, int((pos | neg).sum()), note)


def seed_masks(groups) -> tuple[np.ndarray, np.ndarray]:
    """(same, different) architecture masks, (N, N) boolean, False on the diagonal."""
    gi = group_index(groups)
    same = gi[:, None] == gi[None, :]
    np.fill_diagonal(same, False)
    return same, gi[:, None] != gi[None, :]


def seed_auc(values, groups, *, seed: int = 0) -> Estimate:
    """The seed AUC over the whole pool (module docstring)."""
    same, different = seed_masks(groups)
    return pair_auc(values, groups, same, different, seed=seed)


def architecture_auc(values, groups, architecture) -> float:
    """The seed AUC of one architecture: its pairs against its models' pairs with other architectures."""
    values, groups = np.asarray(values, dtype=float), list(groups)
    same, different = seed_masks(groups)
    member = np.array([g == architecture for g in groups])
    both, one = member[:, None] & member[None, :], member[:, None] | member[None, :]
    return auc(values, same & both, different & one)


def mutual_nearest(values, groups) -> dict[tuple[int, int], bool]:
    """{(i, j): whether the same-architecture pair is mutual nearest} for the pairs i < j with a finite value."""
    values, gi = np.asarray(values, dtype=float), group_index(groups)
    out = {}
    for i, j in zip(*np.nonzero(np.triu(gi[:, None] == gi[None, :], 1))):
        if not np.isfinite(values[i, j]):
            continue
        rivals = (gi != gi[i]) & np.isfinite(values[i]) & np.isfinite(values[j])
        out[(int(i), int(j))] = bool(np.all(values[i, j] > values[i, rivals]) and
                                     np.all(values[i, j] > values[j, rivals]))
    return out


def share(hits: np.ndarray, totals: np.ndarray, *, seed: int = 0) -> Estimate:
    """sum(hits) / sum(totals) over architectures (arrays of length K), with the bootstrap interval over the
    architectures whose total is above 0."""
    hits, totals = np.asarray(hits, dtype=float), np.asarray(totals, dtype=float)
    if totals.sum() == 0:
        return Estimate(np.nan, note="nothing to count")
    counts = architecture_draws(len(totals), seed=seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        draws = np.where(counts @ totals > 0, (counts @ hits) / (counts @ totals), np.nan)
    low, high, note = interval(draws, int((totals > 0).sum()))
    return Estimate(float(hits.sum() / totals.sum()), low, high, int(totals.sum()), note)


def mutual_nearest_share(values, groups, *, seed: int = 0) -> Estimate:
    """The share of same-architecture pairs that are mutual nearest, with its interval over architectures."""
    gi = group_index(groups)
    found = mutual_nearest(values, groups)
    hits, totals = np.zeros(gi.max() + 1), np.zeros(gi.max() + 1)
    for (i, _), ok in found.items():
        hits[gi[i]] += ok
        totals[gi[i]] += 1
    return share(hits, totals, seed=seed)


def untrained_auc(values, groups, trained, *, seed: int = 0) -> Estimate:
    """The untrained AUC (module docstring); `trained[i]` says whether model i is trained."""
    trained = np.asarray(trained, dtype=bool)
    _, different = seed_masks(groups)
    both = trained[:, None] & trained[None, :]
    one = trained[:, None] ^ trained[None, :]
    return pair_auc(values, groups, different & both, different & one, seed=seed)

"""Teachers ranked by similarity to a student, and (after training) similarity set against distillation gain.

    rank_teachers(teachers, similarity) -> {measure: [(teacher, value, rank)]}
    study_distillation(teachers, similarity, runs) -> DistillStudy

`similarity` maps a measure to {teacher: similarity of teacher and student},
larger = more similar (rank 1 = the most similar; NaN values rank last and
unranked). `runs` are (teacher or None for the baseline, seed, test accuracy)
triples. A teacher's gain = its students' mean test accuracy - the baseline
students' mean; the measure's Spearman rho is taken over the teachers with a
finite similarity and a gain, with a two-sided permutation p (`spearman_permutation_p`):
exact, over every ranking, for up to 8 teachers (scipy's asymptotic p is meaningless for 4 to 6),
and a percentile bootstrap interval over the teachers (`bootstrap_interval`), NaN for fewer than
6 teachers: resampling 4 or 5 points gives intervals that look decisive and are not (with 4
teachers and rho = -0.8, the permutation p is 0.33 but the interval excludes 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import permutation_test, rankdata, spearmanr


@dataclass
class Correlation:
    rho: float
    p: float
    n_teachers: int
    ci_low: float = math.nan  # 95% bootstrap interval over the teachers
    ci_high: float = math.nan


@dataclass
class DistillStudy:
    teachers: list[str]
    measures: list[str]
    baseline: tuple[float, float, int]  # mean, sd, number of seeds
    accuracy: dict[str, tuple[float, float, int]]  # teacher -> mean, sd, seeds
    gain: dict[str, float]
    similarity: dict[str, dict[str, float]]
    ranks: dict[str, dict[str, int | None]]
    correlations: dict[str, Correlation] = field(default_factory=dict)

    def table(self) -> tuple[list[str], list[list]]:
        """Header and one row per teacher (then the baseline): accuracy, gain, similarity and rank per measure."""
        header = ["teacher", "seeds", "test_acc_mean", "test_acc_sd", "gain"]
        for m in self.measures:
            header += [f"{m}", f"{m}_rank"]
        rows = []
        for t in self.teachers:
            mean, sd, n = self.accuracy[t]
            row = [t, n, mean, sd, self.gain[t]]
            for m in self.measures:
                row += [self.similarity[m].get(t), self.ranks[m].get(t)]
            rows.append(row)
        mean, sd, n = self.baseline
        rows.append(["(none: labels only)", n, mean, sd, 0.0] + [None] * (2 * len(self.measures)))
        return header, rows

    def shown_rows(self) -> list[list]:
        """For people: per teacher (then the baseline) mean, sd, gain, and per measure "value (#rank)" or None."""
        _, rows = self.table()
        return [[r[0], r[2], r[3], r[4]] + [None if r[6 + 2 * i] is None else f"{r[5 + 2 * i]:.3f} (#{r[6 + 2 * i]})"
                                            for i in range(len(self.measures))] for r in rows]


def rank_teachers(teachers: list[str], similarity: dict[str, dict[str, float]]) -> dict[str, list]:
    """Per measure: (teacher, similarity, rank) from the most similar; NaN last with rank None."""
    out = {}
    for measure, values in similarity.items():
        finite = sorted((t for t in teachers if _finite(values.get(t))), key=lambda t: (-values[t], teachers.index(t)))
        rest = [t for t in teachers if t not in finite]
        out[measure] = [(t, values[t], r + 1) for r, t in enumerate(finite)] + [(t, values.get(t), None) for t in rest]
    return out


def study_distillation(teachers: list[str], similarity: dict[str, dict[str, float]],
                       runs: list[tuple[str | None, int, float]]) -> DistillStudy:
    """Accuracy per teacher and baseline over seeds, gains, ranks, and the rank correlation per measure."""
    def stats(teacher):
        acc = np.array([a for t, _, a in runs if t == teacher], dtype=float)
        return (float(acc.mean()), float(acc.std(ddof=1)) if len(acc) > 1 else math.nan, len(acc)) if len(acc) \
            else (math.nan, math.nan, 0)

    baseline = stats(None)
    accuracy = {t: stats(t) for t in teachers}
    gain = {t: accuracy[t][0] - baseline[0] for t in teachers}
    ranked = rank_teachers(teachers, similarity)
    study = DistillStudy(list(teachers), list(similarity), baseline, accuracy, gain, similarity,
                         {m: {t: r for t, _, r in rs} for m, rs in ranked.items()})
    for measure, values in similarity.items():
        use = [t for t in teachers if _finite(values.get(t)) and _finite(gain[t])]
        if len(use) < 3:
            study.correlations[measure] = Correlation(math.nan, math.nan, len(use))
            continue
        x, y = [values[t] for t in use], [gain[t] for t in use]
        study.correlations[measure] = Correlation(float(spearmanr(x, y).statistic), spearman_permutation_p(x, y),
                                                  len(use), *bootstrap_interval(x, y))
    return study


EXACT_UP_TO = 8  # 8! = 40,320 rankings


def spearman_permutation_p(x, y, *, resamples: int = 9999, seed: int = 0) -> float:
    """Two-sided permutation p of Spearman's rho: every pairing of x with y when len(x) <= 8, else `resamples`
    seeded ones (scipy.stats.permutation_test, permutation_type="pairings")."""
    rx, ry = rankdata(x), rankdata(y)
    ry = (ry - ry.mean()) / np.linalg.norm(ry - ry.mean())

    def rho(a, axis=-1):
        a = a - a.mean(axis=axis, keepdims=True)
        return (a * ry).sum(axis=axis) / np.linalg.norm(a, axis=axis)

    n = np.inf if len(x) <= EXACT_UP_TO else resamples
    return float(permutation_test((rx,), rho, permutation_type="pairings", vectorized=True, n_resamples=n,
                                  alternative="two-sided", random_state=seed).pvalue)


MIN_BOOTSTRAP_POINTS = 6


def bootstrap_interval(x, y, *, resamples: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of Spearman's rho over `resamples` draws of the n (x, y) points with replacement
    (numpy default_rng(seed)). A draw with fewer than 3 distinct points or a constant side is skipped;
    (NaN, NaN) when fewer than half the draws are usable or n < MIN_BOOTSTRAP_POINTS."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n < MIN_BOOTSTRAP_POINTS:
        return math.nan, math.nan
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    rx, ry = rankdata(x[draws], axis=1), rankdata(y[draws], axis=1)
    rx, ry = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(rx, axis=1) * np.linalg.norm(ry, axis=1)
    distinct = np.array([len(set(d)) for d in draws])
    usable = (distinct >= 3) & (norms > 0)
    if usable.sum() < resamples / 2:
        return math.nan, math.nan
    rho = (rx * ry).sum(axis=1)[usable] / norms[usable]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(rho, [tail, 100 - tail])
    return float(low), float(high)


def _finite(x) -> bool:
    return x is not None and math.isfinite(x)

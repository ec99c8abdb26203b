"""Does choosing by a measure help? The decisions rerun on many random sub-pools of one zoo.

    ensemble_subpools(names, val_probs, val_labels, test_probs, test_labels, similarities, *, pool, k, draws,
                      seed) -> [SubpoolRow]
    teacher_subpools(teachers, teacher_val_acc, similarity, runs) -> [SubpoolRow]

Ensembles. For each of `draws` seeded random sub-pools of `pool` models (numpy
default_rng(seed)), the members are chosen as `archsim ensemble` chooses them, on
the validation images only: per measure greedy diversity (lambda chosen on
validation) and one per cluster, and "the rule" (the recommendation's pick: the
best validation accuracy among top-k and every measure's selections, top-k first
on ties). A measure without a finite value for every pair of a sub-pool does not
choose there. Each choice is scored on the test images against three baselines:
top-k (the k models most accurate on validation), random (the mean over `random`
seeded k-subsets of the sub-pool) and the best single model (most accurate on
validation). Per method and baseline: the mean difference over the sub-pools, the
share of sub-pools where it is above 0, and a 95% interval of the mean from a
bootstrap over the test images (one set of resampled images for every sub-pool,
so pairing holds; the interval covers other test images of this kind, not other
zoos: the sub-pools share models).

Teachers. Every subset of two or more of the teachers is a sub-pool. Per measure
the pick is the teacher most similar to the student (validation images); "the
rule" is the teacher whose students do best on the validation images. Each is
set against labels-only training, against a random teacher of the sub-pool (its
mean) and against the most accurate teacher (best validation accuracy of its
own). A difference is taken per seed (the same student initialisation and data
order on both sides) and averaged over the sub-pools; the interval is Student-t
over the seeds (`analysis.decisions.intervals.seed_difference`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from analysis.decisions.ensemble_eval import member_accuracies, softmax_predictions
from analysis.decisions.ensemble_selection import choose_lambda, normalised, one_per_cluster, random_draws, top_k
from analysis.decisions.intervals import bootstrap_weights, percentile_interval, seed_difference

RULE = "the rule (validation)"


@dataclass(frozen=True)
class SubpoolRow:
    target: str  # "ensemble" or "teacher"
    method: str  # e.g. "greedy (sat)", "cluster (cka)", "most similar (sat)", RULE
    baseline: str
    subpools: int  # sub-pools where the method chose
    mean: float  # mean difference to the baseline (accuracy units)
    low: float
    high: float
    share_above: float  # share of sub-pools (or sub-pool x seed pairs) with a difference above 0

    def values(self) -> list:
        return [self.target, self.method, self.baseline, self.subpools, self.mean, self.low, self.high,
                self.share_above]


HEADER = ["target", "method", "baseline", "subpools", "mean_difference", "ci_low", "ci_high", "share_above_0"]


def ensemble_subpools(names: list[str], val_probs: np.ndarray, val_labels: np.ndarray, test_probs: np.ndarray,
                      test_labels: np.ndarray, similarities: dict[str, np.ndarray], *, pool: int, k: int,
                      draws: int = 200, random: int = 10, seed: int = 0) -> list[SubpoolRow]:
    """The ensemble decision on `draws` random sub-pools of `pool` models (module docstring)."""
    m = len(names)
    if not 2 <= k < pool <= m:
        raise ValueError(f"need 2 <= k < pool <= {m} models, got k = {k}, pool = {pool}")
    rng = np.random.default_rng(seed)
    weights = bootstrap_weights(len(test_labels), seed=seed)
    diffs: dict[tuple[str, str], list[np.ndarray]] = {}

    def correct(probs, labels, members):
        return softmax_predictions(probs, members) == labels

    for _ in range(draws):
        sub = np.sort(rng.choice(m, size=pool, replace=False))
        vp, tp = val_probs[sub], test_probs[sub]
        val_acc = member_accuracies(vp, val_labels)
        top = top_k(val_acc, k)
        baselines = {"top-k": correct(tp, test_labels, top).astype(float),
                     "random": np.mean([correct(tp, test_labels, d) for d in random_draws(pool, k, random,
                                                                                          int(rng.integers(2**31)))],
                                       axis=0),
                     "best single": (tp[top[0]].argmax(1) == test_labels).astype(float)}
        candidates = [("top-k", top, float(np.mean(correct(vp, val_labels, top))))]
        for measure, values in similarities.items():
            s = np.asarray(values, dtype=float)[np.ix_(sub, sub)]
            s = (s + s.T) / 2
            if not np.isfinite(s[~np.eye(pool, dtype=bool)]).all():
                continue
            _, greedy, table = choose_lambda(vp, val_labels, val_acc, normalised(s), k)
            cluster = one_per_cluster(val_acc, s, k)
            candidates += [(f"greedy ({measure})", greedy, max(acc for _, _, acc in table)),
                           (f"cluster ({measure})", cluster, float(np.mean(correct(vp, val_labels, cluster))))]
        rule = max(candidates, key=lambda c: c[2])  # the first of equals: top-k
        for method, members, _ in [*candidates[1:], (RULE, rule[1], rule[2])]:
            chosen = correct(tp, test_labels, members).astype(float)
            for baseline, base in baselines.items():
                diffs.setdefault((method, baseline), []).append(chosen - base)
    rows = []
    for (method, baseline), ds in diffs.items():
        d = np.asarray(ds)  # (sub-pools, test images)
        mean_per_image = d.mean(axis=0)
        low, high = percentile_interval(weights @ mean_per_image / len(mean_per_image))
        rows.append(SubpoolRow("ensemble", method, baseline, len(d), float(mean_per_image.mean()), float(low),
                               float(high), float(np.mean(d.mean(axis=1) > 0))))
    return rows


def teacher_subpools(teachers: list[str], teacher_val_acc: dict[str, float], similarity: dict[str, dict[str, float]],
                     runs: list) -> list[SubpoolRow]:
    """The teacher decision on every subset of two or more teachers (module docstring). `runs` have teacher
    (None: labels only), seed, validation_accuracy and test_accuracy."""
    test = {(r.teacher, r.seed): r.test_accuracy for r in runs}
    val = {(r.teacher, r.seed): r.validation_accuracy for r in runs}
    seeds = sorted({r.seed for r in runs if r.teacher is None})

    def mean_val(t):
        return float(np.mean([val[(t, s)] for s in seeds]))

    diffs: dict[tuple[str, str], list[np.ndarray]] = {}
    subsets = [list(c) for size in range(2, len(teachers) + 1) for c in itertools.combinations(teachers, size)]
    for subset in subsets:
        per_seed = {t: np.array([test[(t, s)] for s in seeds]) for t in subset}
        baselines = {"labels only": np.array([test[(None, s)] for s in seeds]),
                     "random teacher": np.mean([per_seed[t] for t in subset], axis=0),
                     "most accurate teacher": per_seed[max(subset, key=lambda t: teacher_val_acc[t])]}
        picks = {RULE: max(subset, key=mean_val)}
        for measure, values in similarity.items():
            finite = [t for t in subset if values.get(t) is not None and math.isfinite(values[t])]
            if len(finite) == len(subset):
                picks[f"most similar ({measure})"] = max(subset, key=lambda t: values[t])
        for method, teacher in picks.items():
            for baseline, base in baselines.items():
                diffs.setdefault((method, baseline), []).append(per_seed[teacher] - base)
    rows = []
    for (method, baseline), ds in diffs.items():
        d = np.asarray(ds)  # (sub-pools, seeds)
        interval = seed_difference(d.mean(axis=0), np.zeros(d.shape[1]))
        rows.append(SubpoolRow("teacher", method, baseline, len(d), interval.estimate, interval.low, interval.high,
                               float(np.mean(d > 0))))
    return rows

"""Ensemble members chosen by each similarity measure, evaluated as real ensembles on held-out images.

    study_ensembles(names, val_probs, val_labels, test_probs, test_labels, similarities, *, k, draws, seed)
        -> EnsembleStudy

Selection sees only the validation images (`val_probs`, `val_labels`): the
members' validation accuracies, and for greedy diversity the validation accuracy
of each lambda's ensemble. The test images (`test_probs`, `test_labels`) only
evaluate the chosen members. Methods (`analysis.decisions.ensemble_selection`):

    top-k       the k most accurate models (no measure)
    random      `draws` seeded random k-subsets (no measure)
    greedy      greedy diversity on the measure, min-max normalised; lambda chosen on validation
    cluster     the best model of each of k average-linkage clusters of the measure

Each selection is evaluated with the mean of softmax and with majority vote, and
every gain is against a named baseline, on the test images: `vs_top_k` = its
softmax accuracy minus that of the top-k ensemble, `vs_best_single` = minus that
of the single model most accurate on validation (never a set's own best member,
which makes a set worse than top-k look good). The recommendation
(`analysis.decisions.recommendation.recommend_ensemble`) picks one selection by
validation accuracy alone, top-k among the candidates, and sets it against both
baselines with paired intervals over the test images.
For every pair of models, the pair ensemble's gain over the pair's better member
on the test images is set against each measure's pair similarity (Spearman rho,
bootstrap interval over models). `similarities` maps a measure name to an (M, M)
matrix in `names` order where larger means more similar, computed on the
validation images (`archsim.similarity.compute.decision_similarities`); a measure
that leaves a model without values is studied on the models it covers (noted in
`notes`), and skipped when fewer than k remain.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from analysis.decisions.ensemble_eval import (
    Correlation,
    evaluate_members,
    member_accuracies,
    pair_gains,
    similarity_gain_correlation,
)
from analysis.decisions.ensemble_selection import choose_lambda, normalised, one_per_cluster, random_draws, top_k
from analysis.decisions.recommendation import EnsembleRecommendation, recommend_ensemble

HEADER = ["measure", "method", "draw", "k", "members", "lambda", "val_softmax_acc", "test_softmax_acc",
          "test_vote_acc", "vs_top_k", "vs_best_single"]


@dataclass(frozen=True)
class SummaryRow:
    """One selection method under one measure (measure "" for top-k and random); random: mean and sd over draws."""

    measure: str
    method: str
    members: str
    lam: float | None
    test_softmax: float
    sd_over_draws: float | None
    test_vote: float
    vs_top_k: float  # test softmax accuracy minus the top-k ensemble's (random: mean over draws)
    vs_best_single: float  # minus the test accuracy of the model most accurate on validation

    def values(self) -> list:
        """The row in the columns of SUMMARY_HEADER."""
        return list(dataclasses.astuple(self))


@dataclass
class EnsembleStudy:
    names: list[str]
    k: int
    rows: list[dict]  # one per selection, keys of HEADER
    pair_gain: np.ndarray  # (M, M) test accuracy gain of each pair's softmax ensemble over its better member
    similarities: dict[str, np.ndarray]  # the symmetrised matrices studied
    correlations: dict[str, Correlation] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    lambdas: list[list] = field(default_factory=list)  # measure, lambda, members, validation accuracy: every grid value
    recommendation: EnsembleRecommendation | None = None

    def summary(self) -> list[SummaryRow]:
        """One row per (measure, method): test softmax and vote accuracy and the differences to the baselines;
        random as mean (sd) over draws."""
        out, groups = [], {}
        for r in self.rows:
            groups.setdefault((r["measure"], r["method"]), []).append(r)
        for (measure, method), rs in groups.items():
            soft = np.array([r["test_softmax_acc"] for r in rs])
            vote = np.array([r["test_vote_acc"] for r in rs])
            members = rs[0]["members"] if len(rs) == 1 else f"{len(rs)} draws"
            out.append(SummaryRow(measure, method, members, rs[0]["lambda"], float(soft.mean()),
                                  float(soft.std()) if len(rs) > 1 else None, float(vote.mean()),
                                  float(np.mean([r["vs_top_k"] for r in rs])),
                                  float(np.mean([r["vs_best_single"] for r in rs]))))
        return out


SUMMARY_HEADER = ["measure", "method", "members", "lambda", "test_softmax_acc", "sd_over_draws", "test_vote_acc",
                  "vs_top_k", "vs_best_single"]


def study_ensembles(names: list[str], val_probs: np.ndarray, val_labels: np.ndarray, test_probs: np.ndarray,
                    test_labels: np.ndarray, similarities: dict[str, np.ndarray], *, k: int, draws: int = 10,
                    seed: int = 0) -> EnsembleStudy:
    """Select k members by every method and measure on validation data; evaluate each on the test data."""
    m = len(names)
    if not 1 <= k <= m:
        raise ValueError(f"ensemble size k={k} must be between 1 and the pool's {m} models")
    val_acc = member_accuracies(val_probs, val_labels)
    study = EnsembleStudy(list(names), k, [], pair_gains(test_probs, test_labels), {})
    top = top_k(val_acc, k)
    top_test = evaluate_members(test_probs, test_labels, top)["softmax_acc"]
    single_test = float(member_accuracies(test_probs[top[:1]], test_labels)[0])  # most accurate on validation

    def add(measure: str, method: str, draw, members: list[int], lam=None) -> None:
        members = [int(i) for i in members]
        val = evaluate_members(val_probs, val_labels, members)["softmax_acc"]
        ev = evaluate_members(test_probs, test_labels, members)
        study.rows.append({"measure": measure, "method": method, "draw": draw, "k": k,
                           "members": " ".join(names[i] for i in members), "lambda": lam,
                           "val_softmax_acc": val, "test_softmax_acc": ev["softmax_acc"],
                           "test_vote_acc": ev["vote_acc"], "vs_top_k": ev["softmax_acc"] - top_test,
                           "vs_best_single": ev["softmax_acc"] - single_test})

    add("", "top-k", None, top)
    for d, members in enumerate(random_draws(m, k, draws, seed)):
        add("", "random", d, members)
    for measure, values in similarities.items():
        sim = np.asarray(values, dtype=float)
        sim = (sim + sim.T) / 2
        keep = _covered(sim)
        if len(keep) < max(k, 2):
            study.notes.append(f"{measure}: skipped: has values for {len(keep)} models only, fewer than k = {k}")
            continue
        if len(keep) < m:
            study.notes.append(f"{measure}: no value for {', '.join(names[i] for i in range(m) if i not in keep)}; "
                               f"studied on the other {len(keep)} models")
        sub = sim[np.ix_(keep, keep)]
        study.similarities[measure] = sim
        lam, members, table = choose_lambda(val_probs[keep], val_labels, val_acc[keep], normalised(sub), k)
        study.lambdas += [[measure, g, " ".join(names[keep[i]] for i in ms), acc] for g, ms, acc in table]
        add(measure, "greedy", None, [keep[i] for i in members], lam)
        add(measure, "cluster", None, [keep[i] for i in one_per_cluster(val_acc[keep], sub, k)])
        study.correlations[measure] = similarity_gain_correlation(sim, study.pair_gain, seed=seed)
    study.recommendation = recommend_ensemble(study, val_acc, test_probs, test_labels, seed=seed)
    return study


def _covered(sim: np.ndarray) -> list[int]:
    """Models left after dropping, one at a time, the model with the most missing off-diagonal values."""
    keep = list(range(len(sim)))
    while keep:
        sub = sim[np.ix_(keep, keep)]
        missing = (~np.isfinite(sub)).sum(1) - (~np.isfinite(np.diag(sub)))
        if missing.max() == 0:
            break
        keep.pop(int(missing.argmax()))
    return keep

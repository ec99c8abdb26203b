"""The decisions themselves: which ensemble to use and which teacher to distil from, each against a named baseline.

    recommend_ensemble(study, val_acc, test_probs, test_labels, seed) -> EnsembleRecommendation
    recommend_teacher(student, teachers, ranking, measure, runs) -> TeacherRecommendation
    teacher_gain(runs, teacher) -> Difference     a teacher's students against the labels-only ones, paired by seed

Ensemble. The candidates are the study's top-k selection and every measure's greedy
and cluster selections. The pick is the candidate with the best validation accuracy
(mean of softmax); a tie goes to the earlier candidate, so top-k wins ties. Nothing
about the pick looks at a test image. The test images then score it against two
named baselines, each a paired bootstrap over the same test images
(`analysis.decisions.intervals.paired_difference`): the top-k ensemble (the k models
most accurate on validation) and the best single model (the one most accurate on
validation).

Teacher. Without trained students, the teacher most similar to the student under
`measure` (similarities on the validation images) is the pick, unchecked. With
trained students, the pick is the teacher whose students' mean validation accuracy
is best, provided it beats the labels-only students' on validation; otherwise the
pick is no teacher. Its gain over labels-only training is then taken on the test
images, paired by seed (`seed_difference`, Student-t over the seeds).

Each verdict says in plain words what the intervals say, including "no diverse
choice beats the k most accurate models here" and "no teacher beats labels-only
beyond the seed spread".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from analysis.decisions.ensemble_eval import softmax_predictions
from analysis.decisions.intervals import Difference, paired_difference, seed_difference

CANDIDATE_METHODS = ("top-k", "greedy", "cluster")


@dataclass
class EnsembleRecommendation:
    members: list[str]
    rule: str  # top-k, greedy or cluster
    measure: str | None  # None for top-k
    lam: float | None
    validation_accuracy: float
    test_accuracy: float
    top_k: list[str]
    top_k_test_accuracy: float
    best_single: str
    best_single_test_accuracy: float
    difference_vs_top_k: Difference
    difference_vs_best_single: Difference
    candidates: int

    @property
    def verdict(self) -> str:
        k, vs_top, vs_single = len(self.members), self.difference_vs_top_k, self.difference_vs_best_single
        if self.rule == "top-k":
            first = (f"the {k} most accurate models are the pick: no diverse choice beat them on the validation "
                     "images")
        elif vs_top.above_zero:
            first = f"the diverse choice beats the {k} most accurate models ({vs_top.points()})"
        elif vs_top.below_zero:
            first = (f"no diverse choice beats the k most accurate models here: the pick is worse than the {k} most "
                     f"accurate models on the test images ({vs_top.points()})")
        else:
            first = (f"no diverse choice beats the k most accurate models here: against the {k} most accurate "
                     f"models the interval includes 0 ({vs_top.points()})")
        if vs_single.above_zero:
            second = f"the ensemble beats the best single model, {self.best_single} ({vs_single.points()})"
        elif vs_single.below_zero:
            second = (f"the best single model, {self.best_single}, beats the ensemble ({vs_single.points()}): "
                      "use it alone")
        else:
            second = (f"the ensemble does not beat the best single model, {self.best_single}, beyond the interval "
                      f"({vs_single.points()})")
        return f"{first}; {second}."

    @property
    def chosen_by(self) -> str:
        if self.rule == "top-k":
            return "top-k: the most accurate models on validation"
        return f"{self.rule} on {self.measure}" + ("" if self.lam is None else f", lambda {self.lam:g}")

    def as_dict(self) -> dict:
        """The content of recommendation.json."""
        return {"members": self.members, "test_accuracy": self.test_accuracy, "rule": self.rule,
                "measure": self.measure, "lambda": self.lam, "validation_accuracy": self.validation_accuracy,
                "candidates": self.candidates,
                "top_k": {"members": self.top_k, "test_accuracy": self.top_k_test_accuracy},
                "best_single": {"name": self.best_single, "test_accuracy": self.best_single_test_accuracy},
                "difference_vs_top_k": self.difference_vs_top_k.as_dict(),
                "difference_vs_best_single": self.difference_vs_best_single.as_dict(),
                "verdict": self.verdict,
                "chosen_on": "validation images (members, lambda, rule, measure); the test images only score"}


def recommend_ensemble(study, val_acc: np.ndarray, test_probs: np.ndarray, test_labels: np.ndarray, *,
                       seed: int = 0) -> EnsembleRecommendation:
    """The pick among the study's candidates by validation accuracy, scored against top-k and the best single."""
    index = {n: i for i, n in enumerate(study.names)}
    candidates = [r for r in study.rows if r["method"] in CANDIDATE_METHODS]
    pick = max(candidates, key=lambda r: r["val_softmax_acc"])  # the first of equals: top-k comes first
    top = next(r for r in candidates if r["method"] == "top-k")
    best_single = int(np.argmax(val_acc))  # lowest index on ties, like top_k

    def correct(members: str) -> np.ndarray:
        return softmax_predictions(test_probs, [index[n] for n in members.split()]) == test_labels

    chosen = correct(pick["members"])
    single = test_probs[best_single].argmax(1) == test_labels
    return EnsembleRecommendation(
        pick["members"].split(), pick["method"], pick["measure"] or None, pick["lambda"], pick["val_softmax_acc"],
        float(chosen.mean()), top["members"].split(), float(correct(top["members"]).mean()),
        study.names[best_single], float(single.mean()), paired_difference(chosen, correct(top["members"]), seed=seed),
        paired_difference(chosen, single, seed=seed), len(candidates))


@dataclass
class TeacherRecommendation:
    student: str
    teacher: str | None  # None: no teacher (labels-only training) is the pick
    measure: str  # the measure that ranks the teachers
    ranking: list[str]  # teachers, most similar to the student first (validation images)
    trained: bool  # whether students were trained to check the ranking
    validation_accuracy: dict[str, float] = field(default_factory=dict)  # teacher or "labels only" -> mean
    test_accuracy: dict[str, float] = field(default_factory=dict)
    gain: Difference | None = None  # the pick's test gain over labels-only, paired by seed
    most_similar_gain: Difference | None = None  # the same for the most similar teacher

    @property
    def verdict(self) -> str:
        if not self.trained:
            return (f"{self.teacher} is the teacher most similar to {self.student} by {self.measure} (validation "
                    "images); not checked by training: --train distils and checks it")
        if self.teacher is None:
            return ("no teacher beats labels-only training here: on the validation images no teacher's students "
                    "beat the labels-only students, so the pick is no teacher")
        if self.gain.above_zero:
            return f"distil from {self.teacher}: it beats labels-only training by {self.gain.points()}"
        if not math.isfinite(self.gain.low):
            return (f"{self.teacher} is the pick on validation; its test gain over labels-only is {self.gain.points()}, "
                    f"with too few seeds for an interval")
        return (f"no teacher beats labels-only beyond the seed spread: the pick, {self.teacher}, gains "
                f"{self.gain.points()} over labels-only training")

    def as_dict(self) -> dict:
        """The content of recommendation.json."""
        out = {"student": self.student, "teacher": self.teacher, "measure": self.measure, "ranking": self.ranking,
               "trained": self.trained, "verdict": self.verdict}
        if self.trained:
            out.update({"chosen_on": "the students' validation accuracy; the test images only score",
                        "validation_accuracy": self.validation_accuracy, "test_accuracy": self.test_accuracy,
                        "gain_vs_labels_only": None if self.gain is None else self.gain.as_dict(),
                        "most_similar_teacher": {"name": self.ranking[0] if self.ranking else None,
                                                 "gain_vs_labels_only": None if self.most_similar_gain is None
                                                 else self.most_similar_gain.as_dict()}})
        else:
            out["chosen_on"] = "similarity to the student on the validation images"
        return out


def recommend_teacher(student: str, teachers: list[str], ranking: list[str], measure: str,
                      runs: list | None = None) -> TeacherRecommendation:
    """The pick: `ranking[0]` without `runs`; with `runs` (objects with teacher, seed, validation_accuracy and
    test_accuracy; teacher None for labels only), the teacher with the best mean validation accuracy when it beats
    labels-only there, else none; its test gain over labels-only paired by seed."""
    if not runs:
        return TeacherRecommendation(student, ranking[0] if ranking else None, measure, ranking, trained=False)

    def by_seed(teacher, split):
        return {r.seed: getattr(r, split) for r in runs if r.teacher == teacher}

    def mean(teacher, split):
        values = list(by_seed(teacher, split).values())
        return float(np.mean(values)) if values else math.nan

    val = {t: mean(t, "validation_accuracy") for t in teachers}
    best = max(teachers, key=lambda t: (val[t], -teachers.index(t)))
    pick = best if val[best] > mean(None, "validation_accuracy") else None
    names = [*teachers, None]
    return TeacherRecommendation(
        student, pick, measure, ranking, trained=True,
        validation_accuracy={t or "labels only": mean(t, "validation_accuracy") for t in names},
        test_accuracy={t or "labels only": mean(t, "test_accuracy") for t in names},
        gain=teacher_gain(runs, pick) if pick is not None else None,
        most_similar_gain=teacher_gain(runs, ranking[0]) if ranking else None)


def teacher_gain(runs: list, teacher: str) -> Difference:
    """The test accuracy of `teacher`'s students minus the labels-only students', paired by seed (Student-t)."""
    t = {r.seed: r.test_accuracy for r in runs if r.teacher == teacher}
    b = {r.seed: r.test_accuracy for r in runs if r.teacher is None}
    seeds = sorted(set(t) & set(b))
    return seed_difference([t[s] for s in seeds], [b[s] for s in seeds])

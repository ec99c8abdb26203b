"""The sections of the demo report built from the decisions: the answers that lead the report, the ensemble and
distillation evidence, which measure predicts what, and the decisions on random sub-pools."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from analysis.decisions.ensemble_study import SUMMARY_HEADER, EnsembleStudy
from analysis.decisions.prediction_table import PredictionRow
from analysis.decisions.recommendation import teacher_gain
from analysis.decisions.stages import DistillOutcome
from analysis.decisions.subpools import SubpoolRow
from analysis.report.render import Figure, Section, Table
from archsim import sanity

TOP_PAIRS = 5


def _figure(path: Path, caption: str) -> list[Figure]:
    return [Figure(path.name, path.read_bytes(), caption)] if path.is_file() else []


def shift_notes(shift) -> list[str]:
    """The sentence saying the applications ran on shifted images (`archsim.zoo.shift`), or nothing."""
    if shift is None:
        return []
    return [f"Task with headroom: the validation and test images of this stage are seeded shifted copies "
            f"(severity {shift.severity:g}, seed {shift.seed}; each image rotated, noised, blurred or elastically "
            "distorted, archsim.zoo.shift), the severity chosen on the validation images only. SAT and the "
            "similarity measures use the clean images."]


def _interval(d) -> str:
    return "-" if d is None else d.points()


def answer_sections(sat, ensembles: EnsembleStudy | None, distilled: DistillOutcome | None, cfg) -> list[Section]:
    """What the user asked, first: the most similar pairs by SAT with their intervals and the noise control beside
    them, the recommended ensemble and the recommended teacher, each with its evidence against a named baseline
    and its verdict."""
    pairs = sorted((p for p in sat.pairs() if p["a"] != p["b"]), key=lambda p: -p["sat"])[:TOP_PAIRS]
    noise = sat.noise_error
    control = ("" if noise is None else f" The control: random noise of the attack's size fools at most "
               f"{100 * float(np.max(noise)):.1f}% of a model's correctly classified images "
               f"({sat.names[int(np.argmax(noise))]}), so these transfers are not fragility.")
    out = [Section("The most similar pairs", [
        f"By SAT on the {sat.clean_correct.shape[1]} test images: ln(100 x the share of each model's adversarial "
        f"images that fool the other), 95% bootstrap interval over the images.{control} Every pair is in "
        "\"Pairs and confidence intervals\" below."],
        [Table(["model A", "model B", "SAT", "95% CI", "A to B (%)", "B to A (%)", "|X_AB|"],
               [[p["a"], p["b"], p["sat"], f"[{p['ci_low']:.2f}, {p['ci_high']:.2f}]", 100 * p["rate_a_to_b"],
                 100 * p["rate_b_to_a"], p["n_common"]] for p in pairs])])]
    if ensembles is not None:
        rec = ensembles.recommendation
        out.append(Section("Recommended ensemble", [
            f"Use {', '.join(rec.members)}: chosen on the validation images by {rec.chosen_by}, the best validation "
            f"accuracy of {rec.candidates} candidates (top-k among them). The test images only score it.",
            f"Verdict: {rec.verdict}"],
            [Table(["ensemble", "members", "test accuracy", "the pick minus it (95% CI over the test images)"],
                   [["the pick", " ".join(rec.members), rec.test_accuracy, "-"],
                    [f"top-{len(rec.top_k)} (most accurate on validation)", " ".join(rec.top_k),
                     rec.top_k_test_accuracy, _interval(rec.difference_vs_top_k)],
                    ["best single model (on validation)", rec.best_single, rec.best_single_test_accuracy,
                     _interval(rec.difference_vs_best_single)]])]))
    if distilled is not None:
        rec = distilled.recommendation
        names = [*cfg.distill.teachers, "labels only"]
        out.append(Section("Recommended teacher", [
            f"{'Distil ' + rec.teacher + ' into ' + rec.student if rec.teacher else 'No teacher for ' + rec.student}: "
            f"the teacher whose students do best on the validation images ({distilled.training}). The most similar "
            f"teacher by {rec.measure} (validation images): {rec.ranking[0] if rec.ranking else '-'}.",
            f"Verdict: {rec.verdict}"],
            [Table(["teacher", "students' val acc", "students' test acc", "gain over labels only (t, over seeds)"],
                   [[t, rec.validation_accuracy.get(t, math.nan), rec.test_accuracy.get(t, math.nan),
                     "-" if t == "labels only" else _interval(teacher_gain(distilled.runs, t))] for t in names])]))
    return out


def ensemble_section(study: EnsembleStudy, folder: Path, n_val: int, n_test: int, shift=None) -> Section:
    """Selections per measure and method with test accuracy and both baselines; pair similarity against pair gain."""
    corr = study.correlations
    return Section(
        "Ensembles",
        [*shift_notes(shift), f"Ensembles of {study.k} of the {len(study.names)} models. Members are chosen on the "
         f"{n_val} validation images only, from similarities computed on them; the {n_test} test images only "
         "evaluate them. Greedy: maximise mean validation accuracy minus lambda times the mean pairwise similarity "
         "(min-max normalised), lambda chosen on validation. Cluster: the most accurate model of each of k "
         "average-linkage clusters. vs top-k and vs best single: test accuracy minus that of the k models most "
         "accurate on validation, and of the single model most accurate on validation.", *study.notes],
        [Table(SUMMARY_HEADER, [r.values() for r in study.summary()],
               caption="Test accuracy of each selection (random: mean and sd over the draws)."),
         Table(["measure", "Spearman rho", "95% CI low", "95% CI high", "pairs", "bootstrap resamples"],
               [[m, c.rho, c.ci_low, c.ci_high, c.n_pairs, c.resamples]
                if not sanity.interval_spans_range(c.ci_low, c.ci_high)
                else [m, "too few models", None, None, c.n_pairs, c.resamples] for m, c in corr.items()],
               caption="Pair similarity (validation images) against the pair ensemble's gain over the pair's better "
                       "member (test images); the interval resamples models, since pairs share them. A negative "
                       "rho means more similar pairs gain less, the SAT paper's finding.")],
        _figure(folder / "ensemble_accuracy.png", "Test accuracy of each selection, with the two baselines.")
        + _figure(folder / "ensemble_pair_gain.png", "Every pair of models: similarity against the gain of the "
                                                     "two-model ensemble (mean of softmax) over its better member."))


def distill_section(outcome: DistillOutcome, settings, folder: Path, shift=None) -> Section:
    """Every student's accuracy, test accuracy per teacher over seeds, gain over labels only, rank correlations."""
    study, epochs = outcome.study, settings.epochs
    return Section(
        "Distillation",
        [*shift_notes(shift), f"Student {settings.student}, trained from scratch for "
         f"{'its own train settings' if epochs is None else f'{epochs} epoch(s)'} from each teacher by knowledge "
         f"distillation (temperature {settings.temperature:g}, alpha {settings.alpha:g}) and once from the "
         f"labels only, with {settings.seeds} seeds each, the same number of optimizer steps for each: "
         f"{outcome.training}. Rank 1 = the teacher most similar to the student under that measure (validation "
         "images).", *outcome.notes],
        [Table(["student of", "seed", "validation acc", "test acc"],
               [[r.teacher or "(labels only)", r.seed, r.validation_accuracy, r.test_accuracy] for r in outcome.runs],
               caption="Every student."),
         Table(["teacher", "test acc (mean)", "sd", "gain", *study.measures], study.shown_rows(),
               caption=f"Per teacher: mean and sd of test accuracy over {settings.seeds} seeds, gain over the "
                       "labels-only baseline, and under each measure the similarity to the student (#rank)."),
         Table(["measure", "Spearman rho", "p", "teachers", "95% CI low", "95% CI high"],
               [[m, c.rho, c.p, c.n_teachers, c.ci_low, c.ci_high] for m, c in study.correlations.items()],
               caption="Rank correlation of similarity to the student and distillation gain, over the teachers "
                       "(interval: bootstrap over the teachers, from 6 teachers).")],
        _figure(folder / "distill_gain.png", "Distillation gain against the teacher's similarity to the student."))


def subpool_section(rows: list[SubpoolRow]) -> Section:
    """The decision benchmark: each method's choice against each baseline over many sub-pools."""
    def cell(r):
        return f"{100 * r.mean:+.2f} [{100 * r.low:+.2f}, {100 * r.high:+.2f}] ({100 * r.share_above:.0f}% > 0)"

    tables = []
    for target, baselines, what in [("ensemble", ["top-k", "random", "best single"],
                                     "random sub-pools of half the zoo"),
                                    ("teacher", ["labels only", "random teacher", "most accurate teacher"],
                                     "every subset of two or more teachers")]:
        by_method = {}
        for r in rows:
            if r.target == target:
                by_method.setdefault(r.method, {})[r.baseline] = r
        if by_method:
            tables.append(Table(["method", "sub-pools", *(f"vs {b} (points)" for b in baselines)],
                                [[m, next(iter(bs.values())).subpools, *(cell(bs[b]) if b in bs else "-"
                                                                          for b in baselines)]
                                 for m, bs in by_method.items()],
                                caption=f"{target.capitalize()} choices over {what}: the mean difference in test "
                                        "accuracy (points), its 95% interval and the share of sub-pools above 0."))
    return Section("Does choosing by a measure help? The decisions on sub-pools", [
        "Every choice is made on the validation images and scored on the test images, in many sub-pools of this "
        "zoo, against named baselines. Ensembles: the interval is a bootstrap over the test images (the same "
        "images for every sub-pool); the sub-pools share models, so it does not cover other zoos. Teachers: the "
        "interval is Student-t over the student seeds. An interval that includes 0 means this zoo cannot tell the "
        "choice from the baseline."], tables)


def _shown(row: PredictionRow) -> list:
    """The row's values, with "too few models" for an ensemble correlation the pool is too small for."""
    values = row.values()
    rho, low, high, _ = row.ensemble
    if math.isfinite(rho) and sanity.interval_spans_range(low, high):
        values[2:5] = ["too few models", None, None]
    return values


def prediction_section(rows: list[PredictionRow], folder: Path) -> Section:
    """Every measure's rank correlation with pair ensemble gain and with distillation gain, and the figure."""
    return Section(
        "Which measure predicts what",
        ["For each measure: Spearman's rho of pair similarity with the pair ensemble's gain over its better member "
         "(test images; interval: bootstrap over models), and of a teacher's similarity to the student with its "
         "students' gain over the labels-only baseline (interval: bootstrap over teachers, left out below 6 "
         "teachers, where it would look decisive and is not; p: exact permutation, the number to read). "
         "SAT and the functional measures (disagreement, Jensen-Shannon divergence, error consistency, double "
         "fault, Yule's Q) are the baselines. In order of the ensemble rho, most negative first: an order for "
         "reading, not a ranking (no interval here is a paired comparison of two measures). An interval that "
         "spans 0 means this zoo cannot tell the measure from no signal."],
        [Table(["measure", "kind", "ensemble rho", "CI low", "CI high", "pairs", "distill rho", "CI low",
                "CI high", "p", "teachers"], [_shown(r) for r in rows],
               caption="Which measure predicts ensemble gain and distillation gain. \"too few models\": the "
                       "pool is too small for that correlation (its interval covers nearly all of [-1, 1]).")],
        _figure(folder / "predictions.png", "Each measure's rho with its 95% bootstrap interval, for both targets."))

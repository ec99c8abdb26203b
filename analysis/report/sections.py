"""The ensemble, distillation and which-measure-predicts-what sections of the demo report, from the studies and
the figures written for them."""

from __future__ import annotations

from pathlib import Path

from analysis.decisions.distill_study import DistillStudy
from analysis.decisions.ensemble_study import SUMMARY_HEADER, EnsembleStudy
from analysis.decisions.prediction_table import PredictionRow
from analysis.report.render import Figure, Section, Table


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


def ensemble_section(study: EnsembleStudy, folder: Path, n_val: int, n_test: int, shift=None) -> Section:
    """Selections per measure and method with test accuracy and gain; pair similarity against pair gain."""
    corr = study.correlations
    return Section(
        "Ensembles",
        [*shift_notes(shift), f"Ensembles of {study.k} of the {len(study.names)} models. Members are chosen on the {n_val} validation "
         f"images only; the {n_test} test images only evaluate them. Greedy: maximise mean validation accuracy "
         "minus lambda times the mean pairwise similarity (min-max normalised), lambda chosen on validation. "
         "Cluster: the most accurate model of each of k average-linkage clusters. Gain: ensemble accuracy minus "
         "its best member's, on the test images.", *study.notes],
        [Table(SUMMARY_HEADER, [r.values() for r in study.summary()], caption="Test accuracy of each selection (random: mean and sd "
                                                        "over the draws)."),
         Table(["measure", "Spearman rho", "95% CI low", "95% CI high", "pairs", "bootstrap resamples"],
               [[m, c.rho, c.ci_low, c.ci_high, c.n_pairs, c.resamples] for m, c in corr.items()],
               caption="Pair similarity against the pair ensemble's gain over its better member (test images); "
                       "the interval resamples models, since pairs share them. A negative rho means more "
                       "similar pairs gain less, the SAT paper's finding.")],
        _figure(folder / "ensemble_accuracy.png", "Test accuracy of each selection.")
        + _figure(folder / "ensemble_pair_gain.png", "Every pair of models: similarity against the gain of the "
                                                     "two-model ensemble (mean of softmax) over its better member."))


def distill_section(study: DistillStudy, settings, folder: Path, shift=None) -> Section:
    """Test accuracy per teacher over seeds, gain over the labels-only baseline, similarity rank correlations."""
    epochs = settings.epochs
    return Section(
        "Distillation",
        [*shift_notes(shift), f"Student {settings.student}, trained from scratch for "
         f"{'its own train settings' if epochs is None else f'{epochs} epoch(s)'} from each teacher by knowledge "
         f"distillation (temperature {settings.temperature:g}, alpha {settings.alpha:g}) and once from the "
         f"labels only, with {settings.seeds} seeds each; accuracy on the test images. Rank 1 = the teacher "
         "most similar to the student under that measure."],
        [Table(["teacher", "test acc (mean)", "sd", "gain", *study.measures], study.shown_rows(),
               caption=f"Per teacher: mean and sd of test accuracy over {settings.seeds} seeds, gain over the "
                       "labels-only baseline, and under each measure the similarity to the student (#rank)."),
         Table(["measure", "Spearman rho", "p", "teachers", "95% CI low", "95% CI high"],
               [[m, c.rho, c.p, c.n_teachers, c.ci_low, c.ci_high] for m, c in study.correlations.items()],
               caption="Rank correlation of similarity to the student and distillation gain, over the teachers "
                       "(interval: bootstrap over the teachers, from 6 teachers).")],
        _figure(folder / "distill_gain.png", "Distillation gain against the teacher's similarity to the student."))


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
                "CI high", "p", "teachers"], [r.values() for r in rows],
               caption="Which measure predicts ensemble gain and distillation gain.")],
        _figure(folder / "predictions.png", "Each measure's rho with its 95% bootstrap interval, for both targets."))

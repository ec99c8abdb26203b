"""The two decisions, run on a built zoo: diverse ensemble members and a distillation teacher.

    check_pool(cfg, size)                                    selection needs validation images and >= K models
    check_distinct(run_, labels)                             the pool must not be one checkpoint many times
    ensemble_stage(out, cfg, run_, predictions, sims, options, settings) -> (EnsembleStudy, files)
    student_similarity(student, teachers, sims, options)     {measure: {teacher: similarity to the student}}
    distill_stage(out, cfg, run_, sims, options, settings, train, progress) -> DistillOutcome
    subpool_stage(cfg, run_, predictions, sims, options, distilled) -> [SubpoolRow]   (the decision benchmark)

`sims` is {measure: (names, values)} computed on the validation images
(`archsim.similarity.compute.decision_similarities`); every measure is oriented
first (a distance is negated, `archsim.similarity.registry.oriented`), so larger
is more similar. Both stages end with a decision (`analysis.decisions.recommendation`)
written to `out/recommendation.json`, and both collect sanity warnings
(`archsim.sanity`): models or students at chance accuracy, rank correlations the
pool is too small for. `archsim ensemble`, `archsim distill` and `archsim demo`
call these.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.decisions.distill_study import DistillStudy, rank_teachers, study_distillation
from analysis.decisions.ensemble_eval import member_accuracies
from analysis.decisions.ensemble_study import study_ensembles
from analysis.decisions.recommendation import TeacherRecommendation, recommend_teacher
from analysis.decisions.subpools import ensemble_subpools, teacher_subpools
from analysis.decisions.write import write_distillation, write_ensembles
from archsim import sanity
from archsim.errors import ArchsimError
from archsim.files import atomic_path, write_rows
from archsim.settings import DistillSettings, EnsembleSettings
from archsim.similarity.registry import oriented
from archsim.zoo.models import weights_hash
from archsim.zoo.students import StudentRun, train_students, training_images


def check_pool(cfg, size: int) -> None:
    """Selection needs validation images and at least K models."""
    if cfg.data.get("validation") is None:
        raise ArchsimError("ensemble selection needs validation images, disjoint from the test images: add "
                           "`data.validation: {how: balanced, n: ..., seed: ...}` to the config")
    if size > len(cfg.models):
        raise ArchsimError(f"ensemble size {size} is larger than the pool's {len(cfg.models)} models")


def check_distinct(run_, labels: list[str]) -> None:
    """ArchsimError when every model of `labels` has the same architecture and weights: nothing to choose."""
    keys = {(type(run_.models[n].model).__name__, weights_hash(run_.models[n].model)) for n in labels}
    if len(labels) > 1 and len(keys) == 1:
        raise ArchsimError(f"the {len(labels)} models of the pool ({', '.join(labels[:4])}"
                           f"{', ...' if len(labels) > 4 else ''}) are one checkpoint: the same architecture with "
                           "the same weights, so there is nothing to choose between")


def write_recommendation(out: Path, recommendation) -> Path:
    """out/recommendation.json, written atomically."""
    path = Path(out) / "recommendation.json"
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(recommendation.as_dict(), indent=2) + "\n")
    return path


def ensemble_stage(out, cfg, run_, predictions, sims: dict, options: dict, settings: EnsembleSettings):
    """The study over `sims` from the models' `predictions`, its files and recommendation.json."""
    names = predictions.names
    check_distinct(run_, names)
    matrices = oriented_matrices(names, sims, options)
    validation, test = predictions.for_applications()  # shifted copies under the config's `shift:`
    val_labels = run_.validation.labels.numpy()
    study = study_ensembles(names, validation, val_labels, test, run_.images.labels.numpy(),
                            matrices, k=settings.size, draws=settings.draws, seed=cfg.seed)
    study.notes += sanity.near_chance(names, member_accuracies(validation, val_labels), validation.shape[2])
    for measure, c in study.correlations.items():
        if sanity.interval_spans_range(c.ci_low, c.ci_high):
            study.notes.append(f"{measure}: too few models for a rank correlation of pair similarity with pair "
                               f"gain ({c.n_models} models; its interval covers nearly all of [-1, 1])")
    written = write_ensembles(study, Path(out))
    return study, written + [write_recommendation(Path(out), study.recommendation)]


def oriented_matrices(names: list[str], sims: dict, options: dict) -> dict[str, np.ndarray]:
    """{measure: (M, M) similarity in `names` order}, distances negated."""
    out = {}
    for measure, (m_names, values) in sims.items():
        order = [list(m_names).index(n) for n in names]
        out[measure] = oriented(measure, values, options.get(measure))[np.ix_(order, order)]
    return out


def student_similarity(student: str, teachers: list[str], sims: dict, options: dict) -> dict[str, dict[str, float]]:
    """{measure: {teacher: similarity to the student}} from {measure: (names, matrix)}; distances negated."""
    out = {}
    for measure, (names, values) in sims.items():
        values = oriented(measure, values, options.get(measure))
        i = list(names).index(student)
        # a row and its column may differ (PWCCA): the pair's value is their mean
        out[measure] = {t: float((values[i, j] + values[j, i]) / 2) for t in teachers for j in [list(names).index(t)]}
    return out


@dataclass
class DistillOutcome:
    ranking: dict  # measure -> [(teacher, similarity, rank)]
    recommendation: TeacherRecommendation
    study: DistillStudy | None = None  # with --train
    runs: list[StudentRun] = field(default_factory=list)
    training: str = ""  # which images the students train on (with --train)
    notes: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def distill_stage(out, cfg, run_, sims: dict, options: dict, settings: DistillSettings, *, train: bool,
                  progress: bool = True) -> DistillOutcome:
    """Teachers ranked by similarity to the student (validation images), with `train` checked by distillation."""
    out = Path(out)
    student, teachers = settings.student, settings.teachers
    check_distinct(run_, [student, *teachers])
    similarity = student_similarity(student, teachers, sims, options)
    notes = []
    for measure in [m for m, values in similarity.items() if not np.isfinite(list(values.values())).any()]:
        notes.append(f"{measure}: no value between {student} and any teacher; left out")
        del similarity[measure]
    if not similarity:
        raise ArchsimError(f"no measure has a value between {student} and any teacher: nothing ranks the teachers")
    ranking = rank_teachers(teachers, similarity)
    measure = next(iter(ranking))  # the first measure asked for decides
    order = [t for t, _, rank in ranking[measure] if rank is not None]
    written = [write_rows(out / "distill_ranking.csv", ["measure", "teacher", "similarity", "rank"],
                          [[m, t, v, r] for m, rs in ranking.items() for t, v, r in rs])]
    if not train:
        rec = recommend_teacher(student, teachers, order, measure)
        return DistillOutcome(ranking, rec, notes=notes, written=written + [write_recommendation(out, rec)])
    description = training_images(cfg, run_, settings).description
    runs = train_students(cfg, run_, student, teachers, settings, progress=progress)
    n_classes = int(run_.training.labels.max()) + 1
    for r in runs:
        acc = r.test_accuracy if r.validation_accuracy is None else r.validation_accuracy
        notes += sanity.near_chance([f"{student} <- {r.teacher or 'labels only'} (seed {r.seed})"], [acc], n_classes,
                                    what="student")
    study = study_distillation(teachers, similarity, [(r.teacher, r.seed, r.test_accuracy) for r in runs])
    for m, c in study.correlations.items():
        if c.n_teachers < 3 or sanity.interval_spans_range(c.ci_low, c.ci_high):
            notes.append(f"{m}: too few teachers ({c.n_teachers}) for an interval on the rank correlation of "
                         "similarity with distillation gain; read its permutation p")
    rec = recommend_teacher(student, teachers, order, measure, runs)
    written += write_distillation(study, runs, out) + [write_recommendation(out, rec)]
    return DistillOutcome(ranking, rec, study, runs, description, notes, written)


SUBPOOL_DRAWS = 200


def subpool_stage(cfg, run_, predictions, sims: dict, options: dict, distilled: DistillOutcome | None) -> list:
    """The decisions on random sub-pools (`analysis.decisions.subpools`): SUBPOOL_DRAWS sub-pools of half the zoo
    with k = min(3, half - 1), when the zoo has at least 6 models; every subset of the teachers when students were
    trained."""
    rows, names = [], predictions.names
    validation, test = predictions.for_applications()
    val_labels, test_labels = run_.validation.labels.numpy(), run_.images.labels.numpy()
    if len(names) >= 6:
        pool = len(names) // 2
        rows += ensemble_subpools(names, validation, val_labels, test, test_labels,
                                  oriented_matrices(names, sims, options), pool=pool, k=min(3, pool - 1),
                                  draws=SUBPOOL_DRAWS, seed=cfg.seed)
    if distilled is not None and distilled.runs and len(distilled.recommendation.ranking) >= 2:
        settings = cfg.distill
        acc = dict(zip(names, member_accuracies(validation, val_labels)))
        rows += teacher_subpools(settings.teachers, {t: acc[t] for t in settings.teachers},
                                 student_similarity(settings.student, settings.teachers, sims, options), distilled.runs)
    return rows

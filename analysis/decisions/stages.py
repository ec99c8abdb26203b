"""The two applications of a similarity, run on a built zoo: diverse ensembles and distillation teachers.

    check_pool(cfg, size)                                    selection needs validation images and >= K models
    ensemble_stage(out, cfg, run_, predictions, sims, options, settings) -> (EnsembleStudy, files)
    student_similarity(student, teachers, sims, options)     {measure: {teacher: similarity to the student}}
    distill_stage(out, cfg, run_, sims, options, settings, train, progress) -> (ranking, DistillStudy | None, files)

`sims` is {measure: (names, values)}; every measure is oriented first (a distance
is negated, `archsim.similarity.registry.oriented`), so larger is more similar.
`archsim ensemble`, `archsim distill` and `archsim demo` call these.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.decisions.distill_study import rank_teachers, study_distillation
from analysis.decisions.ensemble_study import study_ensembles
from analysis.decisions.write import write_distillation, write_ensembles
from archsim.errors import ArchsimError
from archsim.files import write_rows
from archsim.settings import DistillSettings, EnsembleSettings
from archsim.similarity.registry import oriented
from archsim.zoo.students import train_students


def check_pool(cfg, size: int) -> None:
    """Selection needs validation images and at least K models."""
    if cfg.data.get("validation") is None:
        raise ArchsimError("ensemble selection needs validation images, disjoint from the test images: add "
                           "`data.validation: {how: balanced, n: ..., seed: ...}` to the config")
    if size > len(cfg.models):
        raise ArchsimError(f"ensemble size {size} is larger than the pool's {len(cfg.models)} models")


def ensemble_stage(out, cfg, run_, predictions, sims: dict, options: dict, settings: EnsembleSettings):
    """The study over `sims` from the models' `predictions`, and its files."""
    names = predictions.names
    matrices = {}
    for measure, (m_names, values) in sims.items():
        order = [list(m_names).index(n) for n in names]
        matrices[measure] = oriented(measure, values, options.get(measure))[np.ix_(order, order)]
    validation, test = predictions.for_applications()  # shifted copies under the config's `shift:`
    study = study_ensembles(names, validation, run_.validation.labels.numpy(), test, run_.images.labels.numpy(),
                            matrices, k=settings.size, draws=settings.draws, seed=cfg.seed)
    return study, write_ensembles(study, Path(out))


def student_similarity(student: str, teachers: list[str], sims: dict, options: dict) -> dict[str, dict[str, float]]:
    """{measure: {teacher: similarity to the student}} from {measure: (names, matrix)}; distances negated."""
    out = {}
    for measure, (names, values) in sims.items():
        values = oriented(measure, values, options.get(measure))
        i = list(names).index(student)
        # a row and its column may differ (PWCCA): the pair's value is their mean
        out[measure] = {t: float((values[i, j] + values[j, i]) / 2) for t in teachers for j in [list(names).index(t)]}
    return out


def distill_stage(out, cfg, run_, sims: dict, options: dict, settings: DistillSettings, *, train: bool,
                  progress: bool = True):
    """(ranking per measure, the study with `train` else None, files written)."""
    out = Path(out)
    student, teachers = settings.student, settings.teachers
    similarity = student_similarity(student, teachers, sims, options)
    for measure in [m for m, values in similarity.items() if not np.isfinite(list(values.values())).any()]:
        print(f"note: {measure}: no value between {student} and any teacher; left out")
        del similarity[measure]
    ranking = rank_teachers(teachers, similarity)
    written = [write_rows(out / "distill_ranking.csv", ["measure", "teacher", "similarity", "rank"],
                          [[m, t, v, r] for m, rs in ranking.items() for t, v, r in rs])]
    if not train:
        return ranking, None, written
    runs = train_students(cfg, run_, student, teachers, settings, progress=progress)
    study = study_distillation(teachers, similarity, [(r.teacher, r.seed, r.test_accuracy) for r in runs])
    written += write_distillation(study, runs, out)
    return ranking, study, written

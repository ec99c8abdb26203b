"""Train a student from each teacher by knowledge distillation, and without one, for several seeds.

    train_students(cfg, run_, student, teachers, settings, *, progress) -> list[StudentRun]

For seed s in 0..seeds-1 the student architecture (the config's model
`student`) starts from initialisation seed s and sees the training images in the
order of seed s: once with plain cross-entropy (the baseline, teacher None) and
once per teacher with `archsim.zoo.kd_loss.kd_loss`. Every student gets the same
budget: the student's train settings, with `settings["epochs"]` when given. Each
is scored on the test images (`run_.images`, or their shifted copies under the config's `shift:`,
`archsim.zoo.shift.application_images`), which training never sees.
Trained students are cached as safetensors under cache_dir/distill/, named by a
hash of everything that determines them (the student's spec without its label,
seed, training settings, the teacher's weights hash, temperature and alpha, the
data and the training image ids), so a rerun only evaluates; a damaged cached
file is trained again (`archsim.zoo.weights_cache`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from dataclasses import dataclass

from tqdm.auto import tqdm

from archsim.errors import ArchsimError
from archsim.sat import units
from archsim.settings import DistillSettings, TrainSettings
from archsim.zoo.build import wrap
from archsim.zoo.models import weights_hash
from archsim.zoo.shift import application_images
from archsim.zoo.training import train_classifier
from archsim.zoo.weights_cache import cache_path, load_cached, save_cached


@dataclass
class StudentRun:
    teacher: str | None  # None: the baseline, trained without a teacher
    seed: int
    test_accuracy: float
    seconds: float | None  # training time; None when loaded from the cache


def check_roles(cfg, student: str | None, teachers: list[str] | None) -> None:
    """The student and teachers must be distinct labels of the config, and the student trainable here."""
    labels = [s.label for s in cfg.models]
    if not student:
        raise ArchsimError("no student given (--student NAME or the config's distill.student)")
    if not teachers:
        raise ArchsimError("no teachers given (--teachers A,B,... or the config's distill.teachers)")
    for name in [student, *teachers]:
        if name not in labels:
            raise ArchsimError(f"{name!r} is not a model of the config; models: {', '.join(labels)}")
    if student in teachers:
        raise ArchsimError(f"the student {student!r} is also listed as a teacher")
    if len(set(teachers)) != len(teachers):
        raise ArchsimError("a teacher is listed twice")
    spec = next(s for s in cfg.models if s.label == student)
    if spec.training is None:
        raise ArchsimError(f"the student {student!r} has no train settings (it is pretrained, from a checkpoint, "
                           "or the config has no train section): distillation trains it here")


def train_students(cfg, run_, student: str, teachers: list[str], settings: DistillSettings, *,
                   progress: bool = True) -> list[StudentRun]:
    """The baseline and one distilled student per teacher, for each seed; cached."""
    check_roles(cfg, student, teachers)
    if run_.training is None:
        raise ArchsimError("distillation needs the training images; the run has none")
    spec = next(s for s in cfg.models if s.label == student)
    train = spec.training if settings.epochs is None else dataclasses.replace(spec.training, epochs=settings.epochs)
    device = cfg.torch_device()
    jobs = [(teacher, seed) for seed in range(settings.seeds) for teacher in [None, *teachers]]
    test = application_images(cfg, run_)[1]
    runs = []
    for teacher, seed in tqdm(jobs, desc=f"distill into {student}", unit="student", disable=not progress):
        model = wrap(dataclasses.replace(spec, seed=seed))
        key = _cache_key(cfg, spec, seed, train, teacher, settings, run_)
        path = cache_path(cfg.cache_dir, "distill", key)
        seconds = None
        if not load_cached(model.model, path, key,
                           f"student {student!r} distilled from {teacher or 'labels only'} (seed {seed})"):
            start = time.perf_counter()
            kd = {} if teacher is None else {"teacher": run_.models[teacher], "temperature": settings.temperature,
                                             "alpha": settings.alpha}
            train_classifier(model, run_.training.images, run_.training.labels, epochs=train.epochs,
                             lr=train.lr, batch_size=train.batch_size, weight_decay=train.weight_decay,
                             shift=train.shift, noise=train.noise, seed=seed, device=device, progress=progress,
                             desc=f"{student} <- {teacher or 'labels only'} (seed {seed})", **kd)
            seconds = time.perf_counter() - start
            save_cached(model.model.to("cpu"), path, key)
        model.to(device)
        correct = units.clean_pass(model, test.images, test.labels, batch_size=cfg.batch_size, device=device,
                                   name=student)
        runs.append(StudentRun(teacher, seed, float(correct.mean()), seconds))
    return runs


def _cache_key(cfg, spec, seed: int, train: TrainSettings, teacher: str | None, settings: DistillSettings,
               run_) -> dict:
    """All that determines a student's weights (no label: the teacher by its weights hash)."""
    return {"student": {k: v for k, v in vars(spec).items() if k not in ("label", "checkpoint", "train", "training",
                                                                        "seed")},
            "seed": seed, "train": train.as_dict(),
            "data": {k: v for k, v in cfg.data.items() if k not in ("subset", "validation")},
            "train_ids": hashlib.sha256("\n".join(run_.training.ids).encode()).hexdigest(),
            "teacher": None if teacher is None else {"weights": weights_hash(run_.models[teacher].model),
                                                     "temperature": settings.temperature, "alpha": settings.alpha}}

"""Train a student from each teacher by knowledge distillation, and without one, for several seeds.

    train_students(cfg, run_, student, teachers, settings, *, progress) -> list[StudentRun]
    training_images(cfg, run_, settings) -> StudentImages   (what the students learn from, and a sentence saying so)

For seed s in 0..seeds-1 the student architecture (the config's model
`student`) starts from initialisation seed s and sees the training images in the
order of seed s: once with plain cross-entropy (the baseline, teacher None) and
once per teacher with `archsim.zoo.kd_loss.kd_loss`. The training images are the
run's (outside the test and validation images). With `distill.labels_per_class`
the students keep the labels of that many images per class only: a distilled
student learns from them and from the teacher's soft targets on every training
image; the baseline learns from the labelled images alone. Every student gets the
same budget of optimizer steps: the student's train settings (`settings.epochs`
when given) over all the training images; the baseline runs as many epochs over
its labelled images as give the same number of steps. Each student is scored on
the validation images (where the recommendation chooses) and on the test images
(`run_.validation` and `run_.images`, or their shifted copies under the config's
`shift:`, `archsim.zoo.shift.application_images`), which training never sees.
Trained students are cached as safetensors under cache_dir/distill/, named by a
hash of everything that determines them (the student's spec without its label,
seed, training settings, the teacher's weights hash, temperature and alpha, the
data and the training image ids), so a rerun only evaluates; a damaged cached
file is trained again (`archsim.zoo.weights_cache`). The students to train are trained side by side on the
CPU, one process per core (`archsim.zoo.train_pool`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass

import torch

from archsim.errors import ArchsimError
from archsim.sat import units
from archsim.settings import DistillSettings, TrainSettings
from archsim.zoo.build import wrap
from archsim.zoo.data import select_indices
from archsim.zoo.models import weights_hash
from archsim.zoo.shift import application_images
from archsim.zoo.train_pool import TrainJob, train_and_cache
from archsim.zoo.weights_cache import cache_path, load_cached


@dataclass
class StudentRun:
    teacher: str | None  # None: the baseline, trained without a teacher
    seed: int
    validation_accuracy: float | None  # None without validation images
    test_accuracy: float
    seconds: float | None  # training time; None when loaded from the cache


@dataclass
class StudentImages:
    images: torch.Tensor  # every training image
    labels: torch.Tensor  # their labels, -1 where the students do not see it
    labelled: list[int]  # the positions whose label the students see
    description: str  # one sentence for the output: which images the students train on


def check_roles(cfg, student: str | None, teachers: list[str] | None, *, train: bool = True) -> None:
    """The student and teachers must be distinct labels of the config; with `train`, the student trainable here."""
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
    if train and spec.training is None:
        raise ArchsimError(f"the student {student!r} has no train settings (it is pretrained, from a checkpoint, "
                           "or the config has no train section): --train distils it from scratch here; without --train the "
                           "teachers are ranked with no training")


def training_images(cfg, run_, settings: DistillSettings) -> StudentImages:
    """The students' training images and the labels they see (module docstring)."""
    if run_.training is None:
        raise ArchsimError("distillation needs the training images; the run has none")
    images, labels = run_.training.images, run_.training.labels
    n = len(labels)
    if settings.labels_per_class is None:
        return StudentImages(images, labels, list(range(n)),
                             f"the students train on the {n} training images (outside the test and validation "
                             "images), every label seen")
    labelled = select_indices(labels, how="balanced", n=settings.labels_per_class, seed=cfg.seed)
    seen = torch.full_like(labels, -1)
    seen[labelled] = labels[labelled]
    return StudentImages(images, seen, labelled,
                         f"the students train on the {n} training images (outside the test and validation images), "
                         f"with the labels of {len(labelled)} of them ({settings.labels_per_class} per class): the "
                         "labels-only students on those alone, the distilled ones also on the teacher's soft "
                         f"targets for all {n}")


def train_students(cfg, run_, student: str, teachers: list[str], settings: DistillSettings, *,
                   progress: bool = True) -> list[StudentRun]:
    """The baseline and one distilled student per teacher, for each seed; cached."""
    check_roles(cfg, student, teachers)
    data = training_images(cfg, run_, settings)
    spec = next(s for s in cfg.models if s.label == student)
    train = spec.training if settings.epochs is None else dataclasses.replace(spec.training, epochs=settings.epochs)
    steps = train.epochs * math.ceil(len(data.labels) / train.batch_size)
    baseline_epochs = max(1, round(steps / math.ceil(len(data.labelled) / train.batch_size)))
    device = cfg.torch_device()
    jobs = [(teacher, seed) for seed in range(settings.seeds) for teacher in [None, *teachers]]
    validation, test = application_images(cfg, run_)
    models, to_train = [], []
    for teacher, seed in jobs:
        model = wrap(dataclasses.replace(spec, seed=seed), tuple(run_.images.images.shape[1:]))
        key = _cache_key(cfg, spec, seed, train, teacher, settings, run_)
        path, what = cache_path(cfg.cache_dir, "distill", key), _name(student, teacher, seed)
        if not load_cached(model.model, path, key, what):
            common = train.classifier_kwargs(seed)
            if teacher is None:
                to_train.append(TrainJob(model, {**common, "epochs": baseline_epochs}, path, key, what,
                                         rows=data.labelled))
            else:
                to_train.append(TrainJob(model, common, path, key, what,
                                         extra={"teacher": run_.models[teacher], "temperature": settings.temperature,
                                                "alpha": settings.alpha}))
        models.append(model)
    seconds = dict(zip((id(j.model) for j in to_train),
                       train_and_cache(to_train, data.images, data.labels, device=device, progress=progress)))
    runs = []
    for (teacher, seed), model in zip(jobs, models):
        model.to(device)
        name = _name(student, teacher, seed)
        runs.append(StudentRun(teacher, seed, None if validation is None else _accuracy(model, validation, cfg, name),
                               _accuracy(model, test, cfg, name), seconds.get(id(model))))
    return runs


def _name(student: str, teacher: str | None, seed: int) -> str:
    return f"student {student} <- {teacher or 'labels only'} (seed {seed})"


def _accuracy(model, images, cfg, name: str) -> float:
    correct = units.clean_pass(model, images.images, images.labels, batch_size=cfg.batch_size,
                               device=cfg.torch_device(), name=name)
    return float(correct.mean())


def _cache_key(cfg, spec, seed: int, train: TrainSettings, teacher: str | None, settings: DistillSettings,
               run_) -> dict:
    """All that determines a student's weights (no label: the teacher by its weights hash)."""
    return {"student": {k: v for k, v in vars(spec).items() if k not in ("label", "checkpoint", "train", "training",
                                                                        "seed")},
            "seed": seed, "train": train.as_dict(),
            "data": {k: v for k, v in cfg.data.items() if k not in ("subset", "validation")},
            "train_ids": hashlib.sha256("\n".join(run_.training.ids).encode()).hexdigest(),
            "labels_per_class": settings.labels_per_class,
            "teacher": None if teacher is None else {"weights": weights_hash(run_.models[teacher].model),
                                                     "temperature": settings.temperature, "alpha": settings.alpha}}

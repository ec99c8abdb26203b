"""The typed settings of a config's `train:`, `ensemble:` and `distill:` sections, checked once when loaded.

    train:    {epochs: 3, lr: 0.002, batch_size: 64, weight_decay: 0.05, shift: 0, noise: 0.0, max_images: null}
    ensemble: {size: 3, draws: 10, measures: [sat]}
    distill:  {student: null, teachers: null, seeds: 3, epochs: null, temperature: 4.0, alpha: 0.9,
               labels_per_class: null}
    shift:    {severity: 0.5, seed: 0}     (optional; absent: the applications use the clean images)

train: `shift` augments each training image with a random translation of up to
that many pixels, `noise` with random sign noise of a magnitude uniform in
[0, noise] (see `archsim.zoo.training`); `max_images` caps the training pool (a seeded random subset).
A model's own `train:` overrides the section key by key.
ensemble: `size` is K, the number of members; `draws` the number of seeded random
K-subsets the measures are set against; `measures` those that choose members.
distill: `student` is a model label, `teachers` a list of labels; each student
is trained for `epochs` (null: the student's own train settings) from each of
`seeds` initialisation seeds, with the loss of `archsim.zoo.kd_loss`.
`labels_per_class` (null: every training image keeps its label) leaves the
students that many labelled training images per class (a balanced subset seeded
by the config's seed): a distilled student learns from those labels and from the
teacher's soft targets on every training image, a labels-only student from the
labelled images alone, for the same number of optimizer steps
(`archsim.zoo.students`).
shift: the ensemble and distillation stages select on and evaluate with seeded shifted copies of the
validation and test images at `severity` in (0, 1] (`archsim.zoo.shift`).

Each class's `from_section(raw, where)` checks the section with
`archsim.options.check_section`; `with_overrides(**flags)` applies command-line
flags (None: not given) and checks again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from archsim.options import Option, check_section


class _Section:
    OPTIONS: dict[str, Option] = {}

    @classmethod
    def from_section(cls, raw: dict | None, where: str):
        return cls(**check_section(raw, cls.OPTIONS, where))

    def with_overrides(self, where: str, **flags):
        return self.from_section({**dataclasses.asdict(self), **{k: v for k, v in flags.items() if v is not None}},
                                 where)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainSettings(_Section):
    epochs: int = 3
    lr: float = 2e-3
    batch_size: int = 64
    weight_decay: float = 0.05
    shift: int = 0
    noise: float = 0.0
    max_images: int | None = None

    OPTIONS = {"epochs": Option(3, "int", minimum=1), "lr": Option(2e-3, "float", minimum=0, above=True),
               "batch_size": Option(64, "int", minimum=1), "weight_decay": Option(0.05, "float", minimum=0),
               "shift": Option(0, "int", minimum=0), "noise": Option(0.0, "float", minimum=0, maximum=1),
               "max_images": Option(None, "int", minimum=1, nullable=True)}

    def classifier_kwargs(self, seed: int) -> dict:
        """`archsim.zoo.training.train_classifier`'s keyword arguments for these settings and `seed` (the model's
        initialisation and data-order seed); max_images chooses the images, not how they train."""
        return {**{k: v for k, v in self.as_dict().items() if k != "max_images"}, "seed": seed}


@dataclass(frozen=True)
class EnsembleSettings(_Section):
    size: int = 3
    draws: int = 10
    measures: list = dataclasses.field(default_factory=lambda: ["sat"])

    OPTIONS = {"size": Option(3, "int", minimum=1), "draws": Option(10, "int", minimum=1),
               "measures": Option(["sat"], "names", what="measure names")}


@dataclass(frozen=True)
class DistillSettings(_Section):
    student: str | None = None
    teachers: list | None = None
    seeds: int = 3
    epochs: int | None = None
    temperature: float = 4.0
    alpha: float = 0.9
    labels_per_class: int | None = None

    OPTIONS = {"student": Option(None, "str", nullable=True, what="a model label"),
               "teachers": Option(None, "names", nullable=True, what="model labels"),
               "seeds": Option(3, "int", minimum=1), "epochs": Option(None, "int", minimum=1, nullable=True),
               "temperature": Option(4.0, "float", minimum=0, above=True),
               "alpha": Option(0.9, "float", minimum=0, maximum=1),
               "labels_per_class": Option(None, "int", minimum=1, nullable=True)}


@dataclass(frozen=True)
class ShiftSettings(_Section):
    severity: float = 0.5
    seed: int = 0

    OPTIONS = {"severity": Option(0.5, "float", minimum=0, maximum=1, above=True), "seed": Option(0, "int")}

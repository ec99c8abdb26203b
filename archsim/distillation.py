"""Knowledge distillation (Hinton, Vinyals and Dean, 2015, "Distilling the Knowledge in a Neural Network").

A student learns from a teacher's softened predictions as well as from the labels:

    L = (1 - alpha) * CE(s, y) + alpha * T^2 * KL( softmax(t / T) || softmax(s / T) )

with student logits s, teacher logits t, labels y and temperature T. The
config's `distill:` section (defaults of `archsim distill` and of the demo's
distillation stage) takes these keys:

    distill: {student: null, teachers: null, seeds: 3, epochs: null, temperature: 4.0, alpha: 0.9}

`student` is a model label of the config, `teachers` a list of labels; each
student is trained for `epochs` (null: the student's own train settings) from
each of `seeds` initialisation seeds (0, 1, ...).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from archsim.errors import ArchsimError
from archsim.settings_checks import check_keys, name_list, whole_number

DISTILL_DEFAULTS = {"student": None, "teachers": None, "seeds": 3, "epochs": None, "temperature": 4.0, "alpha": 0.9}


def distill_settings(raw: dict | None, where: str = "distill") -> dict:
    """The distillation settings with defaults filled in.

    Unknown keys, a temperature that is not a finite number > 0, an alpha that
    is not a number in [0, 1], seeds or epochs that are not whole numbers >= 1,
    a student that is not a label and teachers that are not a list of labels
    raise ArchsimError. Teachers may be given as one comma-separated string.
    """
    raw = raw or {}
    check_keys(raw, DISTILL_DEFAULTS, where)
    settings = {**DISTILL_DEFAULTS, **raw}
    temperature, alpha = settings["temperature"], settings["alpha"]
    if not _is_number(temperature) or not (math.isfinite(temperature) and temperature > 0):
        raise ArchsimError(f"{where}.temperature must be a number > 0, got {temperature!r}")
    if not _is_number(alpha) or not 0 <= alpha <= 1:
        raise ArchsimError(f"{where}.alpha must be a number in [0, 1], got {alpha!r}")
    whole_number(settings["seeds"], f"{where}.seeds", 1)
    if settings["epochs"] is not None:
        whole_number(settings["epochs"], f"{where}.epochs", 1)
    if settings["student"] is not None and not isinstance(settings["student"], str):
        raise ArchsimError(f"{where}.student must be a model label, got {settings['student']!r}")
    if settings["teachers"] is not None:
        settings["teachers"] = name_list(settings["teachers"], f"{where}.teachers", "model labels")
    return settings


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, *,
            temperature: float, alpha: float) -> torch.Tensor:
    """The distillation loss of a batch, a scalar:

        L = (1 - alpha) * CE(s, y) + alpha * T^2 * KL( softmax(t / T) || softmax(s / T) )

    CE is the mean cross-entropy with the labels; the KL is summed over classes and
    averaged over the batch. Without the T^2 factor the KL's gradient wrt s is
    (softmax(s / T) - softmax(t / T)) / (T * batch), which shrinks like 1 / T^2 for
    large T (the difference of softmaxes is itself O(1 / T)); T^2 keeps the
    soft-target gradient's scale, relative to the CE term, independent of T. The
    teacher logits are detached: no gradient reaches them.
    """
    ce = F.cross_entropy(student_logits, labels)
    kl = F.kl_div(F.log_softmax(student_logits / temperature, dim=-1),
                  F.log_softmax(teacher_logits.detach() / temperature, dim=-1),
                  reduction="batchmean", log_target=True)
    return (1 - alpha) * ce + alpha * temperature ** 2 * kl

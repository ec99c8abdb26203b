"""Knowledge distillation (Hinton, Vinyals and Dean, 2015, "Distilling the Knowledge in a Neural Network").

A student learns from a teacher's softened predictions as well as from the labels:

    L = (1 - alpha) * CE(s, y) + alpha * T^2 * KL( softmax(t / T) || softmax(s / T) )

with student logits s, teacher logits t, labels y and temperature T. The
config's `distill:` section sets T and alpha (`archsim.settings.DistillSettings`).
An image without a label (y = -1, `distill.labels_per_class`) adds only the
soft-target term: CE is the mean over the labelled images of the batch (0 when
there are none), the KL the mean over all of them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor, *,
            temperature: float, alpha: float) -> torch.Tensor:
    """The distillation loss of a batch, a scalar:

        L = (1 - alpha) * CE(s, y) + alpha * T^2 * KL( softmax(t / T) || softmax(s / T) )

    CE is the mean cross-entropy over the labelled images (label >= 0); the KL is summed over classes and
    averaged over the batch. Without the T^2 factor the KL's gradient wrt s is
    (softmax(s / T) - softmax(t / T)) / (T * batch), which shrinks like 1 / T^2 for
    large T (the difference of softmaxes is itself O(1 / T)); T^2 keeps the
    soft-target gradient's scale, relative to the CE term, independent of T. The
    teacher logits are detached: no gradient reaches them.
    """
    labelled = labels >= 0
    ce = F.cross_entropy(student_logits[labelled], labels[labelled]) if labelled.any() else student_logits.sum() * 0
    kl = F.kl_div(F.log_softmax(student_logits / temperature, dim=-1),
                  F.log_softmax(teacher_logits.detach() / temperature, dim=-1),
                  reduction="batchmean", log_target=True)
    return (1 - alpha) * ce + alpha * temperature ** 2 * kl

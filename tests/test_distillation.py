"""Knowledge distillation: the loss against a hand computation, its gradient, the settings, and training."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archsim.errors import ArchsimError
from archsim.settings import DistillSettings
from archsim.zoo.kd_loss import kd_loss
from archsim.zoo.models import create_model
from archsim.zoo.training import random_shift, train_classifier
from archsim.zoo.wrapper import PixelModel


def _logits(seed, batch=5, classes=7):
    gen = torch.Generator().manual_seed(seed)
    s = torch.randn(batch, classes, generator=gen, dtype=torch.float64) * 3
    t = torch.randn(batch, classes, generator=gen, dtype=torch.float64) * 3
    return s, t, torch.randint(0, classes, (batch,), generator=gen)


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("temperature, alpha", [(1.0, 0.5), (4.0, 0.9), (2.5, 0.3), (0.5, 1.0)])
def test_kd_loss_matches_a_hand_computation(temperature, alpha):
    s, t, y = _logits(0)
    sn, tn, yn = s.numpy(), t.numpy(), y.numpy()
    ce = -_log_softmax(sn)[np.arange(len(yn)), yn].mean()
    log_p, log_q = _log_softmax(tn / temperature), _log_softmax(sn / temperature)
    kl = (np.exp(log_p) * (log_p - log_q)).sum(axis=1).mean()
    expected = (1 - alpha) * ce + alpha * temperature ** 2 * kl
    assert kd_loss(s, t, y, temperature=temperature, alpha=alpha).item() == pytest.approx(expected, abs=1e-6)


def test_kd_loss_limits():
    s, t, y = _logits(1)
    assert torch.equal(kd_loss(s, t, y, temperature=3.0, alpha=0.0), F.cross_entropy(s, y))
    assert kd_loss(s, s.clone(), y, temperature=3.0, alpha=1.0).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_soft_target_gradient_is_the_closed_form(temperature):
    s, t, y = _logits(2)
    s.requires_grad_(True)
    t.requires_grad_(True)
    kd_loss(s, t, y, temperature=temperature, alpha=1.0).backward()
    expected = temperature * (torch.softmax(s / temperature, 1) - torch.softmax(t / temperature, 1)) / len(s)
    torch.testing.assert_close(s.grad, expected.detach(), rtol=0, atol=1e-12)
    assert t.grad is None  # the teacher is detached


def test_an_unlabelled_image_adds_only_the_soft_target_term():
    s, t, y = _logits(3, batch=6)
    seen = y.clone()
    seen[[1, 4]] = -1  # two images without a label
    sn, tn, yn = s.numpy(), t.numpy(), y.numpy()
    labelled = [0, 2, 3, 5]
    ce = -_log_softmax(sn[labelled])[np.arange(4), yn[labelled]].mean()  # over the labelled images only
    log_p, log_q = _log_softmax(tn / 2.0), _log_softmax(sn / 2.0)
    kl = (np.exp(log_p) * (log_p - log_q)).sum(axis=1).mean()  # over all six
    assert kd_loss(s, t, seen, temperature=2.0, alpha=0.7).item() == pytest.approx(0.3 * ce + 0.7 * 4.0 * kl, abs=1e-6)
    none = torch.full_like(y, -1)
    assert kd_loss(s, t, none, temperature=2.0, alpha=0.7).item() == pytest.approx(0.7 * 4.0 * kl, abs=1e-6)


def test_few_labels_the_students_see_and_the_baselines_equal_step_budget(tmp_path, monkeypatch):
    """distill.labels_per_class: a balanced labelled subset; the labels-only student trains on it alone for as many
    optimizer steps as a distilled student takes over every training image."""
    import math

    import yaml

    import archsim.zoo.students as students
    import archsim.zoo.train_pool as train_pool
    from archsim.config import load_config
    from archsim.zoo.build import build_run
    from tests.test_demo import CONFIG, NAMES

    raw = {**CONFIG, "cache_dir": str(tmp_path / "cache"),
           "distill": {"student": "resnet_a", "teachers": NAMES[1:2], "seeds": 1, "epochs": 2,
                       "labels_per_class": 3}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    cfg = load_config(tmp_path / "c.yaml")
    run_ = build_run(cfg, progress=False)
    data = students.training_images(cfg, run_, cfg.distill)
    n = len(run_.training.labels)
    assert len(data.labelled) == 30 and (data.labels >= 0).sum() == 30 and len(data.labels) == n
    assert torch.equal(data.labels[data.labelled], run_.training.labels[data.labelled])
    assert np.bincount(data.labels[data.labelled].numpy(), minlength=10).tolist() == [3] * 10
    assert "with the labels of 30 of them (3 per class)" in data.description
    calls = []
    monkeypatch.setattr(train_pool, "train_classifier",
                        lambda model, x, y, *, epochs, batch_size, **kw: calls.append((len(x), (y >= 0).sum().item(),
                                                                                      epochs, batch_size, "teacher" in kw)))
    students.train_students(cfg, run_, "resnet_a", NAMES[1:2], cfg.distill, progress=False)
    (base_n, base_seen, base_epochs, b, base_kd), (kd_n, kd_seen, kd_epochs, _, kd_kd) = calls
    assert (base_n, base_seen, base_kd) == (30, 30, False) and (kd_n, kd_seen, kd_kd) == (n, 30, True)
    kd_steps, base_steps = kd_epochs * math.ceil(n / b), base_epochs * math.ceil(30 / b)
    assert kd_epochs == 2 and abs(base_steps - kd_steps) <= math.ceil(30 / b) / 2  # the same budget, to an epoch


def distill_settings(raw, where="distill"):
    return DistillSettings.from_section(raw, where).as_dict()


def test_distill_settings():
    defaults = distill_settings(None)
    assert defaults == {"student": None, "teachers": None, "seeds": 3, "epochs": None, "temperature": 4.0,
                        "alpha": 0.9, "labels_per_class": None}
    assert distill_settings({"alpha": 0}) == {**defaults, "alpha": 0}
    assert distill_settings({"teachers": "a, b"})["teachers"] == ["a", "b"]
    with pytest.raises(ArchsimError, match="unknown key 'temp' in models\\[1\\].distill; allowed: alpha, epochs, "
                                           "labels_per_class, seeds, student, teachers, temperature"):
        distill_settings({"temp": 2}, where="models[1].distill")


@pytest.mark.parametrize("bad, message", [({"temperature": 0}, "temperature must be a number > 0"),
                                          ({"temperature": -1.0}, "temperature must be a number > 0"),
                                          ({"temperature": "4"}, "temperature must be a number > 0"),
                                          ({"temperature": True}, "temperature must be a number > 0"),
                                          ({"temperature": float("inf")}, "temperature must be a number > 0"),
                                          ({"alpha": 1.5}, "alpha must be a number in \\[0, 1\\]"),
                                          ({"alpha": -0.1}, "alpha must be a number in \\[0, 1\\]"),
                                          ({"alpha": float("nan")}, "alpha must be a number in \\[0, 1\\]"),
                                          ({"alpha": False}, "alpha must be a number in \\[0, 1\\]"),
                                          ({"seeds": 0}, "seeds must be a whole number >= 1"),
                                          ({"seeds": None}, "seeds must be a whole number >= 1"),
                                          ({"epochs": 2.5}, "epochs must be a whole number >= 1"),
                                          ({"student": 3}, "student must be a model label"),
                                          ({"teachers": [1, 2]}, "teachers must be a list of model labels")])
def test_bad_distill_settings(bad, message):
    with pytest.raises(ArchsimError, match=message):
        distill_settings(bad)


def _student(seed=0):
    """A narrow ResNet-18 with dropout before the classifier, so training draws global random numbers."""
    torch.manual_seed(seed)
    return PixelModel(create_model("resnet18", num_classes=10, channels=(8, 16, 32, 64), drop_rate=0.3),
                      input_size=16)


@pytest.fixture(scope="module")
def small_train(digits_split):
    train, _ = digits_split
    return train.images[:256], train.labels[:256]


@pytest.fixture
def teacher():
    """An untrained teacher whose inner net was left in training mode: dropout draws unless it is put in eval."""
    model = _student(seed=7)
    model.model.train()
    return model


def _weights(images, labels, **kwargs):
    student = _student()
    train_classifier(student, images, labels, epochs=1, batch_size=64, shift=1, progress=False, **kwargs)
    return student.model.state_dict()


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_distillation_is_deterministic_for_a_seed(small_train, teacher):
    first = _weights(*small_train, teacher=teacher, seed=3)
    assert _same(first, _weights(*small_train, teacher=teacher, seed=3))
    assert not _same(first, _weights(*small_train, teacher=teacher, seed=4))


def test_the_teacher_takes_no_random_draws(small_train, teacher):
    plain = _weights(*small_train, seed=3)
    assert _same(plain, _weights(*small_train, teacher=teacher, alpha=0.0, seed=3))
    assert not _same(plain, _weights(*small_train, teacher=teacher, alpha=0.5, seed=3))


class PermutedLookup(nn.Module):
    """Looks each image up among `images` (nearest match) and puts logit 20 on (its label + 1) % 10."""

    def __init__(self, images, labels):
        super().__init__()
        self.register_buffer("keys", images.flatten(1))
        self.register_buffer("targets", (labels + 1) % 10)

    def forward(self, x):
        match = torch.cdist(x.flatten(1), self.keys).argmin(1)
        return 20.0 * F.one_hot(self.targets[match], 10).float()


def test_the_student_follows_the_teacher_not_the_labels(small_train):
    images, labels = small_train
    teacher = PermutedLookup(images, labels)
    student = _student()
    train_classifier(student, images, labels, epochs=10, lr=1e-2, batch_size=32, teacher=teacher, alpha=1.0,
                     progress=False)
    with torch.no_grad():
        pred = student(images).argmax(1)
    assert (pred == (labels + 1) % 10).float().mean() > 0.8
    assert (pred == labels).float().mean() < 0.1


class Recorder(nn.Module):
    """A teacher with no opinion (zero logits) that keeps the batches it is shown."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return torch.zeros(len(x), 10)


def test_the_teacher_sees_the_shifted_batch(small_train):
    images, labels = small_train
    teacher = Recorder()
    train_classifier(_student(), images, labels, epochs=1, batch_size=64, shift=2, seed=5, teacher=teacher,
                     progress=False)
    gen = torch.Generator().manual_seed(5)  # the loop's draws: the order, then the first batch's shifts
    first = random_shift(images[torch.randperm(len(images), generator=gen)[:64]], 2, gen)
    assert len(teacher.seen) == 4 and torch.equal(teacher.seen[0], first)


def test_the_teacher_rank_correlation_p_is_exact_over_every_ranking():
    """By hand: count the pairings of y with x whose |rho| reaches the observed one (scipy's asymptotic p says 0
    for a perfect 4-teacher ranking; 2 of the 24 rankings are as extreme)."""
    import itertools

    from scipy.stats import spearmanr

    from analysis.decisions.distill_study import spearman_permutation_p

    assert spearman_permutation_p([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(2 / 24)
    assert spearmanr([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4]).pvalue == 0.0
    x, y = [0.3, 0.1, 0.5, 0.2, 0.4, 0.6], [1.0, 3.0, 2.0, 5.0, 4.0, 6.0]
    observed = abs(spearmanr(x, y).statistic)
    extreme = sum(abs(spearmanr(x, q).statistic) >= observed - 1e-12 for q in itertools.permutations(y))
    assert spearman_permutation_p(x, y) == pytest.approx(extreme / 720)

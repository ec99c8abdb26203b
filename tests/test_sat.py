"""The SAT engine against an independent reference, its cost, and its input checks."""

import math

import numpy as np
import pytest
import torch
import torchattacks

import archsim
import attacks
from archsim.errors import ArchsimError

EPS, ALPHA, STEPS = 0.15, 0.04, 5


def reference_sat(models, images, labels, eps_s):
    """The DESIGN.md formula, literally: torchattacks PGD on every image, loops over images."""
    names = list(models)
    with torch.no_grad():
        clean = {m: models[m](images).argmax(1) == labels for m in names}
    adv = {m: torchattacks.PGD(models[m], eps=EPS, alpha=ALPHA, steps=STEPS, random_start=False)(images, labels)
           for m in names}
    with torch.no_grad():
        fooled = {(s, t): models[t](adv[s]).argmax(1) != labels for s in names for t in names}
    sat = np.zeros((len(names), len(names)))
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            common = [k for k in range(len(labels)) if clean[a][k] and clean[b][k]]
            total = sum(int(fooled[(b, a)][k]) + int(fooled[(a, b)][k]) for k in common)
            sat[i, j] = math.log(max(eps_s, 100 * total / (2 * len(common))))
    return sat


def test_matches_reference(tiny_zoo, digits_split):
    _, ev = digits_split
    result = archsim.sat_matrix(tiny_zoo, ev.images, ev.labels, eps=EPS, alpha=ALPHA, steps=STEPS,
                                random_start=False, eps_s=0.01, batch_size=64, progress=False)
    expected = reference_sat(tiny_zoo, ev.images, ev.labels, 0.01)
    np.testing.assert_allclose(result.sat, expected, atol=1e-12)
    assert result.names == list(tiny_zoo)
    np.testing.assert_array_equal(result.sat, result.sat.T)
    assert (result.clean_accuracy > 0.7).all()  # the zoo is really trained
    # white-box attacks beat transfer attacks: each diagonal entry is the row's largest
    assert all(result.transfer[i, i] >= result.transfer[i].max() - 1e-12 for i in range(len(tiny_zoo)))


def test_cost_and_never_attacks_misclassified(tiny_zoo, digits_split, monkeypatch):
    _, ev = digits_split
    attacked, evaluated = {}, {}
    real_make = attacks.make_attack

    class Counting(torch.nn.Module):
        def __init__(self, name, model):
            super().__init__()
            self.name, self.model = name, model

        def forward(self, x):
            if torch.is_inference_mode_enabled():
                evaluated[self.name] = evaluated.get(self.name, 0) + len(x)
            return self.model(x)

    def counting_make(model, cfg):
        attack = real_make(model, cfg)

        def run(images, labels):
            if cfg.get("name") != "noise":  # the noise control draws no gradient
                attacked.setdefault(model.name, []).append(len(labels))
            return attack(images, labels)
        return run

    monkeypatch.setattr(attacks, "make_attack", counting_make)
    counted = {n: Counting(n, m) for n, m in tiny_zoo.items()}
    r = archsim.sat_matrix(counted, ev.images, ev.labels, eps=EPS, alpha=ALPHA, steps=STEPS, batch_size=64,
                           progress=False)
    n = len(ev.labels)
    assert sorted(attacked) == sorted(tiny_zoo)  # N attack runs, one per source
    for s, name in enumerate(r.names):
        # covering exactly the images the source classifies correctly
        assert sum(attacked[name]) == r.clean_correct[s].sum()
    assert (r.clean_correct.sum(1) < n).any()  # some model misclassifies images, so skipping them is tested
    for t, name in enumerate(r.names):
        # forward-only evaluations: the clean pass, per source the images in X_st, and the noise control
        assert evaluated[name] == n + sum(r.n_common[s, t] for s in range(len(r.names))) + r.clean_correct[t].sum()


def test_deterministic_for_a_seed(tiny_zoo, digits_split):
    _, ev = digits_split
    kw = dict(eps=EPS, alpha=ALPHA, steps=2, random_start=True, batch_size=64, progress=False)
    a = archsim.sat_matrix(tiny_zoo, ev.images, ev.labels, seed=5, **kw)
    b = archsim.sat_matrix(tiny_zoo, ev.images, ev.labels, seed=5, **kw)
    np.testing.assert_array_equal(a.adv_correct, b.adv_correct)


def test_hopeless_model_gives_floor_with_warning(tiny_zoo, digits_split):
    _, ev = digits_split

    def always_wrong(x):
        logits = torch.zeros(len(x), 10)
        logits[:, 0] = 1.0
        return logits

    wrong_labels = torch.where(ev.labels == 0, torch.ones_like(ev.labels), ev.labels)
    models = {"resnet": tiny_zoo["resnet"], "constant": always_wrong}
    with pytest.warns(UserWarning, match="no image both models"):
        r = archsim.sat_matrix(models, ev.images[wrong_labels != 0][:40], wrong_labels[wrong_labels != 0][:40],
                               eps=EPS, alpha=ALPHA, steps=1, eps_s=0.02, progress=False)
    assert r.n_common[0, 1] == 0
    assert r.sat[0, 1] == pytest.approx(math.log(0.02))


def hand_fgsm_sat(models: dict, x, y, eps: float, eps_s: float = 0.01) -> np.ndarray:
    """SAT by hand: FGSM x + eps sign(grad CE) per source on its clean-correct images (stored as archsim stores
    perturbations, float16 toward zero), every target on X_st, then ln(max(eps_s, 100 (e_st + e_ts) / 2|X_st|))."""
    from archsim.sat.advset import quantize

    names = list(models)
    with torch.no_grad():
        clean = {n: (models[n](x).argmax(1) == y) for n in names}
    fooled = {}
    for s in names:
        idx = clean[s].nonzero().flatten()
        xs = x[idx].clone().requires_grad_(True)
        grad, = torch.autograd.grad(torch.nn.functional.cross_entropy(models[s](xs), y[idx]), xs)
        adv = (x[idx] + quantize((x[idx] + eps * grad.sign()).clamp(0, 1) - x[idx]).float()).clamp(0, 1)
        for t in names:
            with torch.no_grad():
                wrong = torch.zeros(len(y), dtype=torch.bool)
                wrong[idx] = models[t](adv).argmax(1) != y[idx]
            fooled[s, t] = wrong
    sat = np.zeros((len(names), len(names)))
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            both = clean[a] & clean[b]
            errors = int((fooled[a, b] & both).sum() + (fooled[b, a] & both).sum())
            sat[i, j] = np.log(max(eps_s, 100 * errors / (2 * int(both.sum()))))
    return sat


def test_torchattacks_backend_by_config_equals_fgsm_by_hand(tiny_zoo, digits_split):
    _, ev = digits_split
    r = archsim.sat_matrix(tiny_zoo, ev.images[:60], ev.labels[:60], progress=False,
                           attack={"backend": "torchattacks", "name": "FGSM", "eps": EPS})
    np.testing.assert_allclose(r.sat, hand_fgsm_sat(tiny_zoo, ev.images[:60], ev.labels[:60], EPS), atol=1e-9)


@pytest.mark.parametrize("images,labels,match", [
    (lambda x: x * 2, lambda y: y, r"\[0, 1\]"),
    (lambda x: x[0], lambda y: y, "shape"),
    (lambda x: x, lambda y: y[:-1], "labels"),
    (lambda x: x, lambda y: y + 10, "outside model"),
    (lambda x: x, lambda y: y.float(), "int64"),
])
def test_bad_input_is_clear(tiny_zoo, digits_split, images, labels, match):
    _, ev = digits_split
    with pytest.raises(ArchsimError, match=match):
        archsim.sat_matrix(tiny_zoo, images(ev.images[:8]), labels(ev.labels[:8]), steps=1, progress=False)


def test_wrong_image_shape_for_model(tiny_zoo, digits_split):
    _, ev = digits_split
    with pytest.raises(ArchsimError, match=r"shape \(B, 3, H, W\)"):
        archsim.sat_matrix({"vit": tiny_zoo["vit"]}, ev.images[:4, :1], ev.labels[:4], steps=1, progress=False)

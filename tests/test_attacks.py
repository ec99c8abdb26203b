"""Tests for the `attacks` package: native PGD against torchattacks, constraints,
determinism, side effects, effectiveness, the torchattacks backend, validation."""

import math
import subprocess
import sys

import pytest
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchattacks

from archsim.errors import ArchsimError
from attacks import PGD, TorchAttacksAttack, make_attack

EPS_LINF, ALPHA_LINF = 8 / 255, 2 / 255
EPS_L2, ALPHA_L2 = 0.5, 0.1


def tiny_cnn(seed=0, num_classes=5, channels=3):
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Dropout(0.5), nn.Linear(32, num_classes))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def batch(seed=1, n=6, size=16, num_classes=5):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=g)
    images[:, :, :3] = 0.0  # saturated pixels exercise the [0, 1] clamp
    images[:, :, -3:] = 1.0
    return images, torch.randint(0, num_classes, (n,), generator=g)


@pytest.fixture(scope="module")
def model():
    return tiny_cnn()


@pytest.fixture(scope="module")
def data():
    return batch()


# (a)-(c): native PGD equals torchattacks ------------------------------------------------------


def test_linf_equals_torchattacks_on_timm_resnet():
    torch.manual_seed(0)
    net = timm.create_model("resnet10t", num_classes=10, pretrained=False).eval()
    images, labels = batch(n=4, size=32, num_classes=10)
    kw = dict(eps=EPS_LINF, alpha=ALPHA_LINF, steps=3, random_start=False)
    ours = PGD(net, norm="Linf", **kw)(images, labels)
    theirs = torchattacks.PGD(net, **kw)(images, labels)
    assert (ours - images).abs().max() > EPS_LINF / 2  # the attack moved the images
    assert (ours - theirs).abs().max().item() <= 1e-6


@pytest.mark.parametrize("seed", [0, 123])
def test_linf_random_start_equals_torchattacks_with_same_seed(model, data, seed):
    images, labels = data
    kw = dict(eps=EPS_LINF, alpha=ALPHA_LINF, steps=4, random_start=True)
    torch.manual_seed(seed)  # torchattacks draws its start from the global RNG
    theirs = torchattacks.PGD(model, **kw)(images, labels)
    ours = PGD(model, norm="Linf", seed=seed, **kw)(images, labels)
    no_start = PGD(model, norm="Linf", **{**kw, "random_start": False})(images, labels)
    assert not torch.equal(ours, no_start)
    assert (ours - theirs).abs().max().item() <= 1e-6


@pytest.mark.parametrize("random_start", [False, True])
def test_l2_equals_torchattacks_pgdl2(model, data, random_start):
    images, labels = data
    kw = dict(eps=EPS_L2, alpha=ALPHA_L2, steps=6, random_start=random_start)
    torch.manual_seed(5)
    theirs = torchattacks.PGDL2(model, **kw)(images, labels)
    ours = PGD(model, norm="L2", seed=5, **kw)(images, labels)
    assert (ours - images).flatten(1).norm(dim=1).min() > EPS_L2 / 2
    assert (ours - theirs).abs().max().item() <= 1e-6


# (d) constraints --------------------------------------------------------------------------------


def _distance(adv, images, norm):
    delta = (adv - images).flatten(1)
    return delta.abs().max(dim=1).values if norm == "Linf" else delta.norm(dim=1)


@pytest.mark.parametrize("norm,eps,alpha", [("Linf", EPS_LINF, 3 * EPS_LINF), ("L2", EPS_L2, 2 * EPS_L2)])
@pytest.mark.parametrize("random_start", [False, True])
def test_native_stays_in_ball_and_box(model, data, norm, eps, alpha, random_start):
    images, labels = data
    adv = PGD(model, norm=norm, eps=eps, alpha=alpha, steps=5, random_start=random_start)(images, labels)
    dist = _distance(adv, images, norm)
    assert dist.max().item() <= eps + (1e-7 if norm == "Linf" else 1e-6)
    assert adv.min().item() >= 0.0 and adv.max().item() <= 1.0
    assert adv.shape == images.shape and adv.dtype == images.dtype and not adv.requires_grad
    interior = 0.25 + 0.5 * images  # no [0, 1] clamp: alpha > eps puts every image on the sphere
    dist = _distance(PGD(model, norm=norm, eps=eps, alpha=alpha, steps=2)(interior, labels), interior, norm)
    assert dist.min().item() >= eps - 1e-6 and dist.max().item() <= eps + (1e-7 if norm == "Linf" else 1e-6)


@pytest.mark.parametrize("name", ["FGSM", "MIFGSM"])
def test_torchattacks_backend_stays_in_ball_and_box(model, data, name):
    images, labels = data
    adv = TorchAttacksAttack(model, name, eps=EPS_LINF)(images, labels)
    assert (adv - images).abs().max().item() <= EPS_LINF + 1e-7
    assert adv.min().item() >= 0.0 and adv.max().item() <= 1.0


def test_zero_eps_returns_the_images(model, data):
    images, labels = data
    for norm in ("Linf", "L2"):
        adv = PGD(model, norm=norm, eps=0.0, alpha=0.1, steps=2)(images, labels)
        assert torch.equal(adv, images)


def test_zero_steps_without_random_start_returns_the_images(model, data):
    images, labels = data
    assert torch.equal(PGD(model, steps=0, random_start=False)(images, labels), images)


def test_empty_batch(model):
    images = torch.rand(0, 3, 16, 16)
    assert PGD(model)(images, torch.zeros(0, dtype=torch.long)).shape == images.shape


# (e) determinism -------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda m, s: PGD(m, norm="Linf", eps=EPS_LINF, alpha=ALPHA_LINF, steps=2, seed=s),
    lambda m, s: PGD(m, norm="L2", eps=EPS_L2, alpha=ALPHA_L2, steps=2, seed=s),
    lambda m, s: TorchAttacksAttack(m, "PGD", eps=EPS_LINF, alpha=ALPHA_LINF, steps=2, seed=s),
], ids=["native-Linf", "native-L2", "torchattacks-PGD"])
def test_same_seed_same_images_and_global_rng_untouched(model, data, make):
    images, labels = data
    torch.manual_seed(999)
    state = torch.get_rng_state()
    first = make(model, 7)(images, labels)
    assert torch.equal(torch.get_rng_state(), state)
    torch.rand(10)  # a different global state must not matter
    again = make(model, 7)(images, labels)
    attack = make(model, 7)
    assert torch.equal(attack(images, labels), attack(images, labels))  # no state kept between calls
    other = make(model, 8)(images, labels)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


# (f) no side effects on the model --------------------------------------------------------------


ATTACKS = {
    "native-Linf": lambda m: PGD(m, norm="Linf", steps=2),
    "native-L2": lambda m: PGD(m, norm="L2", eps=EPS_L2, alpha=ALPHA_L2, steps=2),
    "torchattacks-PGD": lambda m: TorchAttacksAttack(m, "PGD", steps=2),
    "torchattacks-MIFGSM": lambda m: TorchAttacksAttack(m, "MIFGSM", steps=2),
}


@pytest.mark.parametrize("name", ATTACKS)
@pytest.mark.parametrize("mode", ["eval", "train", "mixed"])
def test_no_parameter_grads_and_modes_unchanged(data, name, mode):
    images, labels = data
    model = tiny_cnn()
    for p in model.parameters():
        p.requires_grad_(True)  # do not rely on frozen parameters
    model.train(mode != "eval")
    if mode == "mixed":
        model[1].eval()
    flags = [m.training for m in model.modules()]
    ATTACKS[name](model)(images, labels)
    assert all(p.grad is None for p in model.parameters())
    assert [m.training for m in model.modules()] == flags


# (g) the attack works ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    """A tiny CNN trained to separate two classes of 1x8x8 images that differ by +-0.1 * pattern."""
    g = torch.Generator().manual_seed(0)
    pattern = torch.randn(1, 8, 8, generator=g).sign()
    labels = torch.randint(0, 2, (128,), generator=g)
    noise = 0.05 * torch.randn(128, 1, 8, 8, generator=g)
    images = (0.5 + 0.1 * (2 * labels - 1).view(-1, 1, 1, 1) * pattern + noise).clamp(0, 1)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 2))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(40):
        opt.zero_grad()
        F.cross_entropy(net(images), labels).backward()
        opt.step()
    net.eval().requires_grad_(False)
    return net, images, labels


@pytest.mark.parametrize("make", [
    lambda m: PGD(m, norm="Linf", eps=0.15, alpha=0.03, steps=10),
    lambda m: PGD(m, norm="L2", eps=1.2, alpha=0.25, steps=10),
    lambda m: TorchAttacksAttack(m, "MIFGSM", eps=0.15, alpha=0.03, steps=10),
], ids=["native-Linf", "native-L2", "torchattacks-MIFGSM"])
def test_attack_raises_loss_and_lowers_accuracy(trained, make):
    net, images, labels = trained
    adv = make(net)(images, labels)
    with torch.no_grad():
        clean_logits, adv_logits = net(images), net(adv)
    clean_acc = (clean_logits.argmax(1) == labels).float().mean().item()
    adv_acc = (adv_logits.argmax(1) == labels).float().mean().item()
    assert clean_acc >= 0.95
    assert adv_acc <= 0.1
    assert F.cross_entropy(adv_logits, labels) > F.cross_entropy(clean_logits, labels) + 1.0


# (h) torchattacks backend -----------------------------------------------------------------------


def test_fgsm_by_name_is_one_signed_gradient_step(model, data):
    images, labels = data
    adv = TorchAttacksAttack(model, "FGSM", eps=EPS_LINF)(images, labels)
    x = images.clone().requires_grad_(True)
    grad = torch.autograd.grad(F.cross_entropy(model(x), labels), x)[0]
    assert torch.equal(adv, (images + EPS_LINF * grad.sign()).clamp(0, 1))


def test_mifgsm_by_name_on_a_plain_callable_equals_torchattacks(model, data):
    images, labels = data
    kw = dict(eps=EPS_LINF, alpha=ALPHA_LINF, steps=4, decay=0.5)
    ours = TorchAttacksAttack(lambda x: model(x), "MIFGSM", **kw)(images, labels)
    theirs = torchattacks.MIFGSM(model, **kw)(images, labels)
    assert torch.equal(ours, theirs)
    assert not torch.equal(ours, images)


def test_unknown_torchattacks_name_suggests_close_ones(model):
    with pytest.raises(ArchsimError, match="MIFSGM.*did you mean MIFGSM"):
        TorchAttacksAttack(model, "MIFSGM")
    with pytest.raises(ArchsimError, match="did you mean PGD"):
        TorchAttacksAttack(model, "pgd")
    with pytest.raises(ArchsimError, match="unknown torchattacks attack 'MultiAttack'"):
        TorchAttacksAttack(model, "MultiAttack")


def test_bad_torchattacks_kwarg_names_attack_and_kwarg(model):
    with pytest.raises(ArchsimError, match=r"torchattacks\.FGSM has no parameter 'alpha'"):
        TorchAttacksAttack(model, "FGSM", alpha=0.1)
    with pytest.raises(ArchsimError, match=r"torchattacks\.PGD has no parameter 'step'.*did you mean 'steps'"):
        TorchAttacksAttack(model, "PGD", step=3)


# make_attack --------------------------------------------------------------------------------------


def test_make_attack_native_and_torchattacks(model, data):
    images, labels = data
    cfg = {"backend": "native", "norm": "L2", "eps": EPS_L2, "alpha": ALPHA_L2, "steps": 3,
           "random_start": True, "seed": 4}
    attack = make_attack(model, cfg)
    assert isinstance(attack, PGD) and (attack.norm, attack.eps, attack.steps, attack.seed) == ("L2", EPS_L2, 3, 4)
    direct = PGD(model, norm="L2", eps=EPS_L2, alpha=ALPHA_L2, steps=3, seed=4)
    assert torch.equal(attack(images, labels), direct(images, labels))
    assert isinstance(make_attack(model, {}), PGD)
    ta = make_attack(model, {"backend": "torchattacks", "name": "MIFGSM", "eps": 0.03, "seed": 2})
    assert isinstance(ta, TorchAttacksAttack) and ta.name == "MIFGSM" and ta.attack.eps == 0.03
    assert ta.seed == 2


@pytest.mark.parametrize("cfg,match", [
    ({"eps": 0.1, "epsilon": 0.1}, "unknown key 'epsilon'.*allowed: .*eps"),
    ({"name": "MIFGSM"}, "native backend implements PGD and noise"),
    ({"backend": "foolbox"}, "unknown attack backend 'foolbox'"),
    ({"backend": "torchattacks", "name": "FGSM", "steps": 3}, "FGSM has no parameter 'steps'"),
])
def test_make_attack_rejects_bad_configs(model, cfg, match):
    with pytest.raises(ArchsimError, match=match):
        make_attack(model, cfg)


# (i) validation ----------------------------------------------------------------------------------


def _bad_inputs():
    images, labels = batch(n=2)
    return {
        "above-1": (images + 0.01, labels),
        "below-0": (images - 0.01, labels),
        "nan": (torch.where(images > 0.5, torch.nan, images), labels),
        "3-d": (images[0], labels),
        "uint8": ((images * 255).to(torch.uint8), labels),
        "fewer-labels": (images, labels[:1]),
        "float-labels": (images, labels.float()),
        "2-d-labels": (images, labels.view(2, 1)),
        "not-a-tensor": (images.numpy(), labels),
    }


@pytest.mark.parametrize("case", list(_bad_inputs()))
@pytest.mark.parametrize("backend", ["native", "torchattacks"])
def test_bad_inputs_raise(model, case, backend):
    images, labels = _bad_inputs()[case]
    with pytest.raises(ArchsimError):
        make_attack(model, {"backend": backend})(images, labels)


def test_inputs_within_tolerance_are_accepted(model):
    images, labels = batch(n=2)
    images[0, 0, 0, 0], images[0, 0, 0, 1] = -1e-7, 1 + 1e-7
    assert PGD(model, steps=1)(images, labels).shape == images.shape


@pytest.mark.parametrize("kwargs", [
    {"eps": -0.1}, {"eps": math.nan}, {"eps": math.inf}, {"eps": "0.1"}, {"alpha": 0.0},
    {"steps": -1}, {"steps": 1.5}, {"steps": True}, {"norm": "l2"}, {"norm": "Linfinity"},
    {"random_start": "yes"}, {"seed": 1.5},
])
def test_bad_pgd_parameters_raise(model, kwargs):
    with pytest.raises(ArchsimError):
        PGD(model, **kwargs)


def test_non_callable_model_raises():
    with pytest.raises(ArchsimError, match="callable"):
        PGD("resnet18")


def test_attacks_imports_on_its_own():
    """`import attacks` in a fresh interpreter (not after `import archsim`) must work."""
    done = subprocess.run([sys.executable, "-c", "import attacks"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_the_noise_control_has_the_attacks_norm_and_size_and_is_seeded(norm):
    from attacks import RandomNoise, make_attack, noise_config

    x = torch.full((4, 3, 8, 8), 0.5)
    y = torch.zeros(4, dtype=torch.long)
    eps = 0.1 if norm == "Linf" else 0.5
    noise = make_attack(lambda z: z, {**noise_config({"norm": norm, "eps": eps, "steps": 10}), "seed": 3})
    assert isinstance(noise, RandomNoise)
    delta = noise(x, y) - x
    if norm == "Linf":
        torch.testing.assert_close(delta.abs(), torch.full_like(delta, eps))  # a random sign in every pixel
        assert 0.4 < (delta > 0).float().mean() < 0.6
    else:
        torch.testing.assert_close(delta.flatten(1).norm(dim=1), torch.full((4,), eps))  # on the eps-sphere
    assert torch.equal(noise(x, y), noise(x, y)) and not torch.equal(
        make_attack(lambda z: z, {**noise_config({"norm": norm, "eps": eps}), "seed": 4})(x, y), noise(x, y))


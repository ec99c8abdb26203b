"""Training settings: per-model overrides, the shift and noise augmentations, and the weights cache key they feed."""

import pytest
import torch

from archsim.config import parse_config
from archsim.errors import ArchsimError
from archsim.zoo.build import weights_key
from archsim.zoo.data import describe
from archsim.zoo.training import random_shift, random_sign_noise
from archsim.zoo.weights_cache import key_digest

BASE = {"data": {"source": "digits", "resolution": 16}, "train": {"epochs": 4, "lr": 0.003},
        "models": [{"name": "resnet18", "label": "a"},
                   {"name": "resnet18", "label": "b", "train": {"epochs": 9, "shift": 2}},
                   {"name": "resnet18", "label": "c", "checkpoint": "w.safetensors"}]}


def test_a_model_train_section_overrides_the_config_key_by_key():
    cfg = parse_config(BASE)
    a, b, c = cfg.models
    assert a.training.epochs == 4 and a.training.shift == 0
    assert b.training.epochs == 9 and b.training.shift == 2
    assert b.training.lr == 0.003  # inherited
    assert c.training is None  # has weights: never trained here
    alone = parse_config({**BASE, "train": None})
    assert alone.models[0].training is None  # no train section anywhere: not trained
    assert alone.models[1].training.epochs == 9


def test_the_weights_cache_key_follows_the_effective_settings():
    cfg = parse_config(BASE)
    train = describe(BASE["data"]).load(list(range(50)))
    a, b, _ = cfg.models
    like_b = parse_config({**BASE, "models": [{**BASE["models"][0], "train": {"epochs": 9, "shift": 2}}]})

    def digest(spec, config):
        return key_digest(weights_key(spec, config, train))

    assert digest(a, cfg) != digest(b, cfg)  # same model, other settings
    assert digest(like_b.models[0], like_b) == digest(b, cfg)  # same model and effective settings


@pytest.mark.parametrize("bad, message", [({"epoch": 3}, "unknown key 'epoch' in models\\[0\\].train"),
                                          ({"shift": -1}, "shift must be a whole number"),
                                          ({"noise": 1.5}, "noise must be"),
                                          ({"max_images": 10}, "cannot set max_images")])
def test_bad_model_train_sections(bad, message):
    with pytest.raises(ArchsimError, match=message):
        parse_config({**BASE, "models": [{"name": "resnet18", "train": bad}]})


def test_random_shift_translates_each_image_by_its_own_offset():
    x = torch.zeros(6, 1, 12, 12)
    x[:, :, 4:8, 4:8] = torch.rand(6, 1, 4, 4) + 0.1  # content away from the border: a shift is a roll
    gen = torch.Generator().manual_seed(3)
    out = random_shift(x, 2, gen)
    offsets = torch.randint(0, 5, (6, 2), generator=torch.Generator().manual_seed(3)) - 2  # the same draws
    for img, moved, (dy, dx) in zip(x, out, offsets.tolist()):
        assert torch.equal(moved, torch.roll(img, shifts=(-dy, -dx), dims=(1, 2)))
    assert len({tuple(o) for o in offsets.tolist()}) > 1  # the images did not all move alike
    assert random_shift(x, 0, gen) is x


def test_random_sign_noise_has_one_magnitude_per_image_up_to_noise():
    x = torch.full((200, 1, 6, 6), 0.5)  # mid-grey: no pixel is clamped at +-0.3
    out = random_sign_noise(x, 0.3, torch.Generator().manual_seed(1))
    delta = (out - x).flatten(1)
    m = delta.abs().amax(1)
    assert torch.allclose(delta.abs(), m[:, None].expand_as(delta), atol=1e-6)  # +-m on every pixel of an image
    assert m.max() <= 0.3 + 1e-6 and m.min() < 0.03 and m.max() > 0.27  # m spread over [0, 0.3]
    signs = torch.sign(delta[m > 0.01])
    assert abs(signs.mean().item()) < 0.05  # random signs
    edge = random_sign_noise(torch.ones(4, 1, 3, 3), 0.5, torch.Generator().manual_seed(1))
    assert edge.max() <= 1 and edge.min() >= 0.5  # clamped to [0, 1]
    assert random_sign_noise(x, 0.0, torch.Generator()) is x


def test_noise_enters_the_weights_cache_key():
    cfg = parse_config(BASE)
    noisy = parse_config({**BASE, "train": {**BASE["train"], "noise": 0.2}})
    train = describe(BASE["data"]).load(list(range(50)))
    assert noisy.models[0].training.noise == 0.2 and cfg.models[0].training.noise == 0.0
    assert key_digest(weights_key(noisy.models[0], noisy, train)) != key_digest(weights_key(cfg.models[0], cfg, train))

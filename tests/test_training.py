"""Training settings: per-model overrides, the shift augmentation, and the weights cache key they feed."""

import pytest
import torch

from archsim.config import parse_config
from archsim.errors import ArchsimError
from archsim.zoo.build import weights_key
from archsim.zoo.data import describe
from archsim.zoo.training import random_shift
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

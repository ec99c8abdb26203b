"""The pixel-space wrapper against timm's own eval transform."""

import numpy as np
import pytest
import timm
import timm.data
import torch
from PIL import Image
from torchvision import transforms

from archsim.errors import ArchsimError
from archsim.zoo.models import create_model
from archsim.zoo.wrapper import PixelModel


def photo(seed=0, size=(300, 240)):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[1] // 20, size[0] // 20, 3), dtype=np.uint8)
    return Image.fromarray(base).resize(size, Image.BICUBIC)  # smooth, photo-like


def canonical(img, size, crop_pct, interpolation):
    """archsim's canonical image: timm's eval resize + crop, then [0, 1], no normalisation."""
    mode = transforms.InterpolationMode(interpolation)
    return transforms.Compose([transforms.Resize(int(size / crop_pct), interpolation=mode),
                               transforms.CenterCrop(size), transforms.ToTensor()])(img)


@pytest.mark.parametrize("name", ["test_resnet.r160_in1k", "test_vit.r160_in1k"])
def test_equals_timm_eval_transform_at_native_size(name):
    torch.manual_seed(0)
    net = create_model(name)
    cfg = timm.data.resolve_data_config({}, model=net)
    timm_tf = timm.data.create_transform(**cfg)  # resize, crop, to tensor, normalise
    img = photo()
    expected = net(timm_tf(img)[None])
    size = cfg["input_size"][-1]
    x = canonical(img, size, cfg["crop_pct"], cfg["interpolation"])[None]
    got = PixelModel(net)(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_resizes_from_canonical_resolution():
    """At another canonical size the wrapper resizes inside forward: close to timm's transform."""
    torch.manual_seed(0)
    net = create_model("test_resnet.r160_in1k")
    cfg = timm.data.resolve_data_config({}, model=net)
    img = photo(1)
    expected = net(timm.data.create_transform(**cfg)(img)[None])
    x = canonical(img, 224, cfg["crop_pct"], cfg["interpolation"])[None]  # canonical 224, native 160
    got = PixelModel(net)(x)
    assert got.shape == expected.shape
    rel = (got - expected).norm() / expected.norm()
    assert rel < 0.05
    # and without the resize the model would see something else entirely
    assert PixelModel(net).input_size == (160, 160)


def test_eval_mode_and_no_parameter_grads():
    net = create_model("test_resnet", num_classes=10)
    m = PixelModel(net)
    m.train()
    assert not m.training and not net.training
    assert all(not p.requires_grad for p in m.parameters())
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    m(x).sum().backward()
    assert x.grad is not None and all(p.grad is None for p in m.parameters())


def test_overrides_and_img_size():
    vit = create_model("vit_tiny_patch16_224", num_classes=10, img_size=32, patch_size=4, depth=1)
    assert PixelModel(vit, img_size=32).input_size == (32, 32)
    m = PixelModel(create_model("test_resnet", num_classes=10), input_size=32, mean=[0, 0, 0], std=[1, 1, 1])
    x = torch.rand(1, 3, 32, 32)
    torch.testing.assert_close(m(x), m.model(x))


def test_grey_model_gets_grey_statistics():
    m = PixelModel(create_model("test_resnet", num_classes=10, in_chans=1))
    assert m.mean.shape == (1, 1, 1, 1) and m.mean.item() == pytest.approx(0.5)
    with pytest.raises(ArchsimError, match=r"shape \(B, 1, H, W\)"):
        m(torch.rand(1, 3, 32, 32))

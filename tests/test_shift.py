"""The applications' shifted images: seeded, in range, each corruption checked against what it claims (scipy's
Gaussian filter for the blur), the config section, and the stages reading the shifted copies."""

import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from archsim.config import parse_config
from archsim.errors import ArchsimError
from archsim.settings import ShiftSettings
from archsim.zoo.data import ImageSet
from archsim.zoo.predictions import Predictions
from archsim.zoo.shift import _blur, _elastic, _gaussian, _noise, _rotate, application_images, shift_images, shifted


def digits(n=8, size=16):
    """n grey 3-channel images: a bright bar on black, like MNIST strokes."""
    x = torch.zeros(n, 3, size, size)
    x[:, :, 4:12, 7:9] = 1.0
    return x


def test_seeded_in_range_and_one_corruption_each():
    x = digits(40)
    a, b = shift_images(x, 0.5, seed=3), shift_images(x, 0.5, seed=3)
    assert torch.equal(a, b) and not torch.equal(a, shift_images(x, 0.5, seed=4))
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a[:, 0], a[:, 1]) and torch.equal(a[:, 1], a[:, 2])  # grey stays grey
    assert (a - x).abs().flatten(1).amax(1).min() > 0  # every image changed


def test_blur_equals_scipys_gaussian_filter_with_replicated_edges():
    x = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    expected = gaussian_filter(x.numpy(), sigma=(0, 0, 1.0, 1.0), mode="nearest", truncate=3.0)
    np.testing.assert_allclose(_gaussian(x, 1.0).numpy(), expected, atol=1e-12)
    g = torch.Generator().manual_seed(0)
    sigma = (0.02 + 0.06 * 1.0) * 16
    radius = math.ceil(3 * sigma)
    expected = gaussian_filter(x.float().numpy(), sigma=(0, 0, sigma, sigma), mode="nearest", truncate=radius / sigma)
    np.testing.assert_allclose(_blur(x.float(), 1.0, g).numpy(), expected, atol=1e-5)


def test_noise_has_the_stated_spread_and_rotation_the_stated_angle():
    g = torch.Generator().manual_seed(0)
    grey = torch.full((200, 3, 16, 16), 0.5)
    assert (_noise(grey, 0.5, g) - grey).std().item() == pytest.approx(0.2, rel=0.03)
    # a bar along the vertical axis, rotated by 30-60 degrees at severity 1: its second moments give the angle
    bar = torch.zeros(50, 1, 33, 33)
    bar[:, :, 4:29, 16] = 1.0
    r = _rotate(bar, 1.0, g)[:, 0]
    yy, xx = torch.meshgrid(torch.arange(33.0) - 16, torch.arange(33.0) - 16, indexing="ij")
    cov_xy, var_y, var_x = (r * xx * yy).sum((1, 2)), (r * yy * yy).sum((1, 2)), (r * xx * xx).sum((1, 2))
    angle = 0.5 * torch.atan2(2 * cov_xy, var_y - var_x).abs()  # off the vertical
    assert angle.min().item() >= math.radians(29) and angle.max().item() <= math.radians(61)


def test_elastic_moves_pixels_by_at_most_its_amplitude():
    g = torch.Generator().manual_seed(0)
    x = digits(20, size=32)
    small, large = _elastic(x, 0.05, g), _elastic(x, 1.0, g)
    assert (small - x).abs().mean() < (large - x).abs().mean()
    # the bar's mass centre moves by at most 0.25 x 32 = 8 pixels
    cols = torch.arange(32.0)
    centre = (large[:, 0].sum(1) * cols).sum(1) / large[:, 0].sum((1, 2))
    assert (centre - 7.5).abs().max() <= 8


def test_shift_section_of_the_config():
    raw = {"data": {"source": "digits"}, "models": ["resnet18"]}
    assert parse_config(raw).shift is None
    assert parse_config({**raw, "shift": {"severity": 0.7}}).shift == ShiftSettings(0.7, 0)
    with pytest.raises(ArchsimError, match=r"shift.severity must be a number in \(0, 1\]"):
        parse_config({**raw, "shift": {"severity": 0}})
    with pytest.raises(ArchsimError, match="unknown key 'kind' in shift"):
        parse_config({**raw, "shift": {"kind": "blur"}})


class _Run:
    def __init__(self):
        labels = torch.arange(8) % 2
        self.images = ImageSet(digits(8), labels, [f"t{i}" for i in range(8)], 2, ["a", "b"])
        self.validation = ImageSet(digits(8), labels, [f"v{i}" for i in range(8)], 2, ["a", "b"])


class _Cfg:
    def __init__(self, shift):
        self.shift = shift


def test_application_images_are_the_clean_ones_without_shift_and_seeded_copies_with_it():
    run = _Run()
    assert application_images(_Cfg(None), run) == (run.validation, run.images)
    val, test = application_images(_Cfg(ShiftSettings(0.5, 2)), run)
    assert torch.equal(test.images, shifted(run.images, 0.5, 2).images) and torch.equal(test.labels, run.images.labels)
    assert torch.equal(val.images, shift_images(run.validation.images, 0.5, 3)) and val.ids[0] == "v0~shift"


def test_predictions_give_the_applications_the_shifted_probabilities():
    clean, shifted_probs = np.zeros((2, 4, 3)), np.ones((2, 4, 3))
    assert Predictions(["a", "b"], clean, clean).for_applications()[1] is clean
    p = Predictions(["a", "b"], clean, clean, shifted_probs, shifted_probs)
    assert p.for_applications() == (shifted_probs, shifted_probs)

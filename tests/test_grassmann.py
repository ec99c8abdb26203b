"""Filter subspaces and Grassmann distance, checked against SVD, scipy's subspace_angles and hand values."""

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from archsim.errors import ArchsimError
from archsim.similarity.conv_layers import resample, spatial_convs
from archsim.similarity.grassmann import (
    compare_subspaces,
    filter_subspace,
    grassmann_distance,
    match_layers,
    principal_angles,
    subspace_similarity,
)
from archsim.similarity.measure import MeasureInputs
from archsim.similarity.registry import MEASURES
from archsim.zoo.build import Run
from archsim.zoo.models import create_model
from archsim.zoo.wrapper import PixelModel


def _basis(*columns):
    return np.linalg.qr(np.array(columns, dtype=float).T)[0]


def test_subspace_is_the_span_of_the_top_right_singular_vectors():
    W = np.random.default_rng(0).normal(size=(8, 5, 3, 3))
    U = filter_subspace(W, 4)
    _, _, vt = np.linalg.svd(W.reshape(40, 9))
    np.testing.assert_allclose(U.T @ U, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(U @ U.T, vt[:4].T @ vt[:4], atol=1e-10)  # the same projector


def test_angles_match_scipy_subspace_angles():
    rng = np.random.default_rng(1)
    for m in (1, 3, 5):
        U, V = np.linalg.qr(rng.normal(size=(9, m)))[0], np.linalg.qr(rng.normal(size=(9, m)))[0]
        expected = np.sort(scipy.linalg.subspace_angles(U, V))
        np.testing.assert_allclose(np.sort(principal_angles(U, V)), expected, atol=1e-7)
        assert grassmann_distance(U, V) == pytest.approx(np.sqrt((expected ** 2).sum()), abs=1e-7)


def test_hand_evaluated_angles():
    """span(e1, e2) vs span(e1, cos t e2 + sin t e3): angles (0, t)."""
    t = 0.7
    U = _basis([1, 0, 0, 0], [0, 1, 0, 0])
    V = _basis([1, 0, 0, 0], [0, np.cos(t), np.sin(t), 0])
    assert grassmann_distance(U, V) == pytest.approx(t, abs=1e-7)
    assert subspace_similarity(U, V) == pytest.approx((1 + np.cos(t) ** 2) / 2, abs=1e-12)
    W = _basis([0, 0, 1, 0], [0, 0, 0, 1])
    assert grassmann_distance(U, W) == pytest.approx(np.sqrt(2) * np.pi / 2)
    assert subspace_similarity(U, W) == pytest.approx(0, abs=1e-12)


def test_zero_for_identical_and_invariant_to_channel_permutation_and_scale():
    rng = np.random.default_rng(2)
    W = rng.normal(size=(16, 8, 3, 3))
    moved = 3.7 * W[rng.permutation(16)][:, rng.permutation(8)]
    U, V = filter_subspace(W, 3), filter_subspace(moved, 3)
    assert grassmann_distance(U, U) == pytest.approx(0, abs=1e-6)
    assert grassmann_distance(U, V) == pytest.approx(0, abs=1e-6)
    assert subspace_similarity(U, V) == pytest.approx(1, abs=1e-12)
    other = filter_subspace(rng.normal(size=(16, 8, 3, 3)), 3)
    assert grassmann_distance(U, other) > 0.3  # and the measure does tell different filters apart


def test_resample_keeps_grid_values_and_constants():
    W = np.random.default_rng(3).normal(size=(2, 3, 3, 3))
    np.testing.assert_allclose(resample(W, 5)[..., ::2, ::2], W, atol=1e-12)
    np.testing.assert_allclose(resample(np.ones((1, 1, 7, 7)), 3), np.ones((1, 1, 3, 3)), atol=1e-12)
    assert resample(W, 3) is W


def test_depth_matching_and_optimal_assignment():
    assert match_layers(np.array([0.0, 1.0]), np.array([0.0, 0.5, 1.0]), "depth") == [(0, 0), (1, 2)]
    assert match_layers(np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0]), "depth") == [(0, 0), (2, 1)]
    cost = np.array([[5.0, 1.0, 9.0], [1.0, 9.0, 9.0]])
    assert match_layers(None, None, "assignment", cost) == [(0, 1), (1, 0)]
    with pytest.raises(ArchsimError, match="match must be one of"):
        match_layers(np.zeros(1), np.zeros(1), "nearest")


def test_assignment_finds_reordered_layers():
    rng = np.random.default_rng(4)
    A = np.stack([np.linalg.qr(rng.normal(size=(9, 3)))[0] for _ in range(3)])
    B = A[[2, 0, 1]]
    pairs, dist, sim = compare_subspaces(A, B, np.array([0, .5, 1]), np.array([0, .5, 1]), "assignment")
    assert pairs == [(0, 1), (1, 2), (2, 0)]
    np.testing.assert_allclose(dist, 0, atol=1e-6)
    _, dist_depth, _ = compare_subspaces(A, B, np.array([0, .5, 1]), np.array([0, .5, 1]), "depth")
    assert dist_depth.mean() > 0.3


class _TwoConvs(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1, bias=False)  # 108 parameters
        self.b = nn.Conv2d(4, 4, 1)  # 20, not a spatial conv
        self.c = nn.Conv2d(4, 2, 5, padding=2, bias=False)  # 200
        self.fc = nn.Linear(2, 10)  # 30

    def forward(self, x):
        return self.fc(self.c(self.b(self.a(x))).mean((2, 3)))


def test_measure_coverage_not_applicable_and_matrix():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 10))
    models = {name: PixelModel(net, input_size=16) for name, net in [
        ("two_convs", _TwoConvs()), ("mlp", mlp),
        ("resnet", create_model("resnet18", num_classes=10, channels=(8, 16, 32, 64)))]}
    layers = spatial_convs(models["two_convs"].model)
    assert [x.name for x in layers] == ["a", "c"] and [x.depth for x in layers] == [0.0, 1.0]
    result = grassmann(Run(models, None), {"m": 2})
    v = result.values
    assert np.isnan(v[1]).all() and np.isnan(v[:, 1]).all()
    assert any("mlp not applicable" in n and "no k x k conv" in n for n in result.notes)
    assert "two_convs 2 (86%)" in result.notes[-1]  # 308 of 358 parameters
    np.testing.assert_allclose(v[[0, 2]][:, [0, 2]], v[[0, 2]][:, [0, 2]].T)
    np.testing.assert_allclose(np.diag(v)[[0, 2]], 1.0, atol=1e-9)
    assert 0 < v[0, 2] < 1
    rows = [r for r in result.detail_rows if r[:2] == ["two_convs", "resnet"]]
    assert len(rows) == 2 and {r[5] for r in rows} <= {"3x3", "7x7"} and rows[1][4] == "5x5"
    assert grassmann(Run(models, None), {"m": 2, "score": "distance"}).values[0, 0] == pytest.approx(0, abs=1e-6)
    for options, message in [({"size": 3}, "unknown option 'size'"), ({"k": 1}, "k must be a whole number >= 2"),
                             ({"m": 10}, "between 1 and k"), ({"m": "six"}, "m must be a whole number"),
                             ({"match": "nearest"}, "match must be one of")]:
        with pytest.raises(ArchsimError, match=message):
            grassmann(Run(models, None), options)
    with pytest.raises(ArchsimError, match="no model can be compared"):
        grassmann(Run({"mlp": models["mlp"]}, None), {})


def grassmann(run, options):
    """The registered `grassmann` measure on a run, its options checked as the command line checks them."""
    return MEASURES["grassmann"](MeasureInputs(run), options)

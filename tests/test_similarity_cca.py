"""CCA, SVCCA and PWCCA against scipy's principal angles and a covariance-matrix reference written here."""

import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles

from archsim.errors import ArchsimError
from archsim.similarity.cca import cca, pwcca, svcca
from archsim.similarity.cka import linear_cka


def inv_sqrt(c):
    w, v = np.linalg.eigh(c)
    return v @ np.diag(w ** -0.5) @ v.T


def ref_cca(x, y):
    """Canonical correlations and x's canonical variates from the covariance matrices (Hotelling)."""
    x, y = x - x.mean(0), y - y.mean(0)
    wx, wy = inv_sqrt(x.T @ x), inv_sqrt(y.T @ y)
    u, rho, _ = np.linalg.svd(wx @ (x.T @ y) @ wy)
    k = min(x.shape[1], y.shape[1])
    hx = x @ wx @ u[:, :k]  # unit-norm canonical variates
    return rho[:k], hx


def ref_pwcca(x, y):
    """Morcos et al.: weights from the smaller representation's variates, alpha_i = sum_j |<h_i, z_j>|."""
    if x.shape[1] > y.shape[1]:
        x, y = y, x
    rho, h = ref_cca(x, y)
    alpha = np.abs(h.T @ (x - x.mean(0))).sum(axis=1)
    return (alpha * rho).sum() / alpha.sum()


def ref_svcca_reduce(x, keep):
    x = x - x.mean(0)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    share = np.cumsum(s ** 2) / np.sum(s ** 2)
    k = int(np.argmax(share >= keep)) + 1
    return u[:, :k] * s[:k]


def pair(n=300, p=6, q=9, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 4))
    x = z @ rng.normal(size=(4, p)) + 0.7 * rng.normal(size=(n, p))
    y = np.tanh(z @ rng.normal(size=(4, q))) + 0.7 * rng.normal(size=(n, q))
    return x, y


def test_canonical_correlations_match_principal_angles_and_the_covariance_form():
    x, y = pair()
    result = cca(x, y)
    angles = np.sort(np.cos(subspace_angles(x - x.mean(0), y - y.mean(0))))[::-1]
    np.testing.assert_allclose(result.rho, angles, atol=1e-10)
    rho, _ = ref_cca(x, y)
    np.testing.assert_allclose(result.rho, rho, atol=1e-10)
    assert result.r2 == pytest.approx(np.mean(rho ** 2), abs=1e-10)
    assert result.mean_rho == pytest.approx(np.mean(rho), abs=1e-10)
    # R^2_CCA = tr(Cxx^-1 Cxy Cyy^-1 Cyx) / min(p, q), Kornblith et al.'s definition
    xc, yc = x - x.mean(0), y - y.mean(0)
    trace = np.trace(np.linalg.solve(xc.T @ xc, xc.T @ yc) @ np.linalg.solve(yc.T @ yc, yc.T @ xc))
    assert result.r2 == pytest.approx(trace / 6, abs=1e-10)


def test_cca_is_invariant_to_invertible_linear_maps_and_cka_is_not():
    x, y = pair()
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(9, 9))
    assert abs(np.linalg.det(a)) > 1e-3 and abs(np.linalg.det(b)) > 1e-3
    np.testing.assert_allclose(cca(x @ a + 5.0, y @ b).rho, cca(x, y).rho, atol=1e-9)
    assert pwcca(x @ np.diag([1, 2, 3, 4, 5, 6.0]), y) != pytest.approx(pwcca(x, y), abs=1e-4)  # weights see scale
    stretch = np.diag([30.0, 1, 1, 1, 1, 0.03]) @ np.linalg.qr(a)[0]
    assert abs(linear_cka(x @ stretch, y) - linear_cka(x, y)) > 0.02


def test_svcca_is_cca_on_the_top_principal_directions():
    x, y = pair(p=20, q=30)
    for keep in (0.99, 0.8):
        expected = np.cos(subspace_angles(ref_svcca_reduce(x, keep), ref_svcca_reduce(y, keep)))
        result = svcca(x, y, keep)
        np.testing.assert_allclose(np.sort(result.rho), np.sort(expected), atol=1e-10)
    assert len(svcca(x, y, 0.8).rho) < len(svcca(x, y, 0.99).rho) <= 20


@pytest.mark.parametrize("p,q", [(5, 9), (9, 5), (7, 7)])
def test_pwcca_matches_the_reference(p, q):
    x, y = pair(p=p, q=q, seed=p)
    assert pwcca(x, y) == pytest.approx(ref_pwcca(x, y), abs=1e-9)


@pytest.mark.parametrize("measure", [lambda x: cca(x, x).mean_rho, lambda x: cca(x, x).r2,
                                     lambda x: svcca(x, x).mean_rho, lambda x: pwcca(x, x)])
def test_identical_inputs_give_one(measure):
    x, _ = pair(p=8)
    assert measure(x) == pytest.approx(1.0, abs=1e-9)


def test_rank_counts_at_the_input_precision():
    """A float32 column that is the sum of two others is one direction, not a rounding-noise one."""
    x, y = pair(p=5, q=8)
    x32 = torch.tensor(x, dtype=torch.float32)
    x32 = torch.cat([x32, x32[:, :1] * 0.3 + x32[:, 1:2] * 1.7], dim=1)
    assert len(cca(x32, y).rho) == 5
    assert len(cca(x32.double(), y).rho) == 6  # the same numbers as float64 data: now a real (tiny) direction


@pytest.mark.parametrize("call,message", [
    (lambda x, y: cca(x[:40], np.random.default_rng(0).normal(size=(40, 38))), "degenerate"),
    (lambda x, y: pwcca(x, y[:-1]), "same examples"),
    (lambda x, y: cca(x, np.ones_like(y)), "constant"),
    (lambda x, y: svcca(np.where(x > 2.5, np.inf, x), y), "NaN or Inf"),
    (lambda x, y: svcca(x, y, keep=1.5), "keep must be in"),
    (lambda x, y: cca(x[:2], y[:2]), "at least 3 examples"),
])
def test_bad_input_is_a_clear_error(call, message):
    x, y = pair()
    with pytest.raises(ArchsimError, match=message):
        call(x, y)

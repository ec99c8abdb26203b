"""The pilot of a budgeted run (archsim.sat.pilot): its images, its variance and its combination with the
completion, against hand computations and a simulation."""

from types import SimpleNamespace

import numpy as np
import pytest

from archsim.errors import ArchsimError
from archsim.sat.completion import Completion, Fit
from archsim.sat.formula import sat_score
from archsim.sat.pilot import Z95, check_share, combine, pilot_count, pilot_images, pilot_variance


def test_pilot_images_are_a_fixed_order_whose_pilots_nest():
    small, large = pilot_images(100, 10), pilot_images(100, 30)
    np.testing.assert_array_equal(small, large[:10])
    assert len(set(large.tolist())) == 30 and large.min() >= 0 and large.max() < 100
    np.testing.assert_array_equal(pilot_images(100, 10), small)  # the same for every run on 100 images
    assert pilot_count(30, 0.25) == 8 and pilot_count(30, 0.2) == 6 and pilot_count(5, 0.01) == 1


@pytest.mark.parametrize("share", [0, 1, -0.1, 1.5, True, "0.2"])
def test_a_share_outside_0_1_is_refused(share):
    with pytest.raises(ArchsimError, match="--pilot must be a share"):
        check_share(share)


def test_pilot_variance_is_the_delta_method_about_the_full_value():
    """Against a simulation: a pair's directions transfer on a fixed population of 2,000 images (rates 0.12 and
    0.08); pilots of 15% of them drawn 4,000 times. The variance of S_pilot - S_full is what the formula says,
    within 10%, and the formula by hand on one pilot's counts."""
    rng = np.random.default_rng(0)
    n, share = 2000, 0.15
    fooled = np.stack([rng.random(n) < 0.12, rng.random(n) < 0.08])  # direction x image
    full = sat_score(fooled.mean(), 0.01)
    k = int(share * n)
    diffs, formulas = [], []
    for _ in range(4000):
        images = rng.choice(n, k, replace=False)
        errors = fooled[:, images].sum(1)
        pilot = SimpleNamespace(n_common=np.full((2, 2), k), errors=np.array([[0, errors[0]], [errors[1], 0]]))
        diffs.append(sat_score(errors.sum() / (2 * k), 0.01) - full)
        formulas.append(pilot_variance(pilot, share)[0, 1])
    assert np.var(diffs) == pytest.approx(np.mean(formulas), rel=0.1)
    p = errors.sum() / (2 * k)
    assert formulas[-1] == pytest.approx((1 - p) / (p * 2 * k) * (1 - share))


def test_pilot_variance_of_a_pair_without_transfer_or_images():
    pilot = SimpleNamespace(n_common=np.array([[5, 10], [10, 0]]), errors=np.zeros((2, 2), dtype=int))
    v = pilot_variance(pilot, 0.5)
    assert v[0, 1] == pytest.approx((1 - 1 / 20) / (1 / 20 * 20) * 0.5)  # p floored at 1 / m
    pilot = SimpleNamespace(n_common=np.zeros((2, 2), dtype=int), errors=np.zeros((2, 2), dtype=int))
    assert np.isinf(pilot_variance(pilot, 0.5)).all()


def test_combine_is_the_precision_weighted_mean():
    """Completion error 0.3^2 = 0.09; pilot variances 0.09 (equal weights), 0.27 (weight 1/4) and inf (the
    completion alone); the measured pair keeps its value and has no combined interval."""
    values = np.array([[0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 1.5, 2.5], [2.0, 1.5, 0.0, 0.5], [3.0, 2.5, 0.5, 0.0]])
    predicted = np.zeros((4, 4), dtype=bool)
    for i, j in [(0, 1), (0, 2), (0, 3)]:
        predicted[i, j] = predicted[j, i] = True
    c = Completion(values, predicted, Fit(0), 0.0, {}, np.array([0.3, -0.3]), np.zeros((4, 4)))
    pilot = np.full((4, 4), 5.0)
    variance = np.full((4, 4), 0.09)
    variance[0, 2] = variance[2, 0] = 0.27
    variance[0, 3] = variance[3, 0] = np.inf
    out, width = combine(c, pilot, variance)
    assert out[0, 1] == pytest.approx((1.0 + 5.0) / 2)
    assert width[0, 1] == pytest.approx(Z95 * np.sqrt(0.045))
    assert out[0, 2] == pytest.approx(0.75 * 2.0 + 0.25 * 5.0)
    assert width[0, 2] == pytest.approx(Z95 / np.sqrt(1 / 0.09 + 1 / 0.27))
    assert out[0, 3] == 3.0 and width[0, 3] == pytest.approx(Z95 * 0.3)
    assert out[1, 2] == 1.5 and np.isnan(width[1, 2])

"""SAT, transfer rates and intervals from per-image outcomes, against hand computations."""

import csv
import math

import numpy as np
import pytest

from archsim.matrices import read_matrix
from archsim.sat.intervals import pair_intervals
from archsim.sat.result import SATResult


def hand_outcomes():
    # 2 models, 4 images. A correct on 0,1,2; B correct on 1,2,3 -> X_AB = {1, 2}.
    clean = np.array([[1, 1, 1, 0], [0, 1, 1, 1]], dtype=bool)
    adv = np.full((2, 2, 4), -1, dtype=np.int8)
    adv[0, 0, [0, 1, 2]] = [0, 0, 1]  # A white-box: fooled on 0, 1; survives on 2
    adv[1, 1, [1, 2, 3]] = [0, 0, 0]  # B white-box: fooled on all 3
    adv[0, 1, [1, 2]] = [0, 1]  # A's images fool B on image 1 only
    adv[1, 0, [1, 2]] = [1, 1]  # B's images never fool A
    return SATResult(["A", "B"], clean, adv, eps_s=0.01)


def test_sat_by_hand():
    r = hand_outcomes()
    assert r.n_common.tolist() == [[3, 2], [2, 3]]
    assert r.errors.tolist() == [[2, 1], [0, 3]]
    # off-diagonal: ln(100 * (1 + 0) / (2 * 2)) = ln 25
    assert r.sat[0, 1] == pytest.approx(math.log(25.0))
    assert r.sat[1, 0] == r.sat[0, 1]
    # diagonal: ln(100 x white-box rate)
    assert r.sat[0, 0] == pytest.approx(math.log(100 * 2 / 3))
    assert r.sat[1, 1] == pytest.approx(math.log(100.0))
    np.testing.assert_allclose(r.transfer, [[2 / 3, 0.5], [0.0, 1.0]])
    np.testing.assert_allclose(r.clean_accuracy, [0.75, 0.75])


def test_floor_and_empty_pairs():
    clean = np.array([[1, 0], [0, 1]], dtype=bool)  # no common image
    adv = np.full((2, 2, 2), -1, dtype=np.int8)
    adv[0, 0, 0] = 1  # A never fooled: rate 0 -> floor
    adv[1, 1, 1] = 0
    with pytest.warns(UserWarning, match="no image both models"):
        r = SATResult(["A", "B"], clean, adv, eps_s=0.5)
    assert r.n_common[0, 1] == 0
    assert r.sat[0, 1] == pytest.approx(math.log(0.5))
    assert r.sat[0, 0] == pytest.approx(math.log(0.5))
    assert math.isnan(r.transfer[0, 1])
    assert all(math.isnan(v[0, 1]) for v in r.sat_intervals())


def test_missing_outcome_is_an_error():
    r = hand_outcomes()
    adv = r.adv_correct.copy()
    adv[0, 1, 2] = -1  # image 2 is in X_AB but was not evaluated
    with pytest.raises(ValueError):
        SATResult(["A", "B"], r.clean_correct, adv, eps_s=0.01)


def _simulated_pairs(runs: int, n: int, rng) -> tuple[np.ndarray, float]:
    """Correlated outcomes: image i has difficulty p_i ~ Beta(1, 2); both directions fool with probability p_i,
    so they are positively correlated through the image. Returns (runs, 3) counts of e = 0, 1, 2 and the true
    pooled rate E[p] = 1/3."""
    p = rng.beta(1, 2, size=(runs, n))
    e = (rng.uniform(size=(runs, n)) < p).astype(int) + (rng.uniform(size=(runs, n)) < p).astype(int)
    return np.stack([(e == k).sum(1) for k in range(3)], axis=1), 1 / 3


def test_the_bootstrap_over_images_covers_correlated_outcomes_at_95_percent():
    rng = np.random.default_rng(0)
    counts, truth = _simulated_pairs(1000, 200, rng)
    low, high = pair_intervals(counts, resamples=2000, seed=1)
    coverage = ((low <= truth) & (truth <= high)).mean()
    assert abs(coverage - 0.95) <= 0.02, coverage
    # the pooled binomial on 2n trials, what the Wilson interval assumed, is too narrow for these outcomes
    from scipy.stats import binomtest

    errors = counts[:, 1] + 2 * counts[:, 2]
    wilson = [binomtest(int(k), 400).proportion_ci(method="wilson") for k in errors]
    pooled = np.mean([ci.low <= truth <= ci.high for ci in wilson])
    assert pooled < coverage - 0.015


def test_the_diagonal_is_the_one_sample_interval_of_the_white_box_rate():
    """A = B: e_i is 0 or 2, so the interval is that of one proportion over |X_AA| images, not 2|X_AA| trials."""
    from scipy.stats import binomtest

    n, fooled = 400, 120
    (low,), (high,) = pair_intervals(np.array([[n - fooled, 0, fooled]]), resamples=20000, seed=3)
    one = binomtest(fooled, n).proportion_ci(method="wilson")
    twice = binomtest(2 * fooled, 2 * n).proportion_ci(method="wilson")
    assert (high - low) == pytest.approx(one.high - one.low, rel=0.05)
    assert (high - low) / (twice.high - twice.low) == pytest.approx(math.sqrt(2), rel=0.05)


def test_pair_intervals_are_seeded_and_respect_the_empty_pair():
    counts = np.array([[5, 3, 2], [0, 0, 0], [10, 0, 0]])
    a, b = pair_intervals(counts, seed=4), pair_intervals(counts, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    assert np.isnan(a[0][1]) and np.isnan(a[1][1])
    assert a[0][2] == a[1][2] == 0.0  # never fooled: every replicate is 0


def test_interval_contains_sat_and_comes_from_the_images_of_the_pair():
    r = hand_outcomes()
    low, high = r.sat_intervals()
    assert low[0, 1] <= r.sat[0, 1] <= high[0, 1] and low[0, 1] == low[1, 0]
    counts = np.bincount(r.per_image_errors(0, 1), minlength=3)
    assert counts.sum() == r.n_common[0, 1] and counts[1] + 2 * counts[2] == r.errors[0, 1] + r.errors[1, 0]
    lo, hi = pair_intervals(counts[None], seed=0)
    assert low[0, 1] == pytest.approx(math.log(max(0.01, 100 * lo[0])))
    assert high[0, 1] == pytest.approx(math.log(max(0.01, 100 * hi[0])))


def test_written_files(tmp_path):
    r = hand_outcomes()
    r.write(tmp_path)
    names, sat = read_matrix(tmp_path / "sat.csv")
    assert names == ["A", "B"]
    np.testing.assert_allclose(sat, r.sat, rtol=1e-5)
    header = (tmp_path / "sat.csv").read_text().splitlines()[0]
    assert header == ",A,B"  # first header cell empty, as in the SAT paper's release
    pairs = list(csv.DictReader(open(tmp_path / "pairs.csv")))
    assert [(p["a"], p["b"]) for p in pairs] == [("A", "A"), ("A", "B"), ("B", "B")]
    assert list(pairs[0]) == ["a", "b", "n_common", "sat", "ci_low", "ci_high", "rate_a_to_b", "rate_b_to_a",
                             "censored"]
    ab = pairs[1]
    assert int(ab["n_common"]) == 2 and float(ab["rate_a_to_b"]) == 0.5 and float(ab["rate_b_to_a"]) == 0.0
    acc = list(csv.DictReader(open(tmp_path / "clean_accuracy.csv")))
    assert [float(a["accuracy"]) for a in acc] == [0.75, 0.75]
    _, transfer = read_matrix(tmp_path / "transfer.csv")
    np.testing.assert_allclose(transfer, r.transfer, rtol=1e-5)

"""SAT, transfer rates and intervals from per-image outcomes, against hand computations."""

import csv
import math

import numpy as np
import pytest

from archsim.matrices import read_matrix
from archsim.sat.intervals import wilson_interval
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
    assert all(math.isnan(v) for v in r.sat_interval(0, 1))


def test_missing_outcome_is_an_error():
    r = hand_outcomes()
    adv = r.adv_correct.copy()
    adv[0, 1, 2] = -1  # image 2 is in X_AB but was not evaluated
    with pytest.raises(ValueError):
        SATResult(["A", "B"], r.clean_correct, adv, eps_s=0.01)


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (37, 200)])
def test_wilson_matches_formula(k, n):
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(max(0.0, centre - half), abs=1e-12)
    assert high == pytest.approx(min(1.0, centre + half), abs=1e-12)


def test_interval_contains_sat():
    r = hand_outcomes()
    low, high = r.sat_interval(0, 1)
    assert low < r.sat[0, 1] < high
    lo_p, hi_p = wilson_interval(1, 4)
    assert low == pytest.approx(math.log(100 * lo_p))
    assert high == pytest.approx(math.log(100 * hi_p))


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
    assert list(pairs[0]) == ["a", "b", "n_common", "sat", "ci_low", "ci_high", "rate_a_to_b", "rate_b_to_a"]
    ab = pairs[1]
    assert int(ab["n_common"]) == 2 and float(ab["rate_a_to_b"]) == 0.5 and float(ab["rate_b_to_a"]) == 0.0
    acc = list(csv.DictReader(open(tmp_path / "clean_accuracy.csv")))
    assert [float(a["accuracy"]) for a in acc] == [0.75, 0.75]
    _, transfer = read_matrix(tmp_path / "transfer.csv")
    np.testing.assert_allclose(transfer, r.transfer, rtol=1e-5)

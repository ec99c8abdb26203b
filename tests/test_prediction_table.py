"""Which measure predicts what: the distillation bootstrap interval against a loop over scipy, the ranking of the
table, its files, and the small-multiples figure."""

import csv
import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from analysis.decisions.distill_study import Correlation as DistillCorrelation
from analysis.decisions.distill_study import bootstrap_interval, study_distillation
from analysis.decisions.ensemble_eval import Correlation as EnsembleCorrelation
from analysis.decisions.ensemble_study import EnsembleStudy
from analysis.decisions.plots import plot_gain_vs_similarity
from analysis.decisions.prediction_table import HEADER, kind_of, prediction_rows, write_predictions


def test_bootstrap_interval_equals_a_loop_over_scipy_on_the_same_draws():
    x, y = [0.1, 0.5, 0.2, 0.9, 0.7, 0.3], [1.0, 2.5, 0.5, 3.0, 2.0, 1.5]
    draws = np.random.default_rng(3).integers(0, 6, size=(500, 6))
    rhos = [spearmanr(np.take(x, d), np.take(y, d)).statistic for d in draws
            if len(set(d)) >= 3 and np.ptp(np.take(x, d)) > 0 and np.ptp(np.take(y, d)) > 0]
    expected = np.percentile(rhos, [2.5, 97.5])
    assert bootstrap_interval(x, y, resamples=500, seed=3) == pytest.approx(tuple(expected), abs=1e-12)


def test_bootstrap_interval_of_a_perfect_ranking_is_a_point_and_too_few_points_give_nan():
    assert bootstrap_interval(range(6), range(0, 60, 10)) == pytest.approx((1.0, 1.0))
    assert all(math.isnan(v) for v in bootstrap_interval([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]))


def test_distill_study_carries_the_interval_from_six_teachers():
    names = "abcdef"
    runs = [(None, 0, 0.5), (None, 1, 0.5)] + [(t, s, 0.5 + i / 10) for i, t in enumerate(names) for s in (0, 1)]
    study = study_distillation(list(names), {"m": {t: i for i, t in enumerate(names)}}, runs)
    c = study.correlations["m"]
    assert c.rho == pytest.approx(1) and (c.ci_low, c.ci_high) == pytest.approx((1.0, 1.0))
    four = study_distillation(list(names[:4]), {"m": {t: i for i, t in enumerate(names[:4])}}, runs)
    assert math.isnan(four.correlations["m"].ci_low)


def _ensemble(correlations):
    study = EnsembleStudy(["a", "b"], 2, [], np.zeros((2, 2)), {})
    study.correlations = {m: EnsembleCorrelation(r, r - 0.1, r + 0.1, 10, 5, 1000) for m, r in correlations.items()}
    return study


class _Distill:
    def __init__(self, correlations):
        self.correlations = {m: DistillCorrelation(r, 0.5, 4, r - 0.2, r + 0.2) for m, r in correlations.items()}


def test_rows_are_in_order_of_the_ensemble_rho_with_no_rank_column_and_name_the_baselines(tmp_path):
    ensemble = _ensemble({"sat": -0.1, "cka": -0.4, "disagreement": 0.2, "procrustes": math.nan})
    distill = _Distill({"sat": 0.8, "cka": 0.4, "disagreement": -0.2, "procrustes": 0.6, "atoms": 0.1})
    rows = prediction_rows(ensemble, distill)
    assert [r.measure for r in rows] == ["cka", "sat", "disagreement", "procrustes", "atoms"]
    assert [r.kind for r in rows] == ["representation", "SAT", "functional", "representation", "weights"]
    assert rows[0].ensemble == (-0.4, -0.5, pytest.approx(-0.3), 10)
    assert rows[-1].ensemble[3] == 0 and math.isnan(rows[-1].ensemble[0])
    csv_path, png = write_predictions(rows, tmp_path)
    with open(csv_path, newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == HEADER and "rank" not in HEADER and png.is_file()
    assert [r[0] for r in table[1:]] == [r.measure for r in rows]


def test_rows_without_a_distillation_study():
    rows = prediction_rows(_ensemble({"a": 0.3, "b": -0.3}), None)
    assert [r.measure for r in rows] == ["b", "a"] and math.isnan(rows[0].distill[0])
    assert kind_of("sat-adjusted") == "SAT" and kind_of("yules-q") == "functional"


def test_small_multiples_wrap_into_rows(tmp_path):
    panels = {f"m{i}": (np.arange(5.0), np.arange(5.0) * i, f"panel {i}") for i in range(6)}
    path = plot_gain_vs_similarity(panels, "gain", tmp_path / "grid.png", columns=4)
    from matplotlib.image import imread
    height, width = imread(path).shape[:2]
    assert path.is_file() and height > 0.4 * width  # two rows of four, not one row of six

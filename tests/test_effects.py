"""Per-model effects of SAT (archsim.sat.effects), R^2 beside its null, the minimum pool, censored floor pairs
(archsim.sat.censoring) and the sat-adjusted pair term."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from analysis.matrix.clustering import cluster_models
from analysis.matrix.load import load_similarity, validate_similarity
from archsim.errors import ArchsimError
from archsim.matrices import mean_to_others, read_matrix, write_matrix
from archsim.sat.censoring import as_least_measured, censored_labels, censored_note
from archsim.sat.effects import (
    MIN_MODELS_FOR_EFFECTS,
    TooFewModels,
    directional_effects,
    effects_or_reason,
    effects_too_few_models,
    model_effects,
    r2_null,
    row_rank,
    too_few_models_message,
)
from archsim.sat.result import SATResult


def _design(n):
    """The pair design of SAT_ij = mu + a_i + a_j over i < j, written out: a column of ones, then one per model."""
    i, j = np.triu_indices(n, 1)
    x = np.zeros((len(i), n + 1))
    x[:, 0] = 1
    x[np.arange(len(i)), 1 + i] = x[np.arange(len(i)), 1 + j] = 1
    return x, i, j


def _symmetric(values, n):
    s = np.full((n, n), 4.6)
    i, j = np.triu_indices(n, 1)
    s[i, j] = s[j, i] = values
    return s


def test_an_exactly_additive_matrix_is_recovered_with_no_pair_term_left():
    """SAT_ij = 3 + a_i + a_j with a = (-2, -1, 0, 1, 2): mu, every a_i and R^2 = 1 back; every pair term 0."""
    a = np.array([-2.0, -1, 0, 1, 2])
    _, i, j = _design(5)
    e = model_effects(_symmetric(3 + a[i] + a[j], 5))
    assert e.mu == pytest.approx(3) and e.effects == pytest.approx(a) and e.r2 == pytest.approx(1)
    np.testing.assert_allclose(e.adjusted[~np.eye(5, dtype=bool)], 0, atol=1e-12)
    assert np.isnan(np.diag(e.adjusted)).all() and (e.n_models, e.n_pairs) == (5, 10)


def test_a_6_by_6_case_by_the_normal_equations():
    rng = np.random.default_rng(0)
    x, i, j = _design(6)
    y = rng.normal(size=len(i))
    fitted = x @ np.linalg.pinv(x) @ y
    e = model_effects(_symmetric(y, 6))
    np.testing.assert_allclose(e.adjusted[i, j], y - fitted, atol=1e-12)
    assert e.r2 == pytest.approx(1 - ((y - fitted) ** 2).sum() / ((y - y.mean()) ** 2).sum(), abs=1e-12)
    assert e.effects.sum() == pytest.approx(0, abs=1e-12)
    assert e.r2_null == pytest.approx(5 / 14) == r2_null(6)  # p = 5 effects beyond the mean, m = 15 pairs


@pytest.mark.parametrize("n", [3, 4])
def test_below_five_models_there_are_no_per_model_effects(n):
    sat = _symmetric(np.random.default_rng(n).normal(size=n * (n - 1) // 2), n)
    assert MIN_MODELS_FOR_EFFECTS == 5 and effects_too_few_models(n) and not effects_too_few_models(5)
    for fit in (lambda: model_effects(sat), lambda: directional_effects(np.full((n, n), 0.3), 0.01)):
        with pytest.raises(TooFewModels, match=f"too few models for per-model effects: {n} \\(at least 5"):
            fit()
    assert effects_or_reason(sat) == (None, too_few_models_message(n))


def test_why_five_the_pair_terms_are_identified_from_five_models_on():
    """The residual maker I - X X^+ of the pair design, by numpy: at 3 models it is 0 (R^2 = 1, no pair term);
    at 4 every residual has r_12 = r_34, r_13 = r_24, r_14 = r_23; at 5 a planted pair keeps half its excess
    and no other pair gets more than a sixth (the docstring's (N-3)/(N-1) and 2/((N-1)(N-2)))."""
    rng = np.random.default_rng(1)
    x3, _, _ = _design(3)
    np.testing.assert_allclose((np.eye(3) - x3 @ np.linalg.pinv(x3)) @ rng.normal(size=3), 0, atol=1e-12)
    x4, i, j = _design(4)
    r = (np.eye(6) - x4 @ np.linalg.pinv(x4)) @ rng.normal(size=6)  # pairs 01 02 03 12 13 23
    np.testing.assert_allclose([r[0], r[1], r[2]], [r[5], r[4], r[3]], atol=1e-12)
    _, i, j = _design(5)
    planted = (i == 0) & (j == 1)
    e = model_effects(_symmetric(3 + 1.2 * planted, 5))
    assert e.adjusted[0, 1] == pytest.approx(1.2 / 2)
    others = e.adjusted[i, j][~planted]
    assert np.abs(others).max() == pytest.approx(1.2 / 6)
    for n in (6, 8, 12):  # and the general formulas
        _, i, j = _design(n)
        planted = (i == 0) & (j == 1)
        e = model_effects(_symmetric(planted * 1.0, n))
        assert e.adjusted[0, 1] == pytest.approx((n - 3) / (n - 1))
        assert e.adjusted[i, j][~planted].max() == pytest.approx(2 / ((n - 1) * (n - 2)))


def test_r2_null_by_hand_and_at_the_pool_sizes_the_docs_name():
    assert [r2_null(n) for n in (3, 4, 5)] == pytest.approx([1.0, 3 / 5, 4 / 9])
    assert r2_null(16) == pytest.approx(15 / 119) and r2_null(69) == pytest.approx(68 / 2345)
    for n in range(3, 70):
        assert r2_null(n) == pytest.approx(2 * (n - 1) / ((n - 2) * (n + 1)))  # the docstring's closed form


@pytest.mark.parametrize("n", [5, 8, 16])
def test_r2_null_is_the_mean_r2_of_exchangeable_noise(n):
    """Two independent references, by numpy's lstsq, not archsim's fit: the mean R^2 over Gaussian noise
    matrices, and over random permutations of one fixed, skewed set of pair values (exchangeable, not Gaussian)."""
    rng = np.random.default_rng(n)
    x, _, _ = _design(n)
    hat = x @ np.linalg.pinv(x)

    def r2(y):
        return 1 - ((y - hat @ y) ** 2).sum() / ((y - y.mean()) ** 2).sum()

    gaussian = [r2(rng.normal(size=len(x))) for _ in range(3000)]
    fixed = rng.exponential(size=len(x)) ** 2
    permuted = [r2(rng.permutation(fixed)) for _ in range(3000)]
    for draws in (gaussian, permuted):
        assert np.mean(draws) == pytest.approx(r2_null(n), abs=4 * np.std(draws) / np.sqrt(len(draws)))
    assert model_effects(_symmetric(fixed, n)).r2_null == pytest.approx(r2_null(n))


def test_the_permutation_p_value_finds_planted_effects_and_is_uniform_on_noise():
    rng = np.random.default_rng(3)
    _, i, j = _design(8)
    a = rng.normal(0, 1, 8)
    strong = model_effects(_symmetric(a[i] + a[j] + 0.1 * rng.normal(size=len(i)), 8))
    assert strong.r2 > 0.9 and strong.r2_p == pytest.approx(1 / 1000)
    p = np.array([model_effects(_symmetric(rng.normal(size=len(i)), 8), seed=k).r2_p for k in range(300)])
    assert 0.02 <= (p <= 0.05).mean() <= 0.09 and 0.4 <= np.mean(p) <= 0.6
    assert "against 0.26 expected of exchangeable noise at 8 models (permutation p = 0.001)" in strong.r2_summary()


# -- censored pairs ------------------------------------------------------------------------------------------

def _result(transfers, n_images=5000, eps_s=0.01):
    """A SATResult whose every model gets every image right and whose source s fools target t on the first
    transfers[s, t] images."""
    n = len(transfers)
    adv = np.ones((n, n, n_images), dtype=np.int8)
    for s in range(n):
        for t in range(n):
            adv[s, t, :transfers[s, t]] = 0
    return SATResult([f"m{k}" for k in range(n)], np.ones((n, n_images), dtype=bool), adv, eps_s)


def _six_models(zero_pair=(0, 1)):
    """Six models with SAT about 3 (about 20 in 1,000 transfers each way), one pair with no transfer at all."""
    rng = np.random.default_rng(4)
    transfers = rng.integers(180, 220, size=(6, 6))
    np.fill_diagonal(transfers, 900)
    a, b = zero_pair
    transfers[a, b] = transfers[b, a] = 0
    return transfers


def test_a_floor_pair_is_censored_and_changes_no_other_pairs_sat_adjusted():
    """The issue's case: one pair at the floor moved a_0 from 0 to -1.27 when fitted as a value. Censored, the fit
    equals numpy's lstsq over the 14 measured pairs, and eps_s changes no other pair's sat-adjusted."""
    results = [_result(_six_models(), eps_s=eps_s) for eps_s in (0.01, 0.001, 1e-6)]
    assert all(r.censored[0, 1] and r.censored.sum() == 2 for r in results)
    effects = [r.effects() for r in results]
    x, i, j = _design(6)
    keep = ~((i == 0) & (j == 1))
    y = results[0].sat[i, j]
    reference = y[keep] - x[keep] @ np.linalg.lstsq(x[keep], y[keep], rcond=None)[0]
    for e in effects:
        np.testing.assert_allclose(e.adjusted[i[keep], j[keep]], reference, atol=1e-12)
        assert np.isnan(e.adjusted[0, 1]) and abs(e.effects[0]) < 0.1 and e.n_pairs == 14
        assert e.r2_null == pytest.approx(5 / 13)  # p = 5, m = 14 fitted pairs
    filled = [as_least_measured(e.adjusted, r.censored) for e, r in zip(effects, results)]
    np.testing.assert_array_equal(filled[0], filled[1])  # the measure's matrix: eps_s changes nothing at all
    assert filled[0][0, 1] == np.nanmin(effects[0].adjusted)
    fitted_as_value = model_effects(results[0].sat)  # what the fit did before: the floor pulls model 0 down
    assert fitted_as_value.effects[0] < -0.9 and np.nanmin(fitted_as_value.adjusted[0, 2:]) > 0.8


def test_which_pairs_are_censored_and_what_the_summaries_read():
    transfers = _six_models()
    transfers[2, 3], transfers[3, 2] = 1, 0  # one transfer in 2 x 5,000 trials: exactly the floor 0.01
    transfers[4, 5], transfers[5, 4] = 1, 1  # two: above it
    r = _result(transfers)
    assert r.sat[2, 3] == pytest.approx(np.log(0.01)) and r.sat[4, 5] == pytest.approx(np.log(0.02))
    assert censored_labels(r.names, r.censored) == ["m0 / m1", "m2 / m3"]
    assert "2 pair(s) at the floor ln(eps_s) are censored" in censored_note(r.names, r.censored)
    assert mean_to_others(r.sat_measured, 0) == pytest.approx(np.mean(r.sat[0, 2:]))
    measured = r.sat[~r.censored & ~np.eye(6, dtype=bool)]
    assert r.sat_for_analyses[0, 1] == r.sat_for_analyses[2, 3] == measured.min() == pytest.approx(np.log(0.02))
    assert [p["censored"] for p in r.pairs() if p["a"] != p["b"]].count(1) == 2
    assert row_rank(r.effects().adjusted, 0, 1) == 5  # a censored pair term ranks last in its row


def test_directional_effects_leave_out_directions_at_the_floor():
    rng = np.random.default_rng(5)
    source, target = rng.normal(0, 0.5, 6), rng.normal(0, 0.5, 6)
    source, target = source - source.mean(), target - target.mean()
    transfer = np.exp(3 + source[:, None] + target[None, :]) / 100
    transfer[0, 1] = 0.0  # no transfer from model 0 to model 1: censored, not ln(eps_s)
    for eps_s in (0.01, 1e-6):
        d = directional_effects(transfer, eps_s)
        assert d.mu == pytest.approx(3) and d.r2 == pytest.approx(1)
        np.testing.assert_allclose(d.source, source, atol=1e-9)
        np.testing.assert_allclose(d.target, target, atol=1e-9)


@pytest.mark.parametrize("eps_s", [100, 150.0, 0, -1, float("nan")])
def test_an_eps_s_outside_0_100_is_one_clear_line(eps_s, tmp_path, capsys):
    import yaml

    from archsim.cli import main
    from archsim.sat.formula import check_eps_s

    with pytest.raises(ArchsimError, match="eps_s must be"):
        check_eps_s(eps_s)
    if eps_s >= 100:
        config = tmp_path / "c.yaml"
        config.write_text(yaml.safe_dump({"data": {"source": "digits"}, "models": [{"name": "resnet18"}],
                                          "eps_s": eps_s}))
        assert main(["sat", "--config", str(config), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert err == [f"archsim sat: error: eps_s must be a number in (0, 100), a floor in percent below the "
                       f"largest possible 100 x transfer rate (100); got {eps_s!r}: the default 0.01 is one transfer "
                       "in 10,000"]


def _planted(seed=0):
    """12 models in 3 blocks of 4; strong per-model fragility on top of a weaker block structure."""
    rng = np.random.default_rng(seed)
    blocks = np.repeat([0, 1, 2], 4)
    fragility = rng.uniform(0, 3, size=12)
    sat = 1 + fragility[:, None] + fragility[None, :] + 0.8 * (blocks[:, None] == blocks[None, :])
    sat = sat + 0.05 * rng.normal(size=sat.shape)
    return (sat + sat.T) / 2, blocks


def test_planted_fragility_over_planted_blocks_gives_the_blocks_back():
    sat, blocks = _planted()
    names = [f"m{i}" for i in range(12)]
    raw = cluster_models(validate_similarity(names, sat), k=3, embed=False)
    adjusted = model_effects(sat).adjusted
    np.fill_diagonal(adjusted, np.nan)
    clusters = cluster_models(validate_similarity(names, adjusted), k=3, affinity_kind="exp", embed=False)
    assert adjusted_rand_score(blocks, clusters.labels) == 1.0
    assert adjusted_rand_score(blocks, clusters.hierarchical_labels) == 1.0
    # average linkage on raw SAT groups by fragility (the spectral exp affinity happens to cancel the
    # multiplicative e^(a_i + a_j) through the Laplacian's degree normalisation)
    assert adjusted_rand_score(blocks, raw.hierarchical_labels) < 0.5
    assert model_effects(sat).r2 > 0.8


def test_the_released_matrix_format_round_trips(tmp_path):
    """A CSV in the SAT paper's release format (empty first header cell, names in the first column)."""
    sat, _ = _planted(1)
    names = [f"model_{i}" for i in range(12)]
    path = write_matrix(tmp_path / "released.csv", names, sat)
    assert path.read_text().startswith(",model_0,model_1")
    read_names, values = read_matrix(path)
    e = model_effects(values)
    assert read_names == names and e.r2 == pytest.approx(model_effects(sat).r2, abs=1e-5)
    adjusted = write_matrix(tmp_path / "sat-adjusted.csv", names, e.adjusted)
    assert load_similarity(adjusted).names == names  # the analyze command reads it back (NaN diagonal allowed)


def test_directional_effects_split_attacker_and_fragility():
    rng = np.random.default_rng(2)
    source, target = rng.normal(0, 0.5, 8), rng.normal(0, 0.5, 8)
    source, target = source - source.mean(), target - target.mean()
    log_rate = 3 + source[:, None] + target[None, :]
    transfer = np.exp(log_rate) / 100
    d = directional_effects(transfer, 0.01)
    assert d.mu == pytest.approx(3) and d.r2 == pytest.approx(1)
    np.testing.assert_allclose(d.source, source, atol=1e-9)
    np.testing.assert_allclose(d.target, target, atol=1e-9)


def test_seed_pairs_are_the_models_that_differ_only_in_their_seed():
    from archsim.config import parse_config
    from archsim.sat.effects import seed_pairs

    cfg = parse_config({"data": {"source": "digits"}, "models": [
        {"name": "resnet18", "label": "a"}, {"name": "resnet18", "label": "a_s1", "seed": 1},
        {"name": "resnet18", "label": "wide", "kwargs": {"channels": [8, 16, 32, 64]}}, {"name": "vit_tiny_patch16_224",
                                                                                         "label": "v"}]})
    assert seed_pairs(cfg.models) == [("a", "a_s1")]
    m = np.array([[9, 1, 3, 2], [1, 9, 0, 5], [3, 0, 9, 4], [2, 5, 4, 9.0]])
    assert (row_rank(m, 0, 2), row_rank(m, 0, 1), row_rank(m, 1, 3)) == (1, 3, 1)


def test_archsim_sat_prints_r2_beside_its_null_the_censored_pairs_and_too_few_models(capsys):
    from archsim.cli.sat import print_sat_summary

    r = _result(_six_models())
    print_sat_summary(r, 1.0, 0.1)
    out = capsys.readouterr().out
    e = r.effects()
    assert f"explain R^2 = {e.r2:.2f}, against {r2_null(6, 14):.2f} expected of exchangeable noise at 6 models" in out
    assert "1 pair(s) at the floor ln(eps_s) are censored (no common image, or transfer at or below eps_s): m0 / m1" \
        in out
    small = _result(_six_models()[:4, :4])
    print_sat_summary(small, 1.0, 0.1)
    out = capsys.readouterr().out
    assert "too few models for per-model effects: 4 (at least 5" in out and "R^2" not in out


def test_the_sat_and_sat_adjusted_measures_censor_the_floor_pair(monkeypatch):
    """The registered measures on a stubbed run store: the same matrices at eps_s 0.01 and 1e-6, the censored pair
    at the least similar measured value, the notes naming it, and too few models as one clear error."""
    from archsim.similarity import sat_measure
    from archsim.similarity.measure import MeasureInputs

    class Report:
        def summary(self):
            return "ran 0 units"

    def measures(transfers, eps_s):
        monkeypatch.setattr(sat_measure, "sat_in_store", lambda *a, **k: (_result(transfers, eps_s=eps_s), Report()))
        inputs = MeasureInputs(run=None, cfg=object(), out=object())
        return sat_measure.SAT(inputs, {}), sat_measure.SAT_ADJUSTED(inputs, {})

    (sat, adjusted), (sat_low, adjusted_low) = measures(_six_models(), 0.01), measures(_six_models(), 1e-6)
    np.testing.assert_array_equal(sat.values, sat_low.values)
    np.testing.assert_array_equal(adjusted.values, adjusted_low.values)
    r = _result(_six_models())
    off = ~np.eye(6, dtype=bool) & ~r.censored
    assert sat.values[0, 1] == r.sat[off].min() and adjusted.values[0, 1] == np.nanmin(r.effects().adjusted)
    assert any("censored" in n and "m0 / m1" in n for n in adjusted.notes)
    assert any("expected of exchangeable noise at 6 models" in n for n in adjusted.notes)
    with pytest.raises(ArchsimError, match="too few models for per-model effects: 4"):
        measures(_six_models()[:4, :4], 0.01)

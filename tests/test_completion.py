"""Completing a SAT matrix from some pairs (archsim.sat.completion) and choosing the pairs (archsim.sat.pair_choice)."""

import numpy as np
import pytest

from archsim.errors import ArchsimError
from archsim.sat import pair_choice
from archsim.sat.completion import Fit, additive_fit, complete, complete_sat, low_rank


def covariate_of(n, seed=0):
    """A symmetric pair covariate with its own structure (not additive, not low rank), ones on the diagonal."""
    z = np.random.default_rng([seed, 7]).uniform(0.4, 0.6, (n, n))
    z = (z + z.T) / 2
    np.fill_diagonal(z, 1.0)
    return z


def planted(n=30, rank=2, seed=0, noise=0.0, beta=0.0):
    """mu + a_i + a_j + beta Z_ij (Z: `covariate_of`) + a symmetric rank-`rank` term (+ symmetric noise); the
    diagonal at 4.6 (white-box)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 0.3, n)
    u = rng.normal(0, 0.4, (n, rank))
    s = rng.choice([-1.0, 1.0], rank)
    values = 2.5 + a[:, None] + a[None, :] + (u * s) @ u.T + beta * covariate_of(n, seed)
    if noise:
        e = rng.normal(0, noise, (n, n))
        values += (e + e.T) / np.sqrt(2)
    np.fill_diagonal(values, 4.6)
    return values


def observe(n, fraction, seed):
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((n, n)) < fraction, 1)
    return upper | upper.T


def test_additive_fit_is_the_least_squares_fit():
    """The closed form equals lstsq on the design [x_i + x_j] over the pairs i < j."""
    rng = np.random.default_rng(1)
    m = rng.normal(size=(7, 7))
    m = m + m.T
    i, j = np.triu_indices(7, 1)
    design = np.zeros((len(i), 7))
    design[np.arange(len(i)), i] = design[np.arange(len(i)), j] = 1
    b = np.linalg.lstsq(design, m[i, j], rcond=None)[0]
    assert np.allclose(additive_fit(m)[i, j], (b[:, None] + b[None, :])[i, j])


def test_low_rank_keeps_the_largest_magnitude_eigenvalues():
    rng = np.random.default_rng(2)
    q = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    m = (q * np.array([5.0, -4.0, 0.1, 0.05, -0.02, 0.01])) @ q.T
    assert np.allclose(low_rank(m, 2), (q[:, :2] * [5.0, -4.0]) @ q[:, :2].T)


def test_completion_recovers_a_planted_additive_plus_rank_2_matrix_from_40_percent():
    values = planted(30, rank=2)
    observed = observe(30, 0.4, seed=3)
    fit, beta = complete(values, observed, rank=2, tol=1e-12)
    hidden = ~observed & ~np.eye(30, dtype=bool)
    assert np.max(np.abs(fit - values)[hidden]) < 1e-6
    assert beta == 0.0


def test_completion_recovers_a_planted_covariate_term_and_its_coefficient():
    """additive + 8 Z + rank 2 from 40% of the pairs: to 1e-6 with Z, beta = 8 to 1e-6; without Z it is far off."""
    values = planted(30, rank=2, beta=8.0)
    z = covariate_of(30)
    observed = observe(30, 0.4, seed=3)
    hidden = ~observed & ~np.eye(30, dtype=bool)
    fit, beta = complete(values, observed, rank=2, covariate=z, tol=1e-12)
    assert np.max(np.abs(fit - values)[hidden]) < 1e-6
    assert beta == pytest.approx(8.0, abs=1e-6)
    assert np.max(np.abs(complete(values, observed, rank=2, tol=1e-12)[0] - values)[hidden]) > 0.1


def test_cross_validation_takes_the_covariate_only_when_it_predicts():
    observed = observe(20, 0.5, seed=3)
    values = planted(20, beta=8.0, noise=0.05)
    with_z = complete_sat(values, observed, covariate=covariate_of(20), seed=0)
    assert with_z.fit.covariate and with_z.coefficient == pytest.approx(8.0, abs=1.0)
    unrelated = covariate_of(20, seed=1)  # another draw: no part of the values
    without = complete_sat(values, observed, covariate=unrelated, seed=0)
    assert without.cv_rmse > 2 * with_z.cv_rmse
    with pytest.raises(ValueError, match="finite"):
        complete_sat(values, observed, covariate=np.full((20, 20), np.nan))


def test_additive_only_cannot_recover_the_rank_term():
    """The control: without the low-rank term the hidden pairs are far off."""
    values = planted(30, rank=2)
    observed = observe(30, 0.4, seed=3)
    hidden = ~observed & ~np.eye(30, dtype=bool)
    assert np.max(np.abs(complete(values, observed, rank=0)[0] - values)[hidden]) > 0.1


def test_cross_validation_keeps_the_pair_term_and_intervals_cover():
    values = planted(40, rank=2, noise=0.05)
    observed = observe(40, 0.4, seed=4)
    c = complete_sat(values, observed, seed=0)
    assert c.rank > 0  # the pair term is kept
    effects_only = complete_sat(values, observed, fit=Fit(0), seed=0)
    assert np.mean((c.values - values)[c.predicted] ** 2) < 0.5 * np.mean((effects_only.values - values)[c.predicted] ** 2)
    low, high = c.intervals()
    hidden = c.predicted
    covered = (values >= low) & (values <= high)
    assert 0.9 <= covered[hidden].mean() <= 1.0
    assert np.isnan(low[~hidden]).all()
    assert np.array_equal(c.values[observed], values[observed])  # observed pairs keep their values
    assert np.array_equal(np.diag(c.values), np.diag(values))


def test_completion_needs_every_model_observed():
    values = planted(6)
    observed = np.zeros((6, 6), dtype=bool)
    observed[0, 1] = observed[1, 0] = True
    with pytest.raises(ValueError, match="no observed pair"):
        complete_sat(values, observed)


@pytest.mark.parametrize("spec, message", [(0, "fraction in \\(0, 1\\]"), (-0.5, "fraction"), (1.5, "whole"),
                                           (float("nan"), "fraction")])
def test_bad_budgets_get_one_line(spec, message):
    with pytest.raises(ArchsimError, match=message):
        pair_choice.budget_evaluations(100, spec)


def test_budget_too_small_for_every_model_says_the_least():
    n = 10
    least = n + 2 * 5
    assert pair_choice.pairs_in_budget(n, least) == 5
    with pytest.raises(ArchsimError, match=f"too small to give each of the 10 models an observed pair: it needs at "
                                           f"least {least}"):
        pair_choice.pairs_in_budget(n, least - 1)
    assert pair_choice.pairs_in_budget(n, pair_choice.budget_evaluations(n * n, 1.0)) == 45
    assert pair_choice.budget_evaluations(n * n, 40) == 40


def test_design_gives_every_model_a_pair_first():
    for n in (5, 6, 31):
        first = pair_choice.design(n, seed=0)[:int(np.ceil(n / 2))]
        assert {i for p in first for i in p} == set(range(n))
        assert len(set(pair_choice.design(n, seed=0))) == len(pair_choice.design(n, seed=0))


def _simulate(values, n_pairs, **kw):
    calls = []

    def values_of(new):
        calls.append(list(new))
        return values

    chosen = pair_choice.choose(values_of, len(values), n_pairs, **kw)
    return chosen, calls


def test_a_larger_budget_chooses_a_superset_in_the_same_order():
    values = planted(20, noise=0.05, seed=5)
    small, _ = _simulate(values, 65, seed=1)  # its last round truncated
    large, _ = _simulate(values, 110, seed=1)
    assert large[:len(small)] == small  # a truncated round is a prefix of the full one
    assert len(set(large)) == 110


def test_random_choice_is_the_baseline_and_differs_from_active():
    values = planted(20, noise=0.05, seed=5)
    active, _ = _simulate(values, 90, seed=1)
    random, _ = _simulate(values, 90, seed=1, active=False)
    assert active[:10] == random[:10]  # the same design first
    assert set(active) != set(random)


def test_added_models_choose_only_their_pairs():
    values = planted(12, noise=0.05, seed=6)
    given = [(i, j) for i in range(10) for j in range(i + 1, 10)]
    candidates = {(i, j) for i in range(12) for j in range(i + 1, 12) if j >= 10}
    chosen, _ = _simulate(values, 8, seed=0, given=given, candidates=candidates)
    assert len(chosen) == 8 and set(chosen) <= candidates
    assert {10, 11} <= {i for p in chosen for i in p}

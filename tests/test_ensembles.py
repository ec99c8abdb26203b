"""Ensemble evaluation and member selection on hand-made pools with known answers."""

import itertools

import numpy as np
import pytest
from scipy import stats
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from analysis.decisions.ensemble_eval import (
    evaluate_members,
    pair_gains,
    similarity_gain_correlation,
    softmax_predictions,
    vote_predictions,
)
from analysis.decisions.ensemble_selection import (
    LAMBDA_GRID,
    choose_lambda,
    greedy_diverse,
    normalised,
    one_per_cluster,
    random_draws,
    top_k,
)

# 3 models x 4 images x 3 classes. Per image (argmaxes m0, m1, m2 -> vote; mean -> softmax):
#   0: 0, 0, 1 -> vote 0; mean (.4, .533, .067) -> 1
#   1: 2, 2, 2 -> vote 2; softmax 2
#   2: 0, 1, 2 -> three-way tie, mean (.3, .4, .3) -> 1 (lowest index would say 0); softmax 1
#   3: 1, 2, 2 -> vote 2; mean (.067, .567, .367) -> 1
HAND = np.array([
    [[.6, .3, .1], [.1, .1, .8], [.5, .4, .1], [0., .9, .1]],
    [[.6, .3, .1], [.2, .2, .6], [.1, .5, .4], [.1, .4, .5]],
    [[0., 1., 0.], [.3, .3, .4], [.3, .3, .4], [.1, .4, .5]],
])
HAND_LABELS = np.array([1, 2, 1, 1])  # members: m0 .5, m1 .5, m2 .5; softmax 1.0, vote .5


def test_softmax_and_vote_predictions_by_hand():
    assert softmax_predictions(HAND, [0, 1, 2]).tolist() == [1, 2, 1, 1]
    assert vote_predictions(HAND, [0, 1, 2]).tolist() == [0, 2, 1, 2]


def test_vote_tie_only_among_tied_classes():
    # votes 0 and 1 tie; class 2 has the largest mean (.4) but no vote; among 0, 1 the mean of 1 is larger
    probs = np.array([[[.4, .25, .35]], [[.05, .5, .45]]])
    assert vote_predictions(probs, [0, 1]).tolist() == [1]
    assert softmax_predictions(probs, [0, 1]).tolist() == [2]


def test_evaluate_members_by_hand():
    out = evaluate_members(HAND, HAND_LABELS, [0, 1, 2])
    assert out["softmax_acc"] == 1.0 and out["vote_acc"] == 0.5
    assert out["best_member"] == 0 and out["best_member_acc"] == 0.5  # three-way tie -> lowest index
    assert out["gain_softmax"] == pytest.approx(0.5) and out["gain_vote"] == pytest.approx(0.0)
    # best_member is the position within members: labels 0, 2, 0, 1 -> m2 scores 1/4, m0 1
    out = evaluate_members(HAND, np.array([0, 2, 0, 1]), [2, 0])
    assert out["best_member"] == 1 and out["best_member_acc"] == 1.0


def test_pair_gains_by_hand():
    gains = pair_gains(HAND, HAND_LABELS)
    assert np.isnan(np.diag(gains)).all()
    off = ~np.eye(3, dtype=bool)
    np.testing.assert_array_equal(gains[off], gains.T[off])
    # {0, 2}: means give 1, 2, 0, 1 -> 3/4 correct; both members score 1/2
    assert gains[0, 2] == pytest.approx(0.25)
    # labels 0, 2, 0, 1: m0 scores 1, m2 1/4, the {0, 2} means give 1, 2, 0, 1 -> 3/4, so 3/4 - 1
    assert pair_gains(HAND, np.array([0, 2, 0, 1]))[0, 2] == pytest.approx(-0.25)


def test_top_k_ties_by_lower_index():
    assert top_k([0.5, 0.9, 0.7, 0.9, 0.7], 4) == [1, 3, 2, 4]
    assert top_k([0.5, 0.9], 1) == [1]


def test_random_draws_seeded():
    a = random_draws(10, 4, 20, seed=3)
    assert a == random_draws(10, 4, 20, seed=3)
    assert a != random_draws(10, 4, 20, seed=4)
    assert len(a) == 20
    for draw in a:
        assert len(set(draw)) == 4 and draw == sorted(draw) and all(0 <= i < 10 for i in draw)


def test_normalised():
    s = np.array([[np.nan, 2., 4.], [2., 9., 6.], [4., 6., 0.]])
    np.testing.assert_allclose(normalised(s), [[1, 0, .5], [0, 1, 1], [.5, 1, 1]])
    np.testing.assert_array_equal(normalised(np.full((3, 3), 7.)), np.eye(3))


def test_greedy_avoids_near_duplicates():
    acc = [0.90, 0.89, 0.85, 0.70]
    s = np.array([[1., .99, .1, .5], [.99, 1., .1, .5], [.1, .1, 1., .5], [.5, .5, .5, 1.]])
    assert greedy_diverse(acc, s, 2, lam=0.0) == [0, 1]
    assert greedy_diverse(acc, s, 2, lam=1.0) == [0, 2]


def _j(acc, s, members, lam):
    pairs = [s[i, j] for i, j in itertools.combinations(members, 2)]
    return np.mean([acc[i] for i in members]) - lam * (np.mean(pairs) if pairs else 0.0)


@pytest.mark.parametrize("seed", range(5))
def test_greedy_each_pick_maximises_j(seed):
    rng = np.random.default_rng(seed)
    acc = rng.uniform(0.6, 0.9, 7)
    s = rng.uniform(0, 1, (7, 7))
    s = (s + s.T) / 2
    chosen = greedy_diverse(acc, s, 3, lam=0.3)
    assert chosen[0] == int(np.argmax(acc))
    for step in (1, 2):
        best = max(_j(acc, s, chosen[:step] + [i], 0.3) for i in range(7) if i not in chosen[:step])
        assert _j(acc, s, chosen[:step + 1], 0.3) == pytest.approx(best)


def _pool_from_correctness(correct_prob):
    """Two-class probabilities: model m gives the true label probability correct_prob[m, i]."""
    n = correct_prob.shape[1]
    labels = np.arange(n) % 2
    probs = np.empty(correct_prob.shape + (2,))
    probs[:, np.arange(n), labels] = correct_prob
    probs[:, np.arange(n), 1 - labels] = 1 - correct_prob
    return probs, labels


def test_choose_lambda_prefers_the_model_that_errs_elsewhere():
    p = np.full((3, 10), 0.9)
    p[0, :2] = p[1, :2] = 0.4  # models 0 and 1 identical, wrong on images 0, 1
    p[2, 7:] = 0.4             # model 2 wrong on images 7, 8, 9
    probs, labels = _pool_from_correctness(p)
    acc = (probs.argmax(axis=2) == labels).mean(axis=1)
    assert acc.tolist() == [0.8, 0.8, 0.7]
    sim = normalised(np.array([[1., 1., .2], [1., 1., .2], [.2, .2, 1.]]))
    lam, members, table = choose_lambda(probs, labels, acc, sim, 2)
    assert lam > 0 and 2 in members
    assert [row[0] for row in table] == list(LAMBDA_GRID)
    assert table[0][1] == [0, 1] == top_k(acc, 2)
    top2_acc = np.mean(softmax_predictions(probs, top_k(acc, 2)) == labels)
    chosen_acc = np.mean(softmax_predictions(probs, members) == labels)
    assert chosen_acc == 1.0 > top2_acc == 0.8
    assert lam == min(row[0] for row in table if row[2] == 1.0)


def test_one_per_cluster_best_of_each_block():
    rng = np.random.default_rng(0)
    block = np.array([0, 0, 0, 1, 1, 1])
    s = np.where(block[:, None] == block[None, :], 0.9, 0.1) + rng.uniform(0, 0.05, (6, 6))
    np.fill_diagonal(s, np.nan)
    acc = [0.70, 0.80, 0.75, 0.60, 0.65, 0.90]
    assert one_per_cluster(acc, s, 2) == [5, 1]
    assert one_per_cluster(acc, s, 6) == [5, 1, 2, 0, 4, 3]
    assert one_per_cluster(acc, s, 1) == [5]


def test_one_per_cluster_is_average_linkage_on_the_dissimilarity():
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 1, (9, 9))
    acc = rng.uniform(0.5, 0.9, 9)
    sym = (s + s.T) / 2
    d = sym.max(where=~np.eye(9, dtype=bool), initial=-np.inf) - sym
    np.fill_diagonal(d, 0)
    labels = fcluster(linkage(squareform(d), "average"), 3, "maxclust")
    best = [max(np.flatnonzero(labels == c), key=lambda i: acc[i]) for c in np.unique(labels)]
    assert one_per_cluster(acc, s, 3) == sorted(best, key=lambda i: -acc[i])


def _random_symmetric(m, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, m))
    x = (x + x.T) / 2
    np.fill_diagonal(x, np.nan)
    return x


def test_correlation_monotone_is_one():
    sim = _random_symmetric(8, 0)
    res = similarity_gain_correlation(sim, 3 * sim + 1, resamples=200)
    assert res.rho == pytest.approx(1.0)
    assert res.ci_high == pytest.approx(1.0) and res.ci_low == pytest.approx(1.0)
    assert (res.n_pairs, res.n_models, res.resamples) == (28, 8, 200)
    assert similarity_gain_correlation(sim, -sim, resamples=50).rho == pytest.approx(-1.0)


def test_correlation_matches_scipy_ignores_nan_and_is_seeded():
    sim = _random_symmetric(9, 1)
    gains = 0.5 * sim + _random_symmetric(9, 2)
    sim[0, 1] = sim[1, 0] = np.nan
    gains[2, 5] = gains[5, 2] = np.nan
    res = similarity_gain_correlation(sim, gains, resamples=300, seed=7)
    iu = np.triu_indices(9, 1)
    x, y = sim[iu], gains[iu]
    ok = np.isfinite(x) & np.isfinite(y)
    assert res.n_pairs == 36 - 2 == ok.sum()
    assert res.rho == pytest.approx(stats.spearmanr(x[ok], y[ok]).statistic)
    assert res.ci_low < res.rho < res.ci_high
    assert res == similarity_gain_correlation(sim, gains, resamples=300, seed=7)
    assert res.ci_low != similarity_gain_correlation(sim, gains, resamples=300, seed=8).ci_low


def test_correlation_bootstrap_is_over_models():
    # 3 models: a resample has >= 3 pairs of distinct models only when all 3 are drawn (p = 3!/27 = 2/9),
    # so fewer than half are usable and the interval is NaN (a bootstrap over pairs would be finite)
    # (finite diagonals, which must not be used)
    sim, gains = _random_symmetric(3, 3), _random_symmetric(3, 4)
    np.fill_diagonal(sim, 5.0)
    np.fill_diagonal(gains, [1.0, 2.0, 3.0])
    res = similarity_gain_correlation(sim, gains, resamples=200)
    assert np.isfinite(res.rho) and res.n_pairs == 3
    assert np.isnan(res.ci_low) and np.isnan(res.ci_high)
    assert 0 < res.resamples < 100


def test_correlation_too_few_pairs_is_nan():
    sim = _random_symmetric(3, 5)
    sim[0, 1] = sim[1, 0] = np.nan
    res = similarity_gain_correlation(sim, _random_symmetric(3, 6))
    assert res.n_pairs == 2 and np.isnan(res.rho) and np.isnan(res.ci_low) and np.isnan(res.ci_high)


def test_bad_input_raises():
    acc = [0.5, 0.6, 0.7]
    s = _random_symmetric(3, 0)
    with pytest.raises(ValueError, match="between 1 and"):
        top_k(acc, 4)
    with pytest.raises(ValueError, match="between 1 and"):
        greedy_diverse(acc, s, 0, 0.1)
    with pytest.raises(ValueError, match="between 1 and"):
        random_draws(3, 5, 2, seed=0)
    with pytest.raises(ValueError, match="between 1 and"):
        one_per_cluster(acc, s, 4)
    bad = s.copy()
    bad[0, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        greedy_diverse(acc, bad, 2, 0.1)
    with pytest.raises(ValueError, match="NaN"):
        one_per_cluster(acc, bad, 2)
    with pytest.raises(ValueError, match="square"):
        greedy_diverse(acc, np.zeros((3, 2)), 2, 0.1)
    with pytest.raises(ValueError, match="3 accuracies"):
        greedy_diverse(acc, np.zeros((4, 4)), 2, 0.1)

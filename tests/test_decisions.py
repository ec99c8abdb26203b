"""The decisions' statistics and rules: paired intervals, the ensemble and teacher picks with their verdicts, the
sub-pool benchmark and the sanity warnings, each against a hand computation or an independent implementation."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from analysis.decisions.ensemble_eval import evaluate_members, member_accuracies
from analysis.decisions.ensemble_study import study_ensembles
from analysis.decisions.intervals import Difference, bootstrap_weights, paired_difference, seed_difference
from analysis.decisions.recommendation import recommend_teacher
from analysis.decisions.subpools import RULE, ensemble_subpools, teacher_subpools
from archsim import sanity


def test_paired_difference_equals_a_loop_over_resampled_images():
    rng = np.random.default_rng(0)
    a, b = rng.random(300) < 0.8, rng.random(300) < 0.7
    d = paired_difference(a, b, resamples=500, seed=3)
    draws = np.random.default_rng(3).integers(0, 300, size=(500, 300))  # the same draws, one resample at a time
    means = [a[idx].mean() - b[idx].mean() for idx in draws]
    assert d.estimate == pytest.approx(a.mean() - b.mean())
    assert (d.low, d.high) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))
    assert d.n == 300 and d.over == "test images"


def test_bootstrap_weights_count_each_draw():
    w = bootstrap_weights(7, resamples=50, seed=1)
    draws = np.random.default_rng(1).integers(0, 7, size=(50, 7))
    assert w.shape == (50, 7) and np.array_equal(w.sum(1), np.full(50, 7.0))
    assert np.array_equal(w[4], np.bincount(draws[4], minlength=7))


def test_identical_sides_give_a_zero_interval_and_bad_shapes_are_refused():
    a = np.array([1, 0, 1, 1], dtype=bool)
    assert paired_difference(a, a).as_dict()["estimate"] == 0 and paired_difference(a, a).low == 0
    with pytest.raises(ValueError, match="one length"):
        paired_difference(a, a[:3])


def test_seed_difference_is_the_paired_t_interval():
    a, b = [0.71, 0.74, 0.69, 0.75], [0.66, 0.70, 0.68, 0.69]
    d = seed_difference(a, b)
    reference = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert d.estimate == pytest.approx(np.mean(np.subtract(a, b)))
    assert (d.low, d.high) == pytest.approx((reference.low, reference.high))
    assert math.isnan(seed_difference([0.7], [0.6]).low) and d.over == "seeds"


def test_points_and_the_verdict_signs():
    assert Difference(0.007, -0.003, 0.016, 500, "test images").points() == "+0.7 points [-0.3, +1.6]"
    assert Difference(-0.02, math.nan, math.nan, 1, "seeds").points() == "-2.0 points"
    assert Difference(0.01, 0.001, 0.02, 9, "seeds").above_zero and Difference(-0.01, -0.02, -0.001, 9, "x").below_zero


def _probs(correct: np.ndarray, n_classes=3) -> np.ndarray:
    """(M, n, C) probabilities whose argmax is the label 0 where `correct`, class 1 elsewhere."""
    probs = np.full((*correct.shape, n_classes), 0.1)
    probs[..., 0] = np.where(correct, 0.8, 0.1)
    probs[..., 1] = np.where(correct, 0.1, 0.8)
    return probs / probs.sum(-1, keepdims=True)


def test_the_recommendation_is_the_best_validation_candidate_and_top_k_wins_ties():
    rng = np.random.default_rng(0)
    val_ok, test_ok = rng.random((5, 60)) < 0.7, rng.random((5, 80)) < 0.7
    val, test = _probs(val_ok), _probs(test_ok)
    labels_v, labels_t = np.zeros(60, int), np.zeros(80, int)
    study = study_ensembles(list("abcde"), val, labels_v, test, labels_t, {"m": rng.random((5, 5))}, k=3, draws=2)
    rec = study.recommendation
    candidates = [r for r in study.rows if r["method"] in ("top-k", "greedy", "cluster")]
    best = max(r["val_softmax_acc"] for r in candidates)
    first = next(r for r in candidates if r["val_softmax_acc"] == best)
    assert rec.members == first["members"].split() and rec.rule == first["method"] and rec.candidates == 3
    top = candidates[0]
    assert rec.top_k == top["members"].split() and rec.top_k_test_accuracy == pytest.approx(top["test_softmax_acc"])
    single = int(np.argmax(member_accuracies(val, labels_v)))
    assert rec.best_single == "abcde"[single]
    assert rec.best_single_test_accuracy == pytest.approx(test_ok[single].mean())
    assert rec.difference_vs_top_k.estimate == pytest.approx(rec.test_accuracy - rec.top_k_test_accuracy)
    for r in study.rows:  # every gain against a named baseline
        assert r["vs_top_k"] == pytest.approx(r["test_softmax_acc"] - top["test_softmax_acc"])
        assert r["vs_best_single"] == pytest.approx(r["test_softmax_acc"] - rec.best_single_test_accuracy)
    # every model equally good on validation: all candidates tie and top-k is the pick
    flat = study_ensembles(list("abcde"), _probs(np.ones((5, 60), bool)), labels_v, test, labels_t,
                           {"m": rng.random((5, 5))}, k=3, draws=2).recommendation
    assert flat.rule == "top-k" and flat.verdict.startswith("the 3 most accurate models are the pick")


def test_verdicts_follow_the_intervals():
    # validation: a, b, c the most accurate but wrong on the same images; d and e each wrong elsewhere
    val_ok = np.ones((5, 100), bool)
    val_ok[:3, :15] = False
    val_ok[3, 15:35] = False
    val_ok[4, 35:55] = False
    sim = np.zeros((5, 5))
    sim[:3, :3] = 1  # the measure knows that a, b and c are alike
    study = study_ensembles(list("abcde"), _probs(val_ok), np.zeros(100, int), _probs(val_ok), np.zeros(100, int),
                            {"m": sim}, k=3, draws=2)
    rec = study.recommendation
    assert rec.top_k == ["a", "b", "c"] and sorted(rec.members) == ["a", "d", "e"]
    assert rec.rule in ("greedy", "cluster") and rec.difference_vs_top_k.estimate == pytest.approx(0.15)
    assert rec.difference_vs_top_k.above_zero and rec.difference_vs_best_single.above_zero
    assert rec.verdict.startswith("the diverse choice beats the 3 most accurate models")
    assert "the ensemble beats the best single model, a" in rec.verdict
    # the same choice (made on the same validation images) scored where d and e fail together
    worse = val_ok.copy()
    worse[3:, 55:] = False
    rec = study_ensembles(list("abcde"), _probs(val_ok), np.zeros(100, int), _probs(worse), np.zeros(100, int),
                          {"m": sim}, k=3, draws=2).recommendation
    assert sorted(rec.members) == ["a", "d", "e"] and rec.difference_vs_top_k.below_zero
    assert "no diverse choice beats the k most accurate models here" in rec.verdict
    assert "the best single model, a, beats the ensemble" in rec.verdict and "use it alone" in rec.verdict


def test_the_teacher_pick_by_hand():
    runs = [SimpleNamespace(teacher=t, seed=s, validation_accuracy=v, test_accuracy=a) for t, s, v, a in [
        (None, 0, 0.60, 0.61), (None, 1, 0.62, 0.60), (None, 2, 0.61, 0.62),
        ("t1", 0, 0.70, 0.69), ("t1", 1, 0.71, 0.72), ("t1", 2, 0.69, 0.70),
        ("t2", 0, 0.72, 0.64), ("t2", 1, 0.72, 0.63), ("t2", 2, 0.72, 0.65)]]
    rec = recommend_teacher("s", ["t1", "t2"], ["t1", "t2"], "sat", runs)
    assert rec.teacher == "t2" and rec.validation_accuracy["t2"] == pytest.approx(0.72)  # chosen on validation
    diffs = [0.64 - 0.61, 0.63 - 0.60, 0.65 - 0.62]
    assert rec.gain.estimate == pytest.approx(np.mean(diffs))
    assert rec.gain.above_zero and rec.verdict.startswith("distil from t2")
    assert rec.most_similar_gain.estimate == pytest.approx(np.mean([0.08, 0.12, 0.08]))
    low = [SimpleNamespace(teacher=r.teacher, seed=r.seed, test_accuracy=r.test_accuracy,
                           validation_accuracy=r.validation_accuracy if r.teacher is None else 0.5) for r in runs]
    none = recommend_teacher("s", ["t1", "t2"], ["t1", "t2"], "sat", low)
    assert none.teacher is None and none.verdict.startswith("no teacher beats labels-only training here")
    noisy = [SimpleNamespace(teacher=r.teacher, seed=r.seed, validation_accuracy=r.validation_accuracy,
                             test_accuracy=r.test_accuracy + (0.05 if (r.teacher, r.seed) == ("t2", 0) else 0) -
                             (0.04 if r.teacher == "t2" and r.seed else 0)) for r in runs]
    spread = recommend_teacher("s", ["t1", "t2"], ["t1", "t2"], "sat", noisy)
    assert not spread.gain.above_zero and "no teacher beats labels-only beyond the seed spread" in spread.verdict
    ranked = recommend_teacher("s", ["t1", "t2"], ["t2", "t1"], "cka")
    assert ranked.teacher == "t2" and not ranked.trained and "--train" in ranked.verdict
    assert ranked.as_dict()["chosen_on"].startswith("similarity")


def test_one_subpool_equals_the_study_on_that_pool():
    rng = np.random.default_rng(2)
    m, n_val, n_test = 6, 50, 70
    val, test = rng.dirichlet(np.ones(4), size=(m, n_val)), rng.dirichlet(np.ones(4), size=(m, n_test))
    lv, lt = rng.integers(0, 4, n_val), rng.integers(0, 4, n_test)
    sims = {"a": rng.random((m, m)), "b": rng.random((m, m))}
    rows = ensemble_subpools(list("uvwxyz"), val, lv, test, lt, sims, pool=5, k=3, draws=1, random=4, seed=7)
    sub = np.sort(np.random.default_rng(7).choice(m, size=5, replace=False))  # the sub-pool the benchmark drew
    study = study_ensembles([f"m{i}" for i in sub], val[sub], lv, test[sub], lt,
                            {k: v[np.ix_(sub, sub)] for k, v in sims.items()}, k=3, draws=1)
    by = {(r.method, r.baseline): r for r in rows}
    for row in study.rows:
        if row["method"] in ("greedy", "cluster"):
            r = by[(f"{row['method']} ({row['measure']})", "top-k")]
            assert r.mean == pytest.approx(row["vs_top_k"]) and r.subpools == 1
            assert by[(f"{row['method']} ({row['measure']})", "best single")].mean == pytest.approx(row["vs_best_single"])
    rule = study.recommendation
    assert by[(RULE, "top-k")].mean == pytest.approx(rule.difference_vs_top_k.estimate)
    assert by[(RULE, "top-k")].low <= by[(RULE, "top-k")].mean <= by[(RULE, "top-k")].high


def test_subpools_of_a_planted_zoo_find_that_diversity_pays():
    """Three blocks of models wrong on the same images within a block: a measure that knows the blocks beats top-k
    on average; a measure of pure noise does not beat it as often."""
    n = 300
    ok = np.ones((9, n), bool)
    for block in range(3):
        ok[3 * block:3 * block + 3, 100 * block:100 * block + 40] = False
    rng = np.random.default_rng(0)
    ok[:, rng.integers(0, n, 30)] = False  # a few images nobody gets
    probs = _probs(ok)
    labels = np.zeros(n, int)
    blocks = np.repeat(np.arange(3), 3)
    planted = (blocks[:, None] == blocks[None, :]).astype(float)
    noise = rng.random((9, 9))
    rows = ensemble_subpools([f"m{i}" for i in range(9)], probs, labels, probs, labels,
                             {"planted": planted, "noise": noise}, pool=6, k=3, draws=40, seed=1)
    by = {(r.method, r.baseline): r for r in rows}
    assert by[("cluster (planted)", "top-k")].mean > 0.05 and by[("cluster (planted)", "top-k")].low > 0
    assert by[("cluster (planted)", "top-k")].share_above > by[("cluster (noise)", "top-k")].share_above


def test_teacher_subpools_by_hand():
    runs = [SimpleNamespace(teacher=t, seed=s, validation_accuracy=v, test_accuracy=a) for t, s, v, a in [
        (None, 0, 0.5, 0.50), (None, 1, 0.5, 0.52),
        ("a", 0, 0.6, 0.60), ("a", 1, 0.6, 0.64), ("b", 0, 0.7, 0.55), ("b", 1, 0.7, 0.53),
        ("c", 0, 0.4, 0.51), ("c", 1, 0.4, 0.49)]]
    rows = teacher_subpools(["a", "b", "c"], {"a": 0.9, "b": 0.99, "c": 0.8}, {"sim": {"a": 3.0, "b": 2.0, "c": 1.0}},
                            runs)
    by = {(r.method, r.baseline): r for r in rows}
    # subsets ab, ac, bc, abc; the most similar (a > b > c) picks a, a, b, a
    per_seed = np.mean([[0.10, 0.12], [0.10, 0.12], [0.05, 0.01], [0.10, 0.12]], axis=0)
    r = by[("most similar (sim)", "labels only")]
    assert r.subpools == 4 and r.mean == pytest.approx(per_seed.mean()) and r.share_above == 1
    assert (r.low, r.high) == pytest.approx(tuple(stats.ttest_1samp(per_seed, 0).confidence_interval()))
    # the rule picks the best students on validation (b > a > c): b, a, b, b; the most accurate teacher is b, a, b, b
    assert by[(RULE, "labels only")].mean == pytest.approx(np.mean([0.05, 0.01, 0.10, 0.12, 0.05, 0.01, 0.05, 0.01]))
    assert by[(RULE, "most accurate teacher")].mean == pytest.approx(0.0)
    random_ab = np.mean([[0.60, 0.64], [0.55, 0.53]], axis=0)  # the mean teacher of subset ab, per seed
    assert by[("most similar (sim)", "random teacher")].subpools == 4
    assert by[("most similar (sim)", "random teacher")].mean == pytest.approx(np.mean([
        np.array([0.60, 0.64]) - random_ab, np.array([0.60, 0.64]) - np.mean([[0.60, 0.64], [0.51, 0.49]], axis=0),
        np.array([0.55, 0.53]) - np.mean([[0.55, 0.53], [0.51, 0.49]], axis=0),
        np.array([0.60, 0.64]) - np.mean([[0.60, 0.64], [0.55, 0.53], [0.51, 0.49]], axis=0)]))


def test_sanity_warnings_name_the_cause():
    lines = sanity.near_chance(["good", "bad"], [0.91, 0.197], 10)
    assert len(lines) == 1 and "'bad'" in lines[0] and "input_size, mean/std, in_chans and num_classes" in lines[0]
    assert sanity.chance_threshold(10) == pytest.approx(0.325) and sanity.chance_threshold(1000) == pytest.approx(
        0.001 + 0.25 * 0.999)
    weak = sanity.weak_attack(["a", "b"], [0.096, 0.99])
    assert len(weak) == 1 and "eps is too small" in weak[0]
    assert sanity.interval_spans_range(-1.0, 1.0) and sanity.interval_spans_range(math.nan, 0.3)
    assert not sanity.interval_spans_range(-0.5, 0.9)


def test_evaluate_members_still_reports_the_ensemble_accuracy():
    probs = _probs(np.array([[1, 0, 1, 1], [0, 1, 1, 1], [1, 1, 0, 1]], bool))
    assert evaluate_members(probs, np.zeros(4, int), [0, 1, 2])["softmax_acc"] == 1.0

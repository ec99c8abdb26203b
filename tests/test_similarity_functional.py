"""The functional measures against a hand case, sklearn's Cohen's kappa, scipy's Jensen-Shannon distance and
odds ratio; and every new measure's orientation in the registry (a distance is negated for the applications)."""

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats.contingency import odds_ratio
from sklearn.metrics import cohen_kappa_score

from archsim.errors import ArchsimError
from archsim.similarity.functional import (
    correctness,
    counts,
    disagreement,
    double_fault,
    error_consistency,
    js_divergence,
    yules_q,
)
from archsim.similarity.registry import get_measure, oriented


def one_hot_probs(predictions, classes=3, confidence=0.8):
    """(M, n, C) probabilities putting `confidence` on each predicted class and the rest evenly elsewhere."""
    predictions = np.asarray(predictions)
    probs = np.full(predictions.shape + (classes,), (1 - confidence) / (classes - 1))
    np.put_along_axis(probs, predictions[..., None], confidence, axis=-1)
    return probs


def random_outputs(models=4, n=300, classes=5, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    logits = rng.normal(size=(models, n, classes)) + 2.5 * np.eye(classes)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    return probs, labels


def test_hand_case():
    labels = np.array([0, 1, 2, 0, 1, 2])
    a = [0, 1, 2, 0, 2, 1]  # right on 0-3
    b = [0, 1, 0, 1, 1, 1]  # right on 0, 1, 4
    probs = one_hot_probs([a, b])
    correct = correctness(probs, labels)
    n11, n10, n01, n00 = (c[0, 1] for c in counts(correct))
    assert (n11, n10, n01, n00) == (2, 2, 1, 1)
    assert disagreement(probs)[0, 1] == pytest.approx(3 / 6)  # images 2, 3, 4
    assert double_fault(correct)[0, 1] == pytest.approx(1 / 6)  # image 5
    assert yules_q(correct)[0, 1] == pytest.approx((2 * 1 - 2 * 1) / (2 * 1 + 2 * 1))
    c_obs, c_exp = 3 / 6, (4 / 6) * (3 / 6) + (2 / 6) * (3 / 6)
    assert error_consistency(correct)[0, 1] == pytest.approx((c_obs - c_exp) / (1 - c_exp))
    # images where the predictions differ: JS of (0.8, 0.1, 0.1) and (0.1, 0.8, 0.1) (permuted), else 0
    p, q = np.array([0.8, 0.1, 0.1]), np.array([0.1, 0.8, 0.1])
    m = (p + q) / 2
    js = (np.sum(p * np.log(p / m)) + np.sum(q * np.log(q / m))) / 2
    assert js_divergence(probs)[0, 1] == pytest.approx(3 / 6 * js)
    np.testing.assert_allclose(np.diag(disagreement(probs)), 0)
    np.testing.assert_allclose(np.diag(error_consistency(correct)), 1)


def test_error_consistency_is_sklearns_cohen_kappa_of_the_correctness():
    probs, labels = random_outputs()
    correct = correctness(probs, labels)
    kappa = error_consistency(correct)
    for i in range(4):
        for j in range(4):
            assert kappa[i, j] == pytest.approx(cohen_kappa_score(correct[i], correct[j]), abs=1e-12)


def test_js_divergence_is_scipys_jensenshannon_squared():
    probs, _ = random_outputs()
    js = js_divergence(probs)
    for i in range(4):
        for j in range(4):
            expected = np.mean(jensenshannon(probs[i], probs[j], axis=1) ** 2)
            assert js[i, j] == pytest.approx(expected, abs=1e-12)
    assert js.max() <= np.log(2)


def test_yules_q_is_the_odds_ratio_transform_and_double_fault_counts_joint_errors():
    probs, labels = random_outputs()
    correct = correctness(probs, labels)
    q, df = yules_q(correct), double_fault(correct)
    for i in range(4):
        for j in range(i + 1, 4):
            table = [[np.sum(correct[i] & correct[j]), np.sum(correct[i] & ~correct[j])],
                     [np.sum(~correct[i] & correct[j]), np.sum(~correct[i] & ~correct[j])]]
            ratio = odds_ratio(table, kind="sample").statistic
            assert q[i, j] == pytest.approx((ratio - 1) / (ratio + 1), abs=1e-12)
            assert df[i, j] == pytest.approx(table[1][1] / correct.shape[1])


def test_undefined_statistics_are_nan_and_a_constant_model_has_kappa_0_as_in_sklearn():
    labels = np.array([0, 1, 0, 1])
    probs = one_hot_probs([[0, 1, 0, 1], [0, 0, 0, 1], [0, 1, 0, 1]], classes=2)  # 0 and 2 right everywhere
    correct = correctness(probs, labels)
    kappa = error_consistency(correct)
    assert np.isnan(kappa[0, 2])  # c_exp = 1
    assert kappa[0, 1] == 0 == cohen_kappa_score(correct[0], correct[1])
    assert np.isnan(yules_q(correct)[0, 1])  # N01 = N00 = 0, so N11 N00 + N01 N10 = 0


def test_bad_shapes_are_refused():
    with pytest.raises(ArchsimError, match="models, images, classes"):
        disagreement(np.zeros((3, 4)))
    with pytest.raises(ArchsimError, match="labels"):
        correctness(np.zeros((2, 4, 3)), np.zeros(5))


@pytest.mark.parametrize("name,distance", [
    ("procrustes", True), ("shape", True), ("rsa", False), ("mutual-knn", False), ("cknna", False),
    ("linear-predictivity", False), ("disagreement", True), ("js-divergence", True), ("error-consistency", False),
    ("double-fault", False), ("yules-q", False)])
def test_every_new_measure_is_oriented_as_a_similarity_for_the_applications(name, distance):
    measure = get_measure(name)
    assert measure.is_distance(measure.check({})) is distance
    values = np.array([[0.0, 0.2], [0.2, 0.0]])
    np.testing.assert_array_equal(oriented(name, values), -values if distance else values)

"""Shape metrics, RSA, mutual k-NN / CKNNA and linear predictivity against hand cases, second
implementations (scipy, sklearn, the reference codes' formulas written out here) and their invariances."""

import math

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes, subspace_angles
from scipy.spatial.distance import pdist
from scipy.stats import ortho_group, pearsonr, spearmanr
from sklearn.linear_model import Ridge

from archsim.errors import ArchsimError
from archsim.similarity.cka import cka, gram_linear
from archsim.similarity.linear_predictivity import fold_indices, linear_predictivity
from archsim.similarity.neighbours import cknna, mutual_knn, neighbourhood
from archsim.similarity.rsa import rdm, rsa
from archsim.similarity.shape_metrics import angular_shape_distance, procrustes_distance

RNG = np.random.default_rng(0)


def reps(n=40, p=5, q=7, noise=0.5, seed=0):
    """Two related representations: y a linear image of x plus noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)) * np.linspace(3, 0.5, p)
    y = x @ rng.normal(size=(p, q)) + noise * rng.normal(size=(n, q))
    return x, y


def transforms(x, seed=1):
    """x under rotation, isotropic scale, translation and a permutation of its units."""
    rng = np.random.default_rng(seed)
    p = x.shape[1]
    return {"rotation": x @ ortho_group.rvs(p, random_state=seed), "scale": 7.5 * x,
            "translation": x + rng.normal(size=p) * 10, "permutation": x[:, rng.permutation(p)]}


# -- shape metrics ---------------------------------------------------------------------------------------

def test_shape_metrics_hand_case():
    x = np.array([[1.0], [-1.0], [0.0], [0.0]])
    y = np.array([[1.0], [0.0], [-1.0], [0.0]])  # both centred; <x^, y^> = 1/2
    assert procrustes_distance(x, y) == pytest.approx(1.0)
    for alpha in (0, 0.5, 1):  # one dimension: whitening changes nothing
        assert angular_shape_distance(x, y, alpha) == pytest.approx(math.pi / 3)
    assert procrustes_distance(x, x) == pytest.approx(0, abs=1e-7)


def _unit(x):
    xc = x - x.mean(0)
    return xc / np.linalg.norm(xc)


def _padded(a, b):
    p = max(a.shape[1], b.shape[1])
    return [np.pad(m, ((0, 0), (0, p - m.shape[1]))) for m in (a, b)]


def test_procrustes_equals_scipy_orthogonal_procrustes_with_zero_padding():
    x, y = reps(p=4, q=6)
    a, b = _padded(_unit(x), _unit(y))
    r, _ = orthogonal_procrustes(a, b)
    assert procrustes_distance(x, y) == pytest.approx(np.linalg.norm(a @ r - b), abs=1e-10)


def _netrep_angular(x, y, alpha):
    """netrep's LinearMetric(alpha, score_method="angular").fit_score(x, y), written out independently of
    archsim's SVD form: zero padding, centring, the eigh partial whitening of the centred (unscaled) data with
    eigenvalues clipped at 1e-7 and the variance-preserving factor, the rotation by SVD, the angle."""
    def whiten(m):
        m = m - m.mean(0)
        if alpha > 1 - 1e-7:
            return m
        lam, v = np.linalg.eigh(m.T @ m)
        lam = np.maximum(lam, 1e-7)
        d = alpha + (1 - alpha) * lam ** -0.5
        d *= np.sqrt(lam.sum() / np.sum(alpha ** 2 * lam + 2 * alpha * (1 - alpha) * lam ** 0.5 + (1 - alpha) ** 2))
        return m @ ((v * d) @ v.T)
    a, b = (whiten(m) for m in _padded(x, y))
    u, _, vt = np.linalg.svd(a.T @ b)
    a, b = a @ u, b @ vt.T
    return np.arccos(np.clip((a * b).sum() / (np.linalg.norm(a) * np.linalg.norm(b)), -1, 1))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 1.0])
@pytest.mark.parametrize("scale", [0.01, 1.0, 100.0])
def test_angular_shape_metric_equals_netreps_construction(alpha, scale):
    x, y = reps(p=4, q=6)
    assert angular_shape_distance(scale * x, scale * y, alpha) == pytest.approx(
        _netrep_angular(scale * x, scale * y, alpha), abs=1e-9)


# netrep's LinearMetric(alpha).fit_score(s x, s y) on reps(n=300, p=32, q=24, noise=3.0), computed with the
# netrep package itself (ahwillia/netrep at 0186b8a): {alpha: {scale: theta}}.
NETREP = {0.0: {0.01: 0.7170789252573774, 1.0: 0.7170789252573773, 100.0: 0.7170789252573773},
          0.5: {0.01: 0.6816931200641863, 1.0: 0.6182633833905047, 100.0: 0.616484556364913},
          1.0: {0.01: 0.6164667031861671, 1.0: 0.6164667031861667, 100.0: 0.6164667031861675}}


@pytest.mark.parametrize("alpha", sorted(NETREP))
def test_angular_shape_metric_equals_netrep_itself_at_three_scales(alpha):
    x, y = reps(n=300, p=32, q=24, noise=3.0)
    for scale, theta in NETREP[alpha].items():
        assert angular_shape_distance(scale * x, scale * y, alpha) == pytest.approx(theta, abs=1e-9)
        assert _netrep_angular(scale * x, scale * y, alpha) == pytest.approx(theta, abs=1e-9)


def test_what_the_shape_metric_is_and_is_not_invariant_to():
    """alpha 0 and 1 ignore isotropic scale; 0 < alpha < 1 does not: scaling the data up moves theta_alpha to
    theta_1, down to theta_0 (the weights alpha S + (1 - alpha) compare S with 1). The unit-norm variant is
    scale-free at every alpha and equals the metric on inputs scaled to unit norm."""
    x, y = reps(n=60, p=6, q=8)
    theta = {a: angular_shape_distance(x, y, a) for a in (0.0, 0.5, 1.0)}
    for a in (0.0, 1.0):
        assert angular_shape_distance(1e-3 * x, 1e3 * y, a) == pytest.approx(theta[a], abs=1e-9)
    small, large = (angular_shape_distance(s * x, s * y, 0.5) for s in (1e-6, 1e6))
    assert small == pytest.approx(theta[0.0], abs=1e-4) and large == pytest.approx(theta[1.0], abs=1e-4)
    assert abs(small - large) > 0.05
    unit = [angular_shape_distance(s * x, y, 0.5, unit_norm=True) for s in (1e-4, 1.0, 1e4)]
    assert unit == pytest.approx([unit[1]] * 3, abs=1e-9)
    assert unit[1] == pytest.approx(angular_shape_distance(_unit(x), _unit(y), 0.5), abs=1e-9)
    assert unit[1] == pytest.approx(_netrep_angular(_unit(x), _unit(y), 0.5), abs=1e-9)


def test_alpha_0_is_cca_and_alpha_1_is_angular_procrustes():
    x, y = reps(p=4, q=6)
    rho = np.cos(subspace_angles(x - x.mean(0), y - y.mean(0)))  # canonical correlations
    assert math.cos(angular_shape_distance(x, y, 0)) == pytest.approx(rho.sum() / math.sqrt(4 * 6), abs=1e-10)
    d = procrustes_distance(x, y)
    assert math.cos(angular_shape_distance(x, y, 1)) == pytest.approx(1 - d ** 2 / 2, abs=1e-10)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_shape_metrics_are_invariant_to_rotation_translation_and_permutation(alpha):
    x, y = reps()
    for how, tx in transforms(x).items():
        if how != "scale" or alpha in (0.0, 1.0):
            assert angular_shape_distance(tx, y, alpha) == pytest.approx(angular_shape_distance(x, y, alpha),
                                                                         abs=1e-9), how
        assert angular_shape_distance(tx, y, alpha, unit_norm=True) == pytest.approx(
            angular_shape_distance(x, y, alpha, unit_norm=True), abs=1e-9), how
        assert procrustes_distance(tx, y) == pytest.approx(procrustes_distance(x, y), abs=1e-9), how


def test_only_full_whitening_is_invariant_to_stretching_one_unit():
    x, y = reps()
    stretched = x * np.array([10.0, 1, 1, 1, 1])
    assert angular_shape_distance(stretched, y, 0) == pytest.approx(angular_shape_distance(x, y, 0), abs=1e-9)
    for alpha in (0.5, 1.0):
        assert abs(angular_shape_distance(stretched, y, alpha) - angular_shape_distance(x, y, alpha)) > 1e-2
    assert abs(procrustes_distance(stretched, y) - procrustes_distance(x, y)) > 1e-2


def test_shape_metrics_satisfy_the_triangle_inequality_over_many_random_triples():
    """500 random triples (shapes and spreads drawn at random, some nearly collinear: c between a and b), for
    procrustes and the angular metric at alpha 0, 0.5 and 1, and the unit-norm variant."""
    rng = np.random.default_rng(7)
    metrics = [procrustes_distance] + [lambda u, v, a=a: angular_shape_distance(u, v, a) for a in (0.0, 0.5, 1.0)] \
        + [lambda u, v: angular_shape_distance(u, v, 0.5, unit_norm=True)]
    worst = -np.inf
    for _ in range(500):
        n, p = rng.integers(8, 30), rng.integers(2, 6)
        a, b = rng.normal(size=(n, p)) * rng.uniform(0.1, 3, p), rng.normal(size=(n, p))
        c = (a + b) / 2 + rng.uniform(0, 1) * rng.normal(size=(n, p))
        for d in metrics:
            ab, bc, ac = d(a, b), d(b, c), d(a, c)
            worst = max(worst, ac - ab - bc, ab - ac - bc, bc - ab - ac)
    assert worst <= 1e-9


# -- RSA -------------------------------------------------------------------------------------------------

def test_rsa_hand_case():
    x, y = np.array([[0.0], [1.0], [3.0]]), np.array([[0.0], [2.0], [3.0]])
    np.testing.assert_allclose(rdm(x, "euclidean"), [1, 3, 2])
    assert rsa(x, y, "euclidean", "pearson") == pytest.approx(0.5)  # (1,3,2) against (2,3,1)
    assert rsa(x, y, "euclidean", "spearman") == pytest.approx(0.5)


@pytest.mark.parametrize("kind", ["correlation", "euclidean"])
def test_rdm_and_comparison_equal_scipy(kind):
    x, y = reps(n=25)
    np.testing.assert_allclose(rdm(x, kind), pdist(x, kind), atol=1e-12)
    assert rsa(x, y, kind, "spearman") == pytest.approx(spearmanr(pdist(x, kind), pdist(y, kind)).statistic, abs=1e-12)
    assert rsa(x, y, kind, "pearson") == pytest.approx(pearsonr(pdist(x, kind), pdist(y, kind)).statistic, abs=1e-12)


def test_rsa_invariances_and_the_correlation_rdms_dependence_on_rotation():
    x, y = reps(n=25)
    for kind in ("correlation", "euclidean"):
        for how in ("scale", "permutation") + (("rotation", "translation") if kind == "euclidean" else ()):
            assert rsa(transforms(x)[how], y, kind) == pytest.approx(rsa(x, y, kind), abs=1e-12), (kind, how)
    assert abs(rsa(transforms(x)["rotation"], y, "correlation") - rsa(x, y, "correlation")) > 1e-3


def test_rsa_refuses_a_constant_example_under_correlation():
    with pytest.raises(ArchsimError, match="constant over its units"):
        rdm(np.array([[1.0, 1.0], [0.0, 1.0], [2.0, 0.0]]), "correlation")


# -- mutual k-NN and CKNNA -----------------------------------------------------------------------------

def _on_circle(degrees):
    t = np.radians(degrees)
    return np.stack([np.cos(t), np.sin(t)], axis=1)


def test_mutual_knn_hand_case():
    x, y = _on_circle([0, 10, 25, 100, 130]), _on_circle([0, 30, 40, 100, 105])
    # nearest neighbours: x 1, 0, 1, 4, 3; y 1, 2, 1, 4, 3 -> 4 of 5 shared
    assert mutual_knn(neighbourhood(x, 1), neighbourhood(y, 1)) == pytest.approx(0.8)


def _platonic(fa, fb, k):
    """mutual_knn and cknna as the platonic-rep code computes them (metrics.py), without its 1e-6 guard."""
    fa, fb = (torch.nn.functional.normalize(torch.as_tensor(f), dim=-1) for f in (fa, fb))
    n = len(fa)

    def knn(f):
        return (f @ f.T).fill_diagonal_(-1e8).argsort(dim=1, descending=True)[:, :k]

    def masks(f):
        m = torch.zeros(n, n, dtype=f.dtype)
        m[torch.arange(n)[:, None], knn(f)] = 1.0
        return m

    def hsic(K, L):
        K, L = K.clone().fill_diagonal_(0), L.clone().fill_diagonal_(0)
        v = (K * L.T).sum() + K.sum() * L.sum() / ((n - 1) * (n - 2)) - 2 * (K @ L).sum() / (n - 2)
        return v / (n * (n - 3))

    ka, kb = fa @ fa.T, fb @ fb.T
    ma, mb = masks(fa), masks(fb)
    mutual = ((ma * mb).sum(dim=1) / k).mean().item()
    sim = hsic(ma * mb * ka, ma * mb * kb) / torch.sqrt(hsic(ma * ka, ma * ka) * hsic(mb * kb, mb * kb))
    return mutual, sim.item()


@pytest.mark.parametrize("k", [3, 10])
def test_mutual_knn_and_cknna_equal_the_platonic_rep_formulas(k):
    x, y = reps(n=60, noise=2.0)
    mutual, sim = _platonic(x, y, k)
    a, b = neighbourhood(x, k), neighbourhood(y, k)
    assert mutual_knn(a, b) == pytest.approx(mutual, abs=1e-12)
    assert cknna(a, b) == pytest.approx(sim, abs=1e-10)


def test_cknna_with_every_neighbour_is_debiased_cka_of_the_unit_rows():
    x, y = reps(n=30, noise=2.0)
    unit = [m / np.linalg.norm(m, axis=1, keepdims=True) for m in (x, y)]
    expected = cka(gram_linear(unit[0]), gram_linear(unit[1]), debiased=True)
    assert cknna(neighbourhood(x, 29), neighbourhood(y, 29)) == pytest.approx(expected, abs=1e-10)


def test_neighbour_measures_invariant_to_rotation_and_scale_not_to_translation():
    x, y = reps(n=60, noise=2.0)
    b = neighbourhood(y, 5)
    base = (mutual_knn(neighbourhood(x, 5), b), cknna(neighbourhood(x, 5), b))
    for how in ("rotation", "scale", "permutation"):
        a = neighbourhood(transforms(x)[how], 5)
        assert (mutual_knn(a, b), cknna(a, b)) == pytest.approx(base, abs=1e-9), how
    moved = neighbourhood(transforms(x)["translation"], 5)
    assert abs(cknna(moved, b) - base[1]) > 1e-3


def test_neighbourhood_refuses_k_out_of_range():
    with pytest.raises(ArchsimError, match="1 <= k <= n - 1"):
        neighbourhood(np.eye(4), 4)


# -- linear predictivity -----------------------------------------------------------------------------------

def _sklearn_r2(x, y, folds, ridge, seed=0):
    """Pooled cross-validated R^2 of sklearn's Ridge, alpha = ridge x ||Xc_train||_F^2 on each fold."""
    sse = sst = 0.0
    for test in fold_indices(len(x), folds, seed):
        train = np.setdiff1d(np.arange(len(x)), test)
        alpha = ridge * np.linalg.norm(x[train] - x[train].mean(0)) ** 2
        pred = Ridge(alpha=alpha, fit_intercept=True, solver="svd").fit(x[train], y[train]).predict(x[test])
        sse += ((y[test] - pred) ** 2).sum()
        sst += ((y[test] - y[train].mean(0)) ** 2).sum()
    return 1 - sse / sst


@pytest.mark.parametrize("ridge", [1e-4, 1e-2, 1.0])
def test_linear_predictivity_equals_sklearn_ridge_cross_validated(ridge):
    x, y = reps(n=50, p=6, q=4, noise=1.0)
    for a, b in ((x, y), (y, x)):
        assert linear_predictivity(a, b, folds=5, ridge=ridge) == pytest.approx(_sklearn_r2(a, b, 5, ridge), abs=1e-9)


def test_linear_predictivity_hand_cases_and_asymmetry():
    x = RNG.normal(size=(200, 6))
    assert linear_predictivity(x, x @ RNG.normal(size=(6, 3)), ridge=1e-8) == pytest.approx(1, abs=1e-6)
    assert linear_predictivity(x, RNG.normal(size=(200, 3))) < 0.05  # unrelated: nothing to predict
    part = x[:, :2]
    assert linear_predictivity(x, part, ridge=1e-8) == pytest.approx(1, abs=1e-6)
    assert linear_predictivity(part, x) == pytest.approx(2 / 6, abs=0.1)  # two of six unit-variance outputs


def test_linear_predictivity_invariances_and_dependence_on_output_scales():
    x, y = reps(n=50, noise=1.0)
    base = linear_predictivity(x, y)
    for how in ("rotation", "scale", "translation", "permutation"):
        assert linear_predictivity(transforms(x)[how], y) == pytest.approx(base, abs=1e-9), how
        assert linear_predictivity(x, transforms(y)[how]) == pytest.approx(base, abs=1e-9), how
    stretched = y * np.array([30.0] + [1.0] * (y.shape[1] - 1))
    assert abs(linear_predictivity(x, stretched) - base) > 1e-3


def test_fold_indices_partition_and_refuse_too_many_folds():
    folds = fold_indices(11, 3, seed=4)
    assert sorted(np.concatenate(folds).tolist()) == list(range(11)) and [len(f) for f in folds] == [4, 4, 3]
    with pytest.raises(ArchsimError, match="folds"):
        fold_indices(5, 3)

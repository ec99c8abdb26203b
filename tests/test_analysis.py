"""Matrix validation, clustering, component importance and matrix comparison on planted structure."""

import itertools
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import adjusted_rand_score, silhouette_score

from analysis.matrix.clustering import affinity, cluster_models, dissimilarity
from analysis.matrix.compare import compare_matrices, mantel, neighbour_agreement
from analysis.matrix.importance import component_importance, pair_design
from analysis.matrix.load import AnalysisWarning, SimilarityMatrix, common_models, load_similarity, validate_similarity
from archsim.errors import ArchsimError
from archsim.matrices import write_matrix


def planted_blocks(sizes, within, between, noise, seed):
    """Symmetric similarity matrix with blocks of the given sizes, rows shuffled; returns (matrix, truth)."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(len(sizes)), sizes)
    truth = truth[rng.permutation(len(truth))]
    n = len(truth)
    s = np.where(truth[:, None] == truth[None, :], within, between) + rng.normal(0, noise, (n, n))
    s = (s + s.T) / 2
    np.fill_diagonal(s, np.nan)
    return SimilarityMatrix([f"m{i:02d}" for i in range(n)], s, "planted"), truth


def random_symmetric(n, rng):
    s = rng.normal(size=(n, n))
    return (s + s.T) / 2


# ---------------------------------------------------------------- matrix input


def test_load_symmetric_matrix_with_nan_diagonal(tmp_path):
    m, _ = planted_blocks([3, 3], np.log(60), np.log(10), 0.1, seed=0)
    write_matrix(tmp_path / "s.csv", m.names, m.values)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnalysisWarning)
        loaded = load_similarity(tmp_path / "s.csv")
    assert loaded.names == m.names
    np.testing.assert_allclose(loaded.pairs(), m.pairs(), rtol=1e-5)
    assert np.isnan(np.diag(loaded.values)).all()


def test_asymmetric_matrix_is_symmetrised_with_a_warning():
    values = np.array([[0, 1, 2], [3, 0, 4], [2, 4, 0]], dtype=float)
    with pytest.warns(AnalysisWarning, match=r"not symmetric \(largest difference 2 between \(a, b\)"):
        m = validate_similarity(["a", "b", "c"], values)
    assert m.values[0, 1] == m.values[1, 0] == 2.0
    assert m.values[0, 2] == 2.0


def test_differences_within_tolerance_are_symmetrised_silently():
    values = np.array([[0, 1, 2], [1 + 1e-9, 0, 4], [2, 4, 0]], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnalysisWarning)
        m = validate_similarity(["a", "b", "c"], values)
    assert m.values[0, 1] == m.values[1, 0]


def test_nan_policy():
    nan = np.nan
    with pytest.warns(AnalysisWarning, match=r"1 empty cell\(s\) filled from the mirrored cell"):
        m = validate_similarity(["a", "b", "c"], np.array([[nan, nan, 2], [1, nan, 4], [2, 4, nan]]))
    assert m.values[0, 1] == m.values[1, 0] == 1
    with pytest.raises(ArchsimError, match=r"1 model pair\(s\) have no value in either direction: \(a, c\)"):
        validate_similarity(["a", "b", "c"], np.array([[0, 1, nan], [1, 0, 4], [nan, 4, 0]]))


@pytest.mark.parametrize("names, values, match", [
    (["a", "a", "b"], np.zeros((3, 3)), "repeat"),
    (["a", "b"], np.zeros((2, 2)), "at least 3"),
    (["a", "b", "c"], np.array([[0, np.inf, 1], [1, 0, 1], [1, 1, 0]]), "infinite"),
])
def test_bad_matrices_are_rejected(names, values, match):
    with pytest.raises(ArchsimError, match=match):
        validate_similarity(names, values)


def test_header_and_row_names_must_agree(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(",a,b,c\na,0,1,2\nb,1,0,3\nx,2,3,0\n")
    with pytest.raises(ArchsimError, match="header names and row names differ"):
        load_similarity(path)


def test_common_models_reports_the_names_that_do_not_match():
    with pytest.warns(AnalysisWarning) as caught:
        common = common_models(["resnet50", "vit_small", "convnext", "mixer", "swin"],
                               ["swin", "resnet50", "vit_small", "convnxt", "deit"], what="M", other_what="F")
    assert common == ["resnet50", "vit_small", "swin"]
    msg = str(caught[0].message)
    assert "using the 3 in both" in msg
    assert "convnext (did you mean convnxt?)" in msg and "mixer" in msg and "in F but not in M: convnxt, deit" in msg
    with pytest.raises(ArchsimError, match="2 model"), pytest.warns(AnalysisWarning):
        common_models(["a", "b", "c"], ["a", "b"], what="M", other_what="F")


# ---------------------------------------------------------------- clustering


def test_affinity_and_dissimilarity_formulas():
    s = np.array([[np.nan, np.log(50), np.log(5)], [np.log(50), np.nan, np.log(10)], [np.log(5), np.log(10), np.nan]])
    np.testing.assert_allclose(affinity(s, "exp"), [[0, 1, 0.1], [1, 0, 0.2], [0.1, 0.2, 0]])
    np.testing.assert_allclose(affinity(s, "linear")[0, 1], np.log(10))
    d = dissimilarity(s)
    np.testing.assert_allclose(d, [[0, 0, np.log(10)], [0, 0, np.log(5)], [np.log(10), np.log(5), 0]])


@pytest.mark.parametrize("k_method", ["eigengap", "silhouette"])
def test_clustering_recovers_planted_blocks(k_method):
    m, truth = planted_blocks([5, 6, 7], np.log(60), np.log(8), 0.15, seed=1)
    res = cluster_models(m, k_method=k_method, seed=0)
    assert res.k == 3 and res.k_method == k_method
    assert adjusted_rand_score(truth, res.labels) == 1.0
    assert adjusted_rand_score(truth, res.hierarchical_labels) == 1.0
    assert res.labels[0] == 0 and set(res.labels) == {0, 1, 2}
    # the 2-D maps keep the blocks apart
    assert silhouette_score(res.mds, truth) > 0.5
    assert silhouette_score(res.tsne, truth) > 0.5


def test_given_k_and_linear_affinity_on_a_cka_like_matrix():
    m, truth = planted_blocks([4, 4, 4, 4], 0.8, 0.3, 0.03, seed=2)
    res = cluster_models(m, k=4, affinity_kind="linear", seed=0, embed=False)
    assert res.k_method == "given" and adjusted_rand_score(truth, res.labels) == 1.0
    with pytest.raises(ArchsimError, match="between 2 and 15"):
        cluster_models(m, k=16)


def test_clustering_is_reproducible_from_the_seed():
    m, _ = planted_blocks([4, 5, 6], np.log(40), np.log(10), 0.5, seed=3)
    a, b = cluster_models(m, seed=7), cluster_models(m, seed=7)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.tsne, b.tsne)
    np.testing.assert_array_equal(a.mds, b.mds)


# ---------------------------------------------------------------- importance


def planted_components(n, seed):
    """Features A (strong), B (medium), C (irrelevant) and S = 2[A_i = A_j] + [B_i = B_j] + noise."""
    rng = np.random.default_rng(seed)
    names = [f"m{i:02d}" for i in range(n)]
    feats = {nm: {"A": "abcd"[i % 4], "B": ["x", "y", "z"][rng.integers(3)], "C": ["p", "q", "r"][rng.integers(3)]}
             for i, nm in enumerate(names)}
    s = np.zeros((n, n))
    for i, j in itertools.combinations(range(n), 2):
        fi, fj = feats[names[i]], feats[names[j]]
        s[i, j] = s[j, i] = 2.0 * (fi["A"] == fj["A"]) + 1.0 * (fi["B"] == fj["B"]) + rng.normal(0, 0.15)
    return SimilarityMatrix(names, s, "planted"), feats


def test_pair_design_is_unordered():
    x = pair_design(["u", "v", "w"], {"u": {"N": "LN"}, "v": {"N": "BN"}, "w": {"N": "LN"}}, ["N"])
    assert x[:, 0].tolist() == ["BN\tLN", "LN\tLN", "BN\tLN"]  # pairs (u,v), (u,w), (v,w)


def test_importance_recovers_planted_effects():
    m, feats = planted_components(24, seed=0)
    imp = component_importance(m, feats, ["C", "B", "A"], seed=0)
    for method in ("linear_drop_r2", "gbt_permutation"):
        ranking = [c for c, _, meth in imp.rows() if meth == method]
        assert ranking == ["A", "B", "C"], method
        assert imp.fit[method]["cv_r2"] > 0.8
        assert abs(imp.scores[method][0]) < 0.02  # C explains nothing
    # S_ij is linear in the shared flags: variance shares 4 Var(shared_A) : Var(shared_B)
    drop = dict(zip(["C", "B", "A"], imp.scores["linear_drop_r2"]))
    assert drop["A"] > 2 * drop["B"] > 0.05
    assert imp.n_pairs == 24 * 23 // 2


def test_importance_is_reproducible_and_needs_enough_pairs():
    m, feats = planted_components(12, seed=1)
    a = component_importance(m, feats, ["A", "B", "C"], seed=3)
    b = component_importance(m, feats, ["A", "B", "C"], seed=3)
    assert a.rows() == b.rows()
    small = m.subset(m.names[:4])
    with pytest.raises(ArchsimError, match="too few"):
        component_importance(small, feats, ["A"], seed=0)


# ---------------------------------------------------------------- comparison


def test_rank_correlations_of_a_monotone_transform_are_one():
    m, _ = planted_blocks([4, 4], np.log(50), np.log(10), 0.3, seed=4)
    other = SimilarityMatrix(m.names, np.exp(m.values) ** 2, "squared")
    c = compare_matrices(m, other, permutations=199)
    assert c.spearman == pytest.approx(1.0) and c.kendall == pytest.approx(1.0)
    assert c.pearson < 0.999
    assert c.nn_agreement == 1.0 and c.knn_overlap == 1.0
    assert c.n_models == 8 and c.n_pairs == 28


def test_mantel_p_is_small_for_related_matrices():
    rng = np.random.default_rng(5)
    a = random_symmetric(15, rng)
    b = a + 0.5 * random_symmetric(15, rng)
    r, p = mantel(a, b, permutations=499, seed=0)
    assert r > 0.7 and p == pytest.approx(1 / 500)


def test_mantel_p_is_uniform_under_the_null():
    rng = np.random.default_rng(6)
    ps = np.array([mantel(random_symmetric(8, rng), random_symmetric(8, rng), permutations=99, seed=s)[1]
                   for s in range(300)])
    assert stats.kstest(ps, "uniform").pvalue > 0.01
    assert 0.02 < np.mean(ps <= 0.05) < 0.09


def test_mantel_matches_exhaustive_enumeration():
    rng = np.random.default_rng(7)
    a, b = random_symmetric(5, rng), random_symmetric(5, rng)
    a += 0.8 * b
    i, j = np.triu_indices(5, k=1)
    r_obs = np.corrcoef(a[i, j], b[i, j])[0, 1]
    exact = np.mean([np.corrcoef(a[i, j], b[np.ix_(p, p)][i, j])[0, 1] >= r_obs - 1e-12
                     for p in map(list, itertools.permutations(range(5)))])
    r, p = mantel(a, b, permutations=20000, seed=0)
    assert r == pytest.approx(r_obs)
    assert p == pytest.approx(exact, abs=0.01)


def test_neighbour_agreement_by_hand():
    a = np.array([[0, 9, 1, 2], [9, 0, 3, 1], [1, 3, 0, 8], [2, 1, 8, 0]], dtype=float)
    b = np.array([[0, 1, 9, 2], [1, 0, 3, 8], [9, 3, 0, 1], [2, 8, 1, 0]], dtype=float)
    # nearest under a: 0->1, 1->0, 2->3, 3->2; under b: 0->2, 1->3, 2->0, 3->1
    nn, overlap = neighbour_agreement(a, b, 2)
    assert nn == 0.0
    # top-2 under a: {1,3}, {0,2}, {3,1}, {2,0}; under b: {2,3}, {3,2}, {0,1}, {1,0}: overlaps 1,1,1,1 of 2
    assert overlap == 0.5


def test_comparison_uses_the_common_models():
    m, _ = planted_blocks([3, 3], np.log(50), np.log(10), 0.3, seed=8)
    other = m.subset(m.names[::-1][:5])
    with pytest.warns(AnalysisWarning, match="using the 5 in both"):
        c = compare_matrices(m, SimilarityMatrix(other.names, other.values, "other"), permutations=99)
    assert c.n_models == 5 and c.spearman == pytest.approx(1.0)


def test_embedding_leaves_the_dissimilarity_unchanged():
    """sklearn's TSNE squares precomputed distances in place; MDS must still see the original matrix."""
    from analysis.matrix.clustering import embed_2d

    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 3))
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    d[1, 2] = d[2, 1] = 0.0  # two models at distance zero (the most similar pair has D = 0)
    before = d.copy()
    tsne, mds = embed_2d(d, seed=0)
    np.testing.assert_array_equal(d, before)
    assert np.isfinite(tsne).all() and np.isfinite(mds).all()

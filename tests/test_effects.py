"""Per-model effects of SAT (archsim.sat.effects) and the sat-adjusted pair term."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from analysis.matrix.clustering import cluster_models
from analysis.matrix.load import load_similarity, validate_similarity
from archsim.matrices import read_matrix, write_matrix
from archsim.sat.effects import directional_effects, model_effects


def test_a_hand_computed_3_by_3_case():
    """SAT_12 = 3, SAT_13 = 4, SAT_23 = 5: mu = 4, a = (-1, 0, 1) fit exactly, so no pair term is left."""
    sat = np.array([[4.6, 3, 4], [3, 4.6, 5], [4, 5, 4.6]])
    e = model_effects(sat)
    assert e.mu == pytest.approx(4) and e.effects == pytest.approx([-1, 0, 1]) and e.r2 == pytest.approx(1)
    np.testing.assert_allclose(e.adjusted[~np.eye(3, dtype=bool)], 0, atol=1e-12)
    assert np.isnan(np.diag(e.adjusted)).all()


def test_a_4_by_4_case_by_the_normal_equations():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(4, 4))
    s = s + s.T
    i, j = np.triu_indices(4, 1)
    x = np.zeros((6, 5))
    x[:, 0] = 1
    x[np.arange(6), 1 + i] = x[np.arange(6), 1 + j] = 1
    fitted = x @ np.linalg.pinv(x) @ s[i, j]
    e = model_effects(s)
    np.testing.assert_allclose(e.adjusted[i, j], s[i, j] - fitted, atol=1e-12)
    assert e.r2 == pytest.approx(1 - ((s[i, j] - fitted) ** 2).sum() / ((s[i, j] - s[i, j].mean()) ** 2).sum())
    assert e.effects.sum() == pytest.approx(0, abs=1e-12)


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
    from archsim.sat.effects import row_rank, seed_pairs

    cfg = parse_config({"data": {"source": "digits"}, "models": [
        {"name": "resnet18", "label": "a"}, {"name": "resnet18", "label": "a_s1", "seed": 1},
        {"name": "resnet18", "label": "wide", "kwargs": {"channels": [8, 16, 32, 64]}}, {"name": "vit_tiny_patch16_224",
                                                                                         "label": "v"}]})
    assert seed_pairs(cfg.models) == [("a", "a_s1")]
    m = np.array([[9, 1, 3, 2], [1, 9, 0, 5], [3, 0, 9, 4], [2, 5, 4, 9.0]])
    assert (row_rank(m, 0, 2), row_rank(m, 0, 1), row_rank(m, 1, 3)) == (1, 3, 1)

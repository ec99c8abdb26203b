"""Hypothesis-training-testing: chance for one distribution, high accuracy for clearly different groups."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from archsim.errors import ArchsimError
from archsim.similarity.chain_norm import align, normalized_chain, representation
from archsim.similarity.weight_test import hypothesis_training_testing, smallest_p


def test_synthetic_groups():
    rng = np.random.default_rng(0)
    same = hypothesis_training_testing(rng.normal(size=(10, 40)), rng.normal(size=(10, 40)), n_permutations=30)
    assert same.chance == 0.5 and same.accuracy <= 0.7 and same.p_value > 0.05
    apart = hypothesis_training_testing(rng.normal(size=(10, 40)), rng.normal(1.0, 1.0, size=(10, 40)),
                                        n_permutations=30, classifier="svm")
    assert apart.accuracy == 1.0 and apart.p_value == pytest.approx(1 / 31)
    assert (apart.n_splits, apart.train_size, apart.test_size) == (5, 16, 4)
    uneven = hypothesis_training_testing(rng.normal(size=(6, 5)), rng.normal(size=(4, 5)), n_permutations=5)
    assert uneven.chance == 0.6 and uneven.n_splits == 4


def test_the_smallest_achievable_p_by_hand_and_by_the_permutation_test():
    assert smallest_p(2, 2, 9) == pytest.approx((1 + 9 * 2 / 6) / 10)  # 6 labelings, 2 split the models as the truth
    assert smallest_p(2, 3, 9) == pytest.approx((1 + 9 / 10) / 10)
    assert smallest_p(10, 10, 30) == pytest.approx(1 / 31, abs=1e-4)
    rng = np.random.default_rng(3)
    apart = hypothesis_training_testing(rng.normal(size=(2, 8)), rng.normal(5.0, 1.0, size=(2, 8)),
                                        n_permutations=300)
    assert apart.accuracy == 1.0 and apart.min_p == pytest.approx(smallest_p(2, 2, 300))
    assert apart.p_value == pytest.approx(apart.min_p, abs=0.08)  # 2 vs 2 cannot reach 0.05, however apart


@pytest.mark.parametrize("change,message", [
    (dict(X_b=np.zeros((1, 3))), "at least 2 models"),
    (dict(X_b=np.zeros((3, 4))), "differ in length"),
    (dict(n_splits=4), "splits must be between 2 and"),
    (dict(classifier="forest"), "classifier must be one of"),
    (dict(n_permutations=0), "permutations must be at least 1"),
])
def test_bad_input(change, message):
    args = {"X_a": np.zeros((3, 3)), "X_b": np.ones((3, 3)), **change}
    with pytest.raises(ArchsimError, match=message):
        hypothesis_training_testing(**args)


def _trained_mlp(seed, inverted=False):
    """A 64-16-16-10 ReLU MLP trained full-batch on scikit-learn's digits (optionally with inverted intensities)."""
    X, y = load_digits(return_X_y=True)
    X = torch.tensor((16 - X if inverted else X) / 16, dtype=torch.float32)
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 10))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(net(X), torch.tensor(y)).backward()
        opt.step()
    return net.eval()


def test_trained_networks_same_recipe_vs_inverted_inputs():
    """Seeds of one recipe are indistinguishable; the recipe on inverted images is told apart."""
    example = torch.randn(2, 64)
    chains = {("a", s): normalized_chain(_trained_mlp(s), example) for s in range(12)}
    chains |= {("b", s): normalized_chain(_trained_mlp(s, inverted=True), example) for s in range(12, 18)}
    vec = {key: representation(align(chains[("a", 0)], chain)[0]) for key, chain in chains.items()}
    group = lambda recipe, seeds: np.stack([vec[(recipe, s)] for s in seeds])  # noqa: E731
    same = hypothesis_training_testing(group("a", range(0, 6)), group("a", range(6, 12)), n_permutations=30)
    assert same.accuracy <= same.chance + 0.2 and same.p_value > 0.05
    apart = hypothesis_training_testing(group("a", range(0, 6)), group("b", range(12, 18)), n_permutations=30)
    assert apart.accuracy >= 0.85 and apart.p_value < 0.05

"""Hypothesis-training-testing on weight representations (Wang, Wang, Liang and Lai, 2022).

Two groups of models, each model a vector (its chain-normalised weights aligned
to one reference model, `chain_norm.representation`). A classifier
(standardised features, then logistic regression or a linear SVM) is trained to
tell the groups apart on some models and tested on held-out ones, by stratified
k-fold cross-validation, so every model is held out once:

    accuracy = mean over folds of the held-out accuracy
    chance   = max(n_a, n_b) / (n_a + n_b)     (always guessing the larger group)
    p        = (1 + #{permutations with accuracy >= observed}) / (1 + n_permutations)

where a permutation reassigns the group labels at random and repeats the whole
cross-validation (scikit-learn's permutation_test_score). High accuracy with a
small p says their weights differ systematically.

Few models bound p from below: of the L = C(n_a + n_b, n_a) labelings, g = 2 split
the models as the true one does when n_a = n_b (the labels swapped), else g = 1,
so even perfectly separated groups expect

    min_p = (1 + n_permutations g / L) / (1 + n_permutations)

(2 vs 2 models: L = 6, min_p ~ 1/3). A p above 0.05 is then no evidence of a
difference, not evidence of sameness; `min_p` says how small p could have been.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, permutation_test_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from archsim.errors import ArchsimError

CLASSIFIERS = ("logistic", "svm")


@dataclass
class WeightTestResult:
    accuracy: float
    chance: float
    p_value: float
    n_a: int
    n_b: int
    n_splits: int
    n_permutations: int
    train_size: int
    test_size: int
    classifier: str
    min_p: float  # the smallest p these group sizes and permutations can give (module docstring)


def smallest_p(n_a: int, n_b: int, n_permutations: int) -> float:
    """(1 + P g / L) / (1 + P): the expected p of perfectly separated groups (module docstring)."""
    labelings = math.comb(n_a + n_b, n_a)
    as_good = 2 if n_a == n_b else 1
    return (1 + n_permutations * as_good / labelings) / (1 + n_permutations)


def hypothesis_training_testing(X_a: np.ndarray, X_b: np.ndarray, *, n_splits: int | None = None,
                                n_permutations: int = 200, classifier: str = "logistic",
                                seed: int = 0) -> WeightTestResult:
    """Cross-validated accuracy of telling rows of X_a from rows of X_b, with its permutation p-value.

    `n_splits` defaults to min(5, size of the smaller group); train/test sizes are those of the largest fold.
    """
    X_a, X_b = np.atleast_2d(X_a), np.atleast_2d(X_b)
    n_a, n_b = len(X_a), len(X_b)
    if X_a.shape[1] != X_b.shape[1]:
        raise ArchsimError(f"the groups' weight vectors differ in length ({X_a.shape[1]} vs {X_b.shape[1]})")
    if min(n_a, n_b) < 2:
        raise ArchsimError(f"each group needs at least 2 models (got {n_a} and {n_b})")
    if classifier not in CLASSIFIERS:
        raise ArchsimError(f"classifier must be one of {', '.join(CLASSIFIERS)}, got {classifier!r}")
    k = min(5, n_a, n_b) if n_splits is None else int(n_splits)
    if not 2 <= k <= min(n_a, n_b):
        raise ArchsimError(f"splits must be between 2 and the smaller group's size {min(n_a, n_b)}, got {k}")
    if n_permutations < 1:
        raise ArchsimError(f"permutations must be at least 1, got {n_permutations}")

    X = np.concatenate([X_a, X_b])
    y = np.array([0] * n_a + [1] * n_b)
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    score, _, p = permutation_test_score(_pipeline(classifier), X, y, cv=cv, n_permutations=n_permutations,
                                         random_state=seed, scoring="accuracy")
    test_size = max(len(test) for _, test in cv.split(X, y))
    return WeightTestResult(accuracy=float(score), chance=max(n_a, n_b) / (n_a + n_b), p_value=float(p),
                            n_a=n_a, n_b=n_b, n_splits=k, n_permutations=n_permutations,
                            train_size=n_a + n_b - test_size, test_size=test_size, classifier=classifier,
                            min_p=smallest_p(n_a, n_b, n_permutations))


def _pipeline(classifier: str):
    """Standardised features, then the linear classifier."""
    model = LogisticRegression(max_iter=2000) if classifier == "logistic" else LinearSVC(max_iter=20000)
    return make_pipeline(StandardScaler(), model)

"""Which components make models similar: pair-level regression on a similarity matrix.

Design (one row per unordered model pair i < j, target y_ij = S_ij): each
component c contributes one raw column holding the unordered value pair
{v_i, v_j}. The encoder expands it into
- shared_c = 1 if v_i == v_j else 0, and
- a one-hot of the unordered value pair (e.g. Normalization = "BN" & "LN"),
so a component can matter both through "same vs different" and through which
values meet.

Two estimators, both sklearn pipelines on that encoding:
- "linear_drop_r2": LinearRegression; importance of c = R^2(all components)
  - R^2(all but c), both fitted on all pairs (the share of variance only c
  explains).
- "gbt_permutation": GradientBoostingRegressor; importance of c = mean drop
  in held-out R^2 when c's raw column is permuted (sklearn
  permutation_importance on each test fold of a K-fold split of the pairs,
  averaged over folds and repeats). Permuting the raw column permutes all of
  c's encoded columns together.

Each estimator's K-fold cross-validated R^2 (mean, std over folds) is
reported. Pairs share models, so folds are not independent samples of
models: the CV R^2 says how well component pairs predict similarity for
pairs not seen, not for models not seen. All randomness comes from `seed`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold, cross_validate
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from analysis.matrix.load import SimilarityMatrix
from archsim.errors import ArchsimError

SEP = "\t"  # joins the two values of an unordered pair
METHODS = ("linear_drop_r2", "gbt_permutation")


def pair_design(names: list[str], features: dict[str, dict[str, str]], components: list[str]) -> np.ndarray:
    """Raw design: (n_pairs, n_components) object array of sorted value pairs "a<TAB>b", pairs i < j."""
    i, j = np.triu_indices(len(names), k=1)
    cols = []
    for c in components:
        v = np.array([features[n][c] for n in names], dtype=object)
        lo = np.where(v[i] <= v[j], v[i], v[j])
        hi = np.where(v[i] <= v[j], v[j], v[i])
        cols.append(np.array([f"{a}{SEP}{b}" for a, b in zip(lo, hi)], dtype=object))
    return np.stack(cols, axis=1)


def _shared(x: np.ndarray) -> np.ndarray:
    """1.0 where the two values of a pair are equal."""
    return np.vectorize(lambda s: float(s.split(SEP)[0] == s.split(SEP)[1]), otypes=[float])(x)


def make_pipeline(model) -> Pipeline:
    """Encoder (shared flags + one-hot value pairs) followed by `model`."""
    encode = FeatureUnion([
        ("shared", FunctionTransformer(_shared)),
        ("pair", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    ])
    return Pipeline([("encode", encode), ("model", model)])


@dataclass
class Importance:
    components: list[str]
    scores: dict[str, np.ndarray]  # method -> importance per component
    fit: dict[str, dict[str, float]]  # method -> {"r2": in-sample, "cv_r2": mean, "cv_r2_std": std}
    n_models: int
    n_pairs: int

    def rows(self) -> list[tuple[str, float, str]]:
        """(component, importance, method), by method, then importance descending."""
        out = []
        for method in METHODS:
            order = np.argsort(-self.scores[method], kind="stable")
            out += [(self.components[k], float(self.scores[method][k]), method) for k in order]
        return out


def component_importance(m: SimilarityMatrix, features: dict[str, dict[str, str]], components: list[str], *,
                         folds: int = 5, repeats: int = 5, seed: int = 0) -> Importance:
    """Importance of each component for the similarity of model pairs (see module docstring).

    `features` must have a row for every model of `m` (align with
    `analysis.matrix.load.common_models` first).
    """
    if not components:
        raise ArchsimError("the features file has no component columns")
    x = pair_design(m.names, features, components)
    y = m.pairs()
    if len(y) < 2 * folds:
        raise ArchsimError(f"{len(y)} model pairs are too few for {folds}-fold cross-validation")
    cv = KFold(n_splits=folds, shuffle=True, random_state=seed)
    scores, fit = {}, {}

    full = make_pipeline(LinearRegression()).fit(x, y)
    r2 = full.score(x, y)
    drops = []
    for k in range(len(components)):
        rest = np.delete(x, k, axis=1)
        drops.append(r2 - make_pipeline(LinearRegression()).fit(rest, y).score(rest, y) if rest.shape[1] else r2)
    scores["linear_drop_r2"] = np.array(drops)
    cvs = cross_validate(make_pipeline(LinearRegression()), x, y, cv=cv, scoring="r2")["test_score"]
    fit["linear_drop_r2"] = {"r2": r2, "cv_r2": float(cvs.mean()), "cv_r2_std": float(cvs.std())}

    gbt = make_pipeline(GradientBoostingRegressor(random_state=seed))
    res = cross_validate(gbt, x, y, cv=cv, scoring="r2", return_estimator=True, return_indices=True)
    perm = np.zeros(len(components))
    for est, test in zip(res["estimator"], res["indices"]["test"]):
        perm += permutation_importance(est, x[test], y[test], scoring="r2", n_repeats=repeats,
                                       random_state=seed).importances_mean
    scores["gbt_permutation"] = perm / folds
    cvs = res["test_score"]
    fit["gbt_permutation"] = {"r2": gbt.fit(x, y).score(x, y), "cv_r2": float(cvs.mean()),
                              "cv_r2_std": float(cvs.std())}
    return Importance(list(components), scores, fit, len(m.names), len(y))

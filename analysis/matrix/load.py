"""Similarity matrices as the analyses need them: validated, symmetric, aligned.

`load_similarity(path)` reads a matrix CSV in the sat.csv format
(`archsim.matrices.read_matrix` checks that it is square and that the header
names equal the row names) and then enforces the analysis contract:

- model names are unique and there are at least 3 models;
- no value is infinite;
- NaN policy: the diagonal is never used by any analysis (clustering uses a
  zero-diagonal affinity, importance and comparisons use the off-diagonal
  pairs), so NaN there is accepted. An off-diagonal NaN whose mirror cell has a
  value takes that value (warning); a pair with no value in either direction is
  an error that lists the pairs;
- symmetry: |S - S^T| <= atol + rtol * |S| everywhere is symmetric; otherwise
  the matrix is replaced by (S + S^T) / 2 with a warning naming the largest
  difference. Either way the result is exactly symmetric.

`common_models` aligns two name lists (a matrix and a features file, or two
matrices): it keeps the models in both, warns about the others and needs at
least 3 in common.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from archsim.errors import ArchsimError
from archsim.matrices import read_matrix

MIN_MODELS = 3


class AnalysisWarning(UserWarning):
    """Input was usable but not as given (symmetrised, filled, models dropped)."""


@dataclass
class SimilarityMatrix:
    """A symmetric model x model similarity matrix (larger = more similar)."""

    names: list[str]
    values: np.ndarray
    source: str = ""

    def subset(self, names: list[str]) -> SimilarityMatrix:
        """The same matrix restricted to `names`, in that order."""
        index = {n: i for i, n in enumerate(self.names)}
        idx = [index[n] for n in names]
        return SimilarityMatrix(list(names), self.values[np.ix_(idx, idx)], self.source)

    def pairs(self) -> np.ndarray:
        """Upper-triangle values S_ij, i < j, in row-major order."""
        i, j = np.triu_indices(len(self.names), k=1)
        return self.values[i, j]


def load_similarity(path: str | Path, *, atol: float = 1e-6, rtol: float = 1e-6) -> SimilarityMatrix:
    """Read and validate a similarity matrix CSV (see the module docstring for the rules)."""
    names, values = read_matrix(path)
    return validate_similarity(names, values, source=str(path), atol=atol, rtol=rtol)


def validate_similarity(names: list[str], values: np.ndarray, *, source: str = "matrix",
                        atol: float = 1e-6, rtol: float = 1e-6) -> SimilarityMatrix:
    """Apply the analysis contract to an in-memory matrix."""
    values = np.array(values, dtype=float)
    n = len(names)
    if values.shape != (n, n):
        raise ArchsimError(f"{source}: matrix shape {values.shape} does not match {n} names")
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise ArchsimError(f"{source}: model names repeat: {', '.join(dup)}")
    if n < MIN_MODELS:
        raise ArchsimError(f"{source}: needs at least {MIN_MODELS} models, has {n}")
    if np.isinf(values).any():
        i, j = np.argwhere(np.isinf(values))[0]
        raise ArchsimError(f"{source}: value for ({names[i]}, {names[j]}) is infinite")
    off = ~np.eye(n, dtype=bool)
    missing = np.isnan(values) & off
    fillable = missing & ~np.isnan(values.T)
    if fillable.any():
        values[fillable] = values.T[fillable]
        pairs = [f"({names[i]}, {names[j]})" for i, j in np.argwhere(fillable)[:5]]
        warnings.warn(f"{source}: {int(fillable.sum())} empty cell(s) filled from the mirrored cell, e.g. "
                      + ", ".join(pairs), AnalysisWarning, stacklevel=2)
    both = np.isnan(values) & off
    if both.any():
        pairs = [f"({names[i]}, {names[j]})" for i, j in np.argwhere(np.triu(both))]
        raise ArchsimError(f"{source}: {len(pairs)} model pair(s) have no value in either direction: "
                           + ", ".join(pairs[:10]) + (" ..." if len(pairs) > 10 else ""))
    diff = np.where(off, np.abs(values - values.T), 0.0)
    tol = atol + rtol * np.abs(np.where(off, values, 0.0))
    if (diff > tol).any():
        i, j = np.unravel_index(np.argmax(diff), diff.shape)
        warnings.warn(f"{source}: not symmetric (largest difference {diff[i, j]:.4g} between "
                      f"({names[i]}, {names[j]}) and ({names[j]}, {names[i]})); using (S + S^T) / 2",
                      AnalysisWarning, stacklevel=2)
    values = np.where(off, (values + values.T) / 2, values)
    return SimilarityMatrix(list(names), values, source)


def common_models(names: list[str], other: list[str], *, what: str, other_what: str) -> list[str]:
    """Names in both lists, in the order of `names`; warns about the rest (with close-name hints)."""
    other_set, names_set = set(other), set(names)
    common = [n for n in names if n in other_set]
    only_here = [n for n in names if n not in other_set]
    only_there = [n for n in other if n not in names_set]
    if only_here or only_there:
        parts = []
        if only_here:
            parts.append(f"{len(only_here)} in {what} but not in {other_what}: "
                         + ", ".join(_hint(n, only_there) for n in only_here))
        if only_there:
            parts.append(f"{len(only_there)} in {other_what} but not in {what}: " + ", ".join(only_there))
        warnings.warn(f"model names do not match; using the {len(common)} in both. " + "; ".join(parts),
                      AnalysisWarning, stacklevel=2)
    if len(common) < MIN_MODELS:
        raise ArchsimError(f"{what} and {other_what} have {len(common)} model(s) in common; "
                           f"need at least {MIN_MODELS}")
    return common


def _hint(name: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"{name} (did you mean {close[0]}?)" if close else name

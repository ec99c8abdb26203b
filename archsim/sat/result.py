"""A SAT run's per-image outcomes and the matrices derived from them (`SATResult`).

The primary result of a SAT run is two arrays:

- `clean_correct[m, i]`: model m classifies clean image i correctly (bool, N x n);
- `adv_correct[s, t, i]`: model t classifies the adversarial image that source s
  made from image i correctly (int8, N x N x n; -1 where it was not evaluated:
  images outside X_st, which never enter a statistic);
- `noise_correct[m, i]` (optional, the control): model m classifies image i
  correctly under random noise of the attack's norm and eps (int8, N x n; -1
  outside its clean-correct images). `noise_error[m]` is the share of m's
  clean-correct images the noise fools: a model with a high one has a SAT row
  that measures fragility (`fragility_warnings(threshold)`).

SAT and the transfer rates follow `archsim.sat.formula`; the pair interval is
the seeded bootstrap over the images of X_AB (`archsim.sat.intervals`), each
image with both directions, mapped through the same ln(max(eps_s, 100 p)).
|X_AB| = 0 gives ln(eps_s) and a warning. Such pairs, and those whose pooled
rate is at or below the floor, are `censored` (`archsim.sat.censoring`):
`sat_measured` holds NaN there (for means), `sat_for_analyses` the least similar
measured pair's value (for clustering, comparisons and selection), and
`effects()` leaves them out of the per-model fit.

A budgeted run (`archsim.sat.budgeted`) evaluates only some pairs: `observed`
(N x N bool, symmetric, the diagonal True) marks them, and every pair matrix
here (transfer, SAT, intervals) is NaN at the others, which are never censored.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from archsim import sanity
from archsim.files import all_or_nothing, write_rows
from archsim.matrices import write_matrix
from archsim.sat.censoring import as_least_measured, censored_pairs
from archsim.sat.effects import ModelEffects, model_effects
from archsim.sat.formula import sat_from_counts, sat_score, transfer_rates
from archsim.sat.intervals import pair_intervals

NOISE_WARNING = 0.10  # a noise error above this makes a model's SAT row a fragility score


@dataclass
class SATResult:
    """Per-image outcomes of a SAT run and the matrices derived from them."""

    names: list[str]
    clean_correct: np.ndarray  # (N, n) bool
    adv_correct: np.ndarray  # (N, N, n) int8: 1 correct, 0 fooled, -1 not evaluated
    eps_s: float
    image_ids: list[str] | None = None
    noise_correct: np.ndarray | None = None  # (N, n) int8: the noise control; None when not run
    observed: np.ndarray | None = None  # (N, N) bool: the pairs evaluated (both directions); None: all
    errors: np.ndarray = field(init=False)  # (N, N) err(A -> B) counts on X_AB
    n_common: np.ndarray = field(init=False)  # (N, N) |X_AB|

    def __post_init__(self):
        clean = self.clean_correct.astype(bool)
        common = clean[:, None, :] & clean[None, :, :]  # (N, N, n) X_AB
        if self.observed is not None:
            self.observed = np.asarray(self.observed, dtype=bool)
            common = common & self.observed[:, :, None]
        evaluated = self.adv_correct[common] >= 0
        if not evaluated.all():
            raise ValueError("adv_correct lacks outcomes for images in X_AB")
        self.n_common = common.sum(-1)
        self.errors = (common & (self.adv_correct == 0)).sum(-1)
        empty = [(self.names[a], self.names[b]) for a, b in zip(*np.nonzero((self.n_common == 0) & self.is_observed))
                 if a <= b]
        if empty:
            warnings.warn(f"{len(empty)} pair(s) have no image both models classify correctly "
                          f"(e.g. {empty[0]}); their SAT is ln(eps_s)", stacklevel=2)

    @property
    def is_observed(self) -> np.ndarray:
        """(N, N) bool: the pairs evaluated (all of them unless the run was budgeted)."""
        return np.ones(self.n_common.shape, dtype=bool) if self.observed is None else self.observed

    def _unobserved_nan(self, values: np.ndarray) -> np.ndarray:
        return values if self.observed is None else np.where(self.observed, values, np.nan)

    @property
    def transfer(self) -> np.ndarray:
        """Directional success rates err(A -> B) / |X_AB| (NaN where |X_AB| = 0 or the pair was not evaluated)."""
        return self._unobserved_nan(transfer_rates(self.errors, self.n_common))

    @property
    def sat(self) -> np.ndarray:
        """SAT matrix, natural log (`archsim.sat.formula`); NaN at pairs not evaluated."""
        return self._unobserved_nan(sat_from_counts(self.errors, self.n_common, self.eps_s))

    @property
    def censored(self) -> np.ndarray:
        """(N, N) bool: the pairs at the floor, |X_AB| = 0 or 100 x the pooled rate <= eps_s (diagonal False)."""
        return censored_pairs(self.errors, self.n_common, self.eps_s) & self.is_observed

    @property
    def sat_measured(self) -> np.ndarray:
        """SAT with NaN at the censored pairs: what means over pairs average."""
        return np.where(self.censored, np.nan, self.sat)

    @property
    def sat_for_analyses(self) -> np.ndarray:
        """SAT with each censored pair at the least similar measured pair's value: what clustering, the
        comparisons and the applications read, so that none of them depends on eps_s."""
        return as_least_measured(self.sat, self.censored)

    def effects(self) -> ModelEffects:
        """The per-model fit of SAT over the measured pairs (`archsim.sat.effects.model_effects`)."""
        return model_effects(self.sat, self.censored)

    @property
    def clean_accuracy(self) -> np.ndarray:
        return self.clean_correct.mean(axis=1)

    @property
    def noise_error(self) -> np.ndarray | None:
        """Per model: the share of its clean-correct images that random noise of the attack's size fools."""
        if self.noise_correct is None:
            return None
        clean = self.clean_correct.astype(bool)
        fooled = ((self.noise_correct == 0) & clean).sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(clean.sum(1) > 0, fooled / np.maximum(clean.sum(1), 1), np.nan)

    def fragility_warnings(self, threshold: float = NOISE_WARNING) -> list[str]:
        """One line per model whose noise error exceeds `threshold`, naming it."""
        errors = self.noise_error
        if errors is None:
            return []
        return [f"random noise of the attack's size fools {e:.1%} of {n}'s correctly classified images (more "
                f"than {threshold:.0%}): its SAT row measures fragility" for n, e in zip(self.names, errors)
                if e > threshold]

    def sanity_warnings(self, n_classes: int | None = None) -> list[str]:
        """`archsim.sanity`'s warnings for this run: models whose white-box success is below 0.8 (the eps is too
        small for these images) and, given the number of classes, models at or near chance clean accuracy."""
        out = sanity.weak_attack(self.names, np.diag(self.transfer))
        if n_classes is not None:
            out = sanity.near_chance(self.names, self.clean_accuracy, n_classes) + out
        return out

    def per_image_errors(self, a: int, b: int) -> np.ndarray:
        """e_i = 1(b fooled by a's image) + 1(a fooled by b's image) for each image i of X_ab."""
        common = self.clean_correct[a].astype(bool) & self.clean_correct[b].astype(bool)
        return ((self.adv_correct[a, b] == 0) & common).astype(int)[common] + \
            ((self.adv_correct[b, a] == 0) & common).astype(int)[common]

    def sat_intervals(self, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """95% bootstrap intervals of SAT (log scale), (N, N) each, from a seeded bootstrap over images."""
        n = len(self.names)
        iu = np.triu_indices(n)
        counts = np.array([np.bincount(self.per_image_errors(a, b), minlength=3) for a, b in zip(*iu)])
        low, high = pair_intervals(counts, seed=seed)
        lo, hi = np.full((n, n), np.nan), np.full((n, n), np.nan)
        lo[iu], hi[iu] = sat_score(low, self.eps_s), sat_score(high, self.eps_s)
        lo[iu[1], iu[0]], hi[iu[1], iu[0]] = lo[iu], hi[iu]
        ok = (self.n_common > 0) & self.is_observed
        return np.where(ok, lo, np.nan), np.where(ok, hi, np.nan)

    def pairs(self) -> list[dict]:
        """One row per unordered pair (a <= b): counts, SAT with its interval, both directions, censored (1: at
        the floor, its SAT is no measurement)."""
        rows, sat, transfer, censored = [], self.sat, self.transfer, self.censored
        low, high = self.sat_intervals()
        for a in range(len(self.names)):
            for b in range(a, len(self.names)):
                rows.append({"a": self.names[a], "b": self.names[b], "n_common": int(self.n_common[a, b]),
                             "sat": sat[a, b], "ci_low": low[a, b], "ci_high": high[a, b],
                             "rate_a_to_b": transfer[a, b], "rate_b_to_a": transfer[b, a],
                             "censored": int(censored[a, b])})
        return rows

    def to_csv(self, path: str | Path) -> Path:
        """Write the SAT matrix in the SAT paper's release format."""
        return write_matrix(path, self.names, self.sat)

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write sat.csv, transfer.csv, pairs.csv and clean_accuracy.csv into out_dir, all or nothing."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with all_or_nothing():
            return self._write(out)

    def _write(self, out: Path, *, sat: np.ndarray | None = None, pairs: list[dict] | None = None) -> dict[str, Path]:
        """The files of `write`; `sat` and `pairs` (a budgeted run's completed ones) replace this result's own."""
        paths = {"sat": write_matrix(out / "sat.csv", self.names, self.sat if sat is None else sat),
                 "transfer": write_matrix(out / "transfer.csv", self.names, self.transfer)}
        pairs = self.pairs() if pairs is None else pairs
        paths["pairs"] = write_rows(out / "pairs.csv", list(pairs[0]), [p.values() for p in pairs])
        noise = self.noise_error if self.noise_error is not None else [None] * len(self.names)
        paths["clean_accuracy"] = write_rows(
            out / "clean_accuracy.csv", ["model", "n_images", "n_correct", "accuracy", "white_box", "noise_error"],
            [(n, self.clean_correct.shape[1], int(c.sum()), float(c.mean()), float(self.transfer[i, i]),
              "" if e is None else float(e)) for i, (n, c, e) in enumerate(zip(self.names, self.clean_correct, noise))])
        return paths

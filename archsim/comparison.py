"""What `archsim.compare` returns: every matrix of one run with SAT's intervals, rates and controls.

    c = archsim.compare(models, images, labels, measures=["sat", "cka"])
    c.names, c.matrices["cka"]             every measure's (N, N) matrix, in `names` order
    c.sat                                  the SATResult (per-image outcomes) when sat or sat-adjusted was asked for
    c.sat_intervals()                      95% bootstrap intervals of SAT, (low, high), each (N, N)
    c.transfer, c.noise_error, c.white_box directional rates, the noise control, white-box success
    c.effects, c.effects_reason            the per-model fit, or None and the "too few models" line
    c.warnings, c.notes                    sanity and fragility warnings; what each measure noted
    c.pair("a", "b")                       `archsim pair`'s summary (`archsim.sat.pair.PairSummary`)
    c.to_frame()                           a pandas DataFrame, one row per unordered pair
    c.save(dir)                            the files the commands write: `archsim sat`'s sat.csv, transfer.csv,
                                           pairs.csv, clean_accuracy.csv and `archsim similarity`'s <measure>.csv

`matrices["sat"]` is `archsim sat`'s sat.csv: the formula's value, ln(eps_s) at a
pair at the floor (`c.sat.censored`); as a measure for clustering or selection,
read `c.sat.sat_for_analyses`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from archsim.errors import ArchsimError
from archsim.matrices import write_measure
from archsim.sat.effects import ModelEffects, effects_or_reason
from archsim.sat.pair import PairSummary, pair_summary
from archsim.sat.result import SATResult
from archsim.similarity.measure import SimilarityResult


@dataclass
class Comparison:
    names: list[str]
    matrices: dict[str, np.ndarray]
    sat: SATResult | None = None
    measures: dict[str, SimilarityResult] = field(default_factory=dict)  # the measures other than sat, as computed
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.effects: ModelEffects | None = None
        self.effects_reason = "SAT was not among the measures"
        if self.sat is not None:
            self.effects, self.effects_reason = effects_or_reason(self.sat.sat, self.sat.censored)

    def _need_sat(self) -> SATResult:
        if self.sat is None:
            raise ArchsimError("SAT was not among the measures: compare(..., measures=['sat', ...])")
        return self.sat

    def sat_intervals(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high): each pair's 95% bootstrap interval of SAT over its images (NaN where |X_AB| = 0)."""
        return self._need_sat().sat_intervals()

    @property
    def transfer(self) -> np.ndarray:
        """transfer[a, b]: the share of a's adversarial images that fool b, on the images both classify correctly."""
        return self._need_sat().transfer

    @property
    def white_box(self) -> np.ndarray:
        return np.diag(self.transfer).copy()

    @property
    def noise_error(self) -> np.ndarray | None:
        """Per model: the share of its correctly classified images that random noise of the attack's size fools."""
        return self._need_sat().noise_error

    def pair(self, a: str, b: str) -> PairSummary:
        return pair_summary(self._need_sat(), a, b)

    def to_frame(self):
        """A pandas DataFrame with one row per unordered pair (a, b), a != b: each measure's value, and with SAT its
        interval, |X_AB|, both directional rates and whether it is at the floor."""
        import pandas as pd

        rows = []
        sat_rows = {(r["a"], r["b"]): r for r in self.sat.pairs()} if self.sat is not None else {}
        for i, a in enumerate(self.names):
            for j in range(i + 1, len(self.names)):
                b = self.names[j]
                row = {"a": a, "b": b, **{m: float(v[i, j]) for m, v in self.matrices.items()}}
                if (a, b) in sat_rows:
                    r = sat_rows[(a, b)]
                    row.update({"sat_low": r["ci_low"], "sat_high": r["ci_high"], "n_common": r["n_common"],
                                "rate_a_to_b": r["rate_a_to_b"], "rate_b_to_a": r["rate_b_to_a"],
                                "censored": bool(r["censored"])})
                rows.append(row)
        return pd.DataFrame(rows)

    def save(self, out_dir) -> list[Path]:
        """Write the files the commands write for these measures into `out_dir` (created when missing)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = list(self.sat.write(out).values()) if self.sat is not None else []
        for name, result in self.measures.items():
            written += write_measure(out, name, result)
        return written

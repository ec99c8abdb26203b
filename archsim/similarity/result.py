"""What a model x model similarity measure returns to the command line.

A measure registered for `archsim similarity --metric NAME` is a function

    measure(run: archsim.build.Run, options: dict, *, seed: int, progress: bool) -> SimilarityResult

`options` is the config's `similarity: {NAME: {...}}` block merged with the
command line's `--set key=value` pairs; the measure rejects keys it does not
know with an `ArchsimError` naming the allowed ones (`check_options`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from archsim.errors import ArchsimError


@dataclass
class SimilarityResult:
    """`values[i, j]` is the similarity of names[i] and names[j]; NaN where the measure does not apply.

    `detail_header`/`detail_rows` hold an optional per-layer (or per-pair) table,
    written next to the matrix; `notes` are printed (e.g. models a measure skips and why).
    """

    names: list[str]
    values: np.ndarray
    detail_header: list[str] = field(default_factory=list)
    detail_rows: list[list] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.values = np.asarray(self.values, dtype=float)
        if self.values.shape != (len(self.names), len(self.names)):
            raise ValueError(f"values shape {self.values.shape} does not match {len(self.names)} names")

    def labelled_notes(self, metric: str) -> list[str]:
        """The notes, each starting with "metric: " (for output that mixes several measures)."""
        return [n if n.startswith(f"{metric}:") else f"{metric}: {n}" for n in self.notes]


def check_options(options: dict, defaults: dict, metric: str) -> dict:
    """`defaults` updated with `options`; unknown keys raise ArchsimError."""
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        allowed = ", ".join(sorted(defaults)) or "none"
        raise ArchsimError(f"unknown option {unknown[0]!r} for --metric {metric}; allowed: {allowed}")
    return {**defaults, **options}

"""What a model x model similarity measure is (`Measure`) and what it returns (`SimilarityResult`).

A measure is one record in `archsim.similarity.registry.MEASURES`:

    Measure(name, compute, options, summary, distance_when=None, version=1)

`compute(inputs: MeasureInputs, options: dict) -> SimilarityResult` receives the
options already checked and completed (`archsim.options.check_section` against
`options`, a {name: Option}); calling the record, `measure(inputs, raw_options)`,
checks them first. `distance_when = (option, value)` names the setting under
which the measure gives a distance (smaller = more similar) instead of a
similarity, and `distance_when = True` marks a measure that is always a
distance; `oriented` turns such a matrix into a similarity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from archsim.options import Option, check_section


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

    def labelled_notes(self, measure: str) -> list[str]:
        """The notes, each starting with "measure: " (for output that mixes several measures)."""
        return [n if n.startswith(f"{measure}:") else f"{measure}: {n}" for n in self.notes]


@dataclass
class MeasureInputs:
    """What a measure computes from: the run's models and images, and for `sat` the config and run folder."""

    run: Any  # archsim.zoo.build.Run
    seed: int = 0
    progress: bool = False
    cfg: Any = None  # archsim.config.RunConfig: sat's attack, eps_s, batch size and device
    out: Path | None = None  # sat: the run folder holding the run store


@dataclass(frozen=True)
class Measure:
    name: str
    compute: Callable[[MeasureInputs, dict], SimilarityResult]
    options: dict[str, Option]
    summary: str
    distance_when: tuple[str, Any] | bool | None = None  # True: always a distance
    version: int = 1  # raised when the computation changes, so cached matrices of the old one are not reused

    def check(self, options: dict | None) -> dict:
        """`options` completed with the defaults; unknown keys and bad values raise ArchsimError."""
        return check_section(options, self.options, self.name, word="option")

    def is_distance(self, options: dict) -> bool:
        """Whether the measure with these (checked) options gives a distance rather than a similarity."""
        if isinstance(self.distance_when, bool):
            return self.distance_when
        return self.distance_when is not None and options.get(self.distance_when[0]) == self.distance_when[1]

    def oriented(self, values, options: dict) -> np.ndarray:
        """The matrix as a similarity (larger = more similar): a distance is negated."""
        values = np.asarray(values, dtype=float)
        return -values if self.is_distance(options) else values

    def __call__(self, inputs: MeasureInputs, options: dict | None = None) -> SimilarityResult:
        return self.compute(inputs, self.check(options))

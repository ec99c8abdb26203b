"""Every measure, by the name a user types (`--measure NAME`, `--measures a,b`): one record each.

    MEASURES[name] -> Measure (name, compute, options with types, defaults and bounds, orientation)
    get_measure(name) -> Measure, or ArchsimError listing the names
    measure_options(cfg, name, settings) -> the config's `similarity: {name: {...}}` updated with
                                            `settings` (--set), checked; as given (no defaults filled in)
    measure_names(text) -> ["a", "b"] from "a, b"
    oriented(name, values, options) -> the matrix with larger = more similar

SAT is registered like the others, and so is `sat-adjusted` (`archsim.similarity.sat_measure`).
"""

from __future__ import annotations

import numpy as np

from archsim.errors import ArchsimError
from archsim.options import name_list
from archsim.similarity.alignment_measures import MEASURES as ALIGNMENT_MEASURES
from archsim.similarity.functional_measures import MEASURES as FUNCTIONAL_MEASURES
from archsim.similarity.measure import Measure
from archsim.similarity.representation_measures import MEASURES as REPRESENTATION_MEASURES
from archsim.similarity.sat_measure import SAT, SAT_ADJUSTED
from archsim.similarity.weight_measures import MEASURES as WEIGHT_MEASURES

MEASURES: dict[str, Measure] = {m.name: m for m in [SAT, SAT_ADJUSTED, *REPRESENTATION_MEASURES, *ALIGNMENT_MEASURES,
                                                     *WEIGHT_MEASURES, *FUNCTIONAL_MEASURES]}


def get_measure(name: str) -> Measure:
    if name not in MEASURES:
        raise ArchsimError(f"unknown measure {name!r}; choose from {', '.join(sorted(MEASURES))}")
    return MEASURES[name]


def measure_options(cfg, name: str, settings: dict | None = None) -> dict:
    """The config's options for `name` with `settings` over them; unknown keys and bad values raise ArchsimError."""
    options = {**(cfg.similarity.get(name) or {}), **(settings or {})}
    get_measure(name).check(options)
    return options


def measure_names(text, where: str = "--measures") -> list[str]:
    """The measure names of a comma-separated string (or a list); each must be registered."""
    names = name_list(text, where, "measure names")
    if not names:
        raise ArchsimError(f"no measure given in {where} (e.g. sat,cka)")
    for name in names:
        get_measure(name)
    return names


def oriented(name: str, values, options: dict | None = None) -> np.ndarray:
    """`values` of measure `name` as a similarity (larger = more similar): a distance setting is negated."""
    measure = get_measure(name)
    return measure.oriented(values, measure.check(options or {}))

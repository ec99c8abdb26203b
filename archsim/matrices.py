"""The similarity matrices `archsim ensemble` and `archsim distill` choose by: SAT and any `archsim similarity` metric.

    measure_options_of(cfg, measures) -> {measure: options}        (checked before any training)
    similarity_matrices(out, cfg, run_, measures, options, progress) -> ({measure: (names, values)}, notes)
    oriented(measure, values, options) -> the matrix with larger = more similar
    mean_to_others(values, i) -> the mean of row i off the diagonal (the commands' summaries print it)

`sat` is read from (and, where it lacks units, computed into) the run store in
`out`, as `archsim sat --out out` does; every other measure is read back from
`out/<measure>.csv` when `archsim demo` wrote it for the same models, images and
options (`archsim.measure_cache`), else computed as `archsim similarity` computes
it, with the config's `similarity:` options (and not written).
"""

from __future__ import annotations

from archsim.errors import ArchsimError


def measure_options_of(cfg, measures: list[str]) -> dict:
    """{measure: options} for the measures other than sat; unknown measures or options raise ArchsimError."""
    from archsim.similarity_command import measure_options

    if not measures:
        raise ArchsimError("no similarity measure given (e.g. --similarity sat,cka)")
    return {m: measure_options(cfg, m) for m in measures if m != "sat"}


def similarity_matrices(out, cfg, run_, measures: list[str], options: dict, *, progress: bool = True):
    """({measure: (names, values)}, the measures' notes), in the order of `measures`."""
    from archsim.measure_cache import current_measure
    from archsim.sat_command import sat_in_store
    from archsim.similarity.registry import MEASURES

    sims, notes = {}, []
    for measure in measures:
        if measure == "sat":
            sat, _ = sat_in_store(out, cfg, run_, progress=progress)
            sims["sat"] = (sat.names, sat.sat)
        elif (found := current_measure(out, measure, options[measure], cfg, run_)) is not None:
            sims[measure], measure_notes = found
            notes += measure_notes
        else:
            result = MEASURES[measure](run_, options[measure], seed=cfg.seed, progress=progress)
            sims[measure] = (result.names, result.values)
            notes += result.labelled_notes(measure)
    return sims, notes


def oriented(measure: str, values, options: dict):
    """The matrix as a similarity (larger = more similar): a measure set to give a distance is negated."""
    import numpy as np

    from archsim.similarity.registry import is_distance

    values = np.asarray(values, dtype=float)
    return -values if measure != "sat" and is_distance(measure, options.get(measure, {})) else values


def mean_to_others(values, i: int) -> float | None:
    """mean_{j != i, values[i, j] finite} values[i, j]; None where row i has no such value."""
    import numpy as np

    others = np.delete(np.asarray(values, dtype=float)[i], i)
    others = others[np.isfinite(others)]
    return float(others.mean()) if len(others) else None

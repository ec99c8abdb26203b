"""The config's `ensemble:` section: defaults of `archsim ensemble` (and of the ensemble stage of `archsim demo`).

    ensemble: {size: 3, draws: 10, similarity: [sat]}

`size` is K, the number of members; `draws` the number of seeded random
K-subsets the measures are set against; `similarity` the measures that choose
members (`sat` or any `archsim similarity` metric). Command-line flags override them.
"""

from __future__ import annotations

from archsim.errors import ArchsimError

ENSEMBLE_DEFAULTS = {"size": 3, "draws": 10, "similarity": ["sat"]}


def ensemble_settings(raw: dict | None, where: str = "ensemble") -> dict:
    """The section with defaults filled in; unknown keys and bad values raise ArchsimError."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(ENSEMBLE_DEFAULTS))
    if unknown:
        raise ArchsimError(f"unknown key {unknown[0]!r} in {where}; allowed: {', '.join(sorted(ENSEMBLE_DEFAULTS))}")
    out = {**ENSEMBLE_DEFAULTS, **raw}
    for key in ("size", "draws"):
        if isinstance(out[key], bool) or not isinstance(out[key], int) or out[key] < 1:
            raise ArchsimError(f"{where}.{key} must be a whole number >= 1, got {out[key]!r}")
    sims = out["similarity"]
    if isinstance(sims, str):
        sims = [s.strip() for s in sims.split(",") if s.strip()]
    if not isinstance(sims, list) or not all(isinstance(s, str) for s in sims):
        raise ArchsimError(f"{where}.similarity must be a list of measure names, got {out['similarity']!r}")
    out["similarity"] = sims
    return out

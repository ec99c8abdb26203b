"""The config's `ensemble:` section: defaults of `archsim ensemble` (and of the ensemble stage of `archsim demo`).

    ensemble: {size: 3, draws: 10, similarity: [sat]}

`size` is K, the number of members; `draws` the number of seeded random
K-subsets the measures are set against; `similarity` the measures that choose
members (`sat` or any `archsim similarity` metric). Command-line flags override them.
"""

from __future__ import annotations

from archsim.settings_checks import check_keys, name_list, whole_number

ENSEMBLE_DEFAULTS = {"size": 3, "draws": 10, "similarity": ["sat"]}


def ensemble_settings(raw: dict | None, where: str = "ensemble") -> dict:
    """The section with defaults filled in; unknown keys and bad values raise ArchsimError."""
    raw = dict(raw or {})
    check_keys(raw, ENSEMBLE_DEFAULTS, where)
    out = {**ENSEMBLE_DEFAULTS, **raw}
    for key in ("size", "draws"):
        whole_number(out[key], f"{where}.{key}", 1)
    out["similarity"] = name_list(out["similarity"], f"{where}.similarity", "measure names")
    return out

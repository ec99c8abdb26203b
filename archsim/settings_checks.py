"""Checks shared by the config's sections (the top level, `models[i]`, `train`, `distill`, `ensemble`).

Each raises ArchsimError naming the place (`where`) and the value:

    check_keys(raw, allowed, where)        unknown key 'k' in WHERE; allowed: a, b, c
    whole_number(value, where, minimum)    WHERE must be a whole number >= MINIMUM, got v   (True/False refused)
    name_list(value, where, what)          a list of strings, or one comma-separated string, as a list
"""

from __future__ import annotations

from archsim.errors import ArchsimError


def check_keys(raw: dict, allowed, where: str) -> None:
    """Every key of `raw` is in `allowed`."""
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ArchsimError(f"unknown key {unknown[0]!r} in {where}; allowed: {', '.join(sorted(allowed))}")


def whole_number(value, where: str, minimum: int) -> int:
    """`value`, an int (not a bool) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ArchsimError(f"{where} must be a whole number >= {minimum}, got {value!r}")
    return value


def name_list(value, where: str, what: str) -> list[str]:
    """A list of strings as given, or "a, b" split at the commas (blanks dropped)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ArchsimError(f"{where} must be a list of {what}, got {value!r}")
    return value

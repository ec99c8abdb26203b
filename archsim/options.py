"""The one option checker: every config section, every measure's options and the CLI's overrides.

An `Option` declares one setting's default, type and bounds; `check_section`
fills a section's defaults and checks each value, raising ArchsimError that
names the place (`where`) and the value:

    unknown key 'k' in WHERE; allowed: a, b, c
    WHERE.KEY must be a whole number >= 1, got 0          (kind "int"; True/False refused)
    WHERE.KEY must be a number in [0, 1], got 1.5         (kind "float"; NaN and infinities refused)
    WHERE.KEY must be one of a, b, got 'c'                (kind "choice")
    WHERE.KEY must be true or false, got 'yes'            (kind "bool")
    WHERE.KEY must be a list of model labels, got [1]     (kind "names": a list, or "a, b" split at commas)

Values are quoted with `archsim.errors.short_repr` (at most about 80 characters).
`nullable` options also accept None (YAML null). Kind "any" is checked by the
code that uses it (a layer name or a {label: layer} mapping, say).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from archsim.errors import ArchsimError, short_repr

KINDS = ("int", "float", "bool", "str", "choice", "names", "any")


@dataclass(frozen=True)
class Option:
    default: Any
    kind: str = "any"
    minimum: float | None = None
    maximum: float | None = None
    above: bool = False  # the minimum is exclusive (> minimum)
    choices: tuple = ()
    nullable: bool = False
    what: str = ""  # "str"/"names": what the value names ("a model label"), for the message
    help: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown option kind {self.kind!r}")


def check_keys(raw: dict, allowed, where: str, word: str = "key") -> None:
    """Every key of `raw` is in `allowed`."""
    unknown = sorted(set(raw) - set(allowed), key=str)
    if unknown:
        raise ArchsimError(f"unknown {word} {short_repr(unknown[0])} in {where}; allowed: {', '.join(sorted(allowed)) or 'none'}")


def check_section(raw: dict | None, spec: dict[str, Option], where: str, word: str = "key") -> dict:
    """`raw` (a mapping or None) with the defaults of `spec` filled in, every value checked."""
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ArchsimError(f"`{where}` must be a mapping, got {short_repr(raw)}")
    check_keys(raw, spec, where, word)
    return {key: check_value(raw.get(key, option.default), option, f"{where}.{key}") for key, option in spec.items()}


def check_value(value, option: Option, where: str):
    """`value` checked against `option` (names: as a list)."""
    if value is None and (option.nullable or option.kind == "any"):
        return None
    kind = option.kind
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not _in_bounds(value, option):
            raise ArchsimError(f"{where} must be {_described('a whole number', option)}, got {short_repr(value)}")
    elif kind == "float":
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
                or not _in_bounds(value, option)):
            raise ArchsimError(f"{where} must be {_described('a number', option)}, got {short_repr(value)}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ArchsimError(f"{where} must be true or false, got {short_repr(value)}")
    elif kind == "str":
        if not isinstance(value, str):
            raise ArchsimError(f"{where} must be {option.what or 'a string'}, got {short_repr(value)}")
    elif kind == "choice":
        if value not in option.choices:
            raise ArchsimError(f"{where} must be one of {', '.join(map(str, option.choices))}, got {short_repr(value)}")
    elif kind == "names":
        value = name_list(value, where, option.what or "names")
    return value


def name_list(value, where: str, what: str) -> list[str]:
    """A list of strings as given, or "a, b" split at the commas (blanks dropped)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ArchsimError(f"{where} must be a list of {what}, got {short_repr(value)}")
    return value


def _in_bounds(value, option: Option) -> bool:
    if option.minimum is not None and (value <= option.minimum if option.above else value < option.minimum):
        return False
    return option.maximum is None or value <= option.maximum


def _described(what: str, option: Option) -> str:
    """'a number in [0, 1]', 'a whole number >= 1', or `what` alone without bounds."""
    lo, hi = option.minimum, option.maximum
    if lo is not None and hi is not None:
        return f"{what} in {'(' if option.above else '['}{lo:g}, {hi:g}]"
    if lo is not None:
        return f"{what} {'>' if option.above else '>='} {lo:g}"
    return what if hi is None else f"{what} <= {hi:g}"

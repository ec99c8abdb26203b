"""The components table: which models, derive them all, write and read the CSV.

The CSV has the columns of `analysis.components.COLUMNS` (`Model name` first,
then the 13 components), one row per model. `read_features` reads any CSV with a `Model name` column
(a derived table, the SAT paper's own table, or a hand-made one) as the
features file of `archsim analyze`: every other column is a component.
"""

from __future__ import annotations

import csv
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from analysis.components.derive import COLUMNS, ComponentError, Components, ComponentWarning, derive_components
from archsim.config import load_config
from archsim.errors import ArchsimError
from archsim.files import write_rows
from archsim.zoo.models import close_model_names

NAME_COLUMN = "Model name"


@dataclass
class ModelEntry:
    """A model to describe: a timm name (with tag), the row label, and how it is built."""
    name: str
    label: str
    kwargs: dict = field(default_factory=dict)
    input_size: int | list | None = None


def entries_from_config(path: str | Path) -> list[ModelEntry]:
    """The `models:` of a run config (archsim.config), with `label` and any pretrained tag."""
    return entries_from_specs(load_config(path).models)


def entries_from_specs(specs) -> list[ModelEntry]:
    """ModelEntry rows for `archsim.config.ModelSpec`s (label, kwargs, input size, pretrained tag)."""
    entries = []
    for spec in specs:
        name = spec.name
        if isinstance(spec.pretrained, str) and "." not in name:
            name = f"{name}.{spec.pretrained}"
        entries.append(ModelEntry(name=name, label=spec.label, kwargs=dict(spec.kwargs), input_size=spec.input_size))
    return entries


def check_names(entries: list[ModelEntry]) -> None:
    """Raise ArchsimError naming every entry that is not a timm architecture (with close names)."""
    bad = []
    for e in entries:
        close = close_model_names(e.name)
        if close is not None:
            bad.append(f"{e.name!r}" + (f" (close: {', '.join(close[:3])})" if close else ""))
    if bad:
        raise ArchsimError(f"unknown timm model{'s' if len(bad) > 1 else ''}: {'; '.join(bad)}")


def derive_table(entries: list[ModelEntry]) -> tuple[list[Components], float]:
    """Derive every entry's components; returns the rows and the seconds it took.

    Names that are not timm architectures raise ArchsimError before any work. A
    model that cannot be built or traced gets "unknown" in every derived column
    and a `ComponentWarning`, and the others are still derived.
    """
    check_names(entries)
    start = time.perf_counter()
    rows = []
    for e in entries:
        try:
            rows.append(derive_components(e.name, e.label, input_size=e.input_size, **e.kwargs))
        except ComponentError as err:
            warnings.warn(f"{err}; its row says 'unknown'", ComponentWarning, stacklevel=2)
            values = {c: "unknown" for c in COLUMNS} | {"Model name": e.label}
            rows.append(Components(name=e.name, values=values, notes=[str(err)]))
    return rows, time.perf_counter() - start


def write_components(path: str | Path, rows: list[Components]) -> Path:
    """Write the rows as CSV with the `COLUMNS`."""
    return write_rows(path, COLUMNS, [[r.values[c] for c in COLUMNS] for r in rows])


def read_features(path: str | Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Read a features CSV: (component column names, {model name: {column: value}}).

    Needs a `Model name` column with unique names; empty cells become "~".
    """
    path = Path(path)
    if not path.is_file():
        raise ArchsimError(f"features file not found: {path}")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        if NAME_COLUMN not in columns:
            raise ArchsimError(f"{path}: no {NAME_COLUMN!r} column (columns: {', '.join(columns)})")
        table: dict[str, dict[str, str]] = {}
        for row in reader:
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
            name = row.pop(NAME_COLUMN)
            if name in table:
                raise ArchsimError(f"{path}: model {name!r} appears twice")
            table[name] = {k: (v or "~") for k, v in row.items()}
    if not table:
        raise ArchsimError(f"{path}: no model rows")
    return [c for c in columns if c != NAME_COLUMN], table

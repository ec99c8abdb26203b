"""Square model x model matrices as CSV, in the SAT paper's release format: the one matrix I/O module.

    write_matrix(path, names, values), read_matrix(path) -> (names, values)
    write_measure(out_dir, name, result) -> DIR/<name>.csv and, with a detail table, DIR/<name>_detail.csv
    mean_to_others(values, i) -> the mean of row i off the diagonal (the commands' summaries print it)

Format: the first header cell is empty, then the model names; then one row per
model, the name first and then the values. `read_matrix` accepts any such file
(the paper's own released 69 x 69 CSV included), separated by commas or, as
spreadsheets write it in some locales, by semicolons or tabs (the one its header
row holds most of), with or without a UTF-8 byte order mark, and checks that it
is square and that the header names equal the row names. A header row with none
of these separators is refused, saying what was expected.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from archsim.errors import ArchsimError, short_repr
from archsim.files import all_or_nothing, atomic_path, read_utf8, write_rows

SEPARATORS = (",", ";", "\t")


def write_matrix(path: str | Path, names: list[str], values: np.ndarray, *, digits: int = 6) -> Path:
    """Write `values` (N x N) with `names` as header and first column; NaN is written empty."""
    values = np.asarray(values, dtype=float)
    if values.shape != (len(names), len(names)):
        raise ValueError(f"matrix shape {values.shape} does not match {len(names)} names")
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([""] + list(names))
        for name, row in zip(names, values):
            w.writerow([name] + ["" if math.isnan(v) else f"{v:.{digits}g}" for v in row])
    return Path(path)


def read_matrix(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read a matrix CSV; returns (names, N x N float array, empty cells as NaN)."""
    path = Path(path)
    if not path.is_file():
        raise ArchsimError(f"matrix file not found: {path}")
    text = read_utf8(path, "a matrix CSV is UTF-8")
    separator = _separator(text, path)
    rows = [r for r in csv.reader(io.StringIO(text, newline=""), delimiter=separator) if r]
    if len(rows) < 2:
        raise ArchsimError(f"{path}: expected a header row and at least one model row")
    header = [c.strip() for c in rows[0][1:]]
    names = [r[0].strip() for r in rows[1:]]
    if header != names:
        missing = sorted(set(header) ^ set(names))
        raise ArchsimError(
            f"{path}: header names and row names differ"
            + (f" (not in both: {', '.join(missing[:10])})" if missing else " (same names, different order)")
        )
    values = np.full((len(names), len(names)), np.nan)
    for i, r in enumerate(rows[1:]):
        cells = r[1:]
        if len(cells) != len(names):
            raise ArchsimError(f"{path}: row {names[i]!r} has {len(cells)} values, expected {len(names)}")
        for j, c in enumerate(cells):
            c = c.strip()
            if c:
                try:
                    values[i, j] = float(c)
                except ValueError:
                    comma = " (a decimal comma? write numbers with a decimal point)" if "," in c else ""
                    raise ArchsimError(f"{path}: row {names[i]!r}, column {names[j]!r}: {short_repr(c)} is not a "
                                       f"number{comma}") from None
    return names, values


def _separator(text: str, path: Path) -> str:
    """The separator of a matrix CSV: whichever of SEPARATORS its header row holds most of (a comma on a tie)."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {sep: header.count(sep) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])
    if counts[best] == 0:
        raise ArchsimError(f"{path}: the header row {short_repr(header)} has no separator; expected values "
                           "separated by commas (or semicolons, or tabs), the first header cell empty, then "
                           "the model names")
    return best


def write_measure(out_dir, name: str, result) -> list[Path]:
    """DIR/<name>.csv (sat.csv format) and, when the measure has one, DIR/<name>_detail.csv; all or nothing."""
    with all_or_nothing():
        written = [write_matrix(f"{out_dir}/{name}.csv", result.names, result.values)]
        if result.detail_rows:
            written.append(write_rows(f"{out_dir}/{name}_detail.csv", result.detail_header, result.detail_rows))
    return written


def mean_to_others(values, i: int) -> float | None:
    """mean_{j != i, values[i, j] finite} values[i, j]; None where row i has no such value."""
    others = np.delete(np.asarray(values, dtype=float)[i], i)
    others = others[np.isfinite(others)]
    return float(others.mean()) if len(others) else None

"""Files archsim writes: atomically (a temporary file renamed into place, so a
crash never leaves a half-written file under the final name), and CSV tables
with a header row, floats written with 6 significant digits.

Temporary names are `<name>.<random>.tmp`, unique per write, so two processes
writing the same file never write into one temporary file.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

TMP_SUFFIX = ".tmp"


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it to `path`, on failure remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}{TMP_SUFFIX}")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_rows(path: str | Path, header: list[str], rows: Iterable[Iterable]) -> Path:
    """Write a CSV table atomically: the header, then one line per row."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([f"{v:.6g}" if isinstance(v, float) else v for v in row] for row in rows)
    return Path(path)

"""Files archsim writes: atomically (a temporary file renamed into place, so a
crash never leaves a half-written file under the final name), and CSV tables
with a header row, floats written with 6 significant digits; files cached by content record
what they were made from in a sidecar (`saved_if_current`, `write_sidecar`).

Temporary names are `<name>.<random>.tmp`, unique per write, so two processes
writing the same file never write into one temporary file.

`read_utf8(path, advice)` is the text of a file archsim reads (a config, a
matrix), or an ArchsimError naming its first byte that is not UTF-8.

`check_writable(folder)` creates `folder` when missing and writes (then removes)
an empty file in it, so a command can refuse a folder it cannot write before any work.

`os_errors_named(path)` turns a safetensors write that the file system refused
(SafetensorError "... (os error 28)") into the OSError it is, naming `path`, so a
full disk or a read-only folder reads as "PATH: No space left on device".

A command's outputs are written all or nothing: inside `with all_or_nothing():`
every `atomic_path` write (so `write_rows`, `write_matrix`, ...) stays in its
temporary file until the block ends; then all are renamed into place, or on an
error all are removed, so a failure half-way leaves the previous set of outputs
as it was, never a mix of old and new files.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from safetensors import SafetensorError

from archsim.errors import ArchsimError

TMP_SUFFIX = ".tmp"
_staged: ContextVar[list[tuple[Path, Path]] | None] = ContextVar("staged", default=None)  # (tmp, final)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success rename it to `path`, on failure remove it.

    Inside `all_or_nothing()` the rename waits for the end of that block.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}{TMP_SUFFIX}")
    staged = _staged.get()
    try:
        yield tmp
        if staged is None:
            tmp.replace(path)
        else:
            staged.append((tmp, path))
    finally:
        if staged is None or (tmp, path) not in staged:
            tmp.unlink(missing_ok=True)


def read_utf8(path: str | Path, advice: str) -> str:
    """The text of `path` as UTF-8 (a byte order mark dropped); ArchsimError '... is not UTF-8 text (byte N is 0xXX);
    ADVICE' otherwise."""
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ArchsimError(f"{path} is not UTF-8 text (byte {e.start} is {e.object[e.start]:#04x}); {advice}") from None


def check_writable(folder: str | Path) -> Path:
    """`folder`, created when missing, after writing an empty file into it; OSError when the system refuses."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".archsim-write-check-"):
        pass
    return folder


@contextmanager
def os_errors_named(path: str | Path) -> Iterator[None]:
    """Re-raise a SafetensorError that carries an OS error number as OSError(errno, strerror, path)."""
    try:
        yield
    except SafetensorError as e:
        code = re.search(r"os error (\d+)", str(e))
        if code is None:
            raise
        raise OSError(int(code.group(1)), os.strerror(int(code.group(1))), str(path)) from None


@contextmanager
def all_or_nothing() -> Iterator[None]:
    """Every atomic_path write inside is renamed into place when the block succeeds, all removed otherwise."""
    if _staged.get() is not None:  # nested: the outer block decides
        yield
        return
    staged: list[tuple[Path, Path]] = []
    token = _staged.set(staged)
    try:
        yield
        _staged.reset(token)
        token = None
        for tmp, path in staged:
            tmp.replace(path)
    finally:
        if token is not None:
            _staged.reset(token)
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def write_rows(path: str | Path, header: list[str], rows: Iterable[Iterable]) -> Path:
    """Write a CSV table atomically: the header, then one line per row."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([f"{v:.6g}" if isinstance(v, float) else v for v in row] for row in rows)
    return Path(path)


def _sha256(path: Path) -> str:
    """The sha256 of `path`, or of its pending temporary file inside `all_or_nothing()`."""
    pending = [tmp for tmp, final in _staged.get() or [] if final == Path(path)]
    return hashlib.sha256((pending[-1] if pending else path).read_bytes()).hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.stem + ".key.json")


def saved_if_current(path: Path, key) -> dict | None:
    """The sidecar DIR/x.key.json of `path` = DIR/x.csv when it records `key` and path's current sha256; else None.

    The sidecar is {"key": key, "sha256": the file's sha256, **extra}, so an
    edited, truncated or foreign file is made again.
    """
    if not (path.is_file() and _sidecar(path).is_file()):
        return None
    try:
        saved = json.loads(_sidecar(path).read_text())
    except ValueError:
        return None
    return saved if saved.get("key") == key and saved.get("sha256") == _sha256(path) else None


def write_sidecar(path: Path, key, **extra) -> None:
    """Record that `path` was made from `key` (with its sha256), atomically."""
    with atomic_path(_sidecar(path)) as tmp:
        tmp.write_text(json.dumps({"key": key, "sha256": _sha256(path), **extra}, indent=1))

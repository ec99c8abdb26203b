"""What a SQLite error on a run store's database means, in one line that names the file and what to do.

    explain(error, db_path) -> str

Only real damage says "damaged" and points to `archsim store reset`: SQLITE_CORRUPT
(a malformed page) and SQLITE_NOTADB (not a database). The others leave a good
store as it is and must never lead a user to delete it:

    SQLITE_FULL                  the disk is full: free space, and run again (nothing finished is lost); so is an
                                 SQLITE_IOERR (SQLite growing its -shm file, say) where under FULL_BELOW bytes are free
    SQLITE_BUSY, SQLITE_LOCKED   another process holds the lock for longer than the store waits
    SQLITE_CANTOPEN              the file cannot be opened (its folder is gone, or cannot be written)
    SQLITE_READONLY              the file or its folder is read-only
    SQLITE_IOERR                 the disk or file system failed a read or write
    SQLITE_PERM, SQLITE_AUTH     the system refused access
    SQLITE_NOMEM                 out of memory
    anything else                SQLite's own words and code, without a diagnosis

The code comes from `error.sqlite_errorcode` (Python 3.11+); its primary code (the low 8 bits) decides.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

CORRUPT, NOTADB = 11, 26
FULL, BUSY, LOCKED, CANTOPEN, READONLY, IOERR, PERM, AUTH, NOMEM = 13, 5, 6, 14, 8, 10, 3, 23, 7
FULL_BELOW = 1 << 20  # bytes


def explain(error: sqlite3.Error, db_path: str | Path | None) -> str:
    """One line for `error`, raised on the run store database at `db_path` (None: not known)."""
    code = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
    name = getattr(error, "sqlite_errorname", None) or "SQLite error"
    db = Path(db_path) if db_path is not None else None
    what = f"run store database {db}" if db is not None else "a run store database"
    folder = db.parent if db is not None else "DIR"
    if code in (CORRUPT, NOTADB):
        return (f"{what} is damaged ({error}); restore it from a backup, or `archsim store reset {folder}` "
                "to start afresh")
    if code == FULL or code == IOERR and db is not None and _nearly_full(db.parent):
        said = f"{error}" if code == FULL else f"{error}, {name}"
        return f"{what}: the disk is full ({said}); free space on it and run the command again (what was finished is kept)"
    if code in (BUSY, LOCKED):
        return (f"{what} is locked by another process ({error}); wait until that process is done (another "
                "archsim run on the same folder, or a program that has the file open) and run the command again")
    if code == CANTOPEN:
        return f"cannot open {what} ({error}{_why_not(db)})"
    if code == READONLY:
        return (f"{what} is read-only ({error}): archsim writes it and its -wal and -shm files beside it; "
                "`archsim store info` only reads")
    if code == IOERR:
        return (f"{what}: the disk or file system failed ({error}, {name}); the store itself may well be intact: "
                f"`archsim store info {folder} --verify` checks it")
    if code in (PERM, AUTH):
        return f"{what}: access refused ({error})"
    if code == NOMEM:
        return f"{what}: out of memory ({error})"
    return f"{what}: {error} ({name})"


def _nearly_full(folder: Path) -> bool:
    """Less than FULL_BELOW bytes free where `folder` is: an I/O error there (SQLite growing its -shm file, say)
    is the full disk."""
    try:
        return shutil.disk_usage(folder).free < FULL_BELOW
    except OSError:
        return False


def _why_not(db: Path | None) -> str:
    """Why a database file cannot be opened, when the file system says so plainly."""
    if db is None:
        return ""
    if not db.parent.is_dir():
        return f"; the folder {db.parent} does not exist"
    if not os.access(db.parent, os.W_OK):
        return f"; the folder {db.parent} is not writable"
    return ""

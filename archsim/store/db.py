"""The run store's SQLite database: schema, connections, write transactions.

Tables (ids are SQLite integers; `key` columns are content hashes, see `archsim.store.keys`):

    models               id, key, label, identity (arch@weights hash), data_config (JSON)
    datasets             id, key, n_images, image_shape (JSON), image_ids (JSON list)
    attacks              id, key, config (JSON: attack config, seed, batch sizes)
    units                id, kind (attack | evaluation | noise | pilot), source, target (evaluation and pilot
                         only), dataset, attack, images (pilot only), status (pending | running | done), worker,
                         lease_until; a noise unit evaluates its model on random noise of the attack's norm
                         and eps (the control); a pilot unit is an evaluation on only the first `images`
                         images of the dataset's pilot order (`archsim.store.pilot`)
    unit_runs            id, unit, worker, started, finished, ran_on, result (done | failed |
                         interrupted | lost | corrupt): one row each time a unit starts, so what ran,
                         where and how it ended is on record
    adversarial_sets     unit (an attack unit), path (under tensors/), sha256, bytes, n_images
    clean_outcomes       model, dataset, correct: int8 per image of the dataset (1 / 0)
    adversarial_outcomes unit (an evaluation or noise unit), correct: int8 per image (1 / 0 / -1 not evaluated)

Outcomes are stored as one int8 vector per unit, indexed like the dataset's
image ids: for 69 models on 5000 images that is 4761 rows of 5 kB instead of
24 million rows. Matrices are derived from them on demand.

`scratch_copy` is an in-memory copy to plan on without writing.
`connect` opens the database in WAL mode with a busy timeout and foreign keys,
in autocommit mode (with `read_only`, reading only: `archsim store info` works on a
store in a folder it cannot write); writes go through `with transaction(conn):`, which takes
the write lock up front (BEGIN IMMEDIATE), so concurrent writers queue instead
of failing half-way. An older store is migrated in place: the units table is
rebuilt with the wider CHECKs (version 1: no noise units; version 2: no pilot
units and no `images` column), every row kept.

Waiting for the lock: `transaction` asks for it again every WAIT_SLICE_S (so Ctrl-C
is heard at once), says on stderr, after WAIT_NOTICE_S, that it waits and for
what, and gives up after `wait_s` (BUSY_TIMEOUT_S by default) with SQLite's
"database is locked". A connection is a `StoreConnection`, which knows its
database's path and writes it into every SQLite error it raises (`store_path`),
so the one-line message (`archsim.store.sqlite_errors.explain`) names the file.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from archsim.errors import ArchsimError
from archsim.store.sqlite_errors import BUSY, LOCKED, explain

SCHEMA_VERSION = 3
BUSY_TIMEOUT_S = 120
WAIT_NOTICE_S = 5
WAIT_SLICE_S = 0.5
_announced: set[str] = set()  # stores whose lock a wait in this process has said it waits for
_announcing = threading.Lock()

SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, label TEXT NOT NULL,
    identity TEXT NOT NULL, data_config TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, n_images INTEGER NOT NULL,
    image_shape TEXT NOT NULL, image_ids TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attacks (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, config TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (UNITS_COLUMNS);
UNITS_INDEXES;
CREATE TABLE IF NOT EXISTS unit_runs (
    id INTEGER PRIMARY KEY, unit INTEGER NOT NULL REFERENCES units(id), worker TEXT NOT NULL,
    started REAL NOT NULL, finished REAL, ran_on TEXT,
    result TEXT CHECK (result IN ('done', 'failed', 'interrupted', 'lost', 'corrupt')));
CREATE INDEX IF NOT EXISTS unit_runs_unit ON unit_runs (unit);
CREATE TABLE IF NOT EXISTS adversarial_sets (
    unit INTEGER PRIMARY KEY REFERENCES units(id), path TEXT NOT NULL UNIQUE, sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL, n_images INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS clean_outcomes (
    model INTEGER NOT NULL REFERENCES models(id), dataset INTEGER NOT NULL REFERENCES datasets(id),
    correct BLOB NOT NULL, PRIMARY KEY (model, dataset));
CREATE TABLE IF NOT EXISTS adversarial_outcomes (
    unit INTEGER PRIMARY KEY REFERENCES units(id), correct BLOB NOT NULL);
"""
UNITS_COLUMNS = """
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('attack', 'evaluation', 'noise', 'pilot')),
    source INTEGER NOT NULL REFERENCES models(id),
    target INTEGER REFERENCES models(id),
    dataset INTEGER NOT NULL REFERENCES datasets(id),
    attack INTEGER NOT NULL REFERENCES attacks(id),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done')),
    worker TEXT, lease_until REAL,
    images INTEGER CHECK (images IS NULL OR images > 0),
    CHECK ((kind IN ('evaluation', 'pilot')) = (target IS NOT NULL)),
    CHECK ((kind = 'pilot') = (images IS NOT NULL))"""
UNITS_INDEXES = """CREATE UNIQUE INDEX IF NOT EXISTS unit_identity ON units (kind, source, IFNULL(target, 0), dataset, attack,
    IFNULL(images, 0));
CREATE INDEX IF NOT EXISTS unit_status ON units (status)"""
SCHEMA = SCHEMA.replace("UNITS_COLUMNS", UNITS_COLUMNS).replace("UNITS_INDEXES", UNITS_INDEXES)


class StoreConnection(sqlite3.Connection):
    """A connection to a run store database that names the database (`path`) in the errors it raises."""

    path: Path | None = None

    def execute(self, *args):
        return self._naming(super().execute, *args)

    def executemany(self, *args):
        return self._naming(super().executemany, *args)

    def _naming(self, call, *args):
        try:
            return call(*args)
        except sqlite3.Error as e:
            e.store_path = self.path
            raise


def _open(target: str, path: Path, **kwargs) -> StoreConnection:
    """sqlite3.connect(target) as a StoreConnection for the store at `path`; one line naming it if it fails."""
    try:
        conn = sqlite3.connect(target, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False,
                               factory=StoreConnection, **kwargs)
    except sqlite3.Error as e:
        raise ArchsimError(explain(e, path)) from None
    conn.path = path
    return conn


def connect(path: str | Path, *, create: bool = True, read_only: bool = False) -> sqlite3.Connection:
    """Open (and with `create`, set up) the store database at `path`; `read_only` writes nothing at all."""
    path = Path(path)
    if path.is_dir():
        raise ArchsimError(f"cannot open run store database {path}: it is a folder, not a file")
    if (not create or read_only) and not path.exists():
        raise ArchsimError(f"no run store at {path.parent} (missing {path.name})")
    if read_only:
        return _connect_read_only(path)
    return _set_up(_open(str(path), path), path, create)


def scratch_copy(path: str | Path) -> sqlite3.Connection:
    """An in-memory copy of the store database at `path` (an empty store when there is none), set up as
    `connect` sets one up: what is written to it never reaches the file (`archsim sat --dry-run`)."""
    path = Path(path)
    conn = _open(":memory:", path)
    if path.is_file():
        source = _open(f"{path.resolve().as_uri()}?mode=ro", path, uri=True)
        try:
            source.backup(conn)
        except sqlite3.Error as e:
            conn.close()
            raise ArchsimError(explain(e, path)) from None
        finally:
            source.close()
    return _set_up(conn, path, True)


def _set_up(conn: sqlite3.Connection, path: Path, create: bool) -> sqlite3.Connection:
    """Pragmas, migration and schema of a freshly opened store connection (closed on any error)."""
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if conn.execute("PRAGMA user_version").fetchone()[0] in (1, 2):
            _migrate(conn)
        with transaction(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise ArchsimError(f"{path} has store schema version {version}; this archsim reads "
                                   f"version {SCHEMA_VERSION}")
            if version == 0:
                if not create:
                    raise ArchsimError(f"{path} is not an archsim run store")
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except sqlite3.Error as e:
        conn.close()
        raise ArchsimError(explain(e, path)) from None
    except BaseException:
        conn.close()
        raise
    return conn


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; on a folder it cannot write (no WAL index there), the file is read as immutable."""
    for mode in ("mode=ro", "immutable=1"):
        conn = _open(f"{path.resolve().as_uri()}?{mode}", path, uri=True)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as e:
            conn.close()
            if mode == "mode=ro" and isinstance(e, sqlite3.OperationalError):
                continue
            raise ArchsimError(explain(e, path)) from None
        if version not in (1, 2, SCHEMA_VERSION):  # an older one is read as it is (`archsim store info`)
            conn.close()
            raise ArchsimError(f"{path} is not an archsim run store (schema version {version})")
        return conn
    raise ArchsimError(f"cannot open run store {path} for reading")


@contextmanager
def transaction(conn: sqlite3.Connection, *, wait_s: float | None = None,
                quiet: bool = False) -> Iterator[sqlite3.Connection]:
    """A write transaction: BEGIN IMMEDIATE (waiting up to `wait_s`, default BUSY_TIMEOUT_S, for the lock, and
    saying so unless `quiet`), COMMIT on success, ROLLBACK on any error."""
    _begin(conn, BUSY_TIMEOUT_S if wait_s is None else wait_s, quiet)
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _begin(conn: sqlite3.Connection, wait_s: float, quiet: bool) -> None:
    """BEGIN IMMEDIATE, asked again every WAIT_SLICE_S until `wait_s` has passed; after WAIT_NOTICE_S, unless
    `quiet`, one line on stderr says that it waits (once per store among the waits under way in this process)."""
    start = time.monotonic()
    path = str(getattr(conn, "path", None) or "the run store database")
    announced = False
    conn.execute(f"PRAGMA busy_timeout = {int(min(WAIT_SLICE_S, wait_s) * 1000)}")
    try:
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as e:
                waited = time.monotonic() - start
                if ((getattr(e, "sqlite_errorcode", None) or 0) & 0xFF) not in (BUSY, LOCKED) or waited >= wait_s:
                    raise
            if not quiet and not announced and waited >= WAIT_NOTICE_S:
                with _announcing:
                    announced = path not in _announced
                    _announced.add(path)
                if announced:
                    print(f"warning: run store database {path} is locked by another process; waiting for it "
                          f"(for up to {wait_s:g} s in all)", file=sys.stderr, flush=True)
    finally:
        if announced:
            with _announcing:
                _announced.discard(path)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")


def _migrate(conn: sqlite3.Connection) -> None:
    """Version 1 or 2 -> 3: rebuild `units` with the noise and pilot kinds allowed and the `images` column
    (SQLite cannot alter a CHECK); every row kept, `images` NULL."""
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        with transaction(conn):
            if conn.execute("PRAGMA user_version").fetchone()[0] not in (1, 2):
                return  # another process migrated it meanwhile
            conn.execute(f"CREATE TABLE units_new ({UNITS_COLUMNS})")
            conn.execute("INSERT INTO units_new (id, kind, source, target, dataset, attack, status, worker, "
                         "lease_until) SELECT id, kind, source, target, dataset, attack, status, worker, "
                         "lease_until FROM units")
            conn.execute("DROP TABLE units")
            conn.execute("ALTER TABLE units_new RENAME TO units")
            for statement in UNITS_INDEXES.split(";"):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    finally:
        conn.execute("PRAGMA foreign_keys = ON")

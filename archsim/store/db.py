"""The run store's SQLite database: schema, connections, write transactions.

Tables (ids are SQLite integers; `key` columns are content hashes, see `archsim.store.keys`):

    models               id, key, label, identity (arch@weights hash), data_config (JSON)
    datasets             id, key, n_images, image_shape (JSON), image_ids (JSON list)
    attacks              id, key, config (JSON: attack config, seed, batch sizes)
    units                id, kind (attack | evaluation | noise), source, target (evaluation only), dataset,
                         attack, status (pending | running | done), worker, lease_until; a noise unit
                         evaluates its model on random noise of the attack's norm and eps (the control)
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
of failing half-way. A version-1 store (no noise units) is migrated in place:
the units table is rebuilt with the wider CHECK, every row kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from archsim.errors import ArchsimError

SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 120

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
    kind TEXT NOT NULL CHECK (kind IN ('attack', 'evaluation', 'noise')),
    source INTEGER NOT NULL REFERENCES models(id),
    target INTEGER REFERENCES models(id),
    dataset INTEGER NOT NULL REFERENCES datasets(id),
    attack INTEGER NOT NULL REFERENCES attacks(id),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done')),
    worker TEXT, lease_until REAL,
    CHECK ((kind = 'evaluation') = (target IS NOT NULL))"""
UNITS_INDEXES = """CREATE UNIQUE INDEX IF NOT EXISTS unit_identity ON units (kind, source, IFNULL(target, 0), dataset, attack);
CREATE INDEX IF NOT EXISTS unit_status ON units (status)"""
SCHEMA = SCHEMA.replace("UNITS_COLUMNS", UNITS_COLUMNS).replace("UNITS_INDEXES", UNITS_INDEXES)


def connect(path: str | Path, *, create: bool = True, read_only: bool = False) -> sqlite3.Connection:
    """Open (and with `create`, set up) the store database at `path`; `read_only` writes nothing at all."""
    path = Path(path)
    if (not create or read_only) and not path.is_file():
        raise ArchsimError(f"no run store at {path.parent} (missing {path.name})")
    if read_only:
        return _connect_read_only(path)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    return _set_up(conn, path, create)


def scratch_copy(path: str | Path) -> sqlite3.Connection:
    """An in-memory copy of the store database at `path` (an empty store when there is none), set up as
    `connect` sets one up: what is written to it never reaches the file (`archsim sat --dry-run`)."""
    path = Path(path)
    conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    if path.is_file():
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            source.backup(conn)
        except sqlite3.DatabaseError as e:
            conn.close()
            raise ArchsimError(f"cannot read run store {path}: {e}") from None
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
        if conn.execute("PRAGMA user_version").fetchone()[0] == 1:
            _migrate_v1(conn)
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
    except sqlite3.DatabaseError as e:
        conn.close()
        raise ArchsimError(f"cannot open run store {path}: {e}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; on a folder it cannot write (no WAL index there), the file is read as immutable."""
    for mode in ("mode=ro", "immutable=1"):
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, timeout=BUSY_TIMEOUT_S,
                               isolation_level=None, check_same_thread=False)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.OperationalError:
            conn.close()
            continue
        except sqlite3.DatabaseError as e:
            conn.close()
            raise ArchsimError(f"cannot open run store {path}: {e}") from None
        if version not in (1, SCHEMA_VERSION):
            conn.close()
            raise ArchsimError(f"{path} is not an archsim run store (schema version {version})")
        return conn
    raise ArchsimError(f"cannot open run store {path} for reading")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction: BEGIN IMMEDIATE, COMMIT on success, ROLLBACK on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """Version 1 -> 2: rebuild `units` with the noise kind allowed (SQLite cannot alter a CHECK)."""
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        with transaction(conn):
            if conn.execute("PRAGMA user_version").fetchone()[0] != 1:
                return  # another process migrated it meanwhile
            conn.execute(f"CREATE TABLE units_v2 ({UNITS_COLUMNS})")
            conn.execute("INSERT INTO units_v2 SELECT id, kind, source, target, dataset, attack, status, worker, "
                         "lease_until FROM units")
            conn.execute("DROP TABLE units")
            conn.execute("ALTER TABLE units_v2 RENAME TO units")
            for statement in UNITS_INDEXES.split(";"):
                conn.execute(statement)
            conn.execute("PRAGMA user_version = 2")
    finally:
        conn.execute("PRAGMA foreign_keys = ON")

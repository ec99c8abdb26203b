"""Who holds a unit, and for how long.

A worker (one `archsim sat` process, the driver of its executor) is named
`host:pid:random`. A unit it claims is leased to it for LEASE_S seconds;
a `Heartbeat` thread renews the leases of its running units every RENEW_EVERY_S (LEASE_S / 4).
A renewal that fails (the store locked by another process for more than
RENEW_WAIT_S, a full disk) is tried again at the next beat, silently: the main
thread meets the same store and reports what is wrong in one line, and a lease
that lapses meanwhile only lets another worker redo that unit.
A unit left `running` is taken back (made pending again) when its lease has
run out, or at once when its worker ran on this host and that process is gone
(a run killed with SIGKILL is resumed without waiting for the lease).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from pathlib import Path

from archsim.store.db import connect, transaction

LEASE_S = 120.0
RENEW_EVERY_S = LEASE_S / 4
RENEW_WAIT_S = 5.0  # how long a renewal waits for the store's lock (so stopping the heartbeat is quick)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def is_gone(worker: str) -> bool:
    """True when `worker` ran on this host and its process no longer exists."""
    host, pid, _ = worker.rsplit(":", 2)
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by someone else
        return False
    return False


class Heartbeat:
    """Renew `worker`'s leases in the store at `db_path` from a background thread, until `stop`."""

    def __init__(self, db_path: Path, worker: str):
        self._db_path, self._worker = db_path, worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="archsim-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._conn = connect(self._db_path)  # here, so that a store it cannot open is the caller's one-line error
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        while not self._stop.wait(RENEW_EVERY_S):
            try:
                with transaction(self._conn, wait_s=RENEW_WAIT_S):
                    self._conn.execute("UPDATE units SET lease_until = ? WHERE worker = ? AND status = 'running'",
                                       (time.time() + LEASE_S, self._worker))
            except sqlite3.Error:
                continue  # tried again at the next beat (see the module docstring)

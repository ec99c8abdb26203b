"""Faults, part 3 (docs/run-store.md, "Bad inputs and faults"): signals, full disks, read-only folders, SQLite's own
errors and a lock taken mid-run.

The promise: one line on stderr, exit status 2 (128 + the signal's number for a signal: 130 for Ctrl-C), nothing
lost: a rerun after the fault gives the good run's sat.csv byte for byte. Full disks are real small file systems
(tmpfs, as root where mounting is allowed), with a patched write only where they cannot be had; the signals are
real signals, sent to a real process.
"""

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from bad_input_fixtures import read_only, run_cli, small_disk, snapshot, write_config
from safetensors import SafetensorError

from archsim.store import RunStore
from archsim.store.sqlite_errors import explain

CLI = [sys.executable, "-m", "archsim.cli"]
INTERRUPTS = Path(__file__).resolve().parent.parent / "archsim" / "cli" / "interrupts.py"


def units(out: Path) -> dict:
    with sqlite3.connect(out / "store.sqlite") as conn:
        return dict(conn.execute("SELECT status, COUNT(*) FROM units GROUP BY 1").fetchall())


def assert_rerun_gives_the_good_result(good, out: Path, capsys, config=None):
    rc, _, err = run_cli(capsys, "sat", "--config", config or good["config"], "--out", out, "--no-progress")
    assert rc == 0, err
    assert (out / "sat.csv").read_bytes() == (good["run"] / "sat.csv").read_bytes()


# -- signals ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_mid_run_is_one_line_and_a_rerun_resumes(workers, good, tmp_path, capsys):
    """A real SIGINT to a real `archsim sat` while its second attack runs, in this process or with the units in two
    worker processes (which are stopped, not waited for): status 130, one line, the finished attack kept, the
    running units given back; the rerun runs only what was left and gives the uninterrupted result."""
    slow = {**good["cfg"], "attack": {**good["cfg"]["attack"], "steps": 150}}
    config, out = write_config(tmp_path / "slow.yaml", slow), tmp_path / "o"
    proc = subprocess.Popen([*CLI, "sat", "--config", str(config), "--out", str(out), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ARCHSIM_WORKERS": workers})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
        try:
            now = units(out)
        except sqlite3.Error:  # not created yet
            continue
        if now.get("done", 0) >= 1 and now.get("running", 0) >= 1:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.splitlines() == ["archsim sat: interrupted by SIGINT (Ctrl-C); what was finished is kept: run the "
                                "same command again to resume from there"]
    kept = units(out)
    assert kept.get("running", 0) == 0 and kept["done"] >= 1
    rc, printed, err = run_cli(capsys, "sat", "--config", config, "--out", out, "--no-progress")
    assert rc == 0 and f"{kept['done']} reused from the store" in printed, err
    assert run_cli(capsys, "sat", "--config", config, "--out", tmp_path / "whole", "--no-progress")[0] == 0
    assert (out / "sat.csv").read_bytes() == (tmp_path / "whole" / "sat.csv").read_bytes()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_while_a_file_is_written_leaves_no_temporary_file(signum, good, tmp_path, capsys, monkeypatch):
    """SIGTERM (or SIGHUP) used to end the process on the spot, leaving `*.tmp` files until `archsim store gc`."""
    from archsim.store import tensors

    real = tensors.save_file

    def save_then_sigterm(data, path, metadata=None):
        real(data, path, metadata=metadata)
        assert path.endswith(".tmp") and Path(path).is_file()
        os.kill(os.getpid(), signum)  # a real signal, to this process, while the temporary file exists
        time.sleep(10)
        pytest.fail("the signal did not stop the command")

    monkeypatch.setattr(tensors, "save_file", save_then_sigterm)
    out = tmp_path / "o"
    rc, _, err = run_cli(capsys, "sat", "--config", good["config"], "--out", out, "--no-progress")
    assert rc == 128 + signum and err == [f"archsim sat: interrupted by {signal.Signals(signum).name}; what was "
                                          "finished is kept: run the same command again to resume from there"], err
    assert not list(out.rglob("*.tmp")) and units(out).get("running", 0) == 0
    monkeypatch.undo()
    assert_rerun_gives_the_good_result(good, out, capsys)


def test_a_second_signal_during_the_clean_up_ends_the_process_at_once(tmp_path):
    script = textwrap.dedent(f"""
        import importlib.util, os, signal, sys, time
        spec = importlib.util.spec_from_file_location("interrupts", {str(INTERRUPTS)!r})  # alone: no torch to import
        interrupts = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(interrupts)
        with interrupts.stop_signals_raise() as names:
            names.prog = "archsim test"
            try:
                print("ready", flush=True)
                time.sleep(60)
            finally:  # a clean-up that hangs; a second Ctrl-C must end it
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(60)
        sys.exit(3)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.monotonic() - start < 20, err
    assert err.splitlines() == ["archsim test: interrupted by SIGINT (Ctrl-C); what was finished is kept: run the "
                                "same command again to resume from there"]


def test_a_closed_stdout_ends_the_command_quietly(prev):
    proc = subprocess.Popen([*CLI, "store", "info", str(prev)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # as `| head -0` does: the reader goes away
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141 and err == b"", err


# -- full disks and read-only folders -----------------------------------------------------------------------------

NO_SPACE = SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")


def refuse(exc):
    def write(*args, **kwargs):
        raise exc
    return write


def test_a_full_disk_under_the_adversarial_sets_is_one_line(good, tmp_path, capsys, monkeypatch):
    out = tmp_path / "o"
    RunStore(out).close()  # an empty store: the disk's filler file under tensors/ is then not a sign of damage
    with small_disk(out / "tensors" / "adv") as fill:
        if fill is None:  # no file system to fill here: the write fails as safetensors reports a full disk
            monkeypatch.setattr("archsim.store.tensors.save_file", refuse(NO_SPACE))
        else:
            fill(0)
        rc, _, err = run_cli(capsys, "sat", "--config", good["config"], "--out", out, "--no-progress")
        assert rc == 2 and len(err) == 1, err
        assert re.fullmatch(rf"archsim sat: error: {out}/tensors/adv/[0-9a-f-]+r\d+\.safetensors: No space left on "
                            "device", err[0]), err[0]
        assert not list(out.rglob("*.tmp")) and units(out).get("running", 0) == 0
    monkeypatch.undo()
    assert_rerun_gives_the_good_result(good, out, capsys)


def test_a_read_only_adversarial_set_folder_is_one_line(good, tmp_path, capsys):
    out = tmp_path / "o"
    (out / "tensors" / "adv").mkdir(parents=True)
    undo = read_only(out / "tensors" / "adv")
    try:
        rc, _, err = run_cli(capsys, "sat", "--config", good["config"], "--out", out, "--no-progress")
    finally:
        undo()
    assert rc == 2 and len(err) == 1, err
    assert re.fullmatch(rf"archsim sat: error: {out}/tensors/adv/\S+\.safetensors: (Operation not permitted|"
                        "Permission denied)", err[0]), err[0]
    assert_rerun_gives_the_good_result(good, out, capsys)


def test_a_full_disk_under_the_weights_cache_is_one_line(good, tmp_path, capsys, monkeypatch):
    cache = tmp_path / "cache"
    config = write_config(tmp_path / "c.yaml", {**good["cfg"], "cache_dir": str(cache)})
    with small_disk(cache) as fill:
        if fill is None:
            monkeypatch.setattr("archsim.zoo.weights_cache.save_model", refuse(NO_SPACE))
        else:
            fill(0)
        rc, _, err = run_cli(capsys, "sat", "--config", config, "--out", tmp_path / "o", "--no-progress")
        assert rc == 2 and len(err) == 1, err
        assert re.fullmatch(rf"archsim sat: error: {cache}/weights/[0-9a-f]{{16}}\.safetensors: No space left on "
                            "device", err[0]), err[0]
        assert not list(cache.rglob("*.tmp"))


def test_a_read_only_weights_cache_stops_before_training(good, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("archsim.zoo.train_pool.train_classifier", lambda *a, **k: pytest.fail("trained"))
    cache = tmp_path / "cache"
    (cache / "weights").mkdir(parents=True)
    config = write_config(tmp_path / "c.yaml", {**good["cfg"], "cache_dir": str(cache)})
    undo = read_only(cache / "weights")
    try:
        rc, _, err = run_cli(capsys, "sat", "--config", config, "--out", tmp_path / "o", "--no-progress")
    finally:
        undo()
    assert rc == 2 and len(err) == 1, err
    assert re.fullmatch(rf"archsim sat: error: weights cache {cache}/weights: cannot write there \((Operation not "
                        r"permitted|Permission denied)\); set cache_dir \(or \$ARCHSIM_CACHE\) to a folder archsim "
                        "can write", err[0]), err[0]


def test_a_full_disk_under_the_database_says_so_and_names_it(good, prev, tmp_path, capsys):
    """Was 'a run store database is damaged', with advice that led to `archsim store reset`."""
    more_steps = write_config(tmp_path / "c.yaml", {**good["cfg"], "attack": {**good["cfg"]["attack"], "steps": 3}})
    out = tmp_path / "full"
    with small_disk(out) as fill:
        if fill is None:
            pytest.skip("no small file system can be mounted here (SQLite's own full-disk error needs one)")
        shutil.copytree(prev, out, dirs_exist_ok=True)
        fill(0)
        before = snapshot(out)
        rc, _, err = run_cli(capsys, "sat", "--config", more_steps, "--out", out, "--no-progress")
        assert rc == 2 and len(err) == 1, err  # SQLITE_FULL, or SQLITE_IOERR_SHMSIZE when even its -shm file fails
        assert re.fullmatch(rf"archsim sat: error: run store database {out}/store.sqlite: the disk is full \((database "
                            r"or disk is full|disk I/O error, SQLITE_IOERR_\w+)\); free space on it and run the command "
                            r"again \(what was finished is kept\)", err[0]), err[0]
        assert {k: v for k, v in snapshot(out).items() if k.suffix == ".csv"} == \
            {k: v for k, v in before.items() if k.suffix == ".csv"}
        (out / ".filler").unlink()  # space again: the store is as good as it was
        rc, printed, err = run_cli(capsys, "store", "info", "--verify", out)
        assert rc == 0 and "database integrity_check: ok" in printed, err
        assert run_cli(capsys, "sat", "--config", more_steps, "--out", out, "--no-progress")[0] == 0
        result = (out / "sat.csv").read_bytes()
    assert run_cli(capsys, "sat", "--config", more_steps, "--out", tmp_path / "whole", "--no-progress")[0] == 0
    assert result == (tmp_path / "whole" / "sat.csv").read_bytes()


# -- SQLite's other errors, each said for what it is --------------------------------------------------------------


def test_a_folder_where_the_database_should_be(good, prev, capsys):
    """Was 'unable to open database file', reported as a damaged store."""
    (prev / "store.sqlite").unlink()
    for extra in prev.glob("store.sqlite-*"):
        extra.unlink()
    (prev / "store.sqlite").mkdir()
    for argv in (["sat", "--config", good["config"], "--out", prev, "--no-progress"], ["store", "info", prev]):
        rc, _, err = run_cli(capsys, *argv)
        assert rc == 2 and err == [f"archsim {argv[0]}: error: cannot open run store database {prev}/store.sqlite: "
                                   "it is a folder, not a file"], err


def test_a_read_only_database_file_is_named_not_called_damaged(good, prev, tmp_path, capsys):
    for extra in prev.glob("store.sqlite-*"):
        extra.unlink()
    more_steps = write_config(tmp_path / "c.yaml", {**good["cfg"], "attack": {**good["cfg"]["attack"], "steps": 3}})
    undo = read_only(prev / "store.sqlite")
    try:
        rc, _, err = run_cli(capsys, "sat", "--config", more_steps, "--out", prev, "--no-progress")
    finally:
        undo()
    assert rc == 2 and err == [f"archsim sat: error: run store database {prev}/store.sqlite is read-only (attempt to "
                               "write a readonly database): archsim writes it and its -wal and -shm files beside it; "
                               "`archsim store info` only reads"], err


def test_a_lock_taken_mid_run_is_waited_for_then_named(good, tmp_path, capsys, monkeypatch):
    """Another process takes the store's write lock after the first unit and holds it for 5 s: the run says it
    waits, the heartbeat thread fails its renewals without a traceback, the run stops after its (here 2 s) wait
    with one line naming the locked file, gives its unit back once the lock is free, and a rerun completes."""
    from archsim.store import executors

    for name, value in (("db.BUSY_TIMEOUT_S", 2), ("db.WAIT_NOTICE_S", 0.5), ("leases.RENEW_EVERY_S", 0.1),
                        ("leases.RENEW_WAIT_S", 0.1), ("resume.GIVE_BACK_WAIT_S", 20)):
        monkeypatch.setattr(f"archsim.store.{name}", value)
    out = tmp_path / "o"
    db = out / "store.sqlite"
    holder = textwrap.dedent(f"""
        import sqlite3, time
        conn = sqlite3.connect({str(db)!r}, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        print("locked", flush=True)
        time.sleep(5)
    """)
    lockers = []
    real = executors.run_job

    def run_then_lock(*args, **kwargs):
        result = real(*args, **kwargs)
        if not lockers:
            lockers.append(subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True))
            assert lockers[0].stdout.readline() == "locked\n"
            time.sleep(0.5)  # the heartbeat's renewals fail meanwhile
        return result

    monkeypatch.setattr(executors, "run_job", run_then_lock)
    try:
        rc, _, err = run_cli(capsys, "sat", "--config", good["config"], "--out", out, "--no-progress")
    finally:
        for locker in lockers:
            locker.communicate(timeout=60)
    assert rc == 2, err
    assert err == [f"warning: run store database {db} is locked by another process; waiting for it (for up to 2 s in "
                   "all)",
                   f"archsim sat: error: run store database {db} is locked by another process (database is locked); "
                   "wait until that process is done (another archsim run on the same folder, or a program that has "
                   "the file open) and run the command again"], err
    assert units(out).get("running", 0) == 0  # given back once the lock was free
    monkeypatch.undo()
    assert_rerun_gives_the_good_result(good, out, capsys)


def sqlite_error(message: str, name: str, code: int) -> sqlite3.Error:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorcode, error.sqlite_errorname = code, name
    return error


def test_explain_says_damaged_only_for_damage(tmp_path):
    db = tmp_path / "store.sqlite"
    db.write_bytes(os.urandom(8192))
    with pytest.raises(sqlite3.DatabaseError) as caught:  # a real SQLITE_NOTADB
        sqlite3.connect(db).execute("SELECT * FROM sqlite_master")
    said = {"not a database": explain(caught.value, db)}
    for message, name, code in (("disk I/O error", "SQLITE_IOERR_SHORT_READ", 522), ("access permission denied",
                                "SQLITE_PERM", 3), ("out of memory", "SQLITE_NOMEM", 7),
                                ("unable to open database file", "SQLITE_CANTOPEN", 14),
                                ("too many SQL variables", "SQLITE_ERROR", 1)):
        said[message] = explain(sqlite_error(message, name, code), db)
    assert said["not a database"] == (f"run store database {db} is damaged (file is not a database); restore it from "
                                      f"a backup, or `archsim store reset {tmp_path}` to start afresh")
    assert said["disk I/O error"].startswith(f"run store database {db}: the disk or file system failed (disk I/O "
                                             "error, SQLITE_IOERR_SHORT_READ); the store itself may well be intact")
    assert said["access permission denied"] == f"run store database {db}: access refused (access permission denied)"
    assert said["out of memory"] == f"run store database {db}: out of memory (out of memory)"
    assert said["unable to open database file"] == f"cannot open run store database {db} (unable to open database file)"
    assert said["too many SQL variables"] == f"run store database {db}: too many SQL variables (SQLITE_ERROR)"
    assert sum(" is damaged" in line for line in said.values()) == 1


def test_store_gc_removes_what_a_killed_safetensors_write_left(prev, tmp_path, capsys):
    """A SIGKILL while safetensors writes leaves its own `.tmpXXXXXX` beside the file (in the weights cache too)."""
    cache = tmp_path / "cache" / "weights"
    cache.mkdir(parents=True)
    stale, fresh, other = cache / ".tmpKxqn8C", cache / ".tmpAb12Cd", cache / ".tmp_notes"
    for path in (stale, fresh, other):
        path.write_bytes(b"partial")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    rc, out, err = run_cli(capsys, "store", "gc", prev, "--cache-dir", tmp_path / "cache")
    assert rc == 0, err
    assert not stale.exists() and fresh.exists() and other.exists() and f"removed {stale}" in out

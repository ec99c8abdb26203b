"""The run store across processes: a run killed with SIGKILL resumes; two runs share one store."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from store_fixtures import query, runs_per_unit, write_config

from archsim.cli import main

SLOW = {"steps": 50}  # about half a second per attack unit here, so a run can be caught in the middle


def archsim_command(config, out):
    exe = shutil.which("archsim", path=os.path.dirname(sys.executable))
    return ([exe] if exe else [sys.executable, "-m", "archsim.cli"]) + [
        "sat", "--config", str(config), "--out", str(out), "--no-progress"]


def start(config, out):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(archsim_command(config, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


@pytest.fixture(scope="module")
def reference(zoo_specs, tmp_path_factory):
    """The config and the sat.csv of an uninterrupted single-process run."""
    folder = tmp_path_factory.mktemp("reference")
    config = write_config(folder / "run.yaml", zoo_specs.values(), attack=SLOW)
    assert main(["sat", "--config", str(config), "--out", str(folder / "run"), "--no-progress"]) == 0
    return config, (folder / "run" / "sat.csv").read_text()


def units(out, status):
    try:
        return {u for (u,) in query(out, "SELECT id FROM units WHERE status = ?", status)}
    except Exception:  # the store does not exist yet
        return set()


def test_sigkill_then_resume(reference, tmp_path):
    config, expected = reference
    out = tmp_path / "run"
    proc = start(config, out)
    deadline = time.time() + 120
    while not (units(out, "done") and units(out, "running")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)  # until one unit is finished and the next one is running
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = units(out, "done")
    assert 0 < len(finished_before) < 15 and len(units(out, "running")) == 1, "the run was not caught in the middle"

    assert main(["sat", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    assert (out / "sat.csv").read_text() == expected
    runs = runs_per_unit(out)
    assert all(runs[u] == ["done"] for u in finished_before)  # finished units were not run again
    assert all(r.count("done") == 1 for r in runs.values()) and len(runs) == 15  # 3 attacks, 9 evaluations, 3 noise
    assert sum(r == ["lost", "done"] for r in runs.values()) == 1  # the unit the kill interrupted
    assert query(out, "PRAGMA integrity_check") == [("ok",)]


def test_two_processes_share_one_store(reference, tmp_path):
    config, expected = reference
    out = tmp_path / "run"
    other = start(config, out)
    deadline = time.time() + 120
    while not units(out, "running") and other.poll() is None and time.time() < deadline:
        time.sleep(0.02)  # until the other process is at work
    assert main(["sat", "--config", str(config), "--out", str(out), "--no-progress"]) == 0  # this process
    _, stderr = other.communicate(timeout=300)
    assert other.returncode == 0, stderr
    assert (out / "sat.csv").read_text() == expected
    runs = runs_per_unit(out)
    assert len(runs) == 15 and all(r == ["done"] for r in runs.values())  # each unit ran exactly once
    workers = {w.split(":")[1] for (w,) in query(out, "SELECT worker FROM unit_runs")}
    assert workers == {str(other.pid), str(os.getpid())}  # both did part of the work
    assert query(out, "PRAGMA integrity_check") == [("ok",)]

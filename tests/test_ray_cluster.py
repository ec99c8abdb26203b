"""`archsim sat --executor ray` on a real two-node Ray cluster started here with `ray start`.

A head node and a second node (`ray start --address`, its own CPU and a custom resource) run as separate
raylets on this machine, each started with `--block` in its own session under a private temp dir (token
authentication off: the cluster is private to this test). The run must use both nodes (the node of each
unit is in `unit_runs.ran_on`) and give the local executor's matrix, also when the second node is killed
(SIGKILL to its whole process group) in the middle of the run: Ray retries the lost tasks on the head.
Both nodes are stopped at the end, whatever happens: every process whose command line names this test's
temp dir is killed by its pid (never `ray stop`, which would stop every Ray on the machine). Deselect
with `-m "not ray_cluster"`.
"""

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from store_fixtures import query, write_config

from archsim.cli import main

pytestmark = pytest.mark.ray_cluster
ray = pytest.importorskip("ray", reason="Ray is the optional extra archsim[ray]: pip install -e '.[test,ray]'")
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 240
RAY = shutil.which("ray", path=os.path.dirname(sys.executable)) or "ray"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_node(args, env, log: Path) -> subprocess.Popen:
    return subprocess.Popen([RAY, "start", "--block", "--node-ip-address=127.0.0.1", "--num-cpus=1",
                             "--object-store-memory=150000000", "--disable-usage-stats", *args],
                            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def nodes(address: str, env: dict) -> list[dict]:
    """The cluster's nodes as Ray lists them, from a short-lived driver process."""
    code = ("import json, ray; ray.init(address=%r, logging_level='ERROR', log_to_driver=False); "
            "print(json.dumps([{'id': n['NodeID'], 'alive': n['Alive'], 'resources': n['Resources']} "
            "for n in ray.nodes()]))" % address)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                         env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def processes_under(marker: str) -> list[int]:
    """Pids of the processes whose command line names `marker` (this test's Ray temp dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def stop(proc: subprocess.Popen) -> None:
    """SIGKILL to the node's whole process group (`ray start --block`, its raylet, GCS, workers)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


@pytest.fixture
def cluster():
    temp = tempfile.mkdtemp(prefix="archsim-ray-", dir="/tmp")  # short: Ray's socket paths must fit
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "RAY_AUTH_MODE": "disabled"}  # a private cluster on 127.0.0.1 (Ray 2.5x: token auth by default)
    port = free_port()
    address = f"127.0.0.1:{port}"
    started = []
    try:
        started.append(start_node(["--head", f"--port={port}", f"--temp-dir={temp}", "--include-dashboard=false",
                                   '--resources={"head_node": 1}'], env, Path(temp) / "head.log"))
        deadline = time.time() + 90
        while True:
            try:
                if nodes(address, env):
                    break
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired, ValueError, IndexError):
                if time.time() > deadline or started[0].poll() is not None:
                    raise RuntimeError("the Ray head did not start: " + (Path(temp) / "head.log").read_text()[-2000:])
                time.sleep(1)
        started.append(start_node([f"--address={address}", f"--temp-dir={temp}", '--resources={"second_node": 1}'],
                                  env, Path(temp) / "worker.log"))
        while len([n for n in nodes(address, env) if n["alive"]]) < 2:
            if time.time() > deadline or started[1].poll() is not None:
                raise RuntimeError("the second node did not join: " + (Path(temp) / "worker.log").read_text()[-2000:])
            time.sleep(1)
        second = next(n["id"] for n in nodes(address, env) if "second_node" in n["resources"])
        yield {"address": address, "env": env, "second": second, "second_proc": started[1]}
    finally:
        for proc in reversed(started):
            stop(proc)
        for pid in processes_under(temp):  # anything of this cluster's that outlived its node
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(temp, ignore_errors=True)
        assert not processes_under(temp)


OUTCOMES = ("SELECT u.kind, u.source, IFNULL(u.target, 0), o.correct FROM units u "
            "LEFT JOIN adversarial_outcomes o ON o.unit = u.id ORDER BY 1, 2, 3")


def ray_sat(config, out, cluster) -> subprocess.Popen:
    command = [sys.executable, "-m", "archsim.cli", "sat", "--config", str(config), "--out", str(out),
               "--no-progress", "--executor", "ray", "--ray-address", cluster["address"]]
    return subprocess.Popen(command, env=cluster["env"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, deadline: float) -> str:
    try:
        output, _ = proc.communicate(timeout=max(1.0, deadline - time.time()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    return output


def test_two_nodes_and_a_node_killed_mid_run(cluster, zoo_specs, tmp_path):
    config = write_config(tmp_path / "run.yaml", zoo_specs.values())
    local = tmp_path / "local"
    assert main(["sat", "--config", str(config), "--out", str(local), "--no-progress"]) == 0
    deadline = time.time() + TIMEOUT_S
    # both nodes: two tasks at a time on 1 + 1 CPUs
    both = tmp_path / "both"
    finish(ray_sat(config, both, cluster), deadline)
    nodes_used = {r.split(" node ")[1] for (r,) in query(both, "SELECT ran_on FROM unit_runs WHERE result = 'done'")}
    assert len(nodes_used) == 2 and cluster["second"] in nodes_used
    assert (both / "sat.csv").read_text() == (local / "sat.csv").read_text()
    assert query(both, OUTCOMES) == query(local, OUTCOMES)
    # the second node killed as soon as the first unit is done: the rest runs on the head
    killed = tmp_path / "killed"
    proc = ray_sat(config, killed, cluster)
    try:
        while not some_unit_done(killed):
            assert proc.poll() is None, proc.stdout.read()
            assert time.time() < deadline, "no unit finished"
            time.sleep(0.1)
        stop(cluster["second_proc"])
        left = query(killed, "SELECT COUNT(*) FROM units WHERE status != 'done'")[0][0]
    finally:
        output = finish(proc, deadline)
    assert left > 0, output  # the node died during the run, not after it
    assert (killed / "sat.csv").read_text() == (local / "sat.csv").read_text()
    assert query(killed, OUTCOMES) == query(local, OUTCOMES)


def some_unit_done(run_dir) -> bool:
    """Whether the store in run_dir has a finished unit; False while its database is missing or still being set up
    (the file exists a moment before its tables)."""
    if not (run_dir / "store.sqlite").is_file():
        return False
    try:
        return bool(query(run_dir, "SELECT 1 FROM unit_runs WHERE result = 'done'"))
    except sqlite3.OperationalError:
        return False

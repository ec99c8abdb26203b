"""`archsim sat --executor ray` on a local Ray instance with 2 CPUs: the same store contents as the local executor."""

import os

import pytest
from store_fixtures import query, write_config

from archsim.cli import main

ray = pytest.importorskip("ray", reason="Ray is the optional extra archsim[ray]: pip install -e '.[test,ray]'")

OUTCOMES = """SELECT m.label, IFNULL(t.label, ''), u.kind, IFNULL(o.correct, c.correct) FROM units u
JOIN models m ON m.id = u.source LEFT JOIN models t ON t.id = u.target
LEFT JOIN adversarial_outcomes o ON o.unit = u.id
LEFT JOIN clean_outcomes c ON c.model = u.source AND c.dataset = u.dataset AND u.kind = 'attack'
ORDER BY 1, 2, 3"""


def test_ray_executor_matches_local(zoo_specs, tmp_path, capsys):
    config = write_config(tmp_path / "run.yaml", zoo_specs.values())
    assert main(["sat", "--config", str(config), "--out", str(tmp_path / "local"), "--no-progress"]) == 0
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        assert main(["sat", "--config", str(config), "--out", str(tmp_path / "ray"), "--no-progress",
                     "--executor", "ray", "--cpus-per-task", "1"]) == 0
        assert main(["sat", "--config", str(config), "--out", str(tmp_path / "gpu"), "--no-progress",
                     "--executor", "ray", "--gpus-per-task", "1"]) == 2
        assert "fits no task" in capsys.readouterr().err
    finally:
        ray.shutdown()
    assert (tmp_path / "ray" / "sat.csv").read_text() == (tmp_path / "local" / "sat.csv").read_text()
    assert query(tmp_path / "ray", OUTCOMES) == query(tmp_path / "local", OUTCOMES)
    assert len(query(tmp_path / "ray", OUTCOMES)) == 15  # 3 attacks (clean outcomes), 9 evaluations, 3 noise
    # the units ran in Ray's worker processes, not in this one
    pids = {ran_on.split()[0].split(":")[1] for (ran_on,) in query(tmp_path / "ray", "SELECT ran_on FROM unit_runs")}
    assert pids and str(os.getpid()) not in pids


"""The run store: the same SAT as in memory, content keys, incremental counts, corrupt files, leases, info and gc."""

import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from store_fixtures import (
    ATTACK,
    finished_runs,
    perturbed_checkpoint,
    query,
    runs_per_unit,
    stored_result,
    write_config,
)

import archsim
import attacks
from archsim.cli import main
from archsim.errors import ArchsimError
from archsim.store import RunStore
from archsim.store.keys import AttackEntry, DatasetEntry, ModelEntry
from archsim.store.tensors import CorruptTensorFile, FileRecord, read_advset, resolve
from archsim.zoo.data import describe, select_indices


def sat(config, out, capsys, *extra) -> str:
    assert main(["sat", "--config", str(config), "--out", str(out), "--no-progress", *extra]) == 0
    return capsys.readouterr().out


def ran(stdout) -> tuple[int, int, int, int]:
    """(attack, evaluation, noise-control units run, units reused) from the summary line."""
    m = re.search(r"ran (\d+) attack and (\d+) evaluation units(?:, (\d+) noise-control units)?; (\d+) reused", stdout)
    return tuple(int(g or 0) for g in m.groups())


def eval_images(n_per_class=6):
    catalog = describe({"source": "digits", "resolution": 16})
    return catalog.load(select_indices(catalog.labels, how="balanced", n=n_per_class, seed=0))


def test_store_gives_the_in_memory_sat_and_float16_changes_no_outcome(tmp_path, zoo_specs, tiny_zoo, capsys):
    config = write_config(tmp_path / "run.yaml", zoo_specs.values())
    assert ran(sat(config, tmp_path / "run", capsys)) == (3, 9, 3, 0)
    stored = stored_result(config, tmp_path / "run")
    ev = eval_images()
    in_memory = archsim.sat_matrix(tiny_zoo, ev.images, ev.labels, eps=0.15, alpha=0.04, steps=5, seed=0,
                                   batch_size=64, progress=False)
    np.testing.assert_array_equal(stored.clean_correct, in_memory.clean_correct)
    np.testing.assert_array_equal(stored.adv_correct, in_memory.adv_correct)
    np.testing.assert_array_equal(stored.sat, in_memory.sat)
    assert (tmp_path / "run" / "sat.csv").read_text().startswith(",resnet,resnet_seed1,vit")

    # float32 adversarial images, made here from the attack directly (same per-batch seeds), give the
    # same outcomes as the stored float16 perturbations
    names = list(tiny_zoo)
    for s, source in enumerate(names):
        idx = np.flatnonzero(stored.clean_correct[s])
        seed = int(np.random.SeedSequence([0, 0]).generate_state(1)[0])  # one batch: batch 0
        adv = attacks.make_attack(tiny_zoo[source], {**ATTACK, "seed": seed})(ev.images[idx], ev.labels[idx])
        for t, target in enumerate(names):
            keep = stored.clean_correct[t, idx]
            with torch.no_grad():
                correct = (tiny_zoo[target](adv[keep]).argmax(1) == ev.labels[idx][keep]).numpy()
            np.testing.assert_array_equal(stored.adv_correct[s, t, idx[keep]], correct)


def test_adversarial_set_file(tmp_path, zoo_specs, capsys):
    config = write_config(tmp_path / "run.yaml", [zoo_specs["resnet"]])
    sat(config, tmp_path / "run", capsys)
    [(path, sha, size, n)] = query(tmp_path / "run", "SELECT path, sha256, bytes, n_images FROM adversarial_sets")
    assert path.startswith("tensors/adv/") and (tmp_path / "run" / path).stat().st_size == size
    assert 3 * 16 * 16 * 2 + 8 < size / n < 3 * 16 * 16 * 2 + 8 + 1024 / n  # float16 delta + int64 index + header
    adv = read_advset(tmp_path / "run", FileRecord(path, sha, size))
    ev = eval_images()
    x_adv = adv.images(ev.images, np.arange(len(adv)))
    clean = ev.images[torch.from_numpy(adv.index)]
    assert (x_adv - clean).abs().max() <= 0.15 + 1e-6 and 0 <= x_adv.min() and x_adv.max() <= 1
    assert not torch.equal(x_adv, clean)

    altered = bytearray((tmp_path / "run" / path).read_bytes())
    altered[-1] ^= 1  # same size, other content
    (tmp_path / "run" / path).write_bytes(altered)
    with pytest.raises(CorruptTensorFile, match="sha256"):
        read_advset(tmp_path / "run", FileRecord(path, sha, size))
    for outside in ("../elsewhere.safetensors", "tensors/../store.sqlite", "/etc/passwd"):
        with pytest.raises(ArchsimError, match="leaves"):
            resolve(tmp_path / "run", outside)


def test_incremental_counts_and_content_keys(tmp_path, zoo_specs, capsys):
    run = tmp_path / "run"
    two = write_config(tmp_path / "two.yaml", [zoo_specs["resnet"], zoo_specs["vit"]])
    three = write_config(tmp_path / "three.yaml", zoo_specs.values())
    assert ran(sat(two, run, capsys)) == (2, 4, 2, 0)
    # one model added to N = 2: 1 attack, 2N + 1 = 5 evaluations, 1 noise control; the 8 units there reused
    assert ran(sat(three, run, capsys)) == (1, 5, 1, 8)
    assert finished_runs(run) == {"attack": 3, "evaluation": 9, "noise": 3}
    # asking again computes nothing; the store's record says the same
    assert ran(sat(three, run, capsys)) == (0, 0, 0, 15)
    assert finished_runs(run) == {"attack": 3, "evaluation": 9, "noise": 3}
    assert all(len(r) == 1 for r in runs_per_unit(run).values())

    # a label is only a name: renaming computes nothing
    renamed = write_config(tmp_path / "renamed.yaml", [{**zoo_specs["resnet"], "label": "r18"}, zoo_specs["vit"]])
    assert ran(sat(renamed, run, capsys)) == (0, 0, 0, 8)
    # other weights under the same label: a new model, 1 attack and 2N + 1 = 3 evaluations (N = 1)
    changed = perturbed_checkpoint(zoo_specs["resnet"], tmp_path / "changed.safetensors")
    assert ran(sat(write_config(tmp_path / "w.yaml", [changed, zoo_specs["vit"]]), run, capsys)) == (1, 3, 1, 3)
    # another attack, or other images: all new
    other_attack = write_config(tmp_path / "a.yaml", zoo_specs.values(), attack={"eps": 0.1})
    other_images = write_config(tmp_path / "d.yaml", zoo_specs.values(), n_per_class=5)
    assert ran(sat(other_attack, run, capsys)) == (3, 9, 3, 0)
    assert ran(sat(other_images, run, capsys)) == (3, 9, 3, 0)
    assert query(run, "SELECT COUNT(*) FROM models") == [(4,)]
    assert query(run, "SELECT COUNT(*) FROM datasets") == [(2,)]
    assert query(run, "SELECT COUNT(*) FROM attacks") == [(2,)]
    assert query(run, "PRAGMA integrity_check") == [("ok",)]


def test_corrupt_file_is_detected_recomputed_and_reported(tmp_path, zoo_specs, capsys):
    run = tmp_path / "run"
    sat(write_config(tmp_path / "two.yaml", [zoo_specs["resnet"], zoo_specs["vit"]]), run, capsys)
    [(path,)] = query(run, "SELECT s.path FROM adversarial_sets s JOIN units u ON u.id = s.unit "
                           "JOIN models m ON m.id = u.source WHERE m.label = 'resnet'")
    data = bytearray((run / path).read_bytes())
    data[-100:] = bytes(b ^ 0xFF for b in data[-100:])  # altered in place: the size is right, the sha256 is not
    (run / path).write_bytes(bytes(data))

    assert main(["store", "info", str(run), "--verify"]) == 1
    assert "1 corrupt" in capsys.readouterr().out
    three = write_config(tmp_path / "three.yaml", zoo_specs.values())
    assert main(["sat", "--config", str(three), "--out", str(run), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "warning: adversarial set" in err and "recomputing it" in err
    assert "1 corrupt adversarial set(s) recomputed" in out
    assert not (run / path).exists()
    attack_runs = query(run, "SELECT m.label, r.result FROM unit_runs r JOIN units u ON u.id = r.unit "
                             "JOIN models m ON m.id = u.source WHERE u.kind = 'attack' ORDER BY r.id")
    assert [r for label, r in attack_runs if label == "resnet"] == ["done", "done"]
    assert ("corrupt",) in query(run, "SELECT result FROM unit_runs")
    sat(three, tmp_path / "fresh", capsys)
    np.testing.assert_array_equal(stored_result(three, run).adv_correct,
                                  stored_result(three, tmp_path / "fresh").adv_correct)
    assert main(["store", "info", str(run), "--verify"]) == 0


def fake_plan(store, n_models=2, noise=False):
    models = [ModelEntry(f"key{i}", f"m{i}", f"arch@{i}", {}) for i in range(n_models)]
    return store.register(models, DatasetEntry("data", ["a", "b"], [3, 2, 2]),
                          AttackEntry("attack", {"attack": {}, "seed": 0, "batch_size": 1}), noise=noise)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_claims_wait_for_inputs_and_take_back_stale_units(tmp_path):
    store = RunStore(tmp_path / "run")
    plan = fake_plan(store)
    here, remote = socket.gethostname(), "elsewhere:1:remote"
    held = store.claim(plan, remote)  # a worker on another host, its lease running
    gone = store.claim(plan, f"{here}:{dead_pid()}:gone")  # a worker on this host whose process is gone
    assert (held.kind, gone.kind) == ("attack", "attack") and held.unit != gone.unit
    live = f"{here}:{os.getpid()}:live"
    assert store.claim(plan, live).unit == gone.unit  # taken back at once: its process is gone
    assert store.claim(plan, live) is None  # the remote unit is leased; evaluations wait for the attacks
    assert query(tmp_path / "run", "SELECT result FROM unit_runs ORDER BY id") == [(None,), ("lost",), (None,)]
    # a remote worker's unit is taken back once its lease has run out
    store.conn.execute("UPDATE units SET lease_until = ? WHERE worker = ?", (time.time() - 1, remote))
    assert store.claim(plan, live).unit == held.unit
    store.close()


def test_noise_units_need_no_input_and_run_after_the_attacks(tmp_path):
    store = RunStore(tmp_path / "run")
    plan = fake_plan(store, noise=True)
    kinds = [store.claim(plan, f"elsewhere:1:w{i}").kind for i in range(4)]
    assert kinds == ["attack", "attack", "noise", "noise"] and store.claim(plan, "elsewhere:1:w9") is None
    store.close()


def test_store_info_and_gc(tmp_path, zoo_specs, capsys):
    run = tmp_path / "run"
    sat(write_config(tmp_path / "two.yaml", [zoo_specs["resnet"], zoo_specs["vit"]]), run, capsys)
    assert main(["store", "info", str(run)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"attack\s+2\s+0\s+0", out) and re.search(r"evaluation\s+4\s+0\s+0", out)
    assert "models: 2" in out and "resnet" in out and "bytes per image" in out
    (run / "tensors" / "adv" / "left-by-a-killed-run.safetensors").write_bytes(b"x" * 1000)
    (run / "tensors" / "adv" / "half.safetensors.0123.tmp").write_bytes(b"x" * 20)
    kept = sorted(p.name for p in (run / "tensors" / "adv").iterdir() if "killed" not in p.name and "tmp" not in p.name)
    assert main(["store", "gc", str(run)]) == 0
    assert "freed 1,020 B (2 files)" in capsys.readouterr().out
    assert sorted(p.name for p in (run / "tensors" / "adv").iterdir()) == kept
    np.testing.assert_array_equal(stored_result(tmp_path / "two.yaml", run).sat.shape, (2, 2))

    # gc waits while a live worker holds a unit
    query_conn = RunStore(run)
    query_conn.conn.execute("UPDATE units SET status = 'running', worker = ?, lease_until = ? WHERE id = 1",
                            (f"{socket.gethostname()}:{os.getpid()}:x", time.time() + 100))
    query_conn.close()
    assert main(["store", "gc", str(run)]) == 2
    assert "running" in capsys.readouterr().err
    assert main(["store", "info", str(tmp_path / "nothing")]) == 2


V2_UNITS = """
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('attack', 'evaluation', 'noise')),
    source INTEGER NOT NULL REFERENCES models(id),
    target INTEGER REFERENCES models(id),
    dataset INTEGER NOT NULL REFERENCES datasets(id),
    attack INTEGER NOT NULL REFERENCES attacks(id),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done')),
    worker TEXT, lease_until REAL,
    CHECK ((kind = 'evaluation') = (target IS NOT NULL))"""
V2_INDEXES = """CREATE UNIQUE INDEX IF NOT EXISTS unit_identity ON units (kind, source, IFNULL(target, 0), dataset, attack);
CREATE INDEX IF NOT EXISTS unit_status ON units (status)"""


@pytest.mark.parametrize("version", [1, 2])
def test_an_older_store_is_migrated_in_place_and_keeps_its_rows(tmp_path, version):
    """Versions 1 (no noise kind) and 2 (no pilot kind, no images column), written as those versions wrote
    them, open as version 3 with every row kept and the new kinds allowed."""
    import sqlite3

    from archsim.store import db

    path = tmp_path / "run" / "store.sqlite"
    path.parent.mkdir()
    old = sqlite3.connect(path)
    units = V2_UNITS
    if version == 1:
        units = units.replace("'attack', 'evaluation', 'noise'", "'attack', 'evaluation'").replace(
            "(kind = 'evaluation') = (target IS NOT NULL)", "(kind = 'attack') = (target IS NULL)")
    schema = db.SCHEMA.replace(db.UNITS_COLUMNS, units)
    schema = schema[:schema.index("CREATE UNIQUE INDEX")] + V2_INDEXES + schema[schema.index(";", schema.index(
        "CREATE INDEX IF NOT EXISTS unit_status")):]
    old.executescript(schema + f"; PRAGMA user_version = {version};")
    old.execute("INSERT INTO models (key, label, identity, data_config) VALUES ('k', 'm', 'a@1', '{}')")
    old.execute("INSERT INTO datasets (key, n_images, image_shape, image_ids) VALUES ('d', 1, '[3]', '[\"x\"]')")
    old.execute("INSERT INTO attacks (key, config) VALUES ('a', '{}')")
    old.execute("INSERT INTO units (kind, source, dataset, attack, status) VALUES ('attack', 1, 1, 1, 'done')")
    old.execute("INSERT INTO units (kind, source, target, dataset, attack) VALUES ('evaluation', 1, 1, 1, 1)")
    old.commit()
    with pytest.raises(sqlite3.IntegrityError):
        old.execute("INSERT INTO units (kind, source, target, dataset, attack) VALUES ('pilot', 1, 1, 1, 1)")
    old.close()
    conn = db.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    assert conn.execute("SELECT kind, target, status, images FROM units ORDER BY id").fetchall() == [
        ("attack", None, "done", None), ("evaluation", 1, "pending", None)]
    conn.execute("INSERT INTO units (kind, source, dataset, attack) VALUES ('noise', 1, 1, 1)")
    conn.execute("INSERT INTO units (kind, source, target, dataset, attack, images) VALUES ('pilot', 1, 1, 1, 1, 5)")
    conn.execute("INSERT INTO units (kind, source, target, dataset, attack, images) VALUES ('pilot', 1, 1, 1, 1, 9)")
    with pytest.raises(sqlite3.IntegrityError):  # a pilot unit needs its image count, and is unique with it
        conn.execute("INSERT INTO units (kind, source, target, dataset, attack) VALUES ('pilot', 1, 1, 1, 1)")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO units (kind, source, target, dataset, attack, images) VALUES ('pilot', 1, 1, 1, 1, 5)")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()

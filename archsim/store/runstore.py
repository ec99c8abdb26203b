"""A run directory: RUN_DIR/store.sqlite (schema in `archsim.store.db`) and RUN_DIR/tensors/.

    store = RunStore(run_dir)                       # RunStore(run_dir, scratch=True): an in-memory copy
    plan = store.register(models, dataset, attack)  # entries and their units (existing ones are kept)
    claim = store.claim(plan, worker)               # atomically take the next unit whose inputs exist
    claims = store.claim_batch(plan, worker, k)     # ... or up to k evaluations of one target, in one transaction
    store.record(claim, result)                     # its outcomes, and the unit is done
    store.record_batch([(claim, result), ...])      # several, in one transaction
    store.release(claim, "failed")                  # back to pending
    store.release_all(worker, "interrupted")        # every unit the worker still holds
    store.invalidate(claim)                         # its adversarial set is corrupt: redo that attack
    store.drop_missing_sets(plan)                   # sets whose file is gone or resized: redo their attacks
    store.progress(plan)                            # {(kind, status): count}
    store.units_to_do(plan)                         # [(kind, source, target)] not done
    store.sat_result(plan, eps_s)                   # SATResult derived from the stored outcomes
    plan.only(pairs)                                # the plan with only some evaluations (a budgeted run)
    store.add_pilot(plan, images)                   # the plan with pilot units: every pair on a few images
    store.pilot_result(plan, eps_s)                 # SATResult of every pair on the pilot images
    store.done_pairs(plan)                          # [(i, j)] label pairs evaluated both ways

For N models the plan has N attack units (source, dataset, attack) and N^2
evaluation units (source, target, dataset, attack). An attack unit stores the
source's clean outcomes and its adversarial set; evaluation unit (s, t) can
start once s's adversarial set and t's clean outcomes are stored. A unit is
claimed inside one write transaction (pending -> running, leased to the
worker, a `unit_runs` row added); units whose lease ran out or whose local
worker process is gone are taken back first (see `archsim.store.leases`).

A budgeted run may add a pilot (`add_pilot`): a pilot unit (source, target,
images) evaluates target on source's adversarial images of only the first
`images` images of the dataset's pilot order (`archsim.sat.pilot`), for every
pair of distinct models, and runs like an evaluation. A plan sees the pilot
units of its own `pilot` image count only.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from archsim.errors import ArchsimError, one_line
from archsim.sat.advset import AdvSet
from archsim.sat.pilot import pilot_images
from archsim.sat.result import SATResult
from archsim.store.db import connect, scratch_copy, transaction
from archsim.store.keys import AttackEntry, DatasetEntry, ModelEntry
from archsim.store.leases import LEASE_S, is_gone
from archsim.store.plan import CLAIMABLE, CLAIMABLE_FOR_TARGET, IN_PLAN, Claim, Plan
from archsim.store.sqlite_errors import explain
from archsim.store.tensors import TENSOR_DIR, FileRecord, read_advset, resolve

DB_NAME = "store.sqlite"

def check_not_damaged(run_dir: Path) -> None:
    """ArchsimError when RUN_DIR/tensors holds files but the database is missing or empty (0 bytes)."""
    db = run_dir / DB_NAME
    if db.is_dir() or db.is_file() and db.stat().st_size > 0:  # a folder in its place: `connect` says so
        return
    files = sum(1 for p in (run_dir / TENSOR_DIR).rglob("*") if p.is_file())
    if files:
        raise ArchsimError(f"run store {run_dir} is damaged: {DB_NAME} is {'empty' if db.is_file() else 'missing'} "
                           f"but {TENSOR_DIR}/ holds {files} file(s); `archsim store reset {run_dir}` deletes the "
                           "store (database and tensors, not the output files) so that the next run starts afresh")


class RunStore:
    """The run store in `run_dir` (created when missing unless `create=False`; `read_only` writes nothing).

    A damaged store stops here with one line saying what to do (`archsim store reset DIR` starts it
    afresh): a database that is missing or empty while tensors/ holds files, or one whose pages fail
    SQLite's quick_check. `scratch` works on an in-memory copy of the store (an empty one when there is
    none on disk) and writes nothing.
    """

    def __init__(self, run_dir: str | Path, *, create: bool = True, read_only: bool = False,
                 scratch: bool = False):
        self.run_dir = Path(run_dir).resolve()
        self.db_path = self.run_dir / DB_NAME
        if scratch:
            self.conn = scratch_copy(self.db_path)
            return
        if not self.run_dir.is_dir() and (read_only or not create):
            raise ArchsimError(f"run store folder not found: {self.run_dir}")
        check_not_damaged(self.run_dir)
        if create and not read_only:
            (self.run_dir / TENSOR_DIR).mkdir(parents=True, exist_ok=True)
        self.conn = connect(self.db_path, create=create, read_only=read_only)
        try:
            problem = self.conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        except sqlite3.Error as e:  # a damaged page, or a store it cannot read now (locked, I/O): said which
            self.conn.close()
            raise ArchsimError(explain(e, self.db_path)) from None
        if problem != "ok":
            self.conn.close()
            raise ArchsimError(f"run store database {self.db_path} is damaged ({one_line(problem)}); "
                               f"restore it from a backup, or `archsim store reset {self.run_dir}` to start afresh")

    def close(self) -> None:
        self.conn.close()

    def drop_missing_sets(self, plan: Plan) -> list[str]:
        """Adversarial sets of `plan` whose file is gone or has another size than recorded: each is dropped
        and its attack unit made pending again, so the run recomputes it (checking sizes costs no reading)."""
        rows = self.conn.execute("SELECT s.unit, s.path, s.bytes FROM units u JOIN adversarial_sets s "
                                 f"ON s.unit = u.id WHERE u.kind = 'attack' AND {IN_PLAN}", plan.params).fetchall()
        lost = []
        for unit, path, size in rows:
            file = resolve(self.run_dir, path)
            if not file.is_file() or file.stat().st_size != size:
                lost.append((unit, path))
        with transaction(self.conn):
            for unit, path in lost:
                self.conn.execute("DELETE FROM adversarial_sets WHERE unit = ? AND path = ?", (unit, path))
                self.conn.execute("UPDATE units SET status = 'pending', worker = NULL, lease_until = NULL "
                                  "WHERE id = ? AND status = 'done'", (unit,))
        return [path for _, path in lost]

    def register(self, models: list[ModelEntry], dataset: DatasetEntry, attack: AttackEntry, *,
                 noise: bool = True) -> Plan:
        """Add the entries and every unit they need; what exists already is kept as it is.

        Per model: an attack unit, one evaluation unit per target and, with `noise`, a noise unit (the
        control: random noise of the attack's norm and eps, `attacks.noise_config`).
        """
        c = self.conn
        with transaction(c):
            ids = []
            for m in models:
                c.execute("INSERT OR IGNORE INTO models (key, label, identity, data_config) VALUES (?, ?, ?, ?)",
                          (m.key, m.label, m.identity, json.dumps(m.data_config)))
                ids.append(c.execute("SELECT id FROM models WHERE key = ?", (m.key,)).fetchone()[0])
            c.execute("INSERT OR IGNORE INTO datasets (key, n_images, image_shape, image_ids) VALUES (?, ?, ?, ?)",
                      (dataset.key, len(dataset.image_ids), json.dumps(dataset.image_shape),
                       json.dumps(dataset.image_ids)))
            d = c.execute("SELECT id FROM datasets WHERE key = ?", (dataset.key,)).fetchone()[0]
            c.execute("INSERT OR IGNORE INTO attacks (key, config) VALUES (?, ?)",
                      (attack.key, json.dumps(attack.config, sort_keys=True)))
            a = c.execute("SELECT id FROM attacks WHERE key = ?", (attack.key,)).fetchone()[0]
            distinct = list(dict.fromkeys(ids))
            c.executemany("INSERT OR IGNORE INTO units (kind, source, dataset, attack) VALUES ('attack', ?, ?, ?)",
                          [(s, d, a) for s in distinct])
            c.executemany("INSERT OR IGNORE INTO units (kind, source, target, dataset, attack) "
                          "VALUES ('evaluation', ?, ?, ?, ?)", [(s, t, d, a) for s in distinct for t in distinct])
            if noise:
                c.executemany("INSERT OR IGNORE INTO units (kind, source, dataset, attack) VALUES ('noise', ?, ?, ?)",
                              [(s, d, a) for s in distinct])
        return Plan([m.label for m in models], ids, {i: m.key for i, m in zip(ids, models)}, d, dataset.key,
                    list(dataset.image_ids), a, attack.key, attack.config)

    def add_pilot(self, plan: Plan, images: int) -> Plan:
        """`plan` with a pilot of `images` images (module docstring): its pilot units added (what exists is kept),
        one per ordered pair of distinct models."""
        if not 0 < images <= len(plan.image_ids):
            raise ValueError(f"a pilot needs 1 to {len(plan.image_ids)} images; got {images}")
        distinct = list(dict.fromkeys(plan.model_ids))
        with transaction(self.conn):
            self.conn.executemany("INSERT OR IGNORE INTO units (kind, source, target, dataset, attack, images) "
                                  "VALUES ('pilot', ?, ?, ?, ?, ?)",
                                  [(s, t, plan.dataset, plan.attack, images) for s in distinct for t in distinct
                                   if s != t])
        return replace(plan, pilot=images)

    def claim(self, plan: Plan, worker: str) -> Claim | None:
        """Take the next unit of `plan` that can run now (attacks first), or None."""
        claims = self.claim_batch(plan, worker, 1)
        return claims[0] if claims else None

    def claim_batch(self, plan: Plan, worker: str, limit: int) -> list[Claim]:
        """Take the next unit of `plan` that can run now, in one transaction; when it is an evaluation, up to
        `limit` claimable evaluations of its target (one placement of the target evaluates them all)."""
        c = self.conn
        now = time.time()
        with transaction(c):
            self._take_back_stale(now)
            first = c.execute(CLAIMABLE, plan.params).fetchone()
            if first is None:
                return []
            rows = [first]
            if first[1] in ("evaluation", "pilot") and limit > 1:
                rows += c.execute(CLAIMABLE_FOR_TARGET, {**plan.params, "kind": first[1], "target": first[3],
                                                          "first": first[0], "more": limit - 1}).fetchall()
            return [self._take(plan, worker, now, *row) for row in rows]

    def _take(self, plan: Plan, worker: str, now: float, unit: int, kind: str, source: int,
              target: int | None) -> Claim:
        """Lease `unit` to `worker` and open its run (inside the caller's transaction)."""
        c = self.conn
        c.execute("UPDATE units SET status = 'running', worker = ?, lease_until = ? WHERE id = ?",
                  (worker, now + LEASE_S, unit))
        run = c.execute("INSERT INTO unit_runs (unit, worker, started) VALUES (?, ?, ?)", (unit, worker, now)).lastrowid
        if kind == "noise":
            return Claim(unit, run, kind, source, None, clean=self._clean(source, plan.dataset))
        if kind == "attack":
            output = (f"{TENSOR_DIR}/adv/{plan.model_keys[source][:16]}-{plan.dataset_key[:12]}-"
                      f"{plan.attack_key[:12]}-r{run}.safetensors")
            return Claim(unit, run, kind, source, None, output=output, clean=self._clean(source, plan.dataset))
        attack_unit, path, sha, size = c.execute(
            "SELECT a.id, s.path, s.sha256, s.bytes FROM units a JOIN adversarial_sets s ON s.unit = a.id "
            "WHERE a.kind = 'attack' AND a.source = ? AND a.dataset = ? AND a.attack = ?",
            (source, plan.dataset, plan.attack)).fetchone()
        keep = self._clean(target, plan.dataset)
        if kind == "pilot":
            keep = keep & np.isin(np.arange(len(keep)), pilot_images(len(keep), plan.pilot))
        return Claim(unit, run, kind, source, target, advset=FileRecord(path, sha, size),
                     attack_unit=attack_unit, keep=keep)

    def record(self, claim: Claim, result) -> bool:
        """Store a finished unit's outcomes; False (nothing stored) when the worker lost its lease."""
        return self.record_batch([(claim, result)])[0]

    def record_batch(self, finished: list[tuple[Claim, object]]) -> list[bool]:
        """`record` for several (claim, result) pairs in one transaction."""
        now = time.time()
        with transaction(self.conn):
            return [self._record(claim, result, now) for claim, result in finished]

    def _record(self, claim: Claim, result, now: float) -> bool:
        c = self.conn
        held = c.execute("SELECT 1 FROM units u JOIN unit_runs r ON r.unit = u.id WHERE u.id = ? "
                         "AND u.status = 'running' AND r.id = ? AND r.worker = u.worker AND r.finished IS NULL",
                         (claim.unit, claim.run)).fetchone()
        if held is None:
            return False
        if claim.kind == "attack":
            dataset = c.execute("SELECT dataset FROM units WHERE id = ?", (claim.unit,)).fetchone()[0]
            c.execute("INSERT OR IGNORE INTO clean_outcomes (model, dataset, correct) VALUES (?, ?, ?)",
                      (claim.source, dataset, result.clean.astype(np.int8).tobytes()))
            c.execute("INSERT INTO adversarial_sets (unit, path, sha256, bytes, n_images) VALUES (?, ?, ?, ?, ?)",
                      (claim.unit, result.file.path, result.file.sha256, result.file.bytes, result.n_images))
        else:
            if claim.kind == "noise":
                dataset = c.execute("SELECT dataset FROM units WHERE id = ?", (claim.unit,)).fetchone()[0]
                c.execute("INSERT OR IGNORE INTO clean_outcomes (model, dataset, correct) VALUES (?, ?, ?)",
                          (claim.source, dataset, result.clean.astype(np.int8).tobytes()))
            c.execute("INSERT INTO adversarial_outcomes (unit, correct) VALUES (?, ?)",
                      (claim.unit, result.correct.astype(np.int8).tobytes()))
        c.execute("UPDATE units SET status = 'done', worker = NULL, lease_until = NULL WHERE id = ?", (claim.unit,))
        c.execute("UPDATE unit_runs SET finished = ?, result = 'done', ran_on = ? WHERE id = ?",
                  (now, result.ran_on, claim.run))
        return True

    def release(self, claim: Claim, result: str) -> None:
        """Give a claimed unit back (pending again); its run ends with `result`."""
        with transaction(self.conn):
            self._release(claim, result)

    def release_all(self, worker: str, result: str, *, wait_s: float | None = None, quiet: bool = False) -> None:
        """Give back every unit `worker` still holds (pending again); their runs end with `result`. Waits up to
        `wait_s` for the lock (default: as every transaction, `archsim.store.db.BUSY_TIMEOUT_S`; `quiet`: without
        saying so)."""
        with transaction(self.conn, wait_s=wait_s, quiet=quiet):
            self.conn.execute("UPDATE unit_runs SET finished = ?, result = ? WHERE worker = ? AND finished IS NULL "
                              "AND unit IN (SELECT id FROM units WHERE worker = ? AND status = 'running')",
                              (time.time(), result, worker, worker))
            self.conn.execute("UPDATE units SET status = 'pending', worker = NULL, lease_until = NULL "
                              "WHERE worker = ? AND status = 'running'", (worker,))

    def invalidate(self, claim: Claim) -> bool:
        """The adversarial set an evaluation claim read is corrupt: drop it, make its attack unit
        pending again (unless another worker did already) and give the evaluation back."""
        c = self.conn
        with transaction(c):
            dropped = c.execute("DELETE FROM adversarial_sets WHERE unit = ? AND path = ?",
                                (claim.attack_unit, claim.advset.path)).rowcount
            if dropped:
                c.execute("UPDATE units SET status = 'pending', worker = NULL, lease_until = NULL WHERE id = ?",
                          (claim.attack_unit,))
            self._release(claim, "corrupt")
        return bool(dropped)

    def progress(self, plan: Plan) -> Counter:
        """Units of `plan` by (kind, status)."""
        rows = self.conn.execute(f"SELECT u.kind, u.status, COUNT(*) FROM units u WHERE {IN_PLAN} "
                                 "GROUP BY u.kind, u.status", plan.params)
        return Counter({(kind, status): n for kind, status, n in rows})

    def units_to_do(self, plan: Plan) -> list[tuple[str, int, int | None]]:
        """(kind, source, target or None) of every unit of `plan` that is not done."""
        return self.conn.execute(f"SELECT u.kind, u.source, u.target FROM units u WHERE u.status != 'done' "
                                 f"AND {IN_PLAN} ORDER BY u.id", plan.params).fetchall()

    def done_pairs(self, plan: Plan) -> list[tuple[int, int]]:
        """(i, j) label indices, i < j, of `plan`'s pairs whose evaluations are done in both directions."""
        done = set(self.conn.execute(f"SELECT u.source, u.target FROM units u WHERE u.kind = 'evaluation' "
                                     f"AND u.status = 'done' AND {IN_PLAN}", plan.params).fetchall())
        ids = plan.model_ids
        return [(i, j) for i in range(len(ids)) for j in range(i + 1, len(ids))
                if (ids[i], ids[j]) in done and (ids[j], ids[i]) in done]

    def advsets(self, plan: Plan) -> list[AdvSet]:
        """Each of `plan`'s labels' adversarial set, read from its attack unit's file (checksum verified);
        ArchsimError when an attack is not done."""
        records = {source: FileRecord(path, sha, size) for source, path, sha, size in self.conn.execute(
            f"SELECT u.source, s.path, s.sha256, s.bytes FROM units u JOIN adversarial_sets s ON s.unit = u.id "
            f"WHERE u.kind = 'attack' AND u.status = 'done' AND {IN_PLAN}", plan.params)}
        missing = [label for label, model in zip(plan.labels, plan.model_ids) if model not in records]
        if missing:
            raise ArchsimError(f"the run store has no adversarial set for {', '.join(missing)} yet")
        return [read_advset(self.run_dir, records[model]) for model in plan.model_ids]

    def sat_result(self, plan: Plan, eps_s: float) -> SATResult:
        """The SATResult of `plan`'s labels, derived from the stored outcomes (all units must be done)."""
        todo = sum(n for (_, status), n in self.progress(plan).items() if status != "done")
        if todo:
            raise ArchsimError(f"the run store has {todo} unit(s) of this run still to do")
        n = len(plan.image_ids)
        index = {}
        for i, model_id in enumerate(plan.model_ids):
            index.setdefault(model_id, []).append(i)
        clean = np.zeros((len(plan.labels), n), dtype=bool)
        for model_id, rows in index.items():
            clean[rows] = self._clean(model_id, plan.dataset).astype(bool)
        adv = np.full((len(plan.labels), len(plan.labels), n), -1, dtype=np.int8)
        for source, target, blob in self.conn.execute(
                f"SELECT u.source, u.target, o.correct FROM units u JOIN adversarial_outcomes o ON o.unit = u.id "
                f"WHERE u.kind = 'evaluation' AND {IN_PLAN}", plan.params):
            for s in index[source]:
                adv[s, index[target]] = np.frombuffer(blob, dtype=np.int8)
        noise = np.full((len(plan.labels), n), -1, dtype=np.int8)
        rows = self.conn.execute(f"SELECT u.source, o.correct FROM units u JOIN adversarial_outcomes o ON o.unit = u.id "
                                 f"WHERE u.kind = 'noise' AND {IN_PLAN}", plan.params).fetchall()
        for source, blob in rows:
            noise[index[source]] = np.frombuffer(blob, dtype=np.int8)
        observed = None
        if plan.evaluations is not None:
            done = set(plan.evaluations)
            ids = plan.model_ids
            observed = np.array([[(s, t) in done and (t, s) in done for t in ids] for s in ids])
        return SATResult(list(plan.labels), clean, adv, eps_s, image_ids=list(plan.image_ids),
                         noise_correct=noise if rows else None, observed=observed)

    def pilot_result(self, plan: Plan, eps_s: float) -> SATResult:
        """The SATResult of `plan`'s labels on its pilot images only (`plan.pilot` of them, in the dataset's
        order): every pair's outcomes from its pilot units, each model's own from its evaluation unit (the
        pilot and white-box units must be done)."""
        n = len(plan.image_ids)
        images = np.sort(pilot_images(n, plan.pilot))
        index = {}
        for i, model_id in enumerate(plan.model_ids):
            index.setdefault(model_id, []).append(i)
        clean = np.zeros((len(plan.labels), len(images)), dtype=bool)
        for model_id, rows in index.items():
            clean[rows] = self._clean(model_id, plan.dataset)[images]
        adv = np.full((len(plan.labels), len(plan.labels), len(images)), -1, dtype=np.int8)
        for kind, source, target, blob in self.conn.execute(
                f"SELECT u.kind, u.source, u.target, o.correct FROM units u JOIN adversarial_outcomes o "
                f"ON o.unit = u.id WHERE (u.kind = 'pilot' OR (u.kind = 'evaluation' AND u.source = u.target)) "
                f"AND u.status = 'done' AND {IN_PLAN}", plan.params):
            for s in index[source]:
                adv[s, index[target]] = np.frombuffer(blob, dtype=np.int8)[images]
        return SATResult(list(plan.labels), clean, adv, eps_s, image_ids=[plan.image_ids[i] for i in images])

    def _clean(self, model: int, dataset: int) -> np.ndarray | None:
        row = self.conn.execute("SELECT correct FROM clean_outcomes WHERE model = ? AND dataset = ?",
                                (model, dataset)).fetchone()
        return None if row is None else np.frombuffer(row[0], dtype=np.int8).astype(bool)

    def _take_back_stale(self, now: float) -> None:
        rows = self.conn.execute("SELECT id, worker, lease_until FROM units WHERE status = 'running'").fetchall()
        stale = [(unit,) for unit, worker, lease in rows if lease < now or is_gone(worker)]
        self.conn.executemany("UPDATE units SET status = 'pending', worker = NULL, lease_until = NULL WHERE id = ?",
                              stale)
        self.conn.executemany("UPDATE unit_runs SET finished = ?, result = 'lost' WHERE unit = ? AND finished IS NULL",
                              [(now, unit) for (unit,) in stale])

    def _release(self, claim: Claim, result: str) -> None:
        c = self.conn
        c.execute("UPDATE units SET status = 'pending', worker = NULL, lease_until = NULL "
                  "WHERE id = ? AND status = 'running' AND worker = (SELECT worker FROM unit_runs WHERE id = ?)",
                  (claim.unit, claim.run))
        c.execute("UPDATE unit_runs SET finished = ?, result = ? WHERE id = ? AND finished IS NULL",
                  (time.time(), result, claim.run))

"""Looking after a run store: what it holds (`info`) and freeing what nothing uses (`gc`).

    info(store, verify=False) -> StoreInfo   # entries, units by kind and status, bytes on disk
    gc(store, cache_dirs) -> GcReport        # removes unreferenced tensor files and leftover temp files

`info(verify=True)` also runs SQLite's integrity_check on the database and
checks every adversarial set against its recorded sha256 (the next `archsim
sat` that needs a corrupt one recomputes it). `gc` refuses to run while a live
worker holds units, since the file it is writing is not referenced yet; besides
tensors/, it removes the temporary files (`<name>.<12 hex>.tmp`, see
`archsim.files`, and safetensors' own `.tmpXXXXXX`) a killed process left in the
run folder (sat.csv, report.html, ...) and in `cache_dirs` (the weights cache), once untouched for STALE_TMP_S
seconds, so a file being written now is never taken. Entries and outcomes in
the database are never removed.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from archsim.errors import ArchsimError
from archsim.files import TMP_SUFFIX
from archsim.store.leases import is_gone
from archsim.store.runstore import RunStore
from archsim.store.tensors import TENSOR_DIR, CorruptTensorFile, FileRecord, resolve, verify

STALE_TMP_S = 600  # a temporary file outside tensors/ untouched this long has no writer left
_TMP_NAME = re.compile(r".+\.[0-9a-f]{12}" + re.escape(TMP_SUFFIX)  # archsim.files.atomic_path's names
                       + r"|\.tmp[A-Za-z0-9]{6}")  # safetensors' own, beside the file it writes


@dataclass
class StoreInfo:
    models: list[tuple[str, str, dict]]  # label, identity, data config
    datasets: list[tuple[int, list]]  # n_images, image shape
    attacks: list[dict]
    units: Counter  # (kind, status) -> count
    adversarial_sets: int
    adversarial_images: int
    adversarial_bytes: int
    database_bytes: int
    tensor_bytes: int  # every file under tensors/, referenced or not
    corrupt: list[str] = field(default_factory=list)  # with verify=True
    database_problems: list[str] = field(default_factory=list)  # with verify=True: SQLite's integrity_check


@dataclass
class GcReport:
    removed: list[str]
    freed_bytes: int


def info(store: RunStore, *, verify_files: bool = False) -> StoreInfo:
    c = store.conn
    adv = c.execute("SELECT COUNT(*), IFNULL(SUM(n_images), 0), IFNULL(SUM(bytes), 0) FROM adversarial_sets").fetchone()
    result = StoreInfo(
        models=[(label, identity, json.loads(dc)) for label, identity, dc in
                c.execute("SELECT label, identity, data_config FROM models ORDER BY id")],
        datasets=[(n, json.loads(shape)) for n, shape in c.execute("SELECT n_images, image_shape FROM datasets")],
        attacks=[json.loads(cfg) for (cfg,) in c.execute("SELECT config FROM attacks ORDER BY id")],
        units=Counter({(k, s): n for k, s, n in c.execute("SELECT kind, status, COUNT(*) FROM units GROUP BY 1, 2")}),
        adversarial_sets=adv[0], adversarial_images=adv[1], adversarial_bytes=adv[2],
        database_bytes=sum(p.stat().st_size for p in store.run_dir.glob(store.db_path.name + "*")),
        tensor_bytes=sum(p.stat().st_size for p in (store.run_dir / TENSOR_DIR).rglob("*") if p.is_file()))
    if verify_files:
        result.database_problems = [f"{store.db_path}: {line}" for (line,) in c.execute("PRAGMA integrity_check")
                                    if line != "ok"]
        for path, sha, size in c.execute("SELECT path, sha256, bytes FROM adversarial_sets ORDER BY unit"):
            try:
                verify(resolve(store.run_dir, path), FileRecord(path, sha, size))
            except CorruptTensorFile as e:
                result.corrupt.append(str(e))
    return result


def gc(store: RunStore, cache_dirs: list[Path] = ()) -> GcReport:
    """Remove unreferenced files under tensors/ and every stale temporary file of the store and of `cache_dirs`."""
    now = time.time()
    held = [w for w, lease in store.conn.execute("SELECT worker, lease_until FROM units WHERE status = 'running'")
            if lease >= now and not is_gone(w)]
    if held:
        raise ArchsimError(f"{len(held)} unit(s) are running (worker {held[0]}); run gc when no run uses the store")
    referenced = {resolve(store.run_dir, p) for (p,) in store.conn.execute("SELECT path FROM adversarial_sets")}
    tensors = store.run_dir / TENSOR_DIR
    doomed = [p for p in sorted(tensors.rglob("*"))
              if p.is_file() and (p.name.endswith(TMP_SUFFIX) or p.resolve() not in referenced)]
    for folder in [store.run_dir, *cache_dirs]:
        doomed += [p for p in sorted(Path(folder).rglob("*.tmp*")) if not p.is_relative_to(tensors)
                   and _TMP_NAME.fullmatch(p.name) and p.is_file() and now - p.stat().st_mtime > STALE_TMP_S]
    removed, freed = [], 0
    for path in dict.fromkeys(doomed):
        freed += path.stat().st_size
        path.unlink()
        removed.append(str(path.relative_to(store.run_dir)) if path.is_relative_to(store.run_dir) else str(path))
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return GcReport(removed, freed)

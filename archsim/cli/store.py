"""`archsim store info|gc|reset DIR`: look after a run store.

`info` lists the models, datasets and attacks in the store, its units (attack,
evaluation, and noise and pilot where it has them) done, running and pending, and the bytes on disk; it only
reads, so it works on a store in a read-only folder. `--verify` also runs
SQLite's integrity_check and checks every adversarial set's sha256. `gc`
removes tensor files that the database does not reference (left by killed
runs or recomputed sets) and the temporary files killed processes left in the
run folder and in the weights cache (`--cache-dir`, default the config's
default cache), and says how much it freed. `reset` deletes a store (its
database and tensors/, not the output files), damaged or not, so that the next
`archsim sat` starts afresh; nothing can rebuild the outcomes a lost database held.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from archsim.config import default_cache_dir
from archsim.errors import ArchsimError
from archsim.store import RunStore
from archsim.store.maintenance import gc, info
from archsim.store.runstore import DB_NAME
from archsim.store.tensors import TENSOR_DIR


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("store", help="inspect (info) or clean up (gc) a run store", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="action", required=True)
    i = actions.add_parser("info", help="models, units done and pending, bytes on disk")
    i.add_argument("dir", help="run directory (the --out of archsim sat)")
    i.add_argument("--verify", action="store_true", help="check every adversarial set's checksum")
    i.set_defaults(func=run_info)
    g = actions.add_parser("gc", help="remove unreferenced tensor files and leftover temporary files")
    g.add_argument("dir", help="run directory (the --out of archsim sat)")
    g.add_argument("--cache-dir", help="weights cache whose leftover temporary files go too "
                                       "(default: $ARCHSIM_CACHE or the user cache folder)")
    g.set_defaults(func=run_gc)
    r = actions.add_parser("reset", help="delete the store (database and tensors, not the outputs) to start afresh")
    r.add_argument("dir", help="run directory (the --out of archsim sat)")
    r.set_defaults(func=run_reset)


def run_info(args: argparse.Namespace) -> int:
    store = RunStore(args.dir, read_only=True)
    try:
        s = info(store, verify_files=args.verify)
    finally:
        store.close()
    print(f"run store {store.run_dir}")
    print(f"models: {len(s.models)}")
    for label, identity, dc in s.models:
        print(f"  {label:<24} {identity}  input {dc['input_size']} {dc['interpolation']}")
    print(f"datasets: {len(s.datasets)}" + "".join(f"\n  {n} images of shape {shape}" for n, shape in s.datasets))
    print(f"attacks: {len(s.attacks)}" + "".join(f"\n  {a}" for a in s.attacks))
    print(f"units:       {'done':>6} {'running':>8} {'pending':>8}")
    for kind in ["attack", "evaluation"] + [k for k in ("noise", "pilot") if any(u[0] == k for u in s.units)]:
        print(f"  {kind:<10} " + " ".join(f"{s.units[(kind, st)]:>{w}}" for st, w in
                                         (("done", 6), ("running", 8), ("pending", 8))))
    per_image = f", {s.adversarial_bytes / s.adversarial_images:,.0f} bytes per image" if s.adversarial_images else ""
    print(f"adversarial sets: {s.adversarial_sets} ({s.adversarial_images} images, "
          f"{_size(s.adversarial_bytes)}{per_image})")
    print(f"on disk: database {_size(s.database_bytes)}, tensors {_size(s.tensor_bytes)}, "
          f"total {_size(s.database_bytes + s.tensor_bytes)}")
    if args.verify:
        print(f"database integrity_check: {len(s.database_problems) or 'ok'}"
              + (" problem(s)" if s.database_problems else "") + "".join(f"\n  {p}" for p in s.database_problems))
        print(f"checksums: {len(s.corrupt)} corrupt" + "".join(f"\n  {c}" for c in s.corrupt))
    return 1 if s.corrupt or s.database_problems else 0


def run_gc(args: argparse.Namespace) -> int:
    store = RunStore(args.dir, create=False)
    try:
        report = gc(store, [Path(args.cache_dir) if args.cache_dir else default_cache_dir()])
    finally:
        store.close()
    for path in report.removed:
        print(f"removed {path}")
    print(f"freed {_size(report.freed_bytes)} ({len(report.removed)} files)")
    return 0


def run_reset(args: argparse.Namespace) -> int:
    run_dir = Path(args.dir)
    doomed = [p for p in sorted(run_dir.glob(DB_NAME + "*")) if p.is_file()] + [run_dir / TENSOR_DIR]
    doomed = [p for p in doomed if p.exists()]
    if not run_dir.is_dir() or not doomed:
        raise ArchsimError(f"no run store at {run_dir} (no {DB_NAME}, no {TENSOR_DIR}/)")
    for path in doomed:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
        print(f"removed {path}")
    print(f"the run store at {run_dir} is reset; the next archsim sat there computes every unit")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024

"""`archsim store info DIR` and `archsim store gc DIR`: look after a run store.

`info` lists the models, datasets and attacks in the store, its units (attack
and evaluation) done, running and pending, and the bytes on disk; `--verify`
also checks every adversarial set's sha256. `gc` removes tensor files that
the database does not reference (left by killed runs or recomputed sets) and
leftover temporary files, and says how much it freed.
"""

from __future__ import annotations

import argparse

from archsim.store import RunStore
from archsim.store.maintenance import gc, info


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
    g.set_defaults(func=run_gc)


def run_info(args: argparse.Namespace) -> int:
    store = RunStore(args.dir, create=False)
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
    for kind in ("attack", "evaluation"):
        print(f"  {kind:<10} " + " ".join(f"{s.units[(kind, st)]:>{w}}" for st, w in
                                         (("done", 6), ("running", 8), ("pending", 8))))
    per_image = f", {s.adversarial_bytes / s.adversarial_images:,.0f} bytes per image" if s.adversarial_images else ""
    print(f"adversarial sets: {s.adversarial_sets} ({s.adversarial_images} images, "
          f"{_size(s.adversarial_bytes)}{per_image})")
    print(f"on disk: database {_size(s.database_bytes)}, tensors {_size(s.tensor_bytes)}, "
          f"total {_size(s.database_bytes + s.tensor_bytes)}")
    if args.verify:
        print(f"checksums: {len(s.corrupt)} corrupt" + "".join(f"\n  {c}" for c in s.corrupt))
    return 1 if s.corrupt else 0


def run_gc(args: argparse.Namespace) -> int:
    store = RunStore(args.dir, create=False)
    try:
        report = gc(store)
    finally:
        store.close()
    for path in report.removed:
        print(f"removed {path}")
    print(f"freed {_size(report.freed_bytes)} ({len(report.removed)} files)")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024

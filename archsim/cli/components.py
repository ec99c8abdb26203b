"""`archsim components MODEL [MODEL ...] [--config RUN.yaml] --out FILE.csv`: the architectural components of timm models.

Derives the SAT paper's 13 component columns (stem, base family, normalization,
attention, ...) by tracing each model on the meta device; no weights are read.
"""

from __future__ import annotations

import argparse

from analysis.components.derive import COLUMNS
from analysis.components.table import ModelEntry, derive_table, entries_from_config, write_components
from archsim.cli.args import report_warnings
from archsim.errors import ArchsimError


def register(sub) -> None:
    p = sub.add_parser("components", help="derive the architectural components of timm models",
                       description="Derive the SAT paper's 13 component columns for timm models by "
                                   "tracing them on the meta device (no weights are read).")
    p.add_argument("models", nargs="*", metavar="MODEL", help="timm model names, optionally with a tag")
    p.add_argument("--config", help="run config whose `models:` to describe (label = Model name)")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    entries = [ModelEntry(name=m, label=m) for m in args.models]
    if args.config:
        entries += entries_from_config(args.config)
    if not entries:
        raise ArchsimError("give model names and/or --config")
    labels = [e.label for e in entries]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ArchsimError(f"model names must be unique; repeated: {', '.join(dup)}")
    with report_warnings():
        rows, seconds = derive_table(entries)
    out = write_components(args.out, rows)
    overridden = [(r.values["Model name"], col) for r in rows for col in r.overridden]
    flagged = sum(1 for r in rows if r.notes)
    print(f"wrote {len(rows)} models x {len(COLUMNS) - 1} component columns to {out} in {seconds:.1f} s "
          f"({seconds / len(rows):.2f} s per model)")
    print(f"cells set by the override table: {len(overridden)} of {len(rows) * (len(COLUMNS) - 1)} derived cells"
          + (": " + ", ".join(f"{m} ({c})" for m, c in overridden) if overridden else ""))
    print(f"models with warnings: {flagged}")
    return 0

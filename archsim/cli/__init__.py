"""archsim: how similar are image-classifier architectures (SAT, components, clustering)?

The command line. Each command lives in its own module of this package, named after it, which
exposes `register(subparsers)`:
it adds its parser and sets `func`, a callable taking the parsed args and
returning an exit status. Bad input raises `ArchsimError`, printed here as one
line `archsim CMD: error: ...` on stderr (exit status 2) instead of a traceback;
so are a file-system error (`OSError`: the path and the reason) and a damaged
SQLite file. Warnings print as one `warning: ...` line each; `--no-progress` silences every bar
(`archsim.cli.args.quiet_bars`). Command modules
parse, call the library and print; nothing outside `archsim.cli` imports them.
"""

from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys

from archsim.cli.args import quiet_bars, report_warnings
from archsim.errors import ArchsimError, one_line

COMMAND_MODULES = [f"archsim.cli.{name}" for name in (
    "sat", "pair", "similarity", "layers", "store", "weights_test", "zoo", "ensemble", "distill", "demo", "components",
    "analyze", "scorecard")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archsim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with report_warnings(), quiet_bars(getattr(args, "no_progress", False)):
            return int(args.func(args) or 0)
    except ArchsimError as e:
        message = str(e)
    except OSError as e:  # the file system refused: name the path and the reason
        message = f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)
    except sqlite3.DatabaseError as e:
        message = f"a run store database is damaged ({e}); `archsim store info DIR --verify` checks it"
    print(f"archsim {args.command}: error: {one_line(message)}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

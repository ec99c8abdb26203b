"""archsim: how similar are image-classifier architectures (SAT, components, clustering)?

The command line. Each command lives in its own module of this package, named after it, which
exposes `register(subparsers)`:
it adds its parser and sets `func`, a callable taking the parsed args and
returning an exit status. Bad input raises `ArchsimError`, printed here as one
line `archsim CMD: error: ...` on stderr (exit status 2) instead of a traceback;
so are a file-system error (`OSError`: the path and the reason) and a SQLite
error (what it means by its code: damaged, disk full, locked, ...; see
`archsim.store.sqlite_errors`). Ctrl-C, SIGTERM and SIGHUP end a command with one
line and status 128 + the signal's number (`archsim.cli.interrupts`); a reader of
stdout that goes away (`| head`) ends it quietly (status 141). Warnings print as
one `warning: ...` line each; `--no-progress` silences every bar
(`archsim.cli.args.quiet_bars`). Command modules parse, call the library and
print; nothing outside `archsim.cli` imports them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sqlite3
import sys

from archsim.cli.args import quiet_bars, report_warnings
from archsim.cli.interrupts import exit_status, interrupted_line, stop_signals_raise
from archsim.errors import ArchsimError, one_line
from archsim.store.sqlite_errors import explain
from archsim.workers import use_processes

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
    with stop_signals_raise() as names:
        try:
            args = build_parser().parse_args(argv)
            names.prog = f"archsim {args.command}"
            with report_warnings(), quiet_bars(getattr(args, "no_progress", False)):
                return int(args.func(args) or 0)
        except KeyboardInterrupt as e:  # Interrupted by a stop signal (Python's own where no handler could be set)
            signum = getattr(e, "signum", signal.SIGINT)
            print(interrupted_line(names.prog, signum), file=sys.stderr)
            return exit_status(signum)
        except BrokenPipeError:  # the reader of stdout went away (`| head`): stop quietly, as other tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return exit_status(signal.SIGPIPE)
        except ArchsimError as e:
            message = str(e)
        except OSError as e:  # the file system refused: name the path and the reason
            message = f"{e.filename}: {e.strerror}" if e.filename and e.strerror else str(e)
        except sqlite3.Error as e:  # what it means, by its code, naming the database (archsim.store.db)
            message = explain(e, getattr(e, "store_path", None))
    print(f"{names.prog}: error: {one_line(message)}", file=sys.stderr)
    return 2


def command() -> int:
    """The entry point of the `archsim` command and of `python -m archsim.cli`: `main`, with independent work on the
    CPU spread over one process per core (`archsim.workers.use_processes`). Only an entry point switches that on: a
    spawned process imports the main module again, which is safe for these and not for an unguarded script that
    calls `main` itself."""
    use_processes()
    return main()


if __name__ == "__main__":
    sys.exit(command())

"""archsim: how similar are image-classifier architectures (SAT, components, clustering)?

The command line. Each command lives in its own module of this package, named after it, which
exposes `register(subparsers)`:
it adds its parser and sets `func`, a callable taking the parsed args and
returning an exit status. Bad input raises `ArchsimError`, printed here as one
line (exit status 2) instead of a traceback. Command modules parse, call the
library and print; nothing outside `archsim.cli` imports them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from archsim.errors import ArchsimError

COMMAND_MODULES = [f"archsim.cli.{name}" for name in (
    "sat", "similarity", "layers", "store", "weights_test", "zoo", "ensemble", "distill", "demo", "components",
    "analyze")]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="archsim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ArchsimError as e:
        print(f"archsim {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

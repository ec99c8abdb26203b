"""What the commands share: the run arguments (--config, --out, --device, --no-progress), precision
arguments (--precision, --channels-last), --set pairs, warnings."""

from __future__ import annotations

import argparse
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from archsim.config import RunConfig, load_config
from archsim.errors import ArchsimError, one_line
from archsim.files import check_writable
from archsim.sat.precision import PRECISIONS
from archsim.yaml_loader import load_yaml


def add_run_arguments(p: argparse.ArgumentParser, *, out_help: str = "output folder",
                      device_help: str = "override the config's device (cpu, cuda, auto)") -> None:
    """--config FILE, --out DIR, --device, --no-progress."""
    p.add_argument("--config", required=True, help="YAML run config (see archsim.config)")
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument("--device", help=device_help)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def add_precision_arguments(p: argparse.ArgumentParser) -> None:
    """--precision, --channels-last: override the config's (see archsim.sat.precision)."""
    p.add_argument("--precision", choices=PRECISIONS,
                   help="override the config's precision of attacks and evaluations (autocast for bf16, fp16)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="override the config's memory layout of models and images")


def run_config(args: argparse.Namespace) -> RunConfig:
    """The config named by --config, with --device (and --precision, --channels-last where given) applied;
    --out (when given, and not a --dry-run, which writes nothing) checked to be a writable folder."""
    cfg = load_config(args.config)
    if args.device:
        cfg.device = args.device
    if getattr(args, "precision", None):
        cfg.precision = args.precision
    if getattr(args, "channels_last", None) is not None:
        cfg.channels_last = args.channels_last
    if getattr(args, "out", None) and not getattr(args, "dry_run", False):
        check_out_dir(args.out)
    return cfg


def check_out_dir(out: str | Path) -> Path:
    """`out` as a folder archsim can write into (created when missing), before any work starts."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ArchsimError(f"--out {out} is a file, not a folder")
    try:
        return check_writable(out)
    except OSError as e:
        raise ArchsimError(f"--out {out}: cannot write there ({e.strerror or e})") from None


def parse_settings(pairs: list[str]) -> dict:
    """['a=1', 'b=x'] -> {'a': 1, 'b': 'x'}; each value read as YAML (`archsim.yaml_loader`)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ArchsimError(f"--set expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = load_yaml(value, f"--set {key.strip()}") if value.strip() else None
    return out


@contextmanager
def report_warnings():
    """Print each warning raised inside as one 'warning: ...' line on stderr (never Python's file:line format)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen = set()
            for w in caught:
                msg = one_line(w.message)
                if msg not in seen and issubclass(w.category, UserWarning):
                    seen.add(msg)
                    print(f"warning: {msg}", file=sys.stderr)

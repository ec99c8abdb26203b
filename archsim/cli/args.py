"""What the commands share: the run arguments (--config and/or --models and --data, --out, --device,
--no-progress, --save-config), precision arguments (--precision, --channels-last), --set pairs, warnings."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

from archsim.config import RunConfig
from archsim.errors import ArchsimError, one_line
from archsim.files import check_writable
from archsim.sat.precision import PRECISIONS
from archsim.yaml_loader import load_yaml
from archsim.zoo.assemble import Assembled, assemble, save_config


def add_run_arguments(p: argparse.ArgumentParser, *, out_help: str = "output folder", out_required: bool = True,
                      device_help: str = "override the config's device (cpu, cuda, auto)", models: bool = True) -> None:
    """The models and images (add_model_arguments), --out DIR, --device, --no-progress."""
    add_model_arguments(p, models=models)
    p.add_argument("--out", required=out_required, help=out_help)
    p.add_argument("--device", help=device_help)
    p.add_argument("--no-progress", action="store_true", help="hide every progress bar")


def add_model_arguments(p: argparse.ArgumentParser, *, models: bool = True) -> None:
    """--config FILE and/or --models, --data, --n, --validation, --resolution, --save-config (archsim.zoo.assemble)."""
    p.add_argument("--config", help="YAML run config (see archsim.config); --models and --data add to it")
    if models:
        p.add_argument("--models", help="comma-separated models: timm names (pretrained), NAME=CHECKPOINT, "
                                        "LABEL=NAME=CHECKPOINT, package.module:callable[=CHECKPOINT]")
    p.add_argument("--data", help="the images: digits, mnist5k or a folder with one sub-folder per class "
                                  "(replaces the config's data)")
    p.add_argument("--n", type=int, help="evaluation (test) images per class (default: all but the validation images)")
    p.add_argument("--validation", type=int, help="validation images per class, for choices (drawn first)")
    p.add_argument("--resolution", type=int, help="the images' side in pixels (default 32; 224 for a folder)")
    p.add_argument("--save-config", metavar="FILE", help="write the equivalent YAML config, to repeat the run")


def add_precision_arguments(p: argparse.ArgumentParser) -> None:
    """--precision, --channels-last: override the config's (see archsim.sat.precision)."""
    p.add_argument("--precision", choices=PRECISIONS,
                   help="override the config's precision of attacks and evaluations (autocast for bf16, fp16)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="override the config's memory layout of models and images")


def run_config(args: argparse.Namespace, models=None) -> RunConfig:
    """`assembled_config(args, models).cfg`."""
    return assembled_config(args, models).cfg


def assembled_config(args: argparse.Namespace, models=None, *, config=None) -> Assembled:
    """The config of --config (or `config`) and/or --models (or `models`) and --data (`archsim.zoo.assemble`),
    written to --save-config when asked, with --device (and --precision, --channels-last where given) applied;
    --out (when given, and not a --dry-run, which writes nothing) checked to be a writable folder."""
    assembled = assemble(config or args.config, models if models is not None else getattr(args, "models", None),
                         args.data, n=args.n, validation=args.validation, resolution=args.resolution)
    if args.save_config:
        print(f"wrote {save_config(assembled.raw, args.save_config)}")
    cfg = assembled.cfg
    if args.device:
        cfg.device = args.device
    if getattr(args, "precision", None):
        cfg.precision = args.precision
    if getattr(args, "channels_last", None) is not None:
        cfg.channels_last = args.channels_last
    if getattr(args, "out", None) and not getattr(args, "dry_run", False):
        check_out_dir(args.out)
    return assembled


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


@contextmanager
def quiet_bars(quiet: bool):
    """With `quiet` (--no-progress), TQDM_DISABLE=1 inside: no bar at all, the library's own included (those that
    pass no `disable`, such as reading an image folder); the variable is restored after."""
    before = os.environ.get("TQDM_DISABLE")
    if quiet:
        os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if quiet and before is None:
            del os.environ["TQDM_DISABLE"]
        elif quiet:
            os.environ["TQDM_DISABLE"] = before

"""What every command that builds a run from a config shares: its arguments and the config they give."""

from __future__ import annotations

import argparse

from archsim.config import RunConfig, load_config


def add_run_arguments(p: argparse.ArgumentParser, *, out_help: str = "output folder",
                      device_help: str = "override the config's device (cpu, cuda, auto)") -> None:
    """--config FILE, --out DIR, --device, --no-progress."""
    p.add_argument("--config", required=True, help="YAML run config (see archsim.config)")
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument("--device", help=device_help)
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run_config(args: argparse.Namespace) -> RunConfig:
    """The config named by --config, with --device applied."""
    cfg = load_config(args.config)
    if args.device:
        cfg.device = args.device
    return cfg

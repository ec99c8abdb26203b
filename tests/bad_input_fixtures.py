"""What the bad-input and fault tests share: the tiny digits zoo's config (conftest's `good` fixture runs it once per
module, `prev` copies that run's folder for a test to leave alone), the command run in-process, folders made read-only
(even for root) and small full disks.

`small_disk(folder)` mounts a real tmpfs at `folder` (as root, where mounting is allowed) and yields a function that
fills it; elsewhere it yields None and the test falls back to a patched write.
"""

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from archsim.cli import main

TINY = {"name": "resnet18", "input_size": 16, "kwargs": {"num_classes": 10, "channels": [8, 16, 32, 64]}}
CONFIG = {"seed": 0, "device": "cpu", "batch_size": 64,
          "data": {"source": "digits", "resolution": 16, "subset": {"how": "balanced", "n": 2, "seed": 0}},
          "attack": {"backend": "native", "norm": "Linf", "eps": 0.15, "alpha": 0.05, "steps": 2},
          "train": {"epochs": 1, "lr": 0.003, "batch_size": 128},
          "models": [{**TINY, "label": "a"}, {**TINY, "label": "b", "seed": 1}]}
OUTPUTS = ("sat.csv", "transfer.csv", "pairs.csv", "clean_accuracy.csv")


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr lines) of `archsim ARGV` run in this process."""
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, [line for line in err.splitlines() if line.strip()]


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def read_only(path: Path):
    """Make `path` unwritable even for root (chattr +i); returns the undo, or skips where it cannot."""
    if os.geteuid() != 0:
        path.chmod(0o555)
        return lambda: path.chmod(0o755)
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
        pytest.skip("cannot make a folder read-only for root here")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


@contextmanager
def small_disk(folder: Path):
    """A real small file system (tmpfs, 1 MiB) mounted at `folder`; yields `fill(free)`, which fills it up to about
    `free` free bytes, or None where no file system can be mounted (not root, or no mount allowed)."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True).returncode != 0:
        yield None
        return

    def fill(free: int = 0) -> None:
        filler = folder / ".filler"
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 4096)
            except OSError:  # full
                pass
        os.truncate(filler, max(0, filler.stat().st_size - free))

    try:
        yield fill
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)

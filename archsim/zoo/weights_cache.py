"""Trained weights cached by content: CACHE_DIR/<folder>/<hash of the key>.safetensors, checked by sha256.

    path = cache_path(cache_dir, "weights", key)   # named by the key's hash alone: a label rename finds it
    load_cached(module, path, key, what) -> bool   # True: loaded; False: absent or damaged (train again)
    save_cached(module, path, key)                 # atomically, then its sidecar; OSError naming the file when
                                                   # the disk is full or the folder read-only

`key` is a JSON-able mapping of everything that determines the weights. Its
sha256 names the file (first 16 hex digits) and is recorded, with the file's
own sha256, in the sidecar `<hash>.key.json` (`archsim.files.write_sidecar`).
A cached file is loaded only when the sidecar records this key and the file's
current sha256: a file with flipped bytes, a truncated one, one without its
sidecar (from an older archsim, or a run killed between the two writes) or one
safetensors cannot read is trained again, with a one-line warning naming `what`.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from archsim.files import atomic_path, os_errors_named, saved_if_current, write_sidecar


def key_digest(key: dict) -> str:
    """sha256 hex of the key as sorted JSON (non-JSON values by their str)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def cache_path(cache_dir: str | Path, folder: str, key: dict) -> Path:
    """CACHE_DIR/folder/<first 16 hex digits of key_digest(key)>.safetensors."""
    return Path(cache_dir) / folder / f"{key_digest(key)[:16]}.safetensors"


def load_cached(module: torch.nn.Module, path: Path, key: dict, what: str) -> bool:
    """Load `path` into `module` when it is the checked file for `key`; False when absent or damaged."""
    if not path.is_file():
        return False
    if saved_if_current(path, key_digest(key)) is not None:
        try:
            load_model(module, str(path))
            return True
        except Exception as e:  # noqa: BLE001 - any unreadable file is trained again
            reason = f"unreadable ({type(e).__name__})"
    else:
        reason = "damaged (its sha256 does not match the one recorded when it was saved)"
    warnings.warn(f"cached weights of {what} at {path} are {reason}; training it again", stacklevel=2)
    return False


def save_cached(module: torch.nn.Module, path: Path, key: dict) -> None:
    """Write `module`'s weights to `path` atomically, then the sidecar recording the key and the file's sha256."""
    with atomic_path(path) as tmp, os_errors_named(path):
        save_model(module, str(tmp))
    write_sidecar(path, key_digest(key))

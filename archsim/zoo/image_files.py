"""The files of an image folder (ROOT/<class>/.../<image>): which ones there are, and their pixels.

    classes = find_classes(root)                  # the class folders, sorted
    samples = list_images(root, class_to_idx)     # [(path, label)], in torchvision's ImageFolder order
    image = open_image(path, "RGB")               # a PIL image in that mode, or UnreadableImage(reason)

The walk follows links, as torchvision's does, but reaches every folder and
every file at most once: a link back to a folder that holds it (`cat/self -> .`,
`cat/up -> ..`) or a second way into a folder or to a file already reached (a
class folder linked to another, two names for one image, a hard link) is an
`ArchsimError` naming the link, since it would repeat images, or move them into
another class, without a word. Names starting with '.' (`.ipynb_checkpoints`,
macOS `._x.jpg` files) are neither classes nor images. Other files whose names
do not end in one of torchvision's IMG_EXTENSIONS (`.gif`, `.txt`) are left out
with a warning that counts them by suffix. A folder that cannot be listed is an
error naming it (os.walk would skip it silently).

`open_image` decodes to the right pixel values whatever the file's mode: 1, 2,
4 and 8-bit grey, palettes (with transparency too), RGB, CMYK, YCbCr, LAB,
16 bits per channel (16-bit grey read as v / 65535, and a PGM of any maxval as
v / maxval, to the nearest 8-bit level, where PIL's own conversion clips them at
255; 16-bit colour is read by PIL at 8 bits). Alpha is dropped, as torchvision and timm do; an EXIF orientation or an
ICC profile is not applied, as they do not either; a file with frames is read
at its first. It refuses, by name: pixels of no fixed range (32-bit integer or
float, mode I or F), a link to nothing, a file that is not a regular file (a
FIFO would block forever), an image over PIL's decompression-bomb limit
(Image.MAX_IMAGE_PIXELS x 2 pixels), and whatever PIL cannot read.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

from archsim.errors import ArchsimError

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_SIXTEEN_BIT_AS_I = ("PNG", "PPM")  # formats whose mode-I images hold 0..65535 (PGM with maxval > 255)


class UnreadableImage(Exception):
    """An image file that cannot be decoded to the right pixels; the message says why."""


def find_classes(root: Path) -> tuple[list[str], dict[str, int]]:
    """The sub-folders of `root` (links to folders too; not hidden ones), sorted, and {name: index}."""
    try:
        classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    except OSError as e:
        raise ArchsimError(f"image folder {root}: cannot list it ({e.strerror or e})") from None
    if not classes:
        raise ArchsimError(f"image folder {root} has no class sub-folders")
    return classes, {name: i for i, name in enumerate(classes)}


def list_images(root: Path, class_to_idx: dict[str, int]) -> list[tuple[str, int]]:
    """(path, class index) of every image file in the class folders (a class with no folder is left out); a
    warning counts the files left out for their names (by suffix: `.gif` is not among IMG_EXTENSIONS)."""
    reached = {_identity(root): "."}  # (device, inode) of each folder and file -> where the walk found it
    samples, empty, other = [], [], Counter()
    for name in sorted(class_to_idx):
        top = root / name
        if not top.is_dir():
            continue
        _reach(reached, top, root)
        found = []
        for folder, filenames in _walk(top, root, reached):
            for filename in sorted(filenames):
                path = os.path.join(folder, filename)
                if filename.startswith("."):
                    continue
                if not has_file_allowed_extension(filename, IMG_EXTENSIONS):
                    other[Path(filename).suffix.lower() or "no suffix"] += 1
                    continue
                if os.path.exists(path):  # a link to nothing is left to open_image, which names it
                    _reach(reached, path, root)
                found.append((path, class_to_idx[name]))
        samples += found
        if not found:
            empty.append(name)
    if other:
        warnings.warn(f"image folder {root}: left out {sum(other.values())} file(s) not named as images ("
                      + ", ".join(f"{suffix} {n}" for suffix, n in other.most_common(5))
                      + f"); image files end in {', '.join(IMG_EXTENSIONS)}", stacklevel=3)
    if empty:
        raise ArchsimError(f"image folder {root}: no image files in the class folder(s) {', '.join(empty[:5])} "
                           f"(image files end in {', '.join(IMG_EXTENSIONS)})")
    return samples


def _walk(top: Path, root: Path, reached: dict) -> list[tuple[str, list[str]]]:
    """(folder, file names) of every folder under `top`, sorted by folder path, each folder reached once."""
    def refuse(error: OSError):
        raise ArchsimError(f"image folder {root}: cannot list {error.filename} ({error.strerror or error})")

    folders = []
    for folder, dirnames, filenames in os.walk(top, followlinks=True, onerror=refuse):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for d in dirnames:
            _reach(reached, os.path.join(folder, d), root)
        folders.append((folder, filenames))
    return sorted(folders)


def _reach(reached: dict, path, root: Path) -> None:
    """Record that the walk reached `path`; ArchsimError when it had reached that folder or file before."""
    key = _identity(path)
    if key not in reached:
        reached[key] = os.path.relpath(path, root)
        return
    here, first = os.path.relpath(path, root), reached[key]
    if not os.path.isdir(path):
        raise ArchsimError(f"image folder {root}: {first} and {here} are the same file (one a link, or a hard link, "
                           "to the other), so the image would be read twice; keep one of them")
    if first == "." or here.startswith(first + os.sep):
        target = "the image folder itself" if first == "." else first
        raise ArchsimError(f"image folder {root}: {here} is a link back to {target}, which holds it (a loop: its "
                           "images would be read again and again); remove the link")
    raise ArchsimError(f"image folder {root}: {first} and {here} are the same folder (one a link to the other), so "
                       "its images would be read twice; keep one of them")


def _identity(path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def open_image(path: str, mode: str) -> Image.Image:
    """The image at `path` decoded and converted to `mode` ("RGB" or "L"); UnreadableImage(reason) if it cannot be."""
    if os.path.islink(path) and not os.path.exists(path):
        raise UnreadableImage(f"a link to {os.readlink(path)}, which does not exist")
    try:
        kind = os.stat(path).st_mode
        if not stat.S_ISREG(kind):
            raise UnreadableImage(f"not a regular file ({_file_kind(kind)})")
        with open(path, "rb") as f:
            image = Image.open(f)
            image.load()
    except Image.DecompressionBombError as e:
        raise UnreadableImage(str(e)) from None
    except (OSError, ValueError, SyntaxError) as e:  # PIL's UnidentifiedImageError is an OSError
        if type(e).__name__ == "UnidentifiedImageError":
            raise UnreadableImage("not an image PIL can read") from None
        raise UnreadableImage(e.strerror if isinstance(e, OSError) and e.strerror else str(e)) from None
    return _converted(image, mode)


def _converted(image: Image.Image, mode: str) -> Image.Image:
    """`image` in `mode` with the pixel values its own mode means (see the module docstring)."""
    if image.mode in _SIXTEEN_BIT or (image.mode == "I" and image.format in _SIXTEEN_BIT_AS_I):
        levels = np.asarray(image, dtype=np.float64) / 257  # 0..65535 -> 0..255
        image = Image.fromarray(np.clip(np.round(levels), 0, 255).astype(np.uint8), "L")
    elif image.mode in ("I", "F"):
        kind = "32-bit integers" if image.mode == "I" else "floating-point numbers"
        raise UnreadableImage(f"its pixels are {kind} (PIL mode {image.mode}) with no fixed range; save it with "
                              "8 or 16 bits per channel")
    elif image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # PIL's own path for a palette with transparency (no warning)
    try:
        return image.convert("RGB").convert(mode)  # through RGB, as torchvision's loader: the same bytes as before
    except ValueError as e:
        raise UnreadableImage(f"PIL mode {image.mode}: {e}") from None


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a plain file"

"""Bad inputs, part 3: image folders (links, modes, decompression bombs) and matrix files (separators, 3 models).

Each case of docs/run-store.md's catalogue: a folder walk that would repeat images or loop ends `archsim sat`
with one line naming the link, before any work; every image mode decodes to its known pixel values (read back
through the real PIL decode and the real loader) or is refused by name; `archsim analyze` reads a semicolon or
tab separated matrix, says what it expected of one it cannot read, and analyses three models.
"""

import os
import signal
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from bad_input_fixtures import CONFIG, run_cli, snapshot, write_config
from PIL import Image

from archsim.errors import ArchsimError
from archsim.zoo.data import describe

# -- image folders: links and other shapes of a walk --------------------------------------------------------------


def make_folder(root: Path, size: int = 8) -> Path:
    """Two classes of three PNGs each, every image one known colour."""
    for c, cls in enumerate(("cat", "dog")):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (size, size), (40 * i, 90 + 100 * c, 200)).save(root / cls / f"{i}.png")
    return root


def fifo(root):
    os.mkfifo(root / "cat" / "9.png")


LINK_CASES = {
    # the cases: a loop, and a link to the parent folder
    "link-to-itself": (lambda r: os.symlink(".", r / "cat" / "self"), "cat/self is a link back to cat, which holds it"),
    "link-to-the-parent": (lambda r: os.symlink("..", r / "cat" / "up"),
                           "cat/up is a link back to the image folder itself, which holds it"),
    # neighbours: a class folder linked to another, a folder linked into another class, two names for one file
    "class-folder-link": (lambda r: os.symlink("cat", r / "eel"), "cat and eel are the same folder"),
    "folder-link-across-classes": (lambda r: os.symlink("../dog", r / "cat" / "d"),
                                   "cat/d and dog are the same folder"),
    "file-link-across-classes": (lambda r: os.symlink("../dog/0.png", r / "cat" / "9.png"),
                                 "cat/9.png and dog/0.png are the same file"),
    "hard-link": (lambda r: os.link(r / "dog" / "0.png", r / "cat" / "9.png"), "cat/9.png and dog/0.png are the same"),
    "broken-link": (lambda r: os.symlink("nowhere.png", r / "cat" / "9.png"),
                    "cat/9.png: a link to nowhere.png, which does not exist"),
    "fifo": (fifo, "cat/9.png: not a regular file (a FIFO)"),
}


class Hung(Exception):
    pass


def _hung(signum, frame):
    raise Hung("the walk blocked (a FIFO opened for reading?)")


@pytest.mark.parametrize("case", sorted(LINK_CASES))
def test_a_folder_walk_that_would_repeat_images_is_one_line(case, prev, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("archsim.zoo.train_pool.train_classifier", lambda *a, **k: pytest.fail("trained"))
    make, words = LINK_CASES[case]
    root = make_folder(tmp_path / "images")
    make(root)
    config = write_config(tmp_path / "c.yaml", {**CONFIG, "data": {"source": "imagefolder", "root": str(root),
                                                                   "resolution": 8}})
    before = snapshot(prev)
    previous = signal.signal(signal.SIGALRM, _hung)
    signal.alarm(60)  # a regression that opens the FIFO would block forever: fail instead
    try:
        rc, _, err = run_cli(capsys, "sat", "--config", config, "--out", prev, "--no-progress")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("archsim sat: error: ") and words in err[0], err[0]
    assert snapshot(prev) == before


def test_skip_unreadable_leaves_out_broken_links_and_fifos(tmp_path):
    root = make_folder(tmp_path / "images")
    os.symlink("nowhere.png", root / "cat" / "7.png")
    os.mkfifo(root / "dog" / "8.png")
    with pytest.warns(UserWarning, match=r"skipped 2 unreadable file\(s\) of 8"):
        catalog = describe({"source": "imagefolder", "root": str(root), "resolution": 8, "skip_unreadable": True})
    assert len(catalog) == 6


def test_hidden_names_are_neither_classes_nor_images(tmp_path):
    """A `.ipynb_checkpoints` folder was class 0, shifting every label; macOS `._x.png` files were unreadable."""
    root = make_folder(tmp_path / "images")
    (root / ".ipynb_checkpoints").mkdir()
    Image.new("RGB", (8, 8)).save(root / ".ipynb_checkpoints" / "x.png")
    (root / "cat" / "._0.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (root / "dog" / ".cache").mkdir()
    Image.new("RGB", (8, 8)).save(root / "dog" / ".cache" / "thumb.png")
    catalog = describe({"source": "imagefolder", "root": str(root), "resolution": 8})
    assert catalog.classes == ["cat", "dog"] and catalog.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert catalog.ids == ["cat/0.png", "cat/1.png", "cat/2.png", "dog/0.png", "dog/1.png", "dog/2.png"]


def test_a_link_to_a_folder_outside_is_followed_once(tmp_path):
    """Links are still followed: a class folder kept elsewhere is read, once."""
    root = make_folder(tmp_path / "images")
    elsewhere = make_folder(tmp_path / "store") / "cat"
    os.symlink(elsewhere, root / "eel")
    catalog = describe({"source": "imagefolder", "root": str(root), "resolution": 8})
    assert catalog.classes == ["cat", "dog", "eel"] and len(catalog) == 9


def test_a_folder_it_cannot_list_is_named(tmp_path, monkeypatch):
    """os.walk skips a folder it cannot list, silently (root can list any folder: the refusal is made here)."""
    root = make_folder(tmp_path / "images")
    (root / "cat" / "private").mkdir()
    real = os.scandir

    def refusing(path="."):
        if str(path).endswith("private"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", refusing)
    with pytest.raises(ArchsimError, match=rf"image folder {root}: cannot list {root}/cat/private \(Permission denied\)"):
        describe({"source": "imagefolder", "root": str(root), "resolution": 8})


# -- image modes: each decoded by the real PIL, to its known pixel values --------------------------------------------


def png(path: Path, width: int, height: int, depth: int, colour_type: int, row: bytes) -> Path:
    """A PNG written chunk by chunk (for bit depths and colour types PIL does not write)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + row for _ in range(height))))
                     + chunk(b"IEND", b""))
    return path


def palette_with_transparency(path):
    image = Image.new("P", (8, 8), 3)
    image.putpalette([0, 0, 0] * 3 + [10, 200, 30] + [0, 0, 0] * 252)
    image.save(path, transparency=3)


MODE_CASES = {
    # file, how it is written -> expected RGB in 0..255 (16-bit values v read as v / 65535 -> nearest 8-bit level)
    "grey-16bit.png": (lambda p: Image.fromarray(np.full((8, 8), 30000, np.uint16)).save(p), (117, 117, 117)),
    "grey-16bit.tif": (lambda p: Image.fromarray(np.full((8, 8), 30000, np.uint16)).save(p), (117, 117, 117)),
    "grey-16bit-written.png": (lambda p: png(p, 8, 8, 16, 0, struct.pack(">H", 1000) * 8), (4, 4, 4)),
    "grey-1023.pgm": (lambda p: p.write_bytes(b"P5 8 8 1023\n" + struct.pack(">H", 300) * 64), (75, 75, 75)),
    "grey-4bit.png": (lambda p: png(p, 8, 8, 4, 0, bytes([0x55] * 4)), (85, 85, 85)),
    "grey-2bit.png": (lambda p: png(p, 8, 8, 2, 0, bytes([0b10101010] * 2)), (170, 170, 170)),
    "bilevel.png": (lambda p: Image.new("1", (8, 8), 1).save(p), (255, 255, 255)),
    "grey-alpha.png": (lambda p: Image.new("LA", (8, 8), (100, 50)).save(p), (100, 100, 100)),
    "rgb-16bit.png": (lambda p: png(p, 8, 8, 16, 2, struct.pack(">HHH", 30000, 1000, 65535) * 8), (117, 3, 255)),
    "rgba-16bit.png": (lambda p: png(p, 8, 8, 16, 6, struct.pack(">HHHH", 30000, 1000, 65535, 0) * 8), (117, 3, 255)),
    "rgba.png": (lambda p: Image.new("RGBA", (8, 8), (10, 200, 30, 0)).save(p), (10, 200, 30)),
    "palette-transparency.png": (palette_with_transparency, (10, 200, 30)),
    "cmyk.tif": (lambda p: Image.new("CMYK", (8, 8), (0, 255, 0, 0)).save(p), (255, 0, 255)),
    "lab.tif": (lambda p: Image.new("LAB", (8, 8), (128, 128, 128)).save(p), (119, 119, 119)),
}


@pytest.mark.parametrize("name", sorted(MODE_CASES))
def test_every_image_mode_decodes_to_its_pixel_values(name, tmp_path):
    write, rgb = MODE_CASES[name]
    root = tmp_path / "images"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        write(root / cls / name)
    spec = {"source": "imagefolder", "root": str(root), "resolution": 8, "crop_pct": 1.0}
    images = describe(spec).load().images
    assert torch_close(images[0], [v / 255 for v in rgb]), (name, images[0, :, 0, 0].tolist())
    grey = describe({**spec, "channels": 1}).load().images
    assert abs(float(grey[0, 0, 0, 0]) - (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255) < 1.5 / 255


def torch_close(image, rgb) -> bool:
    """Every pixel of a (3, H, W) image within half an 8-bit level of `rgb`."""
    return all(float((image[c] - rgb[c]).abs().max()) <= 0.5 / 255 + 1e-6 for c in range(3))


def test_orientation_and_pages_are_read_as_stored_and_other_files_counted(tmp_path):
    """An EXIF orientation is not applied (as torchvision and timm); a TIFF of two pages is read at its first; a
    GIF (not among torchvision's image extensions) is left out with a warning that counts it."""
    root = tmp_path / "images"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        image = Image.new("RGB", (8, 8), (0, 0, 255))
        image.paste((255, 0, 0), (0, 0, 4, 8))  # left half red, as stored
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90 degrees to display": the left half would become the top half
        image.save(root / cls / "turned.png", exif=exif)
        pages = [Image.new("RGB", (8, 8), colour) for colour in ((0, 255, 0), (255, 0, 0))]
        pages[0].save(root / cls / "pages.tif", save_all=True, append_images=pages[1:])
        pages[0].save(root / cls / "moving.gif")
    with pytest.warns(UserWarning, match=r"left out 2 file\(s\) not named as images \(\.gif 2\); image files end in"):
        catalog = describe({"source": "imagefolder", "root": str(root), "resolution": 8, "crop_pct": 1.0})
    assert catalog.ids == ["a/pages.tif", "a/turned.png", "b/pages.tif", "b/turned.png"]
    pages, turned = catalog.load([0, 1]).images
    assert float(pages[1].min()) > 0.99 and float(pages[0].max()) < 0.01  # green: the first page
    assert float(turned[0, :, :4].min()) > 0.99 and float(turned[2, :, 4:].min()) > 0.99  # red left, blue right


REFUSED_MODES = {
    "int32.tif": (lambda p: Image.fromarray(np.full((8, 8), 30000, np.int32)).save(p),
                  "its pixels are 32-bit integers (PIL mode I) with no fixed range"),
    "float.tif": (lambda p: Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(p),
                  "its pixels are floating-point numbers (PIL mode F) with no fixed range"),
    # over PIL's limit (2 x Image.MAX_IMAGE_PIXELS): a 20000 x 20000 PNG header, refused before any pixel is decoded
    "bomb.png": (lambda p: png(p, 20000, 20000, 1, 0, bytes(2500)),
                 "Image size (400000000 pixels) exceeds limit of"),
}


@pytest.mark.parametrize("name", sorted(REFUSED_MODES))
def test_an_image_with_no_right_pixel_values_is_refused_by_name(name, prev, tmp_path, capsys):
    write, words = REFUSED_MODES[name]
    root = make_folder(tmp_path / "images")
    write(root / "dog" / name)
    config = write_config(tmp_path / "c.yaml", {**CONFIG, "data": {"source": "imagefolder", "root": str(root),
                                                                   "resolution": 8}})
    before = snapshot(prev)
    rc, _, err = run_cli(capsys, "sat", "--config", config, "--out", prev, "--no-progress")
    assert rc == 2 and len(err) == 1, err
    assert f"archsim sat: error: cannot read image {root}/dog/{name}: {words}" in err[0], err[0]
    assert snapshot(prev) == before
    with pytest.warns(UserWarning, match=rf"skipped 1 unreadable file\(s\) of 7 in .* \(the first: .*{name}\)"):
        catalog = describe({"source": "imagefolder", "root": str(root), "resolution": 8, "skip_unreadable": True})
    assert len(catalog) == 6


# -- matrix files: separators, and three models -------------------------------------------------------------------

MATRIX = [["", "a", "b", "c"], ["a", "4.6", "2.0", "1.0"], ["b", "2.0", "4.6", "3.0"], ["c", "1.0", "3.0", "4.6"]]


def write_matrix_text(path: Path, separator: str, cells=MATRIX) -> Path:
    path.write_text("\n".join(separator.join(row) for row in cells) + "\n")
    return path


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_analyze_reads_a_comma_semicolon_or_tab_separated_matrix(separator, tmp_path, capsys):
    """Three models: t-SNE and MDS of a non-Euclidean dissimilarity (MDS's classical start had a NaN)."""
    matrix = write_matrix_text(tmp_path / "m.csv", separator)
    rc, out, err = run_cli(capsys, "analyze", "--matrix", matrix, "--out", tmp_path / "o")
    assert rc == 0, err
    assert "3 models in 2 clusters" in out
    assert (tmp_path / "o" / "clusters.csv").read_text().splitlines()[0] == "model,cluster,hierarchical_cluster"
    assert (tmp_path / "o" / "mds.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("case, cells, separator, words", [
    ("spaces", MATRIX, " ", "has no separator; expected values separated by commas (or semicolons, or tabs)"),
    ("decimal-comma", [[c.replace(".", ",") for c in row] for row in MATRIX], ";",
     "row 'a', column 'a': '4,6' is not a number (a decimal comma? write numbers with a decimal point)")])
def test_a_matrix_it_cannot_read_says_what_it_expected(case, cells, separator, words, tmp_path, capsys):
    matrix = write_matrix_text(tmp_path / "m.csv", separator, cells)
    rc, _, err = run_cli(capsys, "analyze", "--matrix", matrix, "--out", tmp_path / "o")
    assert rc == 2 and len(err) == 1 and words in err[0], err
    assert not (tmp_path / "o" / "clusters.csv").exists()


def test_analyze_runs_on_a_three_model_sat_csv_written_by_archsim(good, tmp_path, capsys):
    third = {**CONFIG["models"][0], "label": "c", "seed": 2}
    config = write_config(tmp_path / "c.yaml", {**good["cfg"], "models": good["cfg"]["models"] + [third]})
    assert run_cli(capsys, "sat", "--config", config, "--out", tmp_path / "run", "--no-progress")[0] == 0
    rc, out, err = run_cli(capsys, "analyze", "--matrix", tmp_path / "run" / "sat.csv", "--out", tmp_path / "o")
    assert rc == 0 and "3 models in 2 clusters" in out, err


def test_classical_mds_is_torgerson_on_euclidean_points_and_finite_otherwise():
    from analysis.matrix.clustering import classical_mds, dissimilarity, embed_2d

    points = np.random.default_rng(0).normal(size=(6, 2))
    d = np.linalg.norm(points[:, None] - points[None], axis=2)
    x = classical_mds(d)
    assert np.allclose(np.linalg.norm(x[:, None] - x[None], axis=2), d)
    s = np.array([[4.6, 2.0, 1.0], [2.0, 4.6, 3.0], [1.0, 3.0, 4.6]])  # D = 3 - S: d(a,c) = 2 > d(a,b) + d(b,c) = 1
    tsne, mds = embed_2d(dissimilarity(s), seed=0)
    assert np.isfinite(tsne).all() and np.isfinite(mds).all()

import json

import numpy as np
import pytest
import timm.data
import torch
from PIL import Image
from torchvision import transforms

import archsim.zoo.data as data
from archsim.errors import ArchsimError
from archsim.zoo.data import describe, load_images, load_subset, select_indices

SIZES = {"ant": [(40, 30), (50, 50)], "bee": [(64, 48), (30, 70)], "cat": [(45, 45), (33, 60)]}


@pytest.fixture
def folder(tmp_path):
    """tmp_path/imgs/<class>/<i>.png, 2 images per class of different sizes."""
    rng = np.random.default_rng(0)
    for name, sizes in SIZES.items():
        (tmp_path / "imgs" / name).mkdir(parents=True)
        for i, (w, h) in enumerate(sizes):
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "imgs" / name / f"{i}.png")
    return tmp_path / "imgs"


def test_imagefolder_shapes_labels_ids(folder):
    images = load_images({"source": "imagefolder", "root": str(folder), "resolution": 24})
    assert images.images.shape == (6, 3, 24, 24) and images.images.dtype == torch.float32
    assert 0 <= images.images.min() and images.images.max() <= 1
    assert images.labels.dtype == torch.int64 and images.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert images.ids == ["ant/0.png", "ant/1.png", "bee/0.png", "bee/1.png", "cat/0.png", "cat/1.png"]
    assert images.classes == ["ant", "bee", "cat"] and images.num_classes == 3
    grey = load_images({"source": "imagefolder", "root": str(folder), "resolution": 24, "channels": 1})
    assert grey.images.shape == (6, 1, 24, 24)


def test_preprocessing_equals_timm_eval_transform(folder):
    spec = {"source": "imagefolder", "root": str(folder), "resolution": 32, "crop_pct": 0.9}
    catalog = describe(spec)
    index = catalog.ids.index("bee/1.png")
    timm_eval = timm.data.create_transform(input_size=(3, 32, 32), crop_pct=0.9, interpolation="bicubic")
    steps = [t for t in timm_eval.transforms if not isinstance(t, transforms.Normalize)]
    assert len(steps) == 3
    expected = transforms.Compose(steps)(Image.open(folder / "bee" / "1.png").convert("RGB"))
    assert torch.equal(catalog.load([index]).images[0], expected)


@pytest.mark.parametrize("fmt", ["json", "txt"])
def test_class_map_remaps_labels(folder, tmp_path, fmt):
    order = ["cat", "zebra", "ant", "bee"]  # zebra: a class with no folder here
    path = tmp_path / f"map.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps({name: i for i, name in enumerate(order)}))
    else:
        path.write_text("\n".join(order) + "\n")
    images = load_images({"source": "imagefolder", "root": str(folder), "class_map": str(path), "resolution": 8})
    assert images.labels.tolist() == [2, 2, 3, 3, 0, 0]
    assert images.classes == order and images.num_classes == 4


def test_class_map_errors(folder, tmp_path):
    spec = {"source": "imagefolder", "root": str(folder)}
    missing_cat = tmp_path / "map.txt"
    missing_cat.write_text("ant\nbee\n")
    with pytest.raises(ArchsimError, match="cat"):
        describe({**spec, "class_map": str(missing_cat)})
    gaps = tmp_path / "map.json"
    gaps.write_text(json.dumps({"ant": 0, "bee": 1, "cat": 5}))
    with pytest.raises(ArchsimError, match="0..K-1"):
        describe({**spec, "class_map": str(gaps)})
    with pytest.raises(ArchsimError, match="not found"):
        describe({**spec, "class_map": str(tmp_path / "nope.json")})


def test_only_selected_files_are_opened(folder, monkeypatch):
    opened = []

    def counting_loader(path, mode):
        opened.append(path)
        return Image.open(path).convert(mode)

    monkeypatch.setattr(data, "open_image", counting_loader)
    catalog = describe({"source": "imagefolder", "root": str(folder), "resolution": 8})
    assert opened == [] and len(catalog) == 6
    images = catalog.load([4, 1])
    assert [p.rsplit("imgs/", 1)[1] for p in opened] == ["cat/0.png", "ant/1.png"]
    assert images.ids == ["cat/0.png", "ant/1.png"] and images.labels.tolist() == [2, 0]


def test_folder_errors(tmp_path):
    with pytest.raises(ArchsimError, match="not found"):
        describe({"source": "imagefolder", "root": str(tmp_path / "missing")})
    with pytest.raises(ArchsimError, match="no class sub-folders"):
        describe({"source": "imagefolder", "root": str(tmp_path)})
    (tmp_path / "ant").mkdir()
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    with pytest.raises(ArchsimError, match="no image files in the class folder"), \
            pytest.warns(UserWarning, match=r"left out 1 file\(s\) not named as images \(\.txt 1\)"):
        describe({"source": "imagefolder", "root": str(tmp_path)})
    with pytest.raises(ArchsimError, match="needs 'root'"):
        describe({"source": "imagefolder"})


def test_spec_errors():
    with pytest.raises(ArchsimError, match="unknown data source 'cifar'"):
        describe({"source": "cifar"})
    with pytest.raises(ArchsimError, match="'root'.*allowed keys: source, resolution, channels, subset, validation, n"):
        describe({"source": "synthetic", "root": "x"})
    with pytest.raises(ArchsimError, match="channels"):
        describe({"source": "digits", "channels": 2})
    with pytest.raises(ArchsimError, match="'count' in data subset"):
        describe({"source": "digits", "subset": {"n": 3, "count": 2}})
    with pytest.raises(ArchsimError, match="unknown subset how 'last'"):
        load_subset({"source": "digits", "subset": {"how": "last", "n": 3}})


def test_mnist5k():
    images = load_images({"source": "mnist5k"})
    assert images.images.shape == (5000, 3, 32, 32) and images.num_classes == 10
    assert images.images.min() == 0 and images.images.max() == 1
    assert set(images.labels.tolist()) == set(range(10))
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert images.images[:, :, border].abs().max() == 0
    assert images.images[:, :, 2:30, 2:30].max() == 1
    assert images.ids[7] == "mnist5k/7"
    assert torch.equal(images.images[:, 0], images.images[:, 2])
    big = load_images({"source": "mnist5k", "resolution": 48, "channels": 1}, indices=[7])
    assert big.images.shape == (1, 1, 48, 48) and 0 <= big.images.min() and big.images.max() <= 1


def test_digits():
    images = load_images({"source": "digits", "resolution": 16})
    assert images.images.shape == (1797, 3, 16, 16) and images.num_classes == 10
    assert 0 <= images.images.min() and images.images.max() <= 1 and images.ids[0] == "digits/0"
    native = load_images({"source": "digits", "resolution": 8, "channels": 1}, indices=[0])
    from sklearn.datasets import load_digits
    expected = torch.tensor(load_digits().data[0], dtype=torch.float32).reshape(8, 8) / 16
    assert torch.equal(native.images[0, 0], expected)


def test_synthetic_deterministic_by_seed():
    spec = {"source": "synthetic", "n": 20, "num_classes": 4, "seed": 3, "resolution": 16}
    a, b = load_images(spec), load_images(spec)
    assert torch.equal(a.images, b.images) and a.ids[5] == "synthetic/3/5"
    assert a.images.shape == (20, 3, 16, 16) and 0 <= a.images.min() and a.images.max() <= 1
    assert a.labels.tolist() == [i % 4 for i in range(20)] and a.num_classes == 4
    assert not torch.equal(a.images, load_images({**spec, "seed": 4}).images)
    # an image does not depend on which others are loaded, nor on n
    assert torch.equal(load_images({**spec, "n": 40}, indices=[7]).images[0], a.images[7])


def test_select_first_and_random():
    labels = torch.arange(50) % 5
    assert select_indices(labels, how="first", n=4) == [0, 1, 2, 3]
    r0 = select_indices(labels, how="random", n=10, seed=0)
    assert r0 == select_indices(labels, how="random", n=10, seed=0)
    assert r0 != select_indices(labels, how="random", n=10, seed=1)
    assert len(set(r0)) == 10 and r0 == sorted(r0) and all(0 <= i < 50 for i in r0)
    for how in ("first", "random"):
        with pytest.raises(ArchsimError, match="larger than"):
            select_indices(labels, how=how, n=51)


def test_select_balanced():
    labels = torch.tensor([0] * 10 + [1] * 3 + [2] * 6)
    chosen = select_indices(labels, how="balanced", n=3, seed=2)
    assert chosen == sorted(chosen) and len(set(chosen)) == 9
    assert torch.bincount(labels[chosen]).tolist() == [3, 3, 3]
    assert chosen != select_indices(labels, how="balanced", n=3, seed=5)
    with pytest.raises(ArchsimError, match="class 1 has 3"):
        select_indices(labels, how="balanced", n=4)


def test_load_subset_and_imageset_subset():
    images = load_subset({"source": "synthetic", "n": 30, "num_classes": 3,
                          "subset": {"how": "balanced", "n": 2, "seed": 1}})
    assert len(images) == 6 and torch.bincount(images.labels).tolist() == [2, 2, 2]
    part = images.subset([5, 0])
    assert part.ids == [images.ids[5], images.ids[0]]
    assert torch.equal(part.images[0], images.images[5]) and part.classes == images.classes

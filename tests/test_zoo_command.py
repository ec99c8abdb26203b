"""`archsim zoo train` and the train / validation / test split it reports on."""

import csv

import pytest
import yaml

from archsim.cli import main
from archsim.config import parse_config
from archsim.errors import ArchsimError
from archsim.zoo.build import build_run

DATA = {"source": "digits", "resolution": 16, "subset": {"how": "balanced", "n": 10, "seed": 0},
        "validation": {"how": "balanced", "n": 5, "seed": 1}}
CONFIG = {"seed": 0, "device": "cpu", "batch_size": 64, "data": DATA,
          "train": {"epochs": 3, "lr": 0.003, "batch_size": 64},
          "models": [{"name": "resnet18", "label": "r", "input_size": 16,
                      "kwargs": {"num_classes": 10, "channels": [8, 16, 32, 64]}}]}


def test_validation_images_are_outside_the_test_images_and_training(monkeypatch):
    seen = {}
    monkeypatch.setattr("archsim.zoo.train_pool.train_classifier",
                        lambda model, images, labels, **kw: seen.setdefault("n", len(images)))
    run = build_run(parse_config(CONFIG), progress=False)
    test_ids, val_ids = set(run.images.ids), set(run.validation.ids)
    assert len(test_ids) == 100 and len(val_ids) == 50 and not test_ids & val_ids
    assert seen["n"] == 1797 - 150  # digits has 1,797 images; neither split is trained on
    assert sorted(run.validation.labels.tolist()) == sorted(list(range(10)) * 5)  # balanced


def test_bad_validation_section():
    with pytest.raises(ArchsimError, match="unknown key 'count' in data validation"):
        build_run(parse_config({**CONFIG, "data": {**DATA, "validation": {"n": 5, "count": 2}}}), progress=False)


def test_zoo_train_reports_and_then_loads_from_cache(tmp_path, capsys):
    path = tmp_path / "zoo.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "cache_dir": str(tmp_path / "cache")}))
    assert main(["zoo", "train", "--config", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    first = list(csv.DictReader(open(tmp_path / "out" / "zoo.csv")))
    assert [r["model"] for r in first] == ["r"] and first[0]["weights"] == "trained"
    assert float(first[0]["train_seconds"]) > 0 and 0.5 < float(first[0]["test_accuracy"]) <= 1
    assert 0 <= float(first[0]["val_accuracy"]) <= 1
    assert "1 models, 100 test images, 50 validation images" in capsys.readouterr().out
    assert main(["zoo", "train", "--config", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    again = list(csv.DictReader(open(tmp_path / "out" / "zoo.csv")))
    assert again[0]["weights"] == "cache" and again[0]["train_seconds"] == ""
    assert again[0]["test_accuracy"] == first[0]["test_accuracy"]  # the same weights

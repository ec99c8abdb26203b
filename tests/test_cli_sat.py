"""`archsim sat` end to end: a config, tiny models trained inside the test, the output files."""

import csv
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

import archsim
from archsim.cli import main
from archsim.config import load_config
from archsim.matrices import read_matrix
from archsim.zoo.build import build_run

CONFIG = {
    "seed": 0, "device": "cpu", "batch_size": 100, "eps_s": 0.01,
    "data": {"source": "digits", "resolution": 16, "subset": {"how": "balanced", "n": 10, "seed": 0}},
    "train": {"epochs": 12, "lr": 0.003, "batch_size": 64},
    "attack": {"backend": "native", "norm": "Linf", "eps": 0.15, "alpha": 0.04, "steps": 5},
    "models": [
        {"name": "resnet18", "label": "resnet_narrow", "input_size": 16,
         "kwargs": {"num_classes": 10, "channels": [16, 32, 64, 128]}},
        {"name": "vit_tiny_patch16_224", "label": "vit_micro", "seed": 1,
         "kwargs": {"num_classes": 10, "img_size": 16, "patch_size": 4, "embed_dim": 48, "depth": 2, "num_heads": 2}},
    ],
}


def archsim_command():
    exe = shutil.which("archsim", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "archsim.cli"]


def test_sat_end_to_end(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({**CONFIG, "cache_dir": str(tmp_path / "cache")}))
    out = tmp_path / "out"
    proc = subprocess.run(archsim_command() + ["sat", "--config", str(cfg), "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "resnet_narrow" in proc.stdout and "wrote" in proc.stdout
    assert "ran 2 attack and 4 evaluation units, 2 noise-control units; 0 reused" in proc.stdout
    assert (out / "store.sqlite").is_file() and len(list((out / "tensors" / "adv").glob("*.safetensors"))) == 2

    names, sat = read_matrix(out / "sat.csv")
    assert names == ["resnet_narrow", "vit_micro"]
    assert (out / "sat.csv").read_text().startswith(",resnet_narrow,vit_micro")
    np.testing.assert_allclose(sat, sat.T)
    assert np.all(sat <= np.log(100) + 1e-9) and np.all(sat >= np.log(0.01) - 1e-9)
    # white-box PGD at this budget fools nearly everything: ln(100 x rate) near ln 100
    assert sat[0, 0] > np.log(50) and sat[1, 1] > np.log(50)
    acc = {r["model"]: float(r["accuracy"]) for r in csv.DictReader(open(out / "clean_accuracy.csv"))}
    assert all(a > 0.6 for a in acc.values()), acc  # trained inside this test, on images outside the 100
    pairs = list(csv.DictReader(open(out / "pairs.csv")))
    assert len(pairs) == 3
    ab = next(p for p in pairs if p["a"] != p["b"])
    assert float(ab["ci_low"]) <= float(ab["sat"]) <= float(ab["ci_high"])
    _, transfer = read_matrix(out / "transfer.csv")
    assert float(ab["rate_a_to_b"]) == pytest.approx(transfer[0, 1], abs=1e-6)
    # the formula by hand from the two directions' rates (both over the same X_AB)
    assert sat[0, 1] == pytest.approx(np.log(max(0.01, 100 * (transfer[0, 1] + transfer[1, 0]) / 2)), abs=1e-5)
    # the same models through the in-memory engine (no store, no CLI) give the same matrix
    config = load_config(cfg)
    run = build_run(config, progress=False)
    memory = archsim.sat_matrix(run.models, run.images.images, run.images.labels, attack=config.attack,
                                seed=config.seed, batch_size=config.batch_size, eps_s=config.eps_s, progress=False)
    np.testing.assert_allclose(sat, memory.sat, atol=1e-5)
    np.testing.assert_allclose(transfer, memory.transfer, atol=1e-5)

    # the trained weights are cached: a rerun loads them and gives the same matrix
    weights = sorted((tmp_path / "cache" / "weights").glob("*.safetensors"))
    assert len(weights) == 2
    stamps = [w.stat().st_mtime_ns for w in weights]
    assert main(["sat", "--config", str(cfg), "--out", str(tmp_path / "again"), "--no-progress"]) == 0
    assert [w.stat().st_mtime_ns for w in weights] == stamps
    np.testing.assert_array_equal(read_matrix(tmp_path / "again" / "sat.csv")[1], sat)


@pytest.mark.parametrize("change,message", [
    (lambda c: c.update(colour="red"), "unknown key 'colour' in the config"),
    (lambda c: c["models"][0].update(nme="x"), r"unknown key 'nme' in models\[0\]"),
    (lambda c: c["models"][0].update(name="resnet1B"), "unknown timm model 'resnet1B'; close names: resnet18"),
    (lambda c: c["data"].update(source="imagefolder", root="/no/such/folder"), "/no/such/folder"),
    (lambda c: c["models"][0].update(checkpoint="missing.safetensors"), "checkpoint not found"),
    (lambda c: c["models"][1].update(label="resnet_narrow"), "labels must be unique"),
    (lambda c: c["attack"].update(eps="big"), "eps"),
    (lambda c: c.pop("data"), "no `data` section"),
])
def test_bad_config_is_one_clear_line(tmp_path, capsys, change, message):
    cfg = yaml.safe_load(yaml.safe_dump(CONFIG))
    change(cfg)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["sat", "--config", str(path), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("archsim sat: error:")
    import re
    assert re.search(message, err), err


def test_missing_config_file(tmp_path, capsys):
    assert main(["sat", "--config", str(tmp_path / "nope.yaml"), "--out", str(tmp_path)]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_cuda_asked_for_without_cuda(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "device": "cuda"}))
    assert main(["sat", "--config", str(path), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_image_folder_and_checkpoint_paths_relative_to_the_config(tmp_path):
    """A user's own folder and checkpoint, named relative to the config file."""
    import torch
    from PIL import Image
    from safetensors.torch import save_file

    from archsim.zoo.models import create_model

    rng = np.random.default_rng(0)
    for c in ("cat", "dog", "eel"):
        (tmp_path / "images" / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "images" / c / f"{i}.png")
    torch.manual_seed(0)
    state = create_model("test_resnet", num_classes=3).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    cfg = {"device": "cpu", "data": {"source": "imagefolder", "root": "images", "resolution": 32},
           "attack": {"steps": 1},
           "models": [{"name": "test_resnet", "label": a, "checkpoint": "w.safetensors", "input_size": 32,
                       "kwargs": {"num_classes": 3}} for a in ("a", "b")]}
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    proc = subprocess.run(archsim_command() + ["sat", "--config", "../run.yaml", "--out", "out", "--no-progress"],
                          cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    acc = list(csv.DictReader(open(elsewhere / "out" / "clean_accuracy.csv")))
    assert [int(r["n_images"]) for r in acc] == [9, 9]
    assert acc[0]["n_correct"] == acc[1]["n_correct"]  # the same checkpoint: the same predictions

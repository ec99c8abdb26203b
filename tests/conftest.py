"""Shared fixtures: a few tiny timm models trained in seconds on scikit-learn's digits, and a finished `archsim sat`
run of the bad-input tests' tiny zoo (`good`, with `prev` a copy of its folder to leave alone)."""

import os
import shutil

import pytest
import torch
from bad_input_fixtures import CONFIG, write_config
from safetensors.torch import save_file

from archsim.cli import main
from archsim.zoo.data import describe, select_indices
from archsim.zoo.models import create_model
from archsim.zoo.training import train_classifier
from archsim.zoo.wrapper import PixelModel

# Work runs in this process: a pool's spawned processes take seconds to start, longer than a tiny zoo's training.
# tests/test_workers.py runs the pools.
os.environ["ARCHSIM_WORKERS"] = "1"

TINY_MODELS = {
    # label: (timm name, kwargs, epochs)
    "resnet": ("resnet18", {"channels": (16, 32, 64, 128)}, 4),
    "resnet_seed1": ("resnet18", {"channels": (16, 32, 64, 128)}, 4),
    "vit": ("vit_tiny_patch16_224", {"img_size": 16, "patch_size": 4, "embed_dim": 48, "depth": 2,
                                     "num_heads": 2}, 20),
}


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Tests never write into the user's archsim cache."""
    monkeypatch.setenv("ARCHSIM_CACHE", str(tmp_path_factory.mktemp("archsim-cache")))


@pytest.fixture(scope="session")
def digits_split():
    """Digits at 16 x 16: 200 balanced evaluation images, the rest for training."""
    catalog = describe({"source": "digits", "resolution": 16})
    eval_idx = select_indices(catalog.labels, how="balanced", n=20, seed=0)
    train_idx = sorted(set(range(len(catalog))) - set(eval_idx))
    return catalog.load(train_idx), catalog.load(eval_idx)


@pytest.fixture(scope="session")
def tiny_zoo(digits_split):
    """A narrow ResNet-18 (two seeds) and a tiny ViT, trained for a few epochs."""
    train, _ = digits_split
    zoo = {}
    for i, (label, (name, kwargs, epochs)) in enumerate(TINY_MODELS.items()):
        torch.manual_seed(i)
        model = PixelModel(create_model(name, num_classes=10, **kwargs), input_size=16)
        train_classifier(model, train.images, train.labels, epochs=epochs, lr=3e-3, batch_size=64, seed=i,
                         progress=False)
        zoo[label] = model
    return zoo


@pytest.fixture(scope="session")
def zoo_specs(tiny_zoo, tmp_path_factory):
    """Config entries for the tiny zoo, each loading its trained weights from a safetensors checkpoint."""
    folder = tmp_path_factory.mktemp("zoo")
    specs = {}
    for label, model in tiny_zoo.items():
        path = folder / f"{label}.safetensors"
        save_file({k: v.contiguous() for k, v in model.model.state_dict().items()}, str(path))
        name, kwargs, _ = TINY_MODELS[label]
        specs[label] = {"name": name, "label": label, "checkpoint": str(path), "input_size": 16,
                        "kwargs": {"num_classes": 10, **{k: list(v) if isinstance(v, tuple) else v
                                                        for k, v in kwargs.items()}}}
    return specs


@pytest.fixture
def components_config(tmp_path):
    """A config naming models by tag, by pretrained tag and with kwargs (no weights are read)."""
    path = tmp_path / "run.yaml"
    path.write_text("""
data: {source: digits}
models:
  - name: resnet18.a1_in1k
    pretrained: true
    label: r18
    input_size: 192
  - name: efficientnet_b0
    pretrained: ra_in1k
    label: effb0
  - name: vit_tiny_patch16_224
    kwargs: {img_size: 160}
""")
    return path


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A finished `archsim sat` run of CONFIG: its folder (outputs and store), its config and weights cache."""
    root = tmp_path_factory.mktemp("good")
    cfg = {**CONFIG, "cache_dir": str(root / "cache")}
    config = write_config(root / "run.yaml", cfg)
    assert main(["sat", "--config", str(config), "--out", str(root / "run"), "--no-progress"]) == 0
    return {"root": root, "cfg": cfg, "config": config, "run": root / "run", "cache": root / "cache"}


@pytest.fixture
def prev(good, tmp_path):
    """A copy of the good run's folder: the previous outputs a failing command must leave alone."""
    out = tmp_path / "out"
    shutil.copytree(good["run"], out)
    return out

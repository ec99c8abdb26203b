"""`archsim similarity --measure atoms|grassmann|weights` and `archsim weights-test` end to end on tiny digits models."""

import csv

import numpy as np
import pytest
import yaml

from archsim.cli import main
from archsim.matrices import read_matrix

VGG = {"name": "vgg11_bn", "input_size": 16,
       "kwargs": {"num_classes": 10, "model_cfg": [8, "M", 16, "M"], "mlp_ratio": 0.002}}
CONFIG = {
    "seed": 0, "device": "cpu",
    "data": {"source": "digits", "resolution": 16, "subset": {"how": "balanced", "n": 1, "seed": 0}},
    "train": {"epochs": 1, "lr": 0.003, "batch_size": 64, "max_images": 400},
    "similarity": {"atoms": {"reference": "vgg1", "m": 4}},
    "models": [{**VGG, "label": f"vgg{i}", "seed": i} for i in range(4)] + [
        {"name": "resnet18", "label": "resnet", "input_size": 16,
         "kwargs": {"num_classes": 10, "channels": [8, 16, 32, 64]}}],
}


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "run.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "cache_dir": str(path.parent / "cache")}))
    return path


@pytest.fixture(scope="module")
def three_models(config):
    """vgg0, vgg1 and resnet of the same config (weights from its cache): aligning VGG's 4096 units takes seconds."""
    path = config.parent / "three.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["models"] = [cfg["models"][i] for i in (0, 1, 4)]
    path.write_text(yaml.safe_dump(cfg))
    return path


def _rows(path):
    return list(csv.DictReader(open(path)))


def test_similarity_metrics(config, three_models, tmp_path, capsys):
    out = tmp_path / "out"
    names = [f"vgg{i}" for i in range(4)] + ["resnet"]
    for metric, path in (("atoms", config), ("grassmann", config), ("weights", three_models)):
        assert main(["similarity", "--measure", metric, "--config", str(path), "--out", str(out),
                     "--no-progress"]) == 0
    assert read_matrix(out / "atoms.csv")[0] == names and read_matrix(out / "grassmann.csv")[0] == names
    printed = capsys.readouterr().out

    _, a = read_matrix(out / "atoms.csv")
    assert "coefficients of vgg1" in printed and "resnet not applicable" in printed
    assert np.isnan(a[4]).all() and np.allclose(np.diag(a)[:4], 1.0)
    assert {r["model"] for r in _rows(out / "atoms_detail.csv")} == set(names[:4])

    _, g = read_matrix(out / "grassmann.csv")
    assert not np.isnan(g).any() and np.allclose(g, g.T) and ((g > 0) & (g <= 1 + 1e-9)).all()
    assert "coverage" in printed
    detail = _rows(out / "grassmann_detail.csv")
    assert len({(r["a"], r["b"]) for r in detail}) == 10

    assert read_matrix(out / "weights.csv")[0] == ["vgg0", "vgg1", "resnet"]
    _, w = read_matrix(out / "weights.csv")
    assert np.isnan(w[2]).all() and w[0, 0] == 1 and w[0, 1] == w[1, 0] and 0 < w[0, 1] < 1
    assert "resnet not applicable" in printed and "residual" in printed
    layers = {r["layer"] for r in _rows(out / "weights_detail.csv")}
    assert layers == {"features.0", "features.4", "pre_logits.fc1", "pre_logits.fc2", "head.fc"}

    assert main(["similarity", "--measure", "grassmann", "--config", str(config), "--out", str(out),
                 "--set", "score=distance", "--set", "match=assignment", "--no-progress"]) == 0
    _, d = read_matrix(out / "grassmann.csv")
    assert np.allclose(np.diag(d), 0, atol=1e-5) and (d[~np.eye(5, dtype=bool)] > 0).all()


@pytest.fixture(scope="module")
def five_vggs(config):
    """The config with a fifth VGG seed, a reference outside the two groups of 2."""
    path = config.parent / "five.yaml"
    cfg = yaml.safe_load(config.read_text())
    cfg["models"] = cfg["models"][:4] + [{**VGG, "label": "vgg4", "seed": 4}]
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_weights_test_command(five_vggs, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["weights-test", "--config", str(five_vggs), "--group-a", "vgg0,vgg1", "--group-b", "vgg2,vgg3",
                 "--permutations", "9", "--out", str(out), "--no-progress"]) == 0
    (row,) = _rows(out / "weights_test.csv")
    assert (row["n_a"], row["n_b"], row["n_splits"], row["train_size"], row["test_size"]) == ("2", "2", "2", "2", "2")
    assert float(row["chance"]) == 0.5 and row["classifier"] == "logistic"
    assert row["reference"] == "vgg4"  # outside both groups, not a member aligned to itself
    assert float(row["min_p"]) == pytest.approx(0.4)  # (1 + 9 x 2/6) / 10
    text = capsys.readouterr().out
    assert "reference vgg4" in text and "no evidence of a difference (smallest achievable p = 0.4)" in text


def test_weights_test_without_an_outside_reference_leaves_the_first_of_group_a_out(config, tmp_path, capsys):
    """No VGG outside the groups (resnet is another architecture): vgg0 becomes the reference and leaves group A."""
    assert main(["weights-test", "--config", str(config), "--group-a", "vgg0,vgg1", "--group-b", "vgg2,vgg3",
                 "--out", str(tmp_path), "--no-progress"]) == 2
    assert "the reference vgg0 is left out of the test" in capsys.readouterr().err


@pytest.mark.parametrize("groups,message", [
    (["vgg0,vgg1", "vgg1,vgg2"], "in both groups: vgg1"),
    (["vgg0,vgg9", "vgg2,vgg3"], "not a model label of the config: vgg9"),
    (["vgg0", "vgg2,vgg3"], "at least 2 model labels"),
    (["vgg0,resnet", "vgg2,vgg3"], "resnet: .*residual"),
])
def test_weights_test_errors(config, tmp_path, capsys, groups, message):
    import re

    assert main(["weights-test", "--config", str(config), "--group-a", groups[0], "--group-b", groups[1],
                 "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("archsim weights-test: error:") and re.search(message, err), err

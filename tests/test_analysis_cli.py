"""The `components` and `analyze` commands end to end, through the archsim CLI."""

import csv

import numpy as np
import pytest
from matplotlib.image import imread
from sklearn.metrics import adjusted_rand_score

from analysis.components.derive import COLUMNS
from analysis.components.table import read_features
from archsim.cli import main as run
from archsim.matrices import write_matrix


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_components_command(tmp_path, capsys, components_config):
    cfg = components_config
    out = tmp_path / "components.csv"
    assert run(["components", "convnext_atto", "--config", str(cfg), "--out", str(out)]) == 0
    with open(out, newline="") as f:
        assert next(csv.reader(f)) == COLUMNS
    table = {r["Model name"]: r for r in read_csv(out)}
    assert list(table) == ["convnext_atto", "r18", "effb0", "vit_tiny_patch16_224"]
    assert table["effb0"]["Base architecture"] == "NAS (CNN)"
    assert table["vit_tiny_patch16_224"]["Input resolution"] == "160 x 160"
    assert table["r18"]["Input resolution"] == "192 x 192" and table["r18"]["Stem layer"] == "7s2"
    printed = capsys.readouterr().out
    assert "wrote 4 models x 13 component columns" in printed
    assert "cells set by the override table: 1 of 52 derived cells: effb0 (Base architecture)" in printed


def test_components_command_errors(tmp_path, capsys):
    assert run(["components", "--out", str(tmp_path / "x.csv")]) == 2
    assert "give model names" in capsys.readouterr().err
    assert run(["components", "resnet18", "resnet18", "--out", str(tmp_path / "x.csv")]) == 2
    assert "repeated: resnet18" in capsys.readouterr().err
    assert run(["components", "resnet18", "not_a_model_xyz", "--out", str(tmp_path / "x.csv")]) == 2
    assert "unknown timm model: 'not_a_model_xyz'" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def planted_study(tmp_path):
    """12 models in 3 families; SAT-like matrix with family blocks; features with family + noise."""
    rng = np.random.default_rng(0)
    family = np.array([0, 1, 2] * 4)
    names = [f"net{i}" for i in range(12)]
    s = np.where(family[:, None] == family[None, :], np.log(60), np.log(8)) + rng.normal(0, 0.1, (12, 12))
    s = (s + s.T) / 2
    np.fill_diagonal(s, np.log(99))
    write_matrix(tmp_path / "sat.csv", names, s)
    other = np.exp(s) / 100 + rng.normal(0, 0.02, (12, 12))  # a related matrix on a linear scale
    write_matrix(tmp_path / "other.csv", names, (other + other.T) / 2)
    noise = rng.normal(size=(12, 12))
    write_matrix(tmp_path / "noise.csv", names, noise + noise.T)
    with open(tmp_path / "features.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Model name", "Family", "Noise"])
        for i, n in enumerate(names):
            w.writerow([n, "CNN Transformer MLP".split()[family[i]], "ab"[rng.integers(2)]])
    return names, family


def test_analyze_writes_every_output(tmp_path, capsys):
    names, family = planted_study(tmp_path)
    out = tmp_path / "out"
    code = run(["analyze", "--matrix", str(tmp_path / "sat.csv"), "--features", str(tmp_path / "features.csv"),
                "--compare", str(tmp_path / "other.csv"), str(tmp_path / "noise.csv"),
                "--permutations", "199", "--out", str(out)])
    assert code == 0
    clusters = read_csv(out / "clusters.csv")
    assert [r["model"] for r in clusters] == names
    assert adjusted_rand_score(family, [int(r["cluster"]) for r in clusters]) == 1.0
    assert adjusted_rand_score(family, [int(r["hierarchical_cluster"]) for r in clusters]) == 1.0

    importance = read_csv(out / "importance.csv")
    assert list(importance[0]) == ["component", "importance", "method"]
    for method in ("linear_drop_r2", "gbt_permutation"):
        assert [r["component"] for r in importance if r["method"] == method] == ["Family", "Noise"]
    fit = {r["method"]: r for r in read_csv(out / "importance_fit.csv")}
    assert float(fit["linear_drop_r2"]["cv_r2"]) > 0.9 and fit["gbt_permutation"]["n_pairs"] == "66"

    comparison = read_csv(out / "comparison.csv")
    assert [r["matrix_b"] for r in comparison] == [str(tmp_path / "other.csv"), str(tmp_path / "noise.csv")]
    related, unrelated = comparison
    assert float(related["mantel_p"]) == pytest.approx(1 / 200) and float(related["mantel_r"]) > 0.9
    assert float(unrelated["mantel_p"]) > 0.05

    for png in ("dendrogram", "tsne", "mds", "spectrum", "importance", "scatter_other", "scatter_noise"):
        image = imread(out / f"{png}.png")
        assert image.ndim == 3 and min(image.shape[:2]) > 200 and image.std() > 0.01
    printed = capsys.readouterr().out
    assert "12 models in 3 clusters (k: eigengap)" in printed


def test_analyze_reports_names_that_do_not_match_the_features(tmp_path, capsys):
    planted_study(tmp_path)
    rows = read_csv(tmp_path / "features.csv")
    rows[0]["Model name"] = "net_0"
    with open(tmp_path / "features.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows[1:])  # net0 has no row at all now
    code = run(["analyze", "--matrix", str(tmp_path / "sat.csv"), "--features", str(tmp_path / "features.csv"),
                "--clusters", "3", "--out", str(tmp_path / "out")])
    assert code == 0
    err = capsys.readouterr().err
    assert "warning: model names do not match; using the 11 in both" in err and "net0" in err
    assert not (tmp_path / "out" / "comparison.csv").exists()


def test_analyze_rejects_bad_matrices(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text(",a,b,c\na,0,1,2\nb,1,0,\nc,2,,0\n")
    assert run(["analyze", "--matrix", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "out")]) == 2
    assert "(b, c)" in capsys.readouterr().err


def test_analyze_derives_features_from_timm_names(tmp_path):
    names = ["resnet18", "resnet34", "seresnet18", "vit_tiny_patch16_224", "deit_tiny_patch16_224"]
    cnn = np.array([1, 1, 1, 0, 0])
    s = np.where(cnn[:, None] == cnn[None, :], np.log(50), np.log(10)) + np.eye(5)
    write_matrix(tmp_path / "sat.csv", names, s)
    assert run(["analyze", "--matrix", str(tmp_path / "sat.csv"), "--derive-features", "--clusters", "2",
                "--out", str(tmp_path / "out")]) == 0
    columns, features = read_features(tmp_path / "out" / "features.csv")
    assert columns == COLUMNS[1:]
    assert features["seresnet18"]["CW attention"] == "Yes (SE)"
    assert features["deit_tiny_patch16_224"]["Base architecture"] == "Transformer"
    top = read_csv(tmp_path / "out" / "importance.csv")[0]
    assert top["method"] == "linear_drop_r2" and float(top["importance"]) >= 0

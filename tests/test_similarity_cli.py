"""`archsim similarity` (representation metrics) and `archsim layers` end to end, on tiny models trained here."""

import csv

import numpy as np
import pytest
import torch
import yaml

from archsim.cli import main
from archsim.config import load_config
from archsim.matrices import read_matrix
from archsim.zoo.build import build_run

CONFIG = {
    "seed": 0, "device": "cpu", "batch_size": 100,
    "data": {"source": "digits", "resolution": 16, "subset": {"how": "balanced", "n": 20, "seed": 0}},
    "train": {"epochs": 2, "lr": 0.003, "batch_size": 64},
    "models": [
        {"name": "resnet18", "label": "resnet_narrow", "input_size": 16,
         "kwargs": {"num_classes": 10, "channels": [16, 32, 64, 128]}},
        {"name": "vit_tiny_patch16_224", "label": "vit_micro", "seed": 1,
         "kwargs": {"num_classes": 10, "img_size": 16, "patch_size": 4, "embed_dim": 48, "depth": 2, "num_heads": 2}},
    ],
}
NAMES = ["resnet_narrow", "vit_micro"]


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    """The run config; the models are trained (and cached) once for the whole module."""
    folder = tmp_path_factory.mktemp("similarity-cli")
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "cache_dir": str(folder / "cache")}))
    build_run(load_config(path), progress=False)
    return path


def similarity(config, out, metric, *settings):
    argv = ["similarity", "--measure", metric, "--config", str(config), "--out", str(out), "--no-progress"]
    return main(argv + [a for s in settings for a in ("--set", s)])


def pre_logits(config):
    """Pre-logits features of each model, extracted here with timm's own calls (no archsim hooks)."""
    run = build_run(load_config(config), progress=False)
    out = {}
    with torch.no_grad():
        for label, model in run.models.items():
            x = model.preprocess(run.images.images)
            out[label] = model.model.forward_head(model.model.forward_features(x), pre_logits=True).double().numpy()
    return out


def ref_cka(x, y, hsic):
    k, l = x @ x.T, y @ y.T
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def hsic0(k, l):
    n = len(k)
    h = np.eye(n) - 1 / n
    return np.trace(k @ h @ l @ h)


def hsic1(k, l):
    n = len(k)
    k, l, one = k - np.diag(np.diag(k)), l - np.diag(np.diag(l)), np.ones(len(k))
    return np.trace(k @ l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2)) - 2 / (n - 2) * (one @ k @ l @ one)


@pytest.mark.parametrize("metric", ["cka", "cka-rbf", "cca", "svcca", "pwcca", "gradient"])
def test_every_metric_writes_a_matrix_in_the_format_of_sat_csv(config, tmp_path, capsys, metric):
    assert similarity(config, tmp_path, metric) == 0
    assert (tmp_path / f"{metric}.csv").read_text().startswith(",resnet_narrow,vit_micro")
    names, values = read_matrix(tmp_path / f"{metric}.csv")
    assert names == NAMES
    np.testing.assert_allclose(np.diag(values), 1.0, atol=1e-5)
    assert np.all((values > -0.2) & (values <= 1 + 1e-5)), values
    if metric != "pwcca":
        np.testing.assert_allclose(values, values.T)
    out = capsys.readouterr().out
    assert "layer pre_logits; 200 images" in out and f"wrote {tmp_path / metric}.csv" in out


def test_cka_matrix_equals_a_reference_on_features_extracted_independently(config, tmp_path):
    feats = pre_logits(config)
    x, y = (feats[n] - feats[n].mean(0) for n in NAMES)
    assert similarity(config, tmp_path / "biased", "cka") == 0
    assert read_matrix(tmp_path / "biased" / "cka.csv")[1][0, 1] == pytest.approx(ref_cka(x, y, hsic0), abs=2e-6)
    assert similarity(config, tmp_path / "debiased", "cka", "debiased=true") == 0
    assert read_matrix(tmp_path / "debiased" / "cka.csv")[1][0, 1] == pytest.approx(ref_cka(x, y, hsic1), abs=2e-6)
    assert similarity(config, tmp_path / "mb", "cka", "minibatch=50") == 0
    sums = np.zeros(3)
    for s in range(0, 200, 50):  # 4 equal batches: Nguyen et al.'s mean of per-batch HSIC_1
        k, l = x[s:s + 50] @ x[s:s + 50].T, y[s:s + 50] @ y[s:s + 50].T
        sums += [hsic1(k, l) / (50 * 47), hsic1(k, k) / (50 * 47), hsic1(l, l) / (50 * 47)]
    expected = sums[0] / np.sqrt(sums[1] * sums[2])
    assert read_matrix(tmp_path / "mb" / "cka.csv")[1][0, 1] == pytest.approx(expected, abs=2e-6)


def test_options_come_from_the_config_and_set_overrides_them(config, tmp_path, capsys):
    cfg = yaml.safe_load(config.read_text())
    cfg["similarity"] = {"gradient": {"index": "nbs", "buckets": 32}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert similarity(path, tmp_path, "gradient", "nonzeros=2") == 0
    _, values = read_matrix(tmp_path / "gradient.csv")
    rows = list(csv.DictReader(open(tmp_path / "gradient_detail.csv")))
    assert list(rows[0]) == ["a", "b", "cka", "euclidean", "nbs"]
    cross = next(r for r in rows if r["a"] != r["b"])
    assert values[0, 1] == pytest.approx(float(cross["nbs"]), abs=1e-5)
    assert float(cross["euclidean"]) ** 2 == pytest.approx(2 - 2 * float(cross["cka"]), abs=1e-4)

    capsys.readouterr()
    assert similarity(config, tmp_path, "cka", "layer={resnet_narrow: layer3, vit_micro: blocks.1}") == 0
    assert "layer blocks.1, layer3;" in capsys.readouterr().out


def test_cca_too_few_images_for_the_dimensions_is_nan_with_a_note(config, tmp_path, capsys):
    assert similarity(config, tmp_path, "cca", "layer={resnet_narrow: act1}") == 0  # 4,096 features, 200 images
    _, values = read_matrix(tmp_path / "cca.csv")
    assert np.isnan(values[0, 1]) and np.isnan(values[1, 0])
    assert "CCA is degenerate here" in capsys.readouterr().out


def test_layers_command_writes_the_matrix_and_a_heatmap(config, tmp_path, capsys):
    args = ["--config", str(config), "--out", str(tmp_path), "--no-progress", "--batch-size", "50"]
    assert main(["layers", "resnet_narrow", "vit_micro", *args]) == 0
    rows = list(csv.reader(open(tmp_path / "layers_cka_resnet_narrow_vit_micro.csv")))
    assert rows[0] == ["", "blocks.0", "blocks.1", "pre_logits"]
    assert [r[0] for r in rows[1:]] == ["act1", "layer1", "layer2", "layer3", "layer4", "pre_logits"]
    values = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    assert np.all(values > -0.2) and np.all(values <= 1 + 1e-6)
    assert (tmp_path / "layers_cka_resnet_narrow_vit_micro.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "6 layers" in capsys.readouterr().out

    assert main(["layers", "vit_micro", "vit_micro", *args, "--layers-a", "blocks.0,pre_logits",
                 "--layers-b", "blocks.0,pre_logits"]) == 0
    rows = list(csv.reader(open(tmp_path / "layers_cka_vit_micro_vit_micro.csv")))
    assert float(rows[1][1]) == pytest.approx(1.0, abs=1e-5) and float(rows[2][2]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("argv,message", [
    (["similarity", "--measure", "cka", "--set", "colour=red"], "unknown option 'colour' in cka; allowed: "),
    (["similarity", "--measure", "cka", "--set", "layer=blocks.9"], "has no layer 'blocks.9'"),
    (["similarity", "--measure", "cka", "--set", "minibatch=3"], "minibatch must be a whole number >= 4"),
    (["similarity", "--measure", "cka", "--set", "minibatch=50", "--set", "debiased=false"], "unbiased HSIC"),
    (["similarity", "--measure", "cka", "--set", "layer={vitt: blocks.0}"], "not a model label"),
    (["similarity", "--measure", "gradient", "--set", "beta=1"], "beta = 1"),
    (["similarity", "--measure", "gradient", "--set", "index=cosine"], "index must be one of cka, euclidean, nbs"),
    (["similarity", "--measure", "svcca", "--set", "statistic=max"], "statistic must be one of mean_rho, r2"),
    (["layers", "resnet_narrow", "nope"], "no model labelled 'nope'"),
    (["layers", "resnet_narrow", "vit_micro", "--layers-b", "blocks.7"], "vit_micro has no layer 'blocks.7'"),
])
def test_bad_options_are_one_clear_line(config, tmp_path, capsys, argv, message):
    assert main(argv + ["--config", str(config), "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and message in err, err


def _centred_cka(k, l):
    n = len(k)
    h = np.eye(n) - 1 / n
    a, b = h @ k @ h, h @ l @ h
    return (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())


def test_rbf_cka_and_gradient_matrices_equal_references_on_independently_extracted_values(config, tmp_path):
    """cka-rbf: Kornblith et al.'s gram_rbf on timm's own pre-logits; gradient: g = W^T (q - p) of the linear head
    (q = p^0.5 normalised), the exact kernel (F F^T) o (G G^T), and the default sketch within 0.05 of it."""
    feats = pre_logits(config)

    def kornblith_rbf(x, threshold=0.5):
        sq = (x * x).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2 * x @ x.T
        return np.exp(-sq / (2 * threshold ** 2 * np.median(sq)))

    assert similarity(config, tmp_path / "rbf", "cka-rbf") == 0
    expected = _centred_cka(*(kornblith_rbf(feats[n]) for n in NAMES))
    assert read_matrix(tmp_path / "rbf" / "cka-rbf.csv")[1][0, 1] == pytest.approx(expected, abs=2e-6)

    run = build_run(load_config(config), progress=False)
    kernels = []
    for n in NAMES:
        head = run.models[n].model.get_classifier()
        w, b = head.weight.detach().double().numpy(), head.bias.detach().double().numpy()
        logits = feats[n] @ w.T + b
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        q = np.sqrt(p) / np.sqrt(p).sum(1, keepdims=True)
        g = (q - p) @ w
        kernels.append((feats[n] @ feats[n].T) * (g @ g.T))
    exact = _centred_cka(*kernels)
    assert similarity(config, tmp_path / "exact", "gradient", "buckets=null") == 0
    assert read_matrix(tmp_path / "exact" / "gradient.csv")[1][0, 1] == pytest.approx(exact, abs=1e-4)
    assert similarity(config, tmp_path / "sketch", "gradient") == 0
    assert read_matrix(tmp_path / "sketch" / "gradient.csv")[1][0, 1] == pytest.approx(exact, abs=0.05)


NEW_MEASURES = {"procrustes": 0.0, "shape": 0.0, "rsa": 1.0, "mutual-knn": 1.0, "cknna": 1.0,
                "linear-predictivity": 1.0, "disagreement": 0.0, "js-divergence": 0.0, "error-consistency": 1.0}


@pytest.mark.parametrize("metric", [*NEW_MEASURES, "double-fault", "yules-q"])
def test_every_new_measure_writes_a_symmetric_matrix(config, tmp_path, capsys, metric):
    assert similarity(config, tmp_path, metric) == 0
    names, values = read_matrix(tmp_path / f"{metric}.csv")
    assert names == NAMES and np.isfinite(values).all()
    np.testing.assert_allclose(values, values.T)
    if metric in NEW_MEASURES:
        np.testing.assert_allclose(np.diag(values), NEW_MEASURES[metric], atol=1e-12)
    assert f"wrote {tmp_path / metric}.csv" in capsys.readouterr().out


def test_new_measures_equal_references_on_independently_extracted_features_and_outputs(config, tmp_path):
    """procrustes: scipy's orthogonal_procrustes on timm's own pre-logits; linear-predictivity: the detail file's
    two directions average to the matrix; error-consistency: sklearn's kappa of the errors of model(x)."""
    from scipy.linalg import orthogonal_procrustes
    from sklearn.metrics import cohen_kappa_score

    feats = pre_logits(config)
    a, b = (feats[n] - feats[n].mean(0) for n in NAMES)
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    p = max(a.shape[1], b.shape[1])
    a, b = (np.pad(m, ((0, 0), (0, p - m.shape[1]))) for m in (a, b))
    expected = np.linalg.norm(a @ orthogonal_procrustes(a, b)[0] - b)
    assert similarity(config, tmp_path, "procrustes") == 0
    assert read_matrix(tmp_path / "procrustes.csv")[1][0, 1] == pytest.approx(expected, rel=1e-5)  # csv: 6 digits

    assert similarity(config, tmp_path, "linear-predictivity", "folds=4") == 0
    with open(tmp_path / "linear-predictivity_detail.csv") as f:
        row = next(csv.DictReader(f))
    assert row["a"] == NAMES[0] and float(row["r2_a_to_b"]) != pytest.approx(float(row["r2_b_to_a"]))
    mean = (float(row["r2_a_to_b"]) + float(row["r2_b_to_a"])) / 2
    assert read_matrix(tmp_path / "linear-predictivity.csv")[1][0, 1] == pytest.approx(mean, abs=1e-5)  # csv: 6 digits

    run = build_run(load_config(config), progress=False)
    with torch.no_grad():
        correct = [(run.models[n](run.images.images).argmax(1) == run.images.labels).numpy() for n in NAMES]
    assert similarity(config, tmp_path, "error-consistency") == 0
    assert read_matrix(tmp_path / "error-consistency.csv")[1][0, 1] == pytest.approx(
        cohen_kappa_score(*correct), abs=1e-6)

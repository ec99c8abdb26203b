"""The known-answer scorecard: each statistic against planted answers and an independent reference (sklearn's
roc_auc_score, scipy's spearmanr, counts by hand), the pools on identical data, and `archsim scorecard`."""

import csv
import io
from contextlib import redirect_stdout

import numpy as np
import pytest
import torch
import yaml
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from analysis.scorecard.fusion import fused
from analysis.scorecard.known_answers import (
    Estimate,
    architecture_auc,
    mutual_nearest,
    mutual_nearest_share,
    resampled_auc,
    seed_auc,
    seed_masks,
    untrained_auc,
)
from analysis.scorecard.layer_order import (
    first_layer_curves,
    layer_order,
    monotone_steps,
)
from analysis.scorecard.pools import architectures, half_run, pool_matrices
from analysis.scorecard.reliability import (
    image_halves,
    reliability,
    resampled_spearman,
    sat_halves,
)
from analysis.scorecard.stage import brief
from analysis.scorecard.table import Scorecard
from archsim.cli import main
from archsim.config import parse_config
from archsim.errors import ArchsimError
from archsim.sat.result import SATResult
from archsim.zoo.build import Run, wrap
from archsim.zoo.data import describe, select_indices


def rows_of(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def planted(k=20, seeds=3, seed=0):
    """(groups, blocks, noise): k architectures x `seeds` models; a measure equal to the architecture blocks
    and one of pure noise (symmetric, NaN diagonal)."""
    groups = [f"arch{a}" for a in range(k) for _ in range(seeds)]
    g = np.array([int(x[4:]) for x in groups])
    blocks = (g[:, None] == g[None, :]).astype(float)
    noise = np.random.default_rng(seed).random((len(g), len(g)))
    noise = np.triu(noise, 1) + np.triu(noise, 1).T
    np.fill_diagonal(blocks, np.nan)
    np.fill_diagonal(noise, np.nan)
    return groups, blocks, noise


def test_seed_auc_is_one_on_the_planted_blocks_and_a_half_on_noise():
    groups, blocks, noise = planted()
    exact = seed_auc(blocks, groups)
    assert exact.value == 1.0 and (exact.low, exact.high) == (1.0, 1.0)
    random = seed_auc(noise, groups)
    assert abs(random.value - 0.5) < 0.1 and random.low < 0.5 < random.high
    assert exact.n == random.n == 60 * 59 // 2


def test_seed_auc_equals_sklearn_on_the_same_pairs():
    groups, _, noise = planted(k=6, seeds=3, seed=1)
    noise[0, 4] = noise[4, 0] = np.nan  # a pair a measure does not define is left out
    y, s = [], []
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            if np.isfinite(noise[i, j]):
                y.append(groups[i] == groups[j])
                s.append(noise[i, j])
    assert seed_auc(noise, groups).value == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    # per architecture: its seed pairs against its models' pairs with other architectures
    y, s = [], []
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            if "arch2" in (groups[i], groups[j]) and np.isfinite(noise[i, j]):
                y.append(groups[i] == groups[j])
                s.append(noise[i, j])
    assert architecture_auc(noise, groups, "arch2") == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_a_bootstrap_resample_is_the_auc_of_the_pool_with_its_architectures_copied():
    """Drawing architecture a c_a times weighs its seed pairs c_a and a pair across a, b c_a c_b: the AUC of an
    explicit pool holding c_a copies of each architecture's models (no pair between two copies of one)."""
    groups, _, noise = planted(k=5, seeds=2, seed=2)
    counts = np.array([[2, 0, 1, 3, 1]])
    same, different = seed_masks(groups)
    drawn = resampled_auc(noise, groups, same, different, counts)[0]
    copies = [(i, c) for i, g in enumerate(groups) for c in range(counts[0, int(g[4:])])]
    y, s = [], []
    for p, (i, ci) in enumerate(copies):
        for j, cj in copies[p + 1:]:
            if i != j and not (groups[i] == groups[j] and ci != cj):
                y.append(groups[i] == groups[j])
                s.append(noise[i, j])
    assert drawn == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_mutual_nearest_seeds_by_hand():
    groups = ["A", "A", "A", "B", "B", "C"]
    v = np.full((6, 6), 0.1)
    v[0, 1] = v[1, 0] = 0.9  # mutual nearest
    v[0, 2] = v[2, 0] = 0.5  # model 2 is nearer C (0.6) than its seed 0
    v[1, 2] = v[2, 1] = 0.7  # but its seed 1 (0.7) beats C: 1's rival at best 0.1, 2's at best 0.6 -> mutual
    v[2, 5] = v[5, 2] = 0.6
    v[3, 4] = v[4, 3] = 0.2
    v[3, 5] = v[5, 3] = 0.3  # model 3 prefers C over its seed: not mutual
    np.fill_diagonal(v, 1.0)
    assert mutual_nearest(v, groups) == {(0, 1): True, (0, 2): False, (1, 2): True, (3, 4): False}
    share = mutual_nearest_share(v, groups)
    assert (share.value, share.n) == (0.5, 4) and np.isnan(share.low) and "fewer than 5" in share.note


def test_untrained_auc_separates_a_learning_measure_from_one_that_sees_only_the_architecture():
    groups = [f"arch{a}" for a in range(6) for _ in range(2)]  # each architecture: one trained, one untrained
    trained = np.array([True, False] * 6)
    rng = np.random.default_rng(3)
    learned = np.where(trained[:, None] & trained[None, :], 0.8, 0.2) + 0.01 * rng.random((12, 12))
    learned = (learned + learned.T) / 2
    g = np.repeat(np.arange(6), 2)
    architecture_only = (g[:, None] == g[None, :]).astype(float)
    assert untrained_auc(learned, groups, trained).value == 1.0
    assert untrained_auc(architecture_only, groups, trained).value == 0.5
    y, s = [], []
    for i in range(12):
        for j in range(i + 1, 12):
            if g[i] != g[j] and (trained[i] or trained[j]):
                y.append(bool(trained[i] and trained[j]))
                s.append(learned[i, j])
    assert untrained_auc(learned, groups, trained).value == pytest.approx(roc_auc_score(y, s))


def test_reliability_is_one_on_identical_halves_and_scipys_spearman_otherwise():
    _, _, a = planted(k=3, seeds=2, seed=4)
    assert reliability(a, a.copy()).value == pytest.approx(1.0)
    _, _, b = planted(k=3, seeds=2, seed=5)
    i, j = np.triu_indices(6, 1)
    r = reliability(a, b)
    assert r.value == pytest.approx(spearmanr(a[i, j], b[i, j]).statistic) and r.n == 15
    assert np.isfinite(r.low) and r.low <= r.value <= r.high
    small = reliability(a[:4, :4], b[:4, :4])
    assert np.isnan(small.low) and "from 4 models, fewer than 5" in small.note


def test_each_model_resample_is_scipys_spearman_on_the_resampled_pairs():
    _, _, a = planted(k=4, seeds=2, seed=9)
    _, _, b = planted(k=4, seeds=2, seed=10)
    a[0, 3] = a[3, 0] = np.nan
    drawn = np.random.default_rng(0).integers(0, 8, size=(20, 8))
    got = resampled_spearman(a, b, drawn=drawn)
    for row, rho in zip(drawn, got):
        pairs = [(min(p, q), max(p, q)) for k, p in enumerate(row) for q in row[k + 1:] if p != q]
        pairs = [(p, q) for p, q in pairs if np.isfinite(a[p, q])]
        assert rho == pytest.approx(spearmanr([a[p, q] for p, q in pairs], [b[p, q] for p, q in pairs]).statistic)


def test_image_halves_are_disjoint_stratified_and_seeded():
    labels = np.repeat(np.arange(10), 7)
    a, b = image_halves(labels, seed=0)
    assert not set(a) & set(b) and sorted([*a, *b]) == list(range(70))
    assert all(abs((labels[a] == c).sum() - (labels[b] == c).sum()) <= 1 for c in range(10))
    assert [list(h) for h in image_halves(labels, seed=0)] == [list(a), list(b)]
    with pytest.raises(ArchsimError, match="at least 20 evaluation images"):
        image_halves(np.arange(19))


def test_sat_on_halves_of_identical_images_has_reliability_one():
    rng = np.random.default_rng(6)
    n_models, n = 6, 40
    clean = rng.random((n_models, n)) < 0.9
    adv = (rng.random((n_models, n_models, n)) < rng.random((n_models, n_models, 1))).astype(np.int8)
    doubled = SATResult([f"m{k}" for k in range(n_models)], np.concatenate([clean, clean], 1),
                        np.concatenate([adv, adv], 2), 0.01)
    a, b = sat_halves(doubled, (np.arange(n), np.arange(n, 2 * n)))
    assert np.array_equal(a.sat, b.sat)
    assert reliability(a.sat, b.sat).value == pytest.approx(1.0)


TINY = [  # untrained tiny timm models: the measures need no training to be reproducible
    {"name": "resnet18", "label": "r0", "input_size": 16, "kwargs": {"num_classes": 10, "channels": [8, 16, 32, 64]}},
    {"name": "resnet18", "label": "r1", "seed": 1, "input_size": 16,
     "kwargs": {"num_classes": 10, "channels": [8, 16, 32, 64]}},
    {"name": "vit_tiny_patch16_224", "label": "v0", "kwargs": {"num_classes": 10, "img_size": 16, "patch_size": 4,
                                                               "embed_dim": 32, "depth": 2, "num_heads": 2}},
    {"name": "mixer_s16_224", "label": "x0", "kwargs": {"num_classes": 10, "img_size": 16, "patch_size": 4,
                                                        "embed_dim": 32, "num_blocks": 2}},
    {"name": "resnet10t", "label": "t0", "input_size": 16,
     "kwargs": {"num_classes": 10, "stem_width": 8, "channels": [8, 16, 32, 64]}},
]


@pytest.fixture(scope="module")
def tiny_run():
    """(config, run) of five untrained tiny models on 20 digits, each image twice (image i and i + 20)."""
    cfg = parse_config({"seed": 0, "device": "cpu", "batch_size": 50, "data": {"source": "digits", "resolution": 16},
                        "models": TINY})
    catalog = describe(cfg.data)
    images = catalog.load(select_indices(catalog.labels, how="balanced", n=2, seed=0))
    twice = images.subset(list(range(20)) * 2)
    torch.manual_seed(0)
    return cfg, Run({s.label: wrap(s) for s in cfg.models}, twice)


def test_measures_on_half_splits_of_identical_data_have_reliability_one(tiny_run, tmp_path):
    cfg, run_ = tiny_run
    options = {"cka": {}, "disagreement": {}}
    halves = [pool_matrices(tmp_path / part, cfg, half_run(run_, idx), ["cka", "disagreement"], options, False)[0]
              for part, idx in (("a", range(20)), ("b", range(20, 40)))]
    for measure in options:
        a, b = halves[0][measure][1], halves[1][measure][1]
        np.testing.assert_allclose(a, b, atol=1e-12)
        assert reliability(a, b).value == pytest.approx(1.0)
        assert (tmp_path / "a" / f"{measure}.key.json").is_file()  # cached by content: a rerun reads it back
    assert architectures(cfg) == {"r0": "r0", "r1": "r0", "v0": "v0", "x0": "x0", "t0": "t0"}


def test_layer_order_counts_the_steps_that_fall_after_the_first(tiny_run):
    assert monotone_steps([1.0, 0.8, 0.6, 0.7, 0.5]) == (2, 3)  # 0.6 <= 0.8, 0.7 > 0.6, 0.5 <= 0.7
    assert monotone_steps([1.0, 0.9]) == (0, 0)
    share = layer_order({"a": [1, 0.8, 0.6, 0.7, 0.5], "b": [1, 0.5, 0.4, 0.3]}, {"a": "A", "b": "B"})
    assert (share.value, share.n) == (4 / 5, 5)
    _, run_ = tiny_run
    curves, notes = first_layer_curves(run_, ["r0"], batch_size=20)
    layers, curve = curves["r0"]
    assert notes == []
    assert layers[-1] == "pre_logits" and len(curve) == len(layers) >= 3
    assert curve[0] == pytest.approx(1.0, abs=1e-6)


def test_a_model_whose_stages_cannot_be_read_is_left_out_of_the_layer_order_with_a_note(tiny_run):
    """PiT's stages return tuples: its layer curve cannot be formed, and the others still are."""
    cfg, run_ = tiny_run
    pit = parse_config({"data": cfg.data, "models": [{"name": "pit_ti_224", "label": "p0", "kwargs": {
        "num_classes": 10, "img_size": 16, "patch_size": 4, "stride": 2, "base_dims": [16, 16], "depth": [1, 1],
        "heads": [2, 2]}}]}).models[0]
    with_pit = Run({**run_.models, "p0": wrap(pit)}, run_.images)
    curves, notes = first_layer_curves(with_pit, ["r0", "p0"], batch_size=20)
    assert list(curves) == ["r0"]
    assert notes == ["p0 left out: layer 'transformers.0' returns tuple, not a tensor; pick another module"]


def test_the_fused_measure_keeps_one_measures_order_and_combines_several():
    groups, blocks, noise = planted(k=8, seeds=2, seed=7)
    i, j = np.triu_indices(len(groups), 1)
    one = fused({"noise": noise})
    assert spearmanr(one[i, j], noise[i, j]).statistic == pytest.approx(1.0)
    assert one[i, j].max() == 1.0 and np.isnan(np.diag(one)).all()
    both = fused({"blocks": blocks + 0.01 * noise, "noise": noise})
    assert seed_auc(both, groups).value > seed_auc(noise, groups).value
    gap = noise.copy()
    gap[0, 1] = gap[1, 0] = np.nan
    assert fused({"gap": gap})[0, 1] != fused({"gap": gap})[0, 1]  # no measure defines it: NaN
    assert np.isfinite(fused({"gap": gap, "noise": noise})[0, 1])


def test_the_scorecard_marks_the_best_and_says_which_pass(tmp_path):
    groups, blocks, noise = planted(k=6, seeds=2, seed=8)
    card = Scorecard()
    card.add("blocks", "seeds: AUC", seed_auc(blocks + 0.01 * noise, groups))
    card.add("inverted", "seeds: AUC", seed_auc(-blocks + 0.01 * noise, groups))
    assert card.best("seeds: AUC") == ["blocks"]
    assert card.verdict("blocks", "seeds: AUC") == "above chance"
    assert card.verdict("inverted", "seeds: AUC") == "not above chance"
    assert card.answers()[0].startswith("seeds: AUC: best blocks (1.000 [1.000, 1.000]); above chance: blocks; "
                                        "not above chance: inverted")
    assert card.cell("blocks", "seeds: AUC").endswith("*") and card.cell("inverted", "reliability") == "-"
    card.add("partial", "seeds: AUC", Estimate(1.0, n=3))  # defined on 3 of 66 pairs: shown so, never the best
    assert card.best("seeds: AUC") == ["blocks"] and card.cell("partial", "seeds: AUC") == "1.000 (on 3 of 66)"
    card.write(tmp_path)
    Scorecard.read(tmp_path, []).write(tmp_path / "again")
    for name in ("scorecard.csv", "scorecard_seeds.csv"):
        assert (tmp_path / "again" / name).read_text() == (tmp_path / name).read_text()
    rows = rows_of(tmp_path / "scorecard.csv")[:2]
    assert [(r["measure"], r["best"], r["verdict"]) for r in rows] == [("blocks", "True", "above chance"),
                                                                        ("inverted", "False", "not above chance")]


def test_a_pools_notes_name_the_measures_left_out_and_where_the_rest_are():
    notes = ["cka: layer pre_logits", "cka: a vs b: constant", "rsa: skipped: ArchsimError: too few images"]
    assert brief(notes, "untrained", "scorecard/untrained") == [
        "untrained: rsa: skipped: ArchsimError: too few images",
        "untrained: each measure's notes on this pool are in scorecard/untrained/<measure>.key.json"]


# -- archsim scorecard end to end ------------------------------------------------------------------------------

def scorecard(*argv) -> tuple[int, str]:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        status = main(["scorecard", *argv, "--no-progress"])
    return status, buffer.getvalue()


@pytest.fixture
def config(zoo_specs, tmp_path):
    """Two seeds of a ResNet and a ViT (checkpoints trained by conftest) on 40 digits, a 2-step attack."""
    def write(models, n=4):
        path = tmp_path / f"run{len(models)}_{n}.yaml"
        path.write_text(yaml.safe_dump({
            "seed": 0, "device": "cpu", "batch_size": 50,
            "data": {"source": "digits", "resolution": 16, "subset": {"how": "balanced", "n": n, "seed": 0}},
            "attack": {"backend": "native", "norm": "Linf", "eps": 0.1, "alpha": 0.05, "steps": 2},
            "models": [zoo_specs[m] for m in models]}))
        return path
    return write


def test_scorecard_command_answers_first_and_a_rerun_reuses_everything(config, tmp_path):
    path, out = config(["resnet", "resnet_seed1", "vit"]), tmp_path / "out"
    status, first = scorecard("--config", str(path), "--out", str(out), "--measures", "cka,disagreement")
    assert status == 0
    answers = first[first.index("scorecard of 4 measures on 3 models, 40 images"):].splitlines()
    tests = ["seeds: AUC", "seeds: mutual nearest", "untrained: AUC", "reliability", "layer order"]
    assert all(line.startswith(f"{test}: best ") for line, test in zip(answers[1:6], tests)), answers[:6]
    rows = rows_of(out / "scorecard.csv")
    assert {r["test"] for r in rows} == {"seeds: AUC", "seeds: mutual nearest", "untrained: AUC", "reliability",
                                         "layer order"}
    assert {r["measure"] for r in rows} == {"sat", "cka", "disagreement", "fused (mean rank)"}
    assert "note: sat-adjusted: not scored on the run's models: too few models for per-model effects: 3" in first
    assert "resnet_untrained" in (out / "scorecard" / "untrained" / "cka.csv").read_text().splitlines()[0]
    seeds = rows_of(out / "scorecard_seeds.csv")
    assert {(r["architecture"], r["models"], r["seed_pairs"]) for r in seeds} == {("resnet", "2", "1")}
    written = {p: p.stat().st_mtime_ns for p in (out / "scorecard").rglob("*.csv")}
    status, second = scorecard("--config", str(path), "--out", str(out), "--measures", "cka,disagreement")
    assert status == 0 and "ran 0 attack and 0 evaluation units" in second
    assert written == {p: p.stat().st_mtime_ns for p in (out / "scorecard").rglob("*.csv")}  # read back, not made
    assert rows_of(out / "scorecard.csv") == rows
    status, _ = scorecard("--config", str(path), "--out", str(out), "--measures", "cka")  # another key
    assert status == 0 and {r["measure"] for r in rows_of(out / "scorecard.csv")} == {"sat", "cka",
                                                                                      "fused (mean rank)"}
    assert written == {p: p.stat().st_mtime_ns for p in (out / "scorecard").rglob("*.csv")}  # cka's pools reused


def test_a_pool_without_seeds_skips_the_seed_test_with_a_note(config, tmp_path):
    status, text = scorecard("--config", str(config(["resnet", "vit"])), "--out", str(tmp_path / "o"),
                             "--measures", "", "--tests", "seeds,reliability")
    assert status == 0
    assert "note: seeds: skipped: no architecture has two or more models in this pool" in text
    assert {r["test"] for r in rows_of(tmp_path / "o" / "scorecard.csv")} == {"reliability"}


def test_scorecard_bad_input_is_one_clear_line(config, tmp_path, capsys):
    few = config(["resnet", "vit"], n=1)  # 10 images: too few for two halves of 10
    assert main(["scorecard", "--config", str(few), "--out", str(tmp_path / "a"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [("archsim scorecard: error: split-half reliability needs at least 20 evaluation images "
                    "(10 per half); the run has 10")]
    assert main(["scorecard", "--config", str(few), "--out", str(tmp_path / "b"), "--tests", "seeds,speed"]) == 2
    assert capsys.readouterr().err.strip() == ("archsim scorecard: error: --tests: unknown test 'speed'; choose from "
                                               "seeds, untrained, reliability, layer-order")

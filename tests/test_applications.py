"""`archsim ensemble` and `archsim distill` on a tiny zoo (digits at 16 px), and the studies behind them."""

import csv
import dataclasses
import io
import json
import math
from contextlib import redirect_stdout

import numpy as np
import pytest
import yaml

from analysis.decisions.distill_study import rank_teachers, study_distillation
from analysis.decisions.ensemble_study import study_ensembles
from archsim import sanity
from archsim.cli import main
from archsim.config import load_config
from archsim.zoo.build import build_run
from tests.test_demo import CONFIG, NAMES


def cli(*argv) -> str:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert main([*argv, "--no-progress"]) == 0
    return buffer.getvalue()


def read(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    folder = tmp_path_factory.mktemp("apps")
    path = folder / "zoo.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "cache_dir": str(folder / "cache"),
                                    "distill": {"student": "resnet_a", "teachers": NAMES[1:], "seeds": 3,
                                                "epochs": 1}}))
    return path


def test_splits_never_overlap(config):
    run_ = build_run(load_config(config), progress=False)
    test, val, train = set(run_.images.ids), set(run_.validation.ids), set(run_.training.ids)
    assert test and val and train
    assert not test & val and not test & train and not val & train


def test_another_test_subset_leaves_the_validation_images_unchanged():
    from archsim.zoo.build import split_indices
    from archsim.zoo.data import describe

    catalog = describe({"source": "digits", "resolution": 8})
    data = {"source": "digits", "validation": {"how": "balanced", "n": 5, "seed": 0}}
    val_a, test_a = split_indices(catalog, {**data, "subset": {"how": "balanced", "n": 10, "seed": 0}})
    val_b, test_b = split_indices(catalog, {**data, "subset": {"how": "balanced", "n": 10, "seed": 1}})
    assert val_a == val_b and len(val_a) == 50 and test_a != test_b and len(test_a) == 100
    assert not set(val_a) & set(test_a) and not set(val_b) & set(test_b)
    val_c, rest = split_indices(catalog, data)  # no subset: every image outside the validation images is a test image
    assert val_c == val_a and sorted(rest + val_c) == list(range(len(catalog)))


def test_ensemble_command(config, tmp_path):
    out = tmp_path / "ens"
    text = cli("ensemble", "--config", str(config), "--out", str(out), "--size", "2", "--measures", "sat,cka",
               "--draws", "4")
    rows = read(out / "ensembles.csv")
    methods = [(r["measure"], r["method"]) for r in rows]
    assert methods == [("", "top-k")] + [("", "random")] * 4 + [("sat", "greedy"), ("sat", "cluster"),
                                                                 ("cka", "greedy"), ("cka", "cluster")]
    rec = json.loads((out / "recommendation.json").read_text())
    for r in rows:  # every gain against a named baseline
        members = r["members"].split()
        assert len(members) == 2 == len(set(members)) and set(members) <= set(NAMES)
        assert math.isclose(float(r["vs_top_k"]), float(r["test_softmax_acc"]) - float(rows[0]["test_softmax_acc"]),
                            abs_tol=1e-9)
        assert math.isclose(float(r["vs_best_single"]),
                            float(r["test_softmax_acc"]) - rec["best_single"]["test_accuracy"], abs_tol=1e-9)
    candidates = [r for r in rows if r["method"] != "random"]
    pick = next(r for r in candidates if float(r["val_softmax_acc"]) == max(float(c["val_softmax_acc"])
                                                                            for c in candidates))
    assert rec["members"] == pick["members"].split() and rec["rule"] == pick["method"]
    assert rec["measure"] == (pick["measure"] or None) and rec["top_k"]["members"] == rows[0]["members"].split()
    assert rec["test_accuracy"] == pytest.approx(float(pick["test_softmax_acc"]))
    diff = rec["difference_vs_top_k"]
    assert diff["estimate"] == pytest.approx(rec["test_accuracy"] - rec["top_k"]["test_accuracy"])
    assert diff["low"] <= diff["estimate"] <= diff["high"] and rec["difference_vs_best_single"]["over"].endswith(
        "test images") and rec["verdict"]
    assert f"use {', '.join(rec['members'])}" in text and f"verdict: {rec['verdict']}" in text
    assert text.rstrip().endswith(f"verdict: {rec['verdict']}")  # the command ends with its decision
    pairs = read(out / "ensemble_pairs.csv")
    assert len(pairs) == 6 and set(pairs[0]) == {"a", "b", "pair_gain_over_better_member", "sat", "cka"}
    assert [r["measure"] for r in read(out / "ensemble_correlations.csv")] == ["sat", "cka"]
    grid = [r for r in read(out / "ensemble_lambda.csv") if r["measure"] == "sat"]
    chosen = next(r for r in rows if r["measure"] == "sat" and r["method"] == "greedy")
    best = max(float(r["val_softmax_acc"]) for r in grid)
    first_best = next(r for r in grid if float(r["val_softmax_acc"]) == best)  # ties: the smallest lambda
    assert float(chosen["lambda"]) == float(first_best["lambda"]) and chosen["members"] == first_best["members"]
    assert (out / "ensemble_accuracy.png").stat().st_size > 0 and (out / "ensemble_pair_gain.png").stat().st_size > 0
    # 4 models: a pair correlation with no interval, or one over nearly all of [-1, 1], is said, not printed;
    # one with a narrower interval (as the tiny zoo's numerics allow) is printed with it
    corr = read(out / "ensemble_correlations.csv")
    assert len(corr) == 2
    for c in corr:
        said = f"note: {c['measure']}: too few models for a rank correlation of pair similarity with pair gain (4 models"
        printed = f"{c['measure']}: Spearman rho(pair similarity"
        if sanity.interval_spans_range(float(c["ci_low"]), float(c["ci_high"])):
            assert said in text and printed not in text
        else:
            assert printed in text and said not in text
    assert "note: cka: layer" in text  # each measure's notes say whose they are
    again = tmp_path / "again"
    cli("ensemble", "--config", str(config), "--out", str(again), "--size", "2", "--measures", "sat,cka",
        "--draws", "4")
    assert (again / "ensembles.csv").read_text() == (out / "ensembles.csv").read_text()  # deterministic

def test_ensemble_needs_validation_images(tmp_path, capsys):
    raw = {**CONFIG, "data": {k: v for k, v in CONFIG["data"].items() if k != "validation"},
           "cache_dir": str(tmp_path / "cache")}
    path = tmp_path / "noval.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["ensemble", "--config", str(path), "--out", str(tmp_path / "o"), "--size", "2"]) != 0
    assert "needs validation images" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()  # refused before any training


def test_k_larger_than_the_pool_is_one_line_before_training(tmp_path, capsys):
    raw = {**CONFIG, "cache_dir": str(tmp_path / "cache")}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    assert main(["ensemble", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "o"), "--size", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "ensemble size 5 is larger than the pool's 4 models" in err
    assert not (tmp_path / "cache").exists()


def test_ensemble_rejects_unknown_measure_before_training(config, tmp_path, capsys):
    assert main(["ensemble", "--config", str(config), "--out", str(tmp_path), "--measures", "sat,ckaa"]) != 0
    assert "unknown measure 'ckaa'" in capsys.readouterr().err


def test_selection_never_sees_the_test_images():
    rng = np.random.default_rng(0)
    names = list("abcde")
    val = rng.dirichlet(np.ones(4), size=(5, 40))
    test = rng.dirichlet(np.ones(4), size=(5, 30))
    val_labels, test_labels = rng.integers(0, 4, 40), rng.integers(0, 4, 30)
    sim = rng.random((5, 5))
    a = study_ensembles(names, val, val_labels, test, test_labels, {"m": sim}, k=3, draws=3)
    b = study_ensembles(names, val, val_labels, test[:, ::-1], rng.integers(0, 4, 30), {"m": sim}, k=3, draws=3)
    assert [r["members"] for r in a.rows] == [r["members"] for r in b.rows]
    assert [r["test_softmax_acc"] for r in a.rows] != [r["test_softmax_acc"] for r in b.rows]
    c = study_ensembles(names, val[:, ::-1], val_labels, test, test_labels, {"m": sim}, k=3, draws=3)
    assert [r["members"] for r in a.rows] != [r["members"] for r in c.rows]  # the validation data do choose


def test_a_measure_missing_a_model_is_studied_on_the_rest():
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(3), size=(4, 20))
    labels = rng.integers(0, 3, 20)
    sim = rng.random((4, 4))
    sim[2, :] = sim[:, 2] = np.nan
    study = study_ensembles(list("abcd"), probs, labels, probs, labels, {"m": sim}, k=2, draws=1)
    assert any("no value for c" in n for n in study.notes)
    assert all("c" not in r["members"].split() for r in study.rows if r["measure"] == "m")


def test_distill_study_by_hand():
    teachers = ["t1", "t2", "t3", "t4"]
    runs = [(None, 0, 0.80), (None, 1, 0.82), ("t1", 0, 0.90), ("t1", 1, 0.88), ("t2", 0, 0.84), ("t2", 1, 0.86),
            ("t3", 0, 0.83), ("t3", 1, 0.81), ("t4", 0, 0.79), ("t4", 1, 0.81)]
    sim = {"up": {"t1": 3.0, "t2": 2.0, "t3": 1.0, "t4": 0.0}, "down": {"t1": 0.1, "t2": 0.2, "t3": 0.3, "t4": 0.4},
           "gap": {"t1": 1.0, "t2": math.nan, "t3": 0.5, "t4": 0.0}}
    study = study_distillation(teachers, sim, runs)
    assert study.baseline[0] == pytest.approx(0.81) and study.baseline[2] == 2
    assert study.gain == pytest.approx({"t1": 0.08, "t2": 0.04, "t3": 0.01, "t4": -0.01})
    assert study.accuracy["t1"][1] == pytest.approx(np.std([0.90, 0.88], ddof=1))
    assert study.correlations["up"].rho == pytest.approx(1.0)
    assert study.correlations["down"].rho == pytest.approx(-1.0)
    assert study.correlations["gap"].n_teachers == 3 and study.correlations["gap"].rho == pytest.approx(1.0)
    assert rank_teachers(teachers, sim)["gap"] == [("t1", 1.0, 1), ("t3", 0.5, 2), ("t4", 0.0, 3),
                                                   ("t2", sim["gap"]["t2"], None)]
    header, rows = study.table()
    assert rows[-1][0].startswith("(none") and rows[0][header.index("up_rank")] == 1
    shown = study.shown_rows()
    assert shown[1][:5] == ["t2", pytest.approx(0.85), pytest.approx(np.std([0.84, 0.86], ddof=1)),
                            pytest.approx(0.04), "2.000 (#2)"]
    assert shown[1][6] is None and shown[-1][0].startswith("(none") and shown[-1][4:] == [None, None, None]


def test_distill_command(config, tmp_path):
    out = tmp_path / "distill"
    text = cli("distill", "--config", str(config), "--out", str(out), "--measures", "sat,cka")
    ranking = read(out / "distill_ranking.csv")
    assert [r["measure"] for r in ranking] == ["sat"] * 3 + ["cka"] * 3
    assert sorted(r["teacher"] for r in ranking[:3]) == sorted(NAMES[1:]) and "--train distils" in text
    assert not (out / "distill_runs.csv").exists()
    rec = json.loads((out / "recommendation.json").read_text())
    assert rec["teacher"] == ranking[0]["teacher"] and rec["measure"] == "sat" and not rec["trained"]
    assert rec["ranking"] == [r["teacher"] for r in ranking[:3]] and text.rstrip().endswith(rec["verdict"])

    text = cli("distill", "--config", str(config), "--out", str(out), "--measures", "sat,cka", "--train")
    runs = read(out / "distill_runs.csv")
    assert len(runs) == 3 * 4 and all(r["train_seconds"] for r in runs)
    assert "the students train on the " in text and "training images (outside the test and validation" in text
    for r in runs:  # every student's accuracy is printed
        assert f"{float(r['validation_accuracy']):.3f}" in text and f"{float(r['test_accuracy']):.3f}" in text
    rec = json.loads((out / "recommendation.json").read_text())
    val = {t: np.mean([float(r["validation_accuracy"]) for r in runs if r["teacher"] == t]) for t in ["", *NAMES[1:]]}
    best = max(NAMES[1:], key=lambda t: val[t])
    assert rec["trained"] and rec["teacher"] == (best if val[best] > val[""] else None)
    if rec["teacher"]:
        gains = [float(a["test_accuracy"]) - float(b["test_accuracy"]) for a in runs if a["teacher"] == rec["teacher"]
                 for b in runs if b["teacher"] == "" and b["seed"] == a["seed"]]
        assert rec["gain_vs_labels_only"]["estimate"] == pytest.approx(np.mean(gains))
    summary = read(out / "distill_summary.csv")
    base = np.mean([float(r["test_accuracy"]) for r in runs if r["teacher"] == ""])
    for row in summary[:-1]:
        mean = np.mean([float(r["test_accuracy"]) for r in runs if r["teacher"] == row["teacher"]])
        assert float(row["test_acc_mean"]) == pytest.approx(mean, abs=1e-6)
        assert float(row["gain"]) == pytest.approx(mean - base, abs=1e-6)
    assert [r["measure"] for r in read(out / "distill_correlations.csv")] == ["sat", "cka"]

    cli("distill", "--config", str(config), "--out", str(out), "--measures", "sat,cka", "--train")
    cached = read(out / "distill_runs.csv")
    assert not any(r["train_seconds"] for r in cached)  # every student loaded from the cache
    assert [r["test_accuracy"] for r in cached] == [r["test_accuracy"] for r in runs]


@pytest.mark.parametrize("argv, message", [(["--student", "nope"], "'nope' is not a model of the config"),
                                           (["--teachers", "resnet_a,vit_micro"], "also listed as a teacher"),
                                           (["--seeds", "0"], "seeds must be a whole number")])
def test_distill_bad_roles(config, tmp_path, argv, message, capsys):
    assert main(["distill", "--config", str(config), "--out", str(tmp_path), *argv]) != 0
    assert message in capsys.readouterr().err


def test_distances_are_negated_and_matrices_follow_the_config_order(config, tmp_path, monkeypatch):
    import analysis.decisions.stages
    from analysis.decisions.stages import ensemble_stage, student_similarity
    from archsim.settings import EnsembleSettings
    from archsim.zoo.predictions import predict_run

    cfg = load_config(config)
    run_ = build_run(cfg, progress=False)
    order = NAMES[::-1]  # a measure may list the models in another order
    d = np.arange(16.0).reshape(4, 4)
    d = d + d.T
    seen = {}
    real = analysis.decisions.stages.study_ensembles

    def spy(names, *args, **kwargs):
        seen.update(args[4])
        return real(names, *args, **kwargs)

    monkeypatch.setattr(analysis.decisions.stages, "study_ensembles", spy)
    options = {"grassmann": {"score": "distance"}, "cka": {}}
    ensemble_stage(tmp_path, cfg, run_, predict_run(cfg, run_, progress=False),
                   {"grassmann": (order, d), "cka": (order, d)}, options, EnsembleSettings(size=2, draws=2))
    back = [order.index(n) for n in NAMES]
    assert np.array_equal(seen["grassmann"], -d[np.ix_(back, back)])
    assert np.array_equal(seen["cka"], d[np.ix_(back, back)])
    sims = student_similarity("resnet_a", ["vit_micro"], {"grassmann": (order, d)}, options)
    assert sims["grassmann"]["vit_micro"] == -d[order.index("resnet_a"), order.index("vit_micro")]


def test_mean_to_others_skips_the_diagonal_and_missing_values():
    from archsim.matrices import mean_to_others

    v = np.array([[9.0, 1.0, 2.0, np.nan],
                  [1.0, 9.0, np.nan, np.nan],
                  [np.nan, np.nan, 9.0, np.nan],
                  [4.0, 0.0, 5.0, 9.0]])
    assert mean_to_others(v, 0) == 1.5
    assert mean_to_others(v, 1) == 1.0
    assert mean_to_others(v, 2) is None
    assert mean_to_others(v, 3) == 3.0
    assert mean_to_others(np.ones((1, 1)), 0) is None


def test_labelled_notes_name_their_measure_once():
    from archsim.similarity.measure import SimilarityResult

    result = SimilarityResult(["a"], np.ones((1, 1)), notes=["layer x", "cka: already named", "ckafoo"])
    assert result.labelled_notes("cka") == ["cka: layer x", "cka: already named", "cka: ckafoo"]


def test_ensemble_and_distill_read_the_demos_matrices_and_leave_them(config, tmp_path, monkeypatch):
    from archsim.similarity.compute import cached_measure
    from archsim.similarity.registry import MEASURES, measure_options

    cfg = load_config(config)
    run_ = build_run(cfg, progress=False)
    out = tmp_path / "demo"
    (names, values), _, how = cached_measure(out, "cka", measure_options(cfg, "cka"), cfg, run_.on_validation(),
                                             progress=False, folder=out / "validation")
    assert how == "computed" and names == NAMES
    written = (out / "validation" / "cka.csv").read_bytes()
    real = MEASURES["cka"]

    def fail(*args, **kwargs):
        raise AssertionError("cka computed again")

    monkeypatch.setitem(MEASURES, "cka", dataclasses.replace(real, compute=fail))
    args = ("--config", str(config), "--out", str(out), "--measures", "cka")
    cli("ensemble", *args, "--size", "2", "--draws", "2")  # the demo's matrix on the validation images, read back
    pairs = read(out / "ensemble_pairs.csv")
    i, j = NAMES.index(pairs[0]["a"]), NAMES.index(pairs[0]["b"])
    assert float(pairs[0]["cka"]) == pytest.approx(values[i, j])

    monkeypatch.setitem(MEASURES, "cka", real)  # distill builds 3 of the 4 models: another key, so computed
    cli("distill", *args, "--student", "resnet_a", "--teachers", ",".join(NAMES[1:3]))
    assert (out / "validation" / "cka.csv").read_bytes() == written  # and the zoo's matrix is not overwritten

    monkeypatch.setitem(MEASURES, "cka", dataclasses.replace(real, compute=fail))
    (out / "validation" / "cka.csv").write_bytes(written + b"\n")  # an edited matrix is not trusted
    with pytest.raises(AssertionError, match="computed again"):
        cli("ensemble", *args, "--size", "2", "--draws", "2")


def test_under_shift_the_applications_select_and_score_on_the_shifted_images(config, tmp_path):
    """`shift:` in the config: the top-k ensemble's test accuracy and the students' scores are those of the
    shifted test images (recomputed here from the models and archsim.zoo.shift), not of the clean ones."""
    from analysis.decisions.ensemble_eval import evaluate_members, member_accuracies
    from archsim.zoo.predictions import class_probabilities
    from archsim.zoo.shift import application_images

    raw = yaml.safe_load(config.read_text())
    shifted = tmp_path / "shifted.yaml"
    shifted.write_text(yaml.safe_dump({**raw, "shift": {"severity": 0.8, "seed": 1}}))
    cfg = load_config(shifted)
    run = build_run(cfg, progress=False)
    val, test = application_images(cfg, run)
    kw = {"batch_size": cfg.batch_size, "device": cfg.torch_device()}
    val_probs, test_probs = class_probabilities(run.models, val, **kw), class_probabilities(run.models, test, **kw)
    top = list(np.argsort(-member_accuracies(val_probs, val.labels.numpy()), kind="stable")[:2])
    expected = evaluate_members(test_probs, test.labels.numpy(), top)["softmax_acc"]
    clean = evaluate_members(class_probabilities(run.models, run.images, **kw), run.images.labels.numpy(),
                             top)["softmax_acc"]
    assert expected != clean
    cli("ensemble", "--config", str(shifted), "--out", str(tmp_path / "ens"), "--size", "2", "--measures", "cka",
        "--draws", "2")
    row = read(tmp_path / "ens" / "ensembles.csv")[0]
    assert row["method"] == "top-k" and float(row["test_softmax_acc"]) == pytest.approx(expected, abs=1e-9)

    cli("distill", "--config", str(shifted), "--out", str(tmp_path / "d"), "--measures", "cka", "--train")
    cli("distill", "--config", str(config), "--out", str(tmp_path / "c"), "--measures", "cka", "--train")
    on_shift, on_clean = read(tmp_path / "d" / "distill_runs.csv"), read(tmp_path / "c" / "distill_runs.csv")
    assert not any(r["train_seconds"] for r in on_shift + on_clean)  # the same cached students, scored twice
    assert [r["test_accuracy"] for r in on_shift] != [r["test_accuracy"] for r in on_clean]


def _checkpoint_config(config, tmp_path, subset_seed: int, **extra):
    """The tiny zoo as checkpoints (fixed weights, no train section) with the test subset drawn with `subset_seed`."""
    from safetensors.torch import save_file

    raw = yaml.safe_load(config.read_text())
    run_ = build_run(load_config(config), progress=False)
    specs = []
    for s in raw["models"]:
        path = tmp_path / f"{s['label']}.safetensors"
        if not path.exists():
            save_file({k: v.contiguous() for k, v in run_.models[s["label"]].model.state_dict().items()}, str(path))
        specs.append({**s, "checkpoint": str(path)})
    raw = {k: v for k, v in raw.items() if k != "train"}
    raw.update(models=specs, data={**raw["data"], "subset": {**raw["data"]["subset"], "seed": subset_seed}}, **extra)
    path = tmp_path / f"checkpoints_{subset_seed}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_no_choice_changes_when_only_the_test_images_change(config, tmp_path):
    """The same checkpoints, the same validation images, another test subset (subset seed 1): every choice of
    `archsim ensemble` (members, lambda, rule, measure) and of `archsim distill` (the ranking, the teacher) stays;
    only the scores move."""
    chosen, scored = [], []
    for seed in (0, 1):
        path = _checkpoint_config(config, tmp_path, seed)
        ens, dis = tmp_path / f"ens{seed}", tmp_path / f"dis{seed}"
        cli("ensemble", "--config", str(path), "--out", str(ens), "--size", "2", "--measures", "sat,cka,disagreement",
            "--draws", "3")
        cli("distill", "--config", str(path), "--out", str(dis), "--measures", "sat,cka")  # a checkpoint student
        rec, teach = json.loads((ens / "recommendation.json").read_text()), json.loads(
            (dis / "recommendation.json").read_text())
        rows = read(ens / "ensembles.csv")
        chosen.append(([(r["measure"], r["method"], r["members"], r["lambda"], r["val_softmax_acc"]) for r in rows],
                       read(ens / "ensemble_lambda.csv"), {k: rec[k] for k in ("members", "rule", "measure", "lambda")},
                       rec["top_k"]["members"], rec["best_single"]["name"], read(dis / "distill_ranking.csv"),
                       teach["teacher"]))
        scored.append([r["test_softmax_acc"] for r in rows])
        ids = build_run(load_config(path), progress=False).images.ids
        scored[-1].append(ids)
    assert chosen[0] == chosen[1]
    assert scored[0][-1] != scored[1][-1]  # the test images did change


def test_the_trained_teacher_choice_never_sees_the_test_images(config, tmp_path):
    """distill --train in process: the same students (cached), the test images swapped for other images; the pick
    and the validation figures stay, the test figures move."""
    from analysis.decisions.stages import distill_stage

    cfg = load_config(config)
    run_ = build_run(cfg, progress=False)
    other = dataclasses.replace(run_, images=run_.training.subset(range(len(run_.images))), _validation_view=None)
    rng = np.random.default_rng(0)
    sims = {"cka": (NAMES, rng.random((4, 4)))}
    a = distill_stage(tmp_path / "a", cfg, run_, sims, {}, cfg.distill, train=True, progress=False)
    b = distill_stage(tmp_path / "b", cfg, other, sims, {}, cfg.distill, train=True, progress=False)
    assert a.recommendation.teacher == b.recommendation.teacher
    assert a.recommendation.validation_accuracy == b.recommendation.validation_accuracy
    assert [r.test_accuracy for r in a.runs] != [r.test_accuracy for r in b.runs]


def test_distill_ranks_teachers_of_a_checkpoint_student_and_refuses_to_train_it(config, tmp_path, capsys):
    path = _checkpoint_config(config, tmp_path, 0)
    text = cli("distill", "--config", str(path), "--out", str(tmp_path / "d"), "--measures", "cka")
    assert "verdict: " in text and (tmp_path / "d" / "recommendation.json").is_file()
    assert main(["distill", "--config", str(path), "--out", str(tmp_path / "e"), "--measures", "cka", "--train"]) == 2
    assert "--train distils it from scratch here; without --train the teachers are ranked" in capsys.readouterr().err


def test_a_pool_of_one_checkpoint_is_refused(config, tmp_path, capsys):
    raw = yaml.safe_load(_checkpoint_config(config, tmp_path, 0).read_text())
    first = raw["models"][0]
    raw["models"] = [{**first, "label": f"copy{i}"} for i in range(3)]
    path = tmp_path / "same.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["ensemble", "--config", str(path), "--out", str(tmp_path / "o"), "--size", "2", "--measures", "cka",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "are one checkpoint: the same architecture with the same weights" in err


def test_distill_needs_validation_images(config, tmp_path, capsys):
    raw = yaml.safe_load(config.read_text())
    raw["data"] = {k: v for k, v in raw["data"].items() if k != "validation"}
    raw["cache_dir"] = str(tmp_path / "cache")
    path = tmp_path / "noval.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["distill", "--config", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "teachers are ranked on validation images" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()  # refused before any training


def test_a_model_at_chance_is_named_with_its_likely_causes(config, tmp_path):
    raw = yaml.safe_load(_checkpoint_config(config, tmp_path, 0).read_text())
    raw["models"].append({"name": "resnet18", "label": "untrained", "input_size": 16, "seed": 5,
                          "kwargs": {"num_classes": 10, "channels": [16, 32, 64, 128]}})  # random weights: chance
    path = tmp_path / "chance.yaml"
    path.write_text(yaml.safe_dump(raw))
    text = cli("ensemble", "--config", str(path), "--out", str(tmp_path / "o"), "--size", "2", "--measures", "cka",
               "--draws", "2")
    assert "model 'untrained': clean accuracy" in text and "check its input_size, mean/std, in_chans" in text
    assert "model 'resnet_a': clean accuracy" not in text

"""`archsim sat --pairs`: a budgeted run through the run store, completed; it resumes, grows and adds models."""

import math

import numpy as np
import pytest
from safetensors.torch import load_file, save_file
from store_fixtures import finished_runs, runs_per_unit, write_config

from archsim.cli import main
from archsim.config import load_config
from archsim.matrices import read_matrix
from archsim.pipeline import budgeted_sat
from archsim.zoo.build import build_run

N = 8  # 3 tiny models and 5 perturbed copies (other content, so other models to the store)


@pytest.fixture(scope="module")
def specs(zoo_specs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("budget_zoo")
    base = list(zoo_specs.values())
    out = list(base)
    for k in range(N - len(base)):
        state = load_file(base[k % len(base)]["checkpoint"])
        key = next(key for key, v in state.items() if v.is_floating_point())
        state[key] = state[key] + 1e-3 * (k + 1)  # each copy its own content
        save_file(state, str(folder / f"copy{k}.safetensors"))
        out.append({**base[k % len(base)], "checkpoint": str(folder / f"copy{k}.safetensors"), "label": f"copy{k}"})
    return out


def sat(config, out, capsys, *extra):
    code = main(["sat", "--config", str(config), "--out", str(out), "--no-progress", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def pairs_csv(out):
    import csv
    with open(out / "pairs.csv") as f:
        return list(csv.DictReader(f))


def measured(out):
    return {(r["a"], r["b"]) for r in pairs_csv(out) if r["a"] != r["b"] and r["predicted"] == "0"}


def test_budgeted_run_measures_the_budget_and_completes_the_rest(specs, tmp_path, capsys):
    config = write_config(tmp_path / "run.yaml", specs)
    code, out, _ = sat(config, tmp_path / "b", capsys, "--pairs", "48")
    assert code == 0, out
    # 48 evaluations: the 8 white-box ones and both directions of 20 of the 28 pairs
    assert "budget: 48 of 64 evaluations (75%); 20 of 28 pairs measured, 8 completed" in out
    assert finished_runs(tmp_path / "b") == {"attack": 8, "evaluation": 48, "noise": 8}
    rows = pairs_csv(tmp_path / "b")
    assert sum(r["predicted"] == "1" for r in rows) == 8
    names, values = read_matrix(tmp_path / "b" / "sat.csv")
    assert np.isfinite(values).all()
    for r in rows:  # a completed pair has its interval around its value, a measured one the bootstrap's
        assert float(r["ci_low"]) <= float(r["sat"]) <= float(r["ci_high"])
    assert (tmp_path / "b" / "sat_heatmap.png").stat().st_size > 0
    assert (tmp_path / "b" / "budget.csv").read_text().startswith("models,evaluations")

    # the measured pairs hold exactly what a full run measures
    code, _, _ = sat(config, tmp_path / "full", capsys)
    full_names, full = read_matrix(tmp_path / "full" / "sat.csv")
    assert full_names == names
    index = {n: i for i, n in enumerate(names)}
    for a, b in measured(tmp_path / "b"):
        assert values[index[a], index[b]] == pytest.approx(full[index[a], index[b]], abs=1e-6)


def test_raising_the_budget_reuses_every_unit(specs, tmp_path, capsys):
    config = write_config(tmp_path / "run.yaml", specs)
    run = tmp_path / "run"
    assert sat(config, run, capsys, "--pairs", "30")[0] == 0
    small = measured(run)
    code, out, _ = sat(config, run, capsys, "--pairs", "0.75")
    assert code == 0
    assert "ran 0 attack and 18 evaluation units; 46 reused" in out  # 30 evaluations + 8 attacks + 8 noise reused
    assert small < measured(run)
    assert all(r.count("done") == 1 and len(r) == 1 for r in runs_per_unit(run).values())  # nothing ran twice


@pytest.mark.parametrize("extra, kill_at, done_before", [
    ((), 3, (8 + 8, 64)),  # after the attacks and the design, the first active round: killed after its first unit
    (("--pilot", "0.25"), 1, (0, 8 + 8 + 56))])  # the attacks, noise controls and pilot: killed after one unit
def test_a_killed_budgeted_run_resumes_like_an_uninterrupted_one(specs, tmp_path, capsys, monkeypatch, extra,
                                                                 kill_at, done_before):
    config = write_config(tmp_path / "run.yaml", specs)
    assert sat(config, tmp_path / "whole", capsys, "--pairs", "48", *extra)[0] == 0

    real, calls = budgeted_sat.run_plan, []

    def killed_in_round_two(store, plan, executor, **kw):
        calls.append(1)
        if len(calls) == kill_at:
            claim_one = type(executor).submit

            def submit_then_die(self, job):
                monkeypatch.setattr(type(executor), "submit", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
                return claim_one(self, job)
            monkeypatch.setattr(type(executor), "submit", submit_then_die)
        return real(store, plan, executor, **kw)

    monkeypatch.setattr(budgeted_sat, "run_plan", killed_in_round_two)
    assert main(["sat", "--config", str(config), "--out", str(tmp_path / "run"), "--no-progress", "--pairs",
                 "48", *extra]) == 130  # interrupted, what was finished kept
    monkeypatch.undo()
    before = sum(finished_runs(tmp_path / "run").values())
    assert done_before[0] < before < done_before[1]  # part of the work was done
    assert sat(config, tmp_path / "run", capsys, "--pairs", "48", *extra)[0] == 0
    assert measured(tmp_path / "run") == measured(tmp_path / "whole")
    assert (tmp_path / "run" / "sat.csv").read_text() == (tmp_path / "whole" / "sat.csv").read_text()
    assert all(r.count("done") == 1 for r in runs_per_unit(tmp_path / "run").values())


def test_adding_models_under_a_budget(specs, tmp_path, capsys):
    """Two models added to a full run of six: the budget is half of their 2 x 6 x 2 + 2^2 = 28 evaluations, the
    2 white-box ones and 6 pairs, all of them with an added model; the six's 36 evaluations are reused."""
    run = tmp_path / "run"
    assert sat(write_config(tmp_path / "six.yaml", specs[:6]), run, capsys)[0] == 0
    cfg = load_config(write_config(tmp_path / "eight.yaml", specs))
    added = [s["label"] for s in specs[6:]]
    done, report = budgeted_sat.budgeted_sat_in_store(run, cfg, build_run(cfg, progress=False), 0.5, added=added,
                                                      progress=False)
    assert report.ran == {"attack": 2, "evaluation": 14, "noise": 2} and report.reused == 36 + 6 + 6
    new_pairs = {(a, b) for a in range(8) for b in range(a + 1, 8) if b >= 6 and done.result.is_observed[a, b]}
    assert len(new_pairs) == 6 and {6, 7} <= {i for p in new_pairs for i in p}
    assert done.pairs_completed == 28 - 15 - 6  # the six's 15 pairs measured before, 6 chosen, the rest completed


@pytest.mark.parametrize("budget, message", [
    ("0", "--pairs must be a fraction in (0, 1]"), ("-1", "--pairs must be a fraction"),
    ("2.5", "must be whole"), ("15", "too small to give each of the 8 models an observed pair: it needs at least 16")])
def test_bad_budgets_stop_before_any_work(specs, tmp_path, capsys, budget, message):
    code, out, err = sat(write_config(tmp_path / "run.yaml", specs), tmp_path / "run", capsys, "--pairs", budget)
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "store.sqlite").exists()


def test_dry_run_reports_the_budget(specs, tmp_path, capsys):
    code, out, _ = sat(write_config(tmp_path / "run.yaml", specs), tmp_path / "run", capsys, "--dry-run",
                       "--pairs", "0.5")
    assert code == 0
    assert "pair budget: 32 of the 64 evaluations (50%)" in out and "32 evaluation" in out


def test_random_pair_choice_measures_the_seeded_random_pairs(specs, tmp_path, capsys):
    """--pair-choice random: the design's matchings, then seeded random pairs, whatever the outcomes."""
    from archsim.sat import pair_choice
    config = write_config(tmp_path / "run.yaml", specs)
    code, out, _ = sat(config, tmp_path / "r", capsys, "--pairs", "48", "--pair-choice", "random")
    assert code == 0, out
    labels = [s["label"] for s in specs]
    expected = pair_choice.choose(lambda new: None, N, 20, seed=load_config(config).seed, active=False)
    assert {frozenset(p) for p in measured(tmp_path / "r")} == {frozenset((labels[i], labels[j])) for i, j in expected}


def test_a_pilot_runs_every_pair_on_its_images_and_is_combined_with_the_completion(specs, tmp_path, capsys):
    """--pilot 0.25: every ordered pair evaluated on the first ceil(0.25 n) images of the pilot order, its cost
    taken off the budget; its outcomes are the full run's on those images; a completed pair's value is the
    precision-weighted mean of the completion's prediction and its pilot SAT (archsim.sat.pilot)."""
    from archsim.pipeline.sat_in_store import plan_run
    from archsim.sat.pilot import pilot_images
    from archsim.store import RunStore

    config = write_config(tmp_path / "run.yaml", specs)
    run = tmp_path / "run"
    code, out, _ = sat(config, run, capsys, "--pairs", "48", "--pilot", "0.25")
    assert code == 0, out
    cfg = load_config(config)
    run_ = build_run(cfg, progress=False)
    n_images = len(run_.images.labels)
    images = math.ceil(0.25 * n_images)
    pairs = int((48 - 8 - 56 * images / n_images) // 2)
    assert finished_runs(run) == {"attack": 8, "evaluation": 8 + 2 * pairs, "noise": 8, "pilot": 56}
    assert f"{pairs} of 28 pairs measured" in out and f"a pilot of every pair on {images} images" in out
    assert "8 noise-control units, 56 pilot units" in out
    assert (run / "budget.csv").read_text().splitlines()[1].split(",")[-2] == str(images)
    assert main(["store", "info", str(run)]) == 0
    assert ["pilot", "56", "0", "0"] in [line.split() for line in capsys.readouterr().out.splitlines()]

    done, report = budgeted_sat.budgeted_sat_in_store(run, cfg, run_, 48, pilot=0.25, progress=False)
    assert sum(report.ran.values()) == 0  # everything reused
    c, pilot = done.completion, done.pilot
    a, b = map(int, np.argwhere(np.triu(done.predicted, 1))[0])
    m = pilot.result.n_common[a, b] * 2
    p = max((pilot.result.errors[a, b] + pilot.result.errors[b, a]) / m, 1 / m)
    v_p, v_c = (1 - p) / (p * m) * (1 - images / n_images), c.cv_rmse ** 2
    expected = (c.values[a, b] / v_c + pilot.sat[a, b] / v_p) / (1 / v_c + 1 / v_p)
    assert done.values[a, b] == pytest.approx(expected, rel=1e-9)

    assert sat(config, run, capsys)[0] == 0  # the full run in the same store
    store = RunStore(run, create=False)
    try:
        full = store.sat_result(plan_run(store, cfg, run_), cfg.eps_s)
    finally:
        store.close()
    on_pilot = np.sort(pilot_images(n_images, images))
    np.testing.assert_array_equal(pilot.result.adv_correct, full.adv_correct[:, :, on_pilot])
    assert (pilot.result.adv_correct >= 0).any()


@pytest.mark.parametrize("extra, message", [
    (["--pairs", "48", "--pilot", "1"], "--pilot must be a share of the images in (0, 1)"),
    (["--pilot", "0.2"], "--pilot is part of a pair budget: give --pairs too"),
    (["--pairs", "20", "--pilot", "0.2"], "it needs at least 28 (8 white-box + 2 x 4 pairs + 11.2 for the pilot)")])
def test_bad_pilots_stop_before_any_work(specs, tmp_path, capsys, extra, message):
    code, out, err = sat(write_config(tmp_path / "run.yaml", specs), tmp_path / "run", capsys, *extra)
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "store.sqlite").exists()


def test_dry_run_reports_the_pilot(specs, tmp_path, capsys):
    code, out, _ = sat(write_config(tmp_path / "run.yaml", specs), tmp_path / "run", capsys, "--dry-run",
                       "--pairs", "0.5", "--pilot", "0.2")
    assert code == 0
    assert "56 pilot" in out and "pair budget: 20 of the 64 evaluations" in out

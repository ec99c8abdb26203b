"""Adaptive images (`archsim.sat.adaptive`, `archsim pair --target-width`): the interval keeps its coverage under the
stopping rule, the rule stops early on an easy pair and uses every image on a hard one, the all-images interval is
the non-adaptive one, and the command line runs the rounds through the store."""

import math
import re

import numpy as np
import pytest
import yaml

from archsim.cli import main
from archsim.errors import ArchsimError
from archsim.sat.adaptive import adaptive_pair, check_adaptive, image_order, sat_interval, simulate_coverage
from archsim.sat.formula import sat_score
from archsim.sat.intervals import pair_intervals

EPS_S = 0.01


@pytest.mark.parametrize("p_ab, p_ba, rho, width, rounds", [
    (0.06, 0.04, 0.5, 0.8, 200),  # a low rate: stops on a count of transfers, after several rounds
    (0.3, 0.2, 0.3, 0.4, 100),  # a middling rate: a few rounds
    (0.9, 0.8, 0.5, 0.2, 100),  # a high rate: mostly the first round
])
def test_coverage_under_adaptive_stopping_is_within_two_points_of_95(p_ab, p_ba, rho, width, rounds):
    """2,000 seeded runs per setting (Monte Carlo standard error 0.5 points): the interval reported at the
    stopping time holds the true SAT in 93% to 97% of them, and the rule really did stop adaptively."""
    c = simulate_coverage(p_ab, p_ba, rho, target_width=width, round_images=rounds, max_images=20_000, runs=2000,
                          seed=1)
    assert 0.93 <= c.coverage <= 0.97, c
    assert c.met_target == 1.0 and c.mean_images < c.max_images, c  # every run stopped on the target, none ran out


def test_the_coverage_check_can_fail():
    """Outside the range the rule is documented for -- rounds of one image and a target of 2, so that it stops on a
    handful of transfers at a pooled rate of 0.05 -- the same simulation measures the undercoverage (90.9%)."""
    c = simulate_coverage(0.05, 0.05, 0.0, target_width=2.0, round_images=1, max_images=3000, runs=1000, seed=1)
    assert c.coverage < 0.93, c


def test_the_rule_stops_early_on_an_easy_pair_and_uses_all_images_on_a_hard_one():
    rng = np.random.default_rng(0)
    easy = rng.choice(3, size=2000, p=[0.2, 0.3, 0.5])  # a pooled rate of 0.65
    hard = rng.choice(3, size=2000, p=[0.98, 0.015, 0.005])  # 0.0125: ~50 transfers in 2,000 images
    for e, used, reason in ((easy, 100, "target"), (hard, 2000, "all images")):
        seen = []

        def evaluate_round(indices, e=e, seen=seen):
            seen.extend(indices.tolist())
            return np.bincount(e[indices], minlength=3)

        out = adaptive_pair(evaluate_round, len(e), target_width=0.3, round_images=100, eps_s=EPS_S, seed=0)
        assert (out.images_used, out.reason, out.rounds) == (used, reason, used // 100)
        assert len(seen) == len(set(seen)) == used  # no image evaluated twice
        assert seen == image_order(len(e), 0)[:used].tolist()
        assert (out.high - out.low <= 0.3) == (reason == "target")
        assert f"used {used} of 2000 images in {used // 100} round(s)" in out.line()


def test_an_all_equal_round_never_stops_the_rule():
    """No transfer in the first rounds gives a width-0 interval at ln(eps_s): the rule goes on."""
    e = np.zeros(1000, dtype=int)
    e[image_order(1000, 0)[350]] = 2  # the first transfer is in round 4
    out = adaptive_pair(lambda idx: np.bincount(e[idx], minlength=3), 1000, target_width=50.0, round_images=100,
                        eps_s=EPS_S, seed=0)
    assert (out.rounds, out.reason) == (4, "target")


def test_the_interval_from_all_images_is_the_non_adaptive_one():
    rng = np.random.default_rng(3)
    e = rng.choice(3, size=700, p=[0.7, 0.2, 0.1])
    out = adaptive_pair(lambda idx: np.bincount(e[idx], minlength=3), len(e), target_width=0.01, round_images=64,
                        eps_s=EPS_S, seed=5)
    counts = np.bincount(e, minlength=3)
    low, high = pair_intervals(counts[None])
    assert out.reason == "all images" and out.images_used == 700 and out.rounds == 11
    assert out.counts.tolist() == counts.tolist()
    assert (out.low, out.high) == (float(sat_score(low[0], EPS_S)), float(sat_score(high[0], EPS_S)))
    assert (out.low, out.high) == sat_interval(counts, EPS_S)


@pytest.mark.parametrize("width, rounds, n, message", [
    (0, 10, 100, "--target-width must be a positive number"),
    (-0.5, 10, 100, "--target-width must be a positive number"),
    (math.nan, 10, 100, "--target-width must be a positive number"),
    (0.5, 0, 100, "--round-images must be a whole number of at least 1; got 0"),
    (0.5, 101, 100, "--round-images 101 is more than the run's 100 images"),
])
def test_bad_adaptive_input_is_an_archsim_error(width, rounds, n, message):
    with pytest.raises(ArchsimError, match=re.escape(message)):
        check_adaptive(width, rounds, n)


def _config(tmp_path, zoo_specs):
    config = tmp_path / "pair.yaml"
    config.write_text(yaml.safe_dump({"seed": 0, "device": "cpu",
                                      "models": [zoo_specs["resnet"], zoo_specs["resnet_seed1"]],
                                      "data": {"source": "digits", "resolution": 16,
                                               "subset": {"how": "balanced", "n": 3, "seed": 0}},
                                      "attack": {"eps": 0.15, "alpha": 0.04, "steps": 3}}))
    return config


def test_pair_with_a_target_width_runs_in_rounds_through_the_store(tmp_path, zoo_specs, capsys):
    config, out_dir = _config(tmp_path, zoo_specs), tmp_path / "run"
    argv = ["pair", "resnet", "resnet_seed1", "--config", str(config), "--no-progress", "--round-images", "10",
            "--out", str(out_dir)]
    # an unreachable width: all three rounds, each its own image set, each image attacked once
    assert main(argv + ["--target-width", "0.001"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("SAT(resnet, resnet_seed1) = ")
    assert re.fullmatch(r"adaptive images: used 30 of 30 images in 3 round\(s\) of up to 10; stopped: all images "
                        r"used, (interval width \d+\.\d\d|no interval) \(target 0.001 not reached\)", text[1]), text[1]
    assert "2 models, 30 of 30 images; ran 6 attack and 12 evaluation units" in "\n".join(text)
    # again in the same folder: every round is in the store already
    assert main(argv + ["--target-width", "0.001"]) == 0
    assert "ran 0 attack and 0 evaluation units" in capsys.readouterr().out
    # any width is at most ln(100) - ln(eps_s) = 9.2: the first round with a measured interval stops it
    assert main(argv + ["--target-width", "10"]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    m = re.fullmatch(r"adaptive images: used (\d+) of 30 images in (\d) round\(s\) of up to 10; stopped: interval "
                     r"width (\d+\.\d\d) <= target 10", line)
    assert m and int(m.group(1)) == 10 * int(m.group(2)) and float(m.group(3)) <= 10, line


@pytest.mark.parametrize("extra, message", [
    (["--target-width", "0"], "--target-width must be a positive number"),
    (["--target-width", "0.5", "--round-images", "0"], "--round-images must be a whole number of at least 1"),
    (["--target-width", "0.5", "--round-images", "31"], "--round-images 31 is more than the run's 30 images"),
    (["--round-images", "10"], "--round-images sets the rounds of --target-width; give --target-width too"),
])
def test_pair_bad_adaptive_input_is_one_line(tmp_path, zoo_specs, capsys, extra, message):
    status = main(["pair", "resnet", "resnet_seed1", "--config", str(_config(tmp_path, zoo_specs)), "--no-progress",
                   *extra])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and message in err, err

"""The cost model (archsim.sat.cost) and `archsim sat --dry-run`: hand counts, the store's own plan, nothing written."""

import math
import os
import time
from pathlib import Path

import pytest
from store_fixtures import perturbed_checkpoint, write_config
from torch import nn

from archsim.cli import main
from archsim.config import load_config
from archsim.pipeline.dry_run import dry_run
from archsim.sat import cost
from archsim.zoo.build import build_run

ROOT = Path(__file__).resolve().parent.parent


def test_unit_flops_by_hand():
    assert cost.unit_flops("attack", 10.0, None, 7, 5) == 7 * 11 * 10.0  # clean pass + 5 x (forward + backward)
    assert cost.unit_flops("noise", 10.0, None, 7, 5) == 70.0
    assert cost.unit_flops("evaluation", 10.0, 3.0, 7, 5) == 21.0  # the target's forward pass, not the source's
    with pytest.raises(ValueError):
        cost.unit_flops("train", 1.0, None, 1, 1)


def test_run_cost_is_the_sum_over_every_unit():
    flops = {"a": 2.0, "b": 5.0, "c": 11.0}
    units = [(k, s, None) for s in flops for k in ("attack", "noise")] + [("evaluation", s, t) for s in flops
                                                                           for t in flops]
    whole, summed = cost.run_cost(flops.values(), 13, 10), cost.units_cost(units, flops, 13, 10)
    assert whole.flops == summed.flops and whole.units == summed.units == {"attack": 3, "evaluation": 9, "noise": 3}
    # n ((2 + 2 steps) sum f + N sum f): 13 (22 x 18 + 3 x 18)
    assert whole.total_flops == 13 * (22 * 18 + 3 * 18)
    assert cost.run_cost(flops.values(), 13, 10, noise=False).total_flops == 13 * (21 * 18 + 3 * 18)
    assert cost.attack_steps({"steps": 7}) == 7 and cost.attack_steps({"backend": "torchattacks", "name": "FGSM"}) == 1


@pytest.mark.parametrize("config", [{}, {"steps": 4}, {"backend": "torchattacks", "name": "PGD"},
                                    {"backend": "torchattacks", "name": "PGDL2", "steps": 3},
                                    {"backend": "torchattacks", "name": "EOTPGD"},
                                    {"backend": "torchattacks", "name": "FGSM"}])
def test_attack_steps_are_the_gradients_the_attack_really_takes(config):
    """Counted, not read back: the model's calls that build a graph while the attack runs on one batch
    ({backend: torchattacks, name: PGD} has no `steps` key and runs torchattacks' default 10; EOTPGD 2 per step)."""
    import torch

    from attacks import make_attack

    graphs = []
    linear = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3))

    def model(x):
        graphs.append(torch.is_grad_enabled() and x.requires_grad)
        return linear(x)

    make_attack(model, config)(torch.rand(2, 3, 4, 4), torch.zeros(2, dtype=torch.long))
    assert cost.attack_steps(config) == sum(graphs)


@pytest.mark.parametrize("noise", [True, False])
def test_adding_a_model_costs_the_difference_of_two_runs(noise):
    flops = [3.0, 8.0, 1.5, 40.0]
    added = cost.added_model_cost(6.0, flops, 50, 10, noise=noise)
    before, after = cost.run_cost(flops, 50, 10, noise=noise), cost.run_cost(flops + [6.0], 50, 10, noise=noise)
    assert math.isclose(added.total_flops, after.total_flops - before.total_flops)
    assert added.units == {k: after.units[k] - before.units[k] for k in after.units}  # 1 attack, 2N+1 evaluations
    assert added.units["evaluation"] == 9


def test_forward_flops_counts_multiply_adds_twice():
    linear = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 10))
    assert cost.forward_flops(linear, (3, 4, 4)) == 2 * 48 * 10
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    assert cost.forward_flops(conv, (3, 6, 6)) == 2 * (3 * 9) * 8 * 36


def test_an_attack_step_costs_two_forward_passes():
    """The backward to the input of a conv or linear layer has the forward's multiply-adds (no weight gradient)."""
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 36, 10))
    forward, step = cost.forward_flops(net, (3, 6, 6)), cost.attack_step_flops(net, (3, 6, 6))
    assert forward == 2 * 27 * 8 * 36 + 2 * 288 * 10 and step == cost.STEP_FORWARDS * forward
    assert all(p.requires_grad for p in net.parameters()) and all(p.grad is None for p in net.parameters())


def test_matmul_rate_and_time():
    rate = cost.matmul_rate("cpu", size=256, seconds=0.05)
    assert 1e8 < rate < 1e13  # 0.1 GFLOP/s to 10 TFLOP/s: a CPU's range
    c = cost.run_cost([1e9], 10, 1).with_rate(1e9)
    assert c.seconds == pytest.approx(c.total_flops / 1e9)
    assert cost.format_seconds(42) == "42 s" and cost.format_seconds(750) == "12.5 min"
    assert cost.format_seconds(3 * 3600) == "3.0 h" and cost.format_seconds(5 * 86400) == "5.0 days"


def _summary_numbers(text: str) -> dict:
    line = next(x for x in text.splitlines() if x.startswith("units to run"))
    words = line.replace(",", "").replace("(", "").replace(")", "").replace(";", "").split()
    return {"attack": int(words[3]), "evaluation": int(words[5]), "noise": int(words[7]), "reused": int(words[-1])}


def test_dry_run_follows_the_store(zoo_specs, tmp_path, capsys):
    specs = list(zoo_specs.values())
    config = write_config(tmp_path / "run.yaml", specs[:2])
    out = tmp_path / "run"
    assert main(["sat", "--config", str(config), "--out", str(out), "--no-progress", "--dry-run"]) == 0
    assert _summary_numbers(capsys.readouterr().out) == {"attack": 2, "evaluation": 4, "noise": 2, "reused": 0}
    assert not out.exists()  # no store created
    assert main(["sat", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    before = (out / "store.sqlite").stat().st_mtime_ns, (out / "store.sqlite").read_bytes()
    capsys.readouterr()
    assert main(["sat", "--config", str(config), "--out", str(out), "--no-progress", "--dry-run"]) == 0
    assert _summary_numbers(capsys.readouterr().out) == {"attack": 0, "evaluation": 0, "noise": 0, "reused": 8}
    # model N+1: 1 attack, 2N+1 evaluations, 1 noise unit; the store file is left as it was
    third = perturbed_checkpoint(specs[2], tmp_path / "x.safetensors")
    bigger = write_config(tmp_path / "more.yaml", specs[:2] + [third])
    assert main(["sat", "--config", str(bigger), "--out", str(out), "--no-progress", "--dry-run"]) == 0
    assert _summary_numbers(capsys.readouterr().out) == {"attack": 1, "evaluation": 5, "noise": 1, "reused": 8}
    assert ((out / "store.sqlite").stat().st_mtime_ns, (out / "store.sqlite").read_bytes()) == before
    # bf16 is a separate set of results: everything to run again
    assert main(["sat", "--config", str(config), "--out", str(out), "--no-progress", "--dry-run",
                 "--precision", "bf16"]) == 0
    assert _summary_numbers(capsys.readouterr().out)["reused"] == 0


def test_dry_run_cost_and_models_to_train(zoo_specs, tmp_path):
    specs = list(zoo_specs.values())
    untrained = {"name": "resnet10t", "label": "to_train", "input_size": 16, "kwargs": {"num_classes": 10}}
    config = write_config(tmp_path / "run.yaml", specs[:2] + [untrained])
    raw = config.read_text() + "train: {epochs: 1}\n"
    config.write_text(raw)
    cfg = load_config(config)
    run_ = build_run(cfg, progress=False, train=False)
    plan = dry_run(tmp_path / "run", cfg, run_)
    assert plan.to_train == ["to_train"]
    # every unit of the model still to train (N^2 - K^2 = 5 evaluations), the others' too (empty store)
    assert plan.cost.units == {"attack": 3, "evaluation": 9, "noise": 3} and plan.reused == 0
    flops = {label: cost.forward_flops(run_.models[label], (3, 16, 16)) for label in plan.flops}
    assert plan.flops == flops and all(f > 0 for f in flops.values())
    expected = cost.run_cost(flops.values(), 60, cfg.attack["steps"])
    assert plan.cost.total_flops == pytest.approx(expected.total_flops)
    assert plan.cost.seconds == pytest.approx(expected.total_flops / (cost.EFFICIENCY * plan.matmul_rate))
    assert "models still to train: 1 (to_train)" in plan.summary() and "training not included" in plan.summary()


def test_dry_run_on_the_demo_config_with_an_empty_cache(tmp_path, capsys):
    start = time.perf_counter()
    assert main(["sat", "--config", str(ROOT / "configs" / "demo.yaml"), "--out", str(tmp_path / "demo"),
                 "--dry-run", "--device", "cpu"]) == 0
    seconds = time.perf_counter() - start
    out = capsys.readouterr().out
    assert "models still to train: 16" in out
    assert _summary_numbers(out) == {"attack": 16, "evaluation": 256, "noise": 16, "reused": 0}
    assert not (tmp_path / "demo").exists() and not any(Path(os.environ["ARCHSIM_CACHE"]).rglob("*.safetensors"))
    assert seconds < 60, seconds  # about 5 s here (the data and 16 small models), nothing trained

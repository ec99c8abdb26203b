"""`archsim pair` (the README's one-liner), `archsim sat --add` (its cost and the new model's row), and the user's own
architecture (`package.module:callable`) through `archsim sat` and `archsim ensemble`."""

import re
import shlex
from pathlib import Path

import pytest
import timm
import torch
import yaml
from safetensors.torch import save_file
from store_fixtures import finished_runs

from archsim.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"
FAST = ["--resolution", "16", "--no-progress"]
USER_MODULE = '''
from torch import nn


def small_cnn(num_classes=10):
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, num_classes))
'''


def save_model(model, path):
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def run_cli(capsys, argv):
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def readme_pair_line() -> list[str]:
    """The README's `archsim pair` one-liner, as arguments."""
    lines = [line for line in README.read_text().splitlines() if line.startswith("archsim pair ")]
    assert len(lines) == 1, lines
    return shlex.split(lines[0])[1:]


def test_the_readme_pair_one_liner_on_checkpoints_the_test_saves(tmp_path, monkeypatch, capsys):
    """The line as written, its architecture swapped for timm's tiny test model so that it runs in seconds: the
    checkpoints it names are saved here, and in_chans (grey) and num_classes come off them."""
    argv = readme_pair_line()
    arch = re.match(r"\w+=(\w+)=", argv[1]).group(1)
    monkeypatch.chdir(tmp_path)
    for seed in (0, 1):
        torch.manual_seed(seed)
        save_model(timm.create_model("test_efficientnet", num_classes=10, in_chans=1), f"seed{seed}.safetensors")
    argv = [a.replace(f"={arch}=", "=test_efficientnet=") for a in argv]
    argv[argv.index("--n") + 1] = "2"
    status, out, err = run_cli(capsys, argv + FAST)
    assert status == 0, err
    lines = out.splitlines()
    assert re.match(r"SAT\(s0, s1\) = -?\d+\.\d\d (\[-?\d+\.\d\d, -?\d+\.\d\d\]|no interval), 95% bootstrap over "
                    r"\|X_AB\| = \d+ images both classify correctly", lines[0]), lines[0]
    assert re.match(r"s0 -> s1: (\d+\.\d%|n/a) of s0's adversarial images fool s1", lines[1])
    assert re.match(r"s1 -> s0: (\d+\.\d%|n/a) of s1's adversarial images fool s0", lines[2])
    assert lines[4].split() == ["model", "clean", "acc", "white-box", "noise", "error"]
    assert [line.split()[0] for line in lines[5:7]] == ["s0", "s1"] and all("%" in line for line in lines[5:7])
    assert lines[8].startswith("how to read it: SAT is ln(100 x the mean of the two rates)") and \
        lines[8].endswith("with two models there are no other pairs to set it against")
    assert "2 models, 20 images; ran 2 attack and 4 evaluation units" in out
    assert not list(tmp_path.glob("*/store.sqlite"))  # without --out nothing is kept


def test_a_config_of_only_shared_keys_combines_with_the_pair_named_on_the_command_line(tmp_path, capsys):
    """--config holding model_defaults, data and the attack but no models: A and B come from the command line and
    take the config's input_size."""
    for seed in (0, 1):
        torch.manual_seed(seed)
        save_model(timm.create_model("test_efficientnet", num_classes=10), tmp_path / f"seed{seed}.safetensors")
    config = tmp_path / "shared.yaml"
    config.write_text(yaml.safe_dump({"data": {"source": "digits", "resolution": 16,
                                               "subset": {"how": "balanced", "n": 2, "seed": 0}},
                                      "model_defaults": {"input_size": 16},
                                      "attack": {"backend": "native", "norm": "Linf", "eps": 0.1, "steps": 2}}))
    status, out, err = run_cli(capsys, ["pair", f"s0=test_efficientnet={tmp_path / 'seed0.safetensors'}",
                                        f"s1=test_efficientnet={tmp_path / 'seed1.safetensors'}", "--config",
                                        str(config), "--save-config", str(tmp_path / "again.yaml"), "--no-progress"])
    assert status == 0, err
    assert out.splitlines()[1].startswith("SAT(s0, s1) = ") and "2 models, 20 images" in out
    saved = yaml.safe_load((tmp_path / "again.yaml").read_text().split("\n", 1)[1])
    assert [m["label"] for m in saved["models"]] == ["s0", "s1"] and saved["model_defaults"] == {"input_size": 16}


def test_a_pair_of_a_configs_models_ranks_among_their_other_pairs(tmp_path, zoo_specs, capsys):
    config = tmp_path / "zoo.yaml"
    config.write_text(yaml.safe_dump({"seed": 0, "device": "cpu", "models": list(zoo_specs.values()),
                                      "data": {"source": "digits", "resolution": 16,
                                               "subset": {"how": "balanced", "n": 3, "seed": 0}},
                                      "attack": {"eps": 0.15, "alpha": 0.04, "steps": 3}}))
    status, out, err = run_cli(capsys, ["pair", "resnet", "resnet_seed1", "--config", str(config), "--no-progress"])
    assert status == 0, err
    reading = out.splitlines()[8]
    found = re.search(r"this pair ranks (\d) of (\d) among resnet's pairs, (\d) of (\d) among resnet_seed1's pairs "
                      r"\(1 = most similar\)$", reading)
    assert found, reading
    ranks = [int(v) for v in found.groups()]
    # each model has 2 other pairs; one with the ViT may be censored on these 30 images (no transfer), and then it
    # is not ranked: its count drops to 1 (the tiny zoo's numerics decide, e.g. with the fused optimizer)
    assert 1 <= ranks[0] <= ranks[1] <= 2 and 1 <= ranks[2] <= ranks[3] <= 2, reading
    assert "3 models, 30 images" in out


def test_add_prints_its_cost_and_the_new_models_nearest_models(tmp_path, capsys):
    folder = tmp_path / "w"
    folder.mkdir()
    for seed in range(3):
        torch.manual_seed(seed)
        save_model(timm.create_model("test_efficientnet", num_classes=10), folder / f"m{seed}.safetensors")
    run = tmp_path / "run"
    entries = ",".join(f"m{s}=test_efficientnet={folder}/m{s}.safetensors" for s in range(2))
    assert run_cli(capsys, ["sat", "--models", entries, "--data", "digits", "--n", "2", "--out", str(run), *FAST])[0] == 0
    before = finished_runs(run)
    status, out, err = run_cli(capsys, ["sat", "--out", str(run), "--add",
                                        f"m2=test_efficientnet={folder}/m2.safetensors", "--no-progress"])
    assert status == 0, err
    assert out.splitlines()[0] == ("adding m2 to 2 model(s): 1 attack(s) and 5 evaluations (2N+1 = 5 with N = 2), "
                                   "1 noise-control unit(s)")
    ran = finished_runs(run) - before
    assert ran == {"attack": 1, "evaluation": 5, "noise": 1}
    table = out[out.index("its nearest models"):].splitlines()
    assert table[1].split()[:3] == ["model", "SAT", "95%"] and {row.split()[0] for row in table[2:4]} == {"m0", "m1"}
    assert "ran 1 attack and 5 evaluation units, 1 noise-control units; 8 reused from the store" in out


def test_a_callable_model_runs_through_sat_and_ensemble(tmp_path, monkeypatch, capsys):
    (tmp_path / "user_nets.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    paths = []
    for seed in range(3):
        torch.manual_seed(seed)
        import importlib

        net = importlib.import_module("user_nets").small_cnn()
        paths.append(tmp_path / f"cnn{seed}.pt")
        torch.save(net.state_dict(), paths[-1])
    entries = ",".join(f"c{i}=user_nets:small_cnn={p}" for i, p in enumerate(paths))
    out = tmp_path / "out"
    status, text, err = run_cli(capsys, ["sat", "--models", entries, "--data", "digits", "--n", "2", "--out", str(out),
                                         *FAST])
    assert status == 0, err
    assert "3 models, 20 images" in text
    assert "name: user_nets:small_cnn" in (out / "config.yaml").read_text()
    status, text, err = run_cli(capsys, ["ensemble", "--models", entries, "--data", "digits", "--n", "2",
                                         "--validation", "2", "--size", "2", "--measures", "sat,cka", "--out", str(out),
                                         *FAST])
    assert status == 0, err
    assert "\nuse c" in text and (out / "recommendation.json").is_file()


@pytest.mark.parametrize("argv, message", [
    (["pair", "resnet18", "resnet18", "--data", "digits"], "model labels must be unique; repeated: resnet18"),
])
def test_pair_bad_input_is_one_line(capsys, argv, message):
    status, _, err = run_cli(capsys, argv)
    assert status == 2 and len(err.strip().splitlines()) == 1 and message in err, err

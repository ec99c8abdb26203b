"""Models and images on the command line (`--models`, `--data`), `model_defaults`, `--save-config`, and one line for
every bad input the issue lists: an unknown or malformed entry, a callable that cannot be imported or returns no
nn.Module, `--data` that is neither a folder nor a source, `--add` to a folder that is not a run directory, `--add` of
a label that is already there."""

import os

import pytest
import timm
import torch
import yaml
from safetensors.torch import save_file

from archsim.cli import main
from archsim.cli.args import quiet_bars
from archsim.config import load_config, parse_config
from archsim.errors import ArchsimError
from archsim.zoo.assemble import assemble
from archsim.zoo.model_entries import checkpoint_defaults, parse_entry, parse_models
from archsim.zoo.models import create_model

USER_MODULE = '''
import torch
from torch import nn


def small_cnn(num_classes=10):
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, num_classes))


def not_a_model():
    return 42
'''


def save(model, path):
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module `user_nets` on sys.path with an architecture and a callable that returns no nn.Module."""
    (tmp_path / "user_nets.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "user_nets"


@pytest.fixture
def grey_checkpoints(tmp_path):
    """Two untrained one-channel, ten-class timm test models saved as safetensors."""
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        paths.append(save(timm.create_model("test_efficientnet", num_classes=10, in_chans=1),
                          tmp_path / f"seed{seed}.safetensors"))
    return paths


def run_cli(capsys, *argv):
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, [line for line in captured.err.splitlines() if line.strip()]


# --- the entries -------------------------------------------------------------------------------------------------

def test_each_form_of_entry(tmp_path, user_module):
    ckpt = save(timm.create_model("test_resnet", num_classes=10), tmp_path / "w.safetensors")
    assert parse_entry("resnet18.a1_in1k") == {"name": "resnet18.a1_in1k", "label": "resnet18.a1_in1k",
                                               "pretrained": True}
    assert parse_entry("big=resnet50") == {"name": "resnet50", "label": "big", "pretrained": True}
    assert parse_entry(f"test_resnet={ckpt}") == {"name": "test_resnet", "label": "test_resnet",
                                                  "checkpoint": str(ckpt), "kwargs": {"num_classes": 10}}
    assert parse_entry(f"mine=test_resnet={ckpt}")["label"] == "mine"
    assert parse_entry("user_nets:small_cnn") == {"name": "user_nets:small_cnn", "label": "small_cnn"}
    assert [e["label"] for e in parse_models("a=resnet18, b=resnet18")] == ["a", "b"]


@pytest.mark.parametrize("arch", ["resnet18", "resnet10t", "vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224",
                                  "levit_128s", "convnext_atto", "mobilenetv3_small_050", "regnetx_002",
                                  "mixer_s16_224", "efficientnet_b0"])
def test_in_chans_and_num_classes_are_read_off_known_models(tmp_path, arch):
    """in_chans from the first conv's weight, num_classes from the classifier's (both heads where there are two);
    a value equal to the architecture's default is left out."""
    grey = save(create_model(arch, in_chans=1, num_classes=7), tmp_path / "grey.safetensors")
    assert checkpoint_defaults(arch, grey) == {"in_chans": 1, "num_classes": 7}
    default = save(create_model(arch), tmp_path / "default.safetensors")
    assert checkpoint_defaults(arch, default) == {}
    create_model(arch, checkpoint=grey, **checkpoint_defaults(arch, grey))  # the defaults make it load


def test_a_checkpoint_with_other_channels_suggests_in_chans(tmp_path):
    grey = save(create_model("test_resnet", in_chans=1), tmp_path / "grey.safetensors")
    with pytest.raises(ArchsimError, match=r"takes 1-channel images: set the model's kwargs: \{in_chans: 1\}"):
        create_model("test_resnet", checkpoint=grey)


# --- model_defaults, combining, --save-config --------------------------------------------------------------------

def test_model_defaults_apply_to_every_model_and_a_models_own_keys_win():
    cfg = parse_config({"data": {"source": "digits"},
                        "model_defaults": {"input_size": 16, "kwargs": {"num_classes": 10, "in_chans": 1}},
                        "models": ["resnet18", {"name": "resnet18", "label": "b", "input_size": 32,
                                                "kwargs": {"num_classes": 4}}]})
    assert [(m.input_size, m.kwargs) for m in cfg.models] == [(16, {"num_classes": 10, "in_chans": 1}),
                                                              (32, {"num_classes": 4, "in_chans": 1})]
    with pytest.raises(ArchsimError, match="unknown key 'label' in model_defaults"):
        parse_config({"data": {"source": "digits"}, "model_defaults": {"label": "x"}, "models": ["resnet18"]})


def test_a_config_and_command_line_models_combine_and_save_config_repeats_it(tmp_path, grey_checkpoints):
    (tmp_path / "sub").mkdir()
    base = tmp_path / "sub" / "base.yaml"
    base.write_text(yaml.safe_dump({"data": {"source": "digits"}, "batch_size": 32,
                                    "models": [{"name": "test_efficientnet", "label": "first",
                                                "checkpoint": "../seed0.safetensors",
                                                "kwargs": {"in_chans": 1, "num_classes": 10}}]}))
    assembled = assemble(base, f"second=test_efficientnet={grey_checkpoints[1]}", "digits", n=2, validation=1,
                         resolution=16)
    cfg = assembled.cfg
    assert [m.label for m in cfg.models] == ["first", "second"] and cfg.batch_size == 32
    assert cfg.models[0].checkpoint == grey_checkpoints[0].resolve()
    assert cfg.data == {"source": "digits", "subset": {"how": "balanced", "n": 2, "seed": 0},
                        "validation": {"how": "balanced", "n": 1, "seed": 0}, "resolution": 16, "channels": 1}
    saved = tmp_path / "elsewhere" / "run.yaml"
    assert main(["zoo", "train", "--config", str(base), "--models", f"second=test_efficientnet={grey_checkpoints[1]}",
                 "--data", "digits", "--n", "2", "--validation", "1", "--resolution", "16", "--save-config", str(saved),
                 "--no-progress"]) == 0
    again = load_config(saved)
    assert [vars(m) for m in again.models] == [vars(m) for m in cfg.models] and again.data == cfg.data


def test_no_progress_silences_every_bar_and_restores_the_environment(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    with quiet_bars(True):
        assert os.environ["TQDM_DISABLE"] == "1"
    assert "TQDM_DISABLE" not in os.environ
    from archsim.zoo.data import _quiet_below
    assert _quiet_below(10) == {"disable": True} and _quiet_below(5000) == {}  # a big folder's bar obeys the variable


# --- bad input: one line each ------------------------------------------------------------------------------------

@pytest.mark.parametrize("models, message", [
    ("resnt18", "'resnt18' is not a timm model (close names: resnet18"),
    ("a=b=c=d", "is malformed; an entry is NAME, NAME=CHECKPOINT"),
    ("resnet18,,vit_tiny_patch16_224", "has an empty entry"),
    ("=resnet18", "is malformed"),
    ("no_such_pkg.nets:model", "cannot import 'no_such_pkg.nets' for model 'no_such_pkg.nets:model' "
                               "(ModuleNotFoundError"),
    ("user_nets:missing", "'user_nets' has no attribute 'missing'"),
    ("user_nets:not_a_model", "model 'user_nets:not_a_model' returned a int, not an nn.Module"),
])
def test_a_bad_models_entry_is_one_line(capsys, user_module, models, message):
    status, out, err = run_cli(capsys, "sat", "--models", models, "--data", "digits", "--out", "unused")
    assert status == 2 and len(err) == 1 and message in err[0], err


@pytest.mark.parametrize("data, message", [("imagenet", "--data 'imagenet' is not a folder and not a built-in source "
                                                        "(digits, mnist5k)"),
                                           (__file__, "is a file, not a folder")])
def test_data_that_is_neither_a_folder_nor_a_source_is_one_line(capsys, data, message):
    status, _, err = run_cli(capsys, "sat", "--models", "resnet18", "--data", data, "--out", "unused")
    assert status == 2 and len(err) == 1 and message in err[0], err


def test_no_models_and_no_data_are_one_line_each(capsys):
    assert run_cli(capsys, "sat", "--data", "digits", "--out", "x")[2] == [
        "archsim sat: error: name the models: --models a,b,... (timm names, NAME=CHECKPOINT, package.module:callable) "
        "or --config FILE"]
    status, _, err = run_cli(capsys, "sat", "--models", "resnet18", "--out", "x")
    assert status == 2 and err[0].startswith("archsim sat: error: name the images: --data digits")


def test_add_to_a_folder_that_is_not_a_run_directory_and_of_a_label_already_there(capsys, tmp_path,
                                                                                  grey_checkpoints):
    status, _, err = run_cli(capsys, "sat", "--out", str(tmp_path), "--add", f"c=test_efficientnet={grey_checkpoints[0]}")
    assert status == 2 and len(err) == 1 and "is not a run directory (it has no store.sqlite)" in err[0]
    run = tmp_path / "run"
    assert run_cli(capsys, "sat", "--models", f"a=test_efficientnet={grey_checkpoints[0]}", "--data", "digits",
                   "--n", "1", "--resolution", "16", "--out", str(run), "--no-progress")[0] == 0
    status, _, err = run_cli(capsys, "sat", "--out", str(run), "--add", f"a=test_efficientnet={grey_checkpoints[1]}")
    assert status == 2 and err == [f"archsim sat: error: --add: a model labelled 'a' is already in the run at {run}; "
                                   "give the new one another label: LABEL=NAME=CHECKPOINT"]

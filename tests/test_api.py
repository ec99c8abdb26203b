"""The Python API against the command line: `archsim.compare` on nn.Modules equals the CLI on the same weights and
images to 1e-9, its files are the CLI's files, the decisions are the commands' objects, and docs/python-api.md runs."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
import yaml
from safetensors.torch import save_file
from store_fixtures import stored_result

import archsim
from analysis.decisions.recommendation import EnsembleRecommendation, TeacherRecommendation
from archsim.cli import main
from archsim.similarity.compute import compute_measure
from archsim.zoo.assemble import assemble
from archsim.zoo.build import build_run

DOCS = Path(__file__).resolve().parent.parent / "docs" / "python-api.md"
DATA = ["--data", "digits", "--n", "3", "--validation", "2", "--resolution", "16"]


@pytest.fixture(scope="module")
def grey_models(tmp_path_factory):
    """Three untrained one-channel timm test models, as modules and as checkpoints."""
    folder = tmp_path_factory.mktemp("grey")
    modules, paths = {}, {}
    for seed, label in enumerate("abc"):
        torch.manual_seed(seed)
        modules[label] = timm.create_model("test_efficientnet", num_classes=10, in_chans=1).eval()
        paths[label] = folder / f"{label}.safetensors"
        save_file({k: v.contiguous() for k, v in modules[label].state_dict().items()}, str(paths[label]))
    return modules, paths


def test_compare_on_modules_equals_the_cli_on_the_same_weights_and_images(tmp_path, grey_models, capsys):
    modules, paths = grey_models
    entries = ",".join(f"{label}=test_efficientnet={path}" for label, path in paths.items())
    out = tmp_path / "cli"
    assert main(["sat", "--models", entries, *DATA, "--out", str(out), "--no-progress"]) == 0
    cfg = assemble(None, entries, "digits", n=3, validation=2, resolution=16).cfg
    cli_run = build_run(cfg, progress=False)
    test, _ = archsim.load_images("digits", n=3, validation=2, resolution=16, channels=1)
    assert torch.equal(test.images, cli_run.images.images) and test.ids == cli_run.images.ids

    api = archsim.compare(modules, test.images, test.labels, measures=["sat", "cka", "svcca"])
    cli_sat = stored_result(out / "config.yaml", out)
    assert np.array_equal(api.sat.clean_correct, cli_sat.clean_correct)
    assert np.array_equal(api.sat.adv_correct, cli_sat.adv_correct)
    assert np.array_equal(api.sat.noise_correct, cli_sat.noise_correct)
    np.testing.assert_allclose(api.matrices["sat"], cli_sat.sat, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.nan_to_num(api.sat_intervals()[0]), np.nan_to_num(cli_sat.sat_intervals()[0]),
                               rtol=0, atol=1e-9)
    for measure in ("cka", "svcca"):  # the CLI's own computation, at full precision
        cli = compute_measure(measure, {}, cfg, cli_run, out, progress=False).values
        np.testing.assert_allclose(api.matrices[measure], cli, rtol=0, atol=1e-9)
    assert main(["similarity", "--measure", "cka", "--models", entries, *DATA, "--out", str(out), "--no-progress"]) == 0
    written = {path.name: path for path in api.save(tmp_path / "api")}
    assert set(written) == {"sat.csv", "transfer.csv", "pairs.csv", "clean_accuracy.csv", "cka.csv", "svcca.csv",
                            "svcca_detail.csv"}
    for name in ("sat.csv", "transfer.csv", "pairs.csv", "clean_accuracy.csv", "cka.csv"):  # those the CLI wrote
        assert written[name].read_bytes() == (out / name).read_bytes(), name
    frame = api.to_frame()
    assert list(frame[["a", "b"]].itertuples(index=False, name=None)) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert {"sat", "cka", "svcca", "sat_low", "sat_high", "rate_a_to_b", "rate_b_to_a", "n_common"} <= set(frame)


def test_compare_on_trained_pixel_models_equals_the_cli_config(tmp_path, tiny_zoo, zoo_specs, digits_split):
    """The tiny trained zoo: PixelModels in, the config with their checkpoints through `archsim sat`."""
    _, evaluation = digits_split
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"seed": 0, "device": "cpu", "data": {"source": "digits", "resolution": 16,
                                      "subset": {"how": "balanced", "n": 20, "seed": 0}},
                                      "models": list(zoo_specs.values())}))
    assert main(["sat", "--config", str(config), "--out", str(tmp_path / "cli"), "--no-progress"]) == 0
    api = archsim.compare(tiny_zoo, evaluation.images, evaluation.labels)
    cli = stored_result(config, tmp_path / "cli")
    np.testing.assert_allclose(api.matrices["sat"], cli.sat, rtol=0, atol=1e-9)
    np.testing.assert_allclose(api.transfer, cli.transfer, rtol=0, atol=1e-9)
    assert api.effects is None and api.effects_reason.startswith("too few models for per-model effects: 3")


def test_the_decisions_are_the_commands_objects(tmp_path, tiny_zoo, grey_models):
    test, val = archsim.load_images("digits", n=2, validation=2, resolution=16)
    rec = archsim.recommend_ensemble(tiny_zoo, test.images, test.labels, validation=(val.images, val.labels), size=2,
                                     out=tmp_path / "ens")
    assert isinstance(rec, EnsembleRecommendation) and len(rec.members) == 2 and rec.verdict
    assert json.loads((tmp_path / "ens" / "recommendation.json").read_text()) == json.loads(json.dumps(rec.as_dict()))
    grey_test, grey_val = archsim.load_images("digits", n=2, validation=2, resolution=16, channels=1)
    ranked = archsim.rank_teachers([("test_efficientnet", p) for p in grey_models[1].values()], grey_test.images,
                                   grey_test.labels, student="test_efficientnet", measures=["cka"],
                                   validation=(grey_val.images, grey_val.labels))
    assert isinstance(ranked, TeacherRecommendation) and not ranked.trained
    assert set(ranked.ranking) == {"test_efficientnet-2", "test_efficientnet-3"}


def test_bad_api_input_is_one_archsim_error():
    images, labels = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])
    with pytest.raises(archsim.ArchsimError, match="a model is an nn.Module, a string or a"):
        archsim.compare([42], images, labels)
    with pytest.raises(archsim.ArchsimError, match="images must lie in"):
        archsim.compare({"m": torch.nn.Linear(64, 2)}, images * 3, labels)
    with pytest.raises(archsim.ArchsimError, match="ensemble selection needs validation images"):
        archsim.recommend_ensemble({"m": torch.nn.Flatten()}, images, labels, validation=None)


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_docs_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(DOCS.read_text())
    assert len(blocks) >= 4
    namespace = {}
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), namespace)  # noqa: S102 - the page's own examples
    assert (tmp_path / "runs" / "api" / "cka.csv").is_file()
    assert isinstance(namespace["rec"], EnsembleRecommendation)


def test_pre_logits_of_a_plain_module_is_the_input_of_its_last_linear_layer():
    from archsim.similarity.activations import layer_features

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 12), torch.nn.ReLU(), torch.nn.Linear(12, 3))
    images = torch.rand(6, 1, 8, 8)
    pixel = archsim.PixelModel(net, image_shape=(1, 8, 8))
    (features,) = [batch["pre_logits"] for batch in layer_features(pixel, images, ["pre_logits"], batch_size=6)]
    assert torch.equal(features, net[:3](images))  # no resize, no normalisation: the images as they come


def test_compare_warns_as_well_as_it_lists_the_warnings(grey_models):
    test, _ = archsim.load_images("digits", n=1, resolution=16, channels=1)
    with pytest.warns(UserWarning, match="at or near chance"):
        c = archsim.compare(dict(list(grey_models[0].items())[:2]), test.images, test.labels)
    assert any("at or near chance" in line for line in c.warnings)

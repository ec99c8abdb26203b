"""Filter atoms with shared coefficients: the decomposition against SVD and lstsq; fine-tunes vs unrelated models."""

import copy

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file
from torch import nn

from archsim.errors import ArchsimError
from archsim.similarity.conv_layers import ConvLayer, spatial_convs
from archsim.similarity.filter_atoms import atom_cosines, fit_atoms, model_scores, reference_coefficients
from archsim.similarity.measure import MeasureInputs
from archsim.similarity.registry import MEASURES
from archsim.zoo.build import Run
from archsim.zoo.models import create_model
from archsim.zoo.training import train_classifier
from archsim.zoo.wrapper import PixelModel


def _layer(weight, name="conv"):
    return ConvLayer(name=name, weight=weight, depth=0.5, params=weight.size)


def test_reference_fit_is_the_truncated_svd():
    """alpha D_ref is the best rank-m approximation (Eckart-Young); the atoms are the top right singular vectors."""
    W = np.random.default_rng(0).normal(size=(6, 4, 3, 3))
    M = W.reshape(24, 9)
    alphas = reference_coefficients([_layer(W)], 4)
    assert alphas["conv"].shape == (6, 4, 4)
    fit = fit_atoms(alphas, [_layer(W)])
    _, s, vt = np.linalg.svd(M, full_matrices=False)
    np.testing.assert_allclose(np.abs((fit.atoms["conv"] * vt[:4]).sum(1)), 1.0, atol=1e-10)  # rows up to sign
    assert fit.residuals["conv"] == pytest.approx(np.sqrt((s[4:] ** 2).sum() / (s ** 2).sum()), rel=1e-9)


def test_least_squares_atoms_and_residual_match_numpy_lstsq():
    rng = np.random.default_rng(1)
    alpha = rng.normal(size=(5, 3, 2))
    W = rng.normal(size=(5, 3, 3, 3))
    fit = fit_atoms({"conv": alpha}, [_layer(W)])
    D, residual_ss, *_ = np.linalg.lstsq(alpha.reshape(15, 2), W.reshape(15, 9), rcond=None)
    np.testing.assert_allclose(fit.atoms["conv"], D, atol=1e-10)
    assert fit.residuals["conv"] == pytest.approx(np.sqrt(residual_ss.sum()) / np.linalg.norm(W), rel=1e-9)
    exact = fit_atoms({"conv": alpha}, [_layer((alpha.reshape(15, 2) @ D).reshape(5, 3, 3, 3))])
    np.testing.assert_allclose(exact.atoms["conv"], D, atol=1e-10)
    assert exact.residuals["conv"] == pytest.approx(0, abs=1e-12)


def test_cosines_and_weighted_scores_by_hand():
    fits = [fit_atoms({"c": np.ones((1, 1, 1))}, [_layer(np.array(w, float).reshape(1, 1, 2, 2), "c")])
            for w in ([1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 2])]
    np.testing.assert_allclose(atom_cosines(fits, "c"), [[1, 2 ** -0.5, 0], [2 ** -0.5, 1, 0], [0, 0, 1]], atol=1e-12)
    per_layer = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 0.5)])
    assert model_scores(per_layer, [10, 30])[0, 1] == pytest.approx(0.75)
    assert model_scores(per_layer, [10, 30], "params")[0, 1] == pytest.approx(0.625)


def test_mismatched_layers_are_refused():
    alphas = reference_coefficients([_layer(np.ones((4, 2, 3, 3)))], 6)
    with pytest.raises(ArchsimError, match="no spatial conv layer 'conv'"):
        fit_atoms(alphas, [_layer(np.ones((4, 2, 3, 3)), "other")])
    with pytest.raises(ArchsimError, match="cannot decompose"):
        fit_atoms(alphas, [_layer(np.ones((8, 2, 3, 3)))])


@pytest.fixture(scope="module")
def related_models(digits_split):
    """A trained narrow ResNet, a lightly fine-tuned copy, the same recipe from another seed, and a ViT."""
    train, _ = digits_split

    def trained(seed):
        torch.manual_seed(seed)
        m = PixelModel(create_model("resnet18", num_classes=10, channels=(8, 16, 32, 64)), input_size=16)
        train_classifier(m, train.images[:800], train.labels[:800], epochs=2, lr=3e-3, seed=seed, progress=False)
        return m

    base = trained(0)
    tuned = copy.deepcopy(base)
    train_classifier(tuned, train.images[800:1200], train.labels[800:1200], epochs=1, lr=1e-3, seed=5,
                     progress=False)
    vit = create_model("vit_tiny_patch16_224", num_classes=10, img_size=16, patch_size=4, embed_dim=32, depth=1,
                       num_heads=2)
    return {"base": base, "tuned": tuned, "other_seed": trained(1), "vit": PixelModel(vit, input_size=16)}


def test_fine_tune_scores_near_one_and_unrelated_model_lower(related_models, tmp_path):
    result = atoms(Run(related_models, None), {"m": 6})
    v = result.values
    assert not np.allclose(related_models["base"].model.conv1.weight, related_models["tuned"].model.conv1.weight)
    assert v[0, 1] > 0.98
    assert v[0, 2] < 0.6 and v[0, 2] < v[0, 1] - 0.3
    np.testing.assert_allclose(v[:3, :3], v[:3, :3].T)
    np.testing.assert_allclose(np.diag(v)[:3], 1.0)
    assert np.isnan(v[3]).all() and any("vit not applicable" in n for n in result.notes)
    residuals = {(r[0], r[1]): r[4] for r in result.detail_rows}
    assert residuals[("base", "conv1")] < residuals[("other_seed", "conv1")]
    # coefficients given by the user (here: saved from the reference) give the same matrix
    alphas = reference_coefficients(spatial_convs(related_models["base"].model), 6)
    save_file(alphas, str(tmp_path / "alpha.safetensors"))
    again = atoms(Run(related_models, None), {"coefficients": str(tmp_path / "alpha.safetensors")})
    np.testing.assert_allclose(again.values, v, atol=1e-9)
    weighted = atoms(Run(related_models, None), {"weighting": "params"}).values
    assert weighted[0, 1] > 0.98 and weighted[0, 2] != pytest.approx(v[0, 2])


def test_measure_options(related_models, tmp_path):
    pointwise = PixelModel(nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), nn.Conv2d(8, 10, 1)), input_size=16)
    run = Run({**related_models, "pointwise": pointwise}, None)
    with pytest.raises(ArchsimError, match="reference 'nope' is not a model"):
        atoms(run, {"reference": "nope"})
    with pytest.raises(ArchsimError, match="pointwise has no k x k conv layers"):  # 1 x 1 convs are not decomposed
        atoms(run, {"reference": "pointwise"})
    with pytest.raises(ArchsimError, match="coefficients file not found"):
        atoms(run, {"coefficients": "/no/such.safetensors"})
    save_file({"conv1": np.ones((64, 27))}, str(tmp_path / "flat.safetensors"))
    with pytest.raises(ArchsimError, match=r"'conv1' has shape \(64, 27\), expected \(c_out, c_in, m\)"):
        atoms(run, {"coefficients": str(tmp_path / "flat.safetensors")})
    (tmp_path / "text.safetensors").write_text("not a tensor file")
    with pytest.raises(ArchsimError, match="cannot read coefficients"):
        atoms(run, {"coefficients": str(tmp_path / "text.safetensors")})
    with pytest.raises(ArchsimError, match="weighting must be one of"):
        atoms(run, {"weighting": "depth"})
    with pytest.raises(ArchsimError, match="m must be a whole number >= 1"):
        atoms(run, {"m": 0})


def atoms(run, options):
    """The registered `atoms` measure on a run, its options checked as the command line checks them."""
    return MEASURES["atoms"](MeasureInputs(run), options)

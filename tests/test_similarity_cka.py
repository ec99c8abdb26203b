"""CKA (linear, RBF, biased, debiased), minibatch CKA and layer x layer CKA, each against a reference written here."""


import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist, squareform
from scipy.stats import ortho_group

from archsim.errors import ArchsimError
from archsim.similarity import cka_minibatch
from archsim.similarity.activations import default_layers, layer_features
from archsim.similarity.cka import (
    center_gram,
    cka,
    cka_matrix,
    feature_space_linear_cka,
    gram_linear,
    gram_rbf,
    linear_cka,
    rbf_cka,
)
from archsim.similarity.cka_minibatch import MinibatchCKA, minibatch_cka
from archsim.similarity.layer_cka import layer_cka
from archsim.zoo.models import create_model
from archsim.zoo.wrapper import PixelModel

# --- the reference: plain numpy, straight from the formulas -------------------------------------------

def ref_hsic0(k, l):
    """Gretton et al. 2005: tr(K H L H) / (n-1)^2."""
    n = len(k)
    h = np.eye(n) - np.ones((n, n)) / n
    return np.trace(k @ h @ l @ h) / (n - 1) ** 2


def ref_hsic1(k, l):
    """Song et al. 2012, the unbiased estimator, with K~, L~ the Gram matrices with zero diagonal."""
    n = len(k)
    k, l = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    one = np.ones(n)
    return (np.trace(k @ l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * (one @ k @ l @ one)) / (n * (n - 3))


def ref_cka(k, l, debiased=False):
    hsic = ref_hsic1 if debiased else ref_hsic0
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


def ref_rbf(x, fraction):
    d = pdist(x)
    sigma = fraction * np.median(d)
    return np.exp(-squareform(d) ** 2 / (2 * sigma ** 2))


def ref_minibatch_cka(x, y, bounds):
    """Nguyen et al.: per-batch HSIC_1, each batch weighted by its number of examples."""
    sums = np.zeros(3)
    for a, b in zip(bounds[:-1], bounds[1:]):
        k, l = x[a:b] @ x[a:b].T, y[a:b] @ y[a:b].T
        sums += (b - a) * np.array([ref_hsic1(k, l), ref_hsic1(k, k), ref_hsic1(l, l)])
    return sums[0] / np.sqrt(sums[1] * sums[2])


def related(n=120, p=10, q=14, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    y = np.tanh(x @ rng.normal(size=(p, q))) + 0.5 * rng.normal(size=(n, q))
    return x, y


# --- full-batch CKA --------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(120, 10, 14), (30, 40, 25)], ids=["n>p feature form", "n<p gram form"])
@pytest.mark.parametrize("debiased", [False, True])
def test_linear_cka_matches_numpy_reference(shape, debiased):
    x, y = related(*shape)
    expected = ref_cka(x @ x.T, y @ y.T, debiased)
    assert linear_cka(x, y, debiased) == pytest.approx(expected, abs=1e-9)
    assert linear_cka(torch.from_numpy(x), torch.from_numpy(y), debiased) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("fraction", [0.5, 1.0])
@pytest.mark.parametrize("debiased", [False, True])
def test_rbf_cka_matches_numpy_reference(fraction, debiased):
    x, y = related(61)  # odd pair count: numpy's median is a sample, not an average
    expected = ref_cka(ref_rbf(x, fraction), ref_rbf(y, fraction), debiased)
    assert rbf_cka(x, y, fraction, debiased, median="pairs") == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose(gram_rbf(x, fraction, median="pairs").numpy(), ref_rbf(x, fraction), atol=1e-12)


def kornblith_gram_rbf(x, threshold):
    """Kornblith et al.'s reference gram_rbf, as published with their CKA Colab."""
    dot_products = x.dot(x.T)
    sq_norms = np.diag(dot_products)
    sq_distances = -2 * dot_products + sq_norms[:, None] + sq_norms[None, :]
    return np.exp(-sq_distances / (2 * threshold ** 2 * np.median(sq_distances)))


def test_the_reference_demo_values_of_kornblith_et_al():
    """Their Colab's data: numpy seed 1337, X = randn(100, 10), Y = randn(100, 10) + X."""
    np.random.seed(1337)
    x = np.random.randn(100, 10)
    y = np.random.randn(100, 10) + x
    assert linear_cka(x, y) == pytest.approx(0.55761, abs=1e-5)
    assert rbf_cka(x, y, 0.5) == pytest.approx(0.65483, abs=1e-5)  # the default bandwidth convention
    assert linear_cka(x, y, debiased=True) == pytest.approx(0.51346, abs=1e-5)
    np.testing.assert_allclose(gram_rbf(x, 0.5).numpy(), kornblith_gram_rbf(x, 0.5), atol=1e-12)
    assert rbf_cka(x, y, 0.5, median="pairs") == pytest.approx(0.65401, abs=1e-5)  # the other convention


@pytest.mark.parametrize("debiased", [False, True])
def test_feature_space_and_gram_forms_agree(debiased):
    x, y = related(50, 8, 12)
    assert feature_space_linear_cka(x, y, debiased) == pytest.approx(
        cka(gram_linear(x), gram_linear(y), debiased), abs=1e-12)


def test_u_centring_gives_hsic1_and_debiased_cka_equals_its_hsic1_form():
    x, y = related(40)
    k, l = x @ x.T, y @ y.T
    n = len(k)
    u_k, u_l = center_gram(k, unbiased=True).numpy(), center_gram(l, unbiased=True).numpy()
    assert (u_k * u_l).sum() / (n * (n - 3)) == pytest.approx(ref_hsic1(k, l), rel=1e-10)
    assert cka(k, l, debiased=True) == pytest.approx(ref_cka(k, l, debiased=True), abs=1e-12)
    assert cka(k, l, debiased=True) != pytest.approx(cka(k, l), abs=1e-3)  # the two estimators do differ here


@pytest.mark.parametrize("measure", [linear_cka, rbf_cka], ids=["linear", "rbf"])
@pytest.mark.parametrize("debiased", [False, True])
def test_invariant_to_orthogonal_maps_and_isotropic_scaling_not_to_other_linear_maps(measure, debiased):
    x, y = related(80, 6, 6)
    base = measure(x, y, debiased=debiased)
    q = ortho_group.rvs(6, random_state=1)
    assert measure(x @ q, y, debiased=debiased) == pytest.approx(base, abs=1e-10)
    assert measure(3.7 * x, 0.02 * y, debiased=debiased) == pytest.approx(base, abs=1e-10)
    stretch = np.diag([20.0, 1, 1, 0.05, 1, 1]) @ ortho_group.rvs(6, random_state=2)  # invertible, not orthogonal
    assert abs(measure(x @ stretch, y, debiased=debiased) - base) > 0.02


@pytest.mark.parametrize("measure", [
    lambda x: linear_cka(x, x), lambda x: linear_cka(x, x, debiased=True), lambda x: rbf_cka(x, x),
    lambda x: rbf_cka(x, x, debiased=True), lambda x: minibatch_cka(x, x, batch_size=16)])
def test_identical_inputs_give_one(measure):
    assert measure(related()[0]) == pytest.approx(1.0, abs=1e-12)


def test_float32_with_a_large_offset_stays_accurate():
    """1e4 + N(0, 1) in float32: a naive float32 Gram loses the digits; archsim does not."""
    x, y = related(200, 16, 16)
    x32, y32 = (1e4 + x).astype(np.float32), (1e4 + y).astype(np.float32)
    xs, ys = x32.astype(np.float64), y32.astype(np.float64)  # the same numbers, in float64
    xs, ys = xs - xs.mean(0), ys - ys.mean(0)
    for debiased in (False, True):
        assert linear_cka(x32, y32, debiased) == pytest.approx(ref_cka(xs @ xs.T, ys @ ys.T, debiased), abs=1e-6)
    bounds = [0, 50, 100, 150, 200]
    expected = ref_minibatch_cka(xs, ys, bounds)
    assert minibatch_cka(x32, y32, 50) == pytest.approx(expected, abs=1e-6)
    acc = MinibatchCKA()  # fed float32 tensors, as activations are: float32 products after centring
    for a, b in zip(bounds[:-1], bounds[1:]):
        acc.update([torch.from_numpy(x32[a:b])], [torch.from_numpy(y32[a:b])])
    assert acc.result()[0, 0] == pytest.approx(expected, abs=1e-6)
    t = torch.from_numpy(x32)
    naive = t @ t.T  # float32 Gram of the raw values: the offset swamps the variation
    u = torch.from_numpy(y32)
    assert abs(cka(naive.double(), (u @ u.T).double()) - ref_cka(xs @ xs.T, ys @ ys.T)) > 1e-3


def test_cka_matrix_is_every_pairwise_cka_with_nan_for_a_constant_representation():
    x, y = related()
    z = np.random.default_rng(5).normal(size=x.shape)
    grams = [gram_linear(x), gram_linear(y), gram_linear(z), torch.zeros(len(x), len(x), dtype=torch.float64)]
    for debiased in (False, True):
        m = cka_matrix(grams, debiased)
        assert m[0, 1] == pytest.approx(ref_cka(x @ x.T, y @ y.T, debiased), abs=1e-10)
        assert m[1, 2] == pytest.approx(linear_cka(y, z, debiased), abs=1e-10)
        np.testing.assert_allclose(np.diag(m)[:3], 1.0, atol=1e-12)
        assert np.isnan(m[3]).all() and np.isnan(m[:, 3]).all()


# --- minibatch CKA ---------------------------------------------------------------------------------------

def test_minibatch_cka_weights_a_partial_last_batch_by_its_examples():
    x, y = related(107)
    y[100:] = np.random.default_rng(9).normal(size=(7, y.shape[1]))  # the last 7 examples are unrelated
    bounds = [0, 50, 100, 107]
    acc = MinibatchCKA()
    for a, b in zip(bounds[:-1], bounds[1:]):
        acc.update([x[a:b]], [y[a:b]])
    ours = acc.result()[0, 0]
    assert ours == pytest.approx(ref_minibatch_cka(x, y, bounds), abs=1e-9)
    sums = np.zeros(3)
    for a, b in zip(bounds[:-1], bounds[1:]):
        k, l = x[a:b] @ x[a:b].T, y[a:b] @ y[a:b].T
        sums += [ref_hsic1(k, l), ref_hsic1(k, k), ref_hsic1(l, l)]
    equal_weights = sums[0] / np.sqrt(sums[1] * sums[2])
    assert abs(ours - equal_weights) > 1e-3  # the weighting matters here, and the test would see it wrong


def test_minibatch_cka_approaches_full_batch_debiased_cka():
    x, y = related(2000, 12, 16, seed=3)
    full = linear_cka(x, y, debiased=True)
    assert minibatch_cka(x, y, batch_size=2000) == pytest.approx(full, abs=1e-10)  # one batch: the same estimator
    errors = [abs(minibatch_cka(x, y, batch_size=b) - full) for b in (25, 400)]
    assert errors[1] < 0.01 and errors[1] < errors[0]


def test_minibatch_accumulator_symmetric_form_matches_pairs():
    x, y = related(96)
    z = np.random.default_rng(4).normal(size=(96, 5))
    sym, pairs = MinibatchCKA(), MinibatchCKA()
    for s in (slice(0, 48), slice(48, 96)):
        sym.update([x[s], y[s], z[s]])
        pairs.update([x[s], y[s]], [z[s]])
    m = sym.result()
    np.testing.assert_allclose(m[:2, 2:], pairs.result(), atol=1e-12)
    np.testing.assert_allclose(m, m.T, atol=1e-12)
    assert m[0, 1] == pytest.approx(ref_minibatch_cka(x, y, [0, 48, 96]), abs=1e-9)


# --- bad input ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call,message", [
    (lambda x: linear_cka(x, x[:-1]), "same examples"),
    (lambda x: linear_cka(x[:3], x[:3], debiased=True), "at least 4 examples"),
    (lambda x: rbf_cka(x[:3], x[:3], debiased=True), "at least 4 examples"),
    (lambda x: minibatch_cka(x[:3], x[:3]), "at least 4 examples"),
    (lambda x: linear_cka(np.where(np.eye(*x.shape) > 0, np.nan, x), x), "NaN or Inf"),
    (lambda x: linear_cka(x, np.full_like(x, np.inf)), "NaN or Inf"),
    (lambda x: linear_cka(x, np.ones_like(x)), "constant"),
    (lambda x: linear_cka(np.ones_like(x), x, debiased=True), "constant"),
    (lambda x: rbf_cka(x, np.ones_like(x)), "constant"),
    (lambda x: minibatch_cka(x, np.ones_like(x), batch_size=20), "never varies"),
    (lambda x: linear_cka(x[:, 0], x[:, 0]), "n_examples, n_features"),
    (lambda x: cka(np.triu(x[:10] @ x[:10].T), x[:10] @ x[:10].T), "symmetric"),
    (lambda x: rbf_cka(x, x, fraction=0), "fraction must be > 0"),
    (lambda x: minibatch_cka(x, x, batch_size=3), "batches of at least 4"),
    (lambda x: MinibatchCKA().update([x[:3]], [x[:3]]), "at least 4 examples"),
    (lambda x: MinibatchCKA().update([x[:8]], [x[:9]]), "same examples"),
    (lambda x: MinibatchCKA().result(), "no batches"),
])
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises(ArchsimError, match=message):
        call(related()[0])


# --- layer x layer CKA on timm models -------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_models():
    torch.manual_seed(0)
    resnet = PixelModel(create_model("resnet18", num_classes=10, channels=(8, 16, 32, 64), zero_init_last=False),
                        input_size=16)
    vit = PixelModel(create_model("vit_tiny_patch16_224", num_classes=10, img_size=16, patch_size=4, embed_dim=24,
                                  depth=2, num_heads=2), input_size=16)
    images = torch.rand(60, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    return resnet, vit, images


def test_hooked_activations_equal_timm_forward_intermediates(two_models):
    resnet, _, images = two_models
    layers = default_layers(resnet)
    assert layers == ["act1", "layer1", "layer2", "layer3", "layer4", "pre_logits"]
    got = next(layer_features(resnet, images, layers, batch_size=60))
    assert torch.is_grad_enabled()  # the suspended generator holds no no_grad context open
    assert not any(m._forward_hooks for m in resnet.modules())  # and no hooks
    with torch.no_grad():
        x = resnet.preprocess(images)
        expected = resnet.model.forward_intermediates(x, intermediates_only=True)
        pre = resnet.model.forward_head(resnet.model.forward_features(x), pre_logits=True)
    for name, want in zip(layers, [*expected, pre]):
        torch.testing.assert_close(got[name], want.flatten(1))


def test_layer_cka_matches_the_reference_and_forms_each_gram_once_per_batch(two_models, monkeypatch):
    resnet, vit, images = two_models
    layers_a, layers_b = default_layers(resnet), default_layers(vit)
    mb = cka_minibatch
    calls = []
    real = mb.centred_gram
    monkeypatch.setattr(mb, "centred_gram", lambda x: calls.append(1) or real(x))
    values = layer_cka(resnet, vit, images, layers_a, layers_b, batch_size=20)
    assert values.shape == (len(layers_a), len(layers_b))
    assert len(calls) == 3 * (len(layers_a) + len(layers_b))  # 3 batches, one Gram per layer per batch

    feats_a = [next(layer_features(resnet, images, layers_a, batch_size=60))[n].double().numpy() for n in layers_a]
    feats_b = [next(layer_features(vit, images, layers_b, batch_size=60))[n].double().numpy() for n in layers_b]
    expected = np.array([[ref_minibatch_cka(a, b, [0, 20, 40, 60]) for b in feats_b] for a in feats_a])
    np.testing.assert_allclose(values, expected, atol=1e-6)


def test_layer_cka_of_a_model_with_itself_has_a_unit_diagonal(two_models):
    _, vit, images = two_models
    layers = default_layers(vit)
    values = layer_cka(vit, vit, images, layers, layers, batch_size=30)
    np.testing.assert_allclose(np.diag(values), 1.0, atol=1e-9)
    np.testing.assert_allclose(values, values.T, atol=1e-9)

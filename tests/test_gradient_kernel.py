"""Gradient-kernel similarity: gradients against hand-derived ones, the CountSketch against its dense matrix,
the indices against scipy/numpy formulas."""

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm
from torch import nn

from archsim.errors import ArchsimError
from archsim.similarity.activations import layer_gradients, tempered_objective
from archsim.similarity.gradient_kernel import (
    GradientKernel,
    count_sketch,
    kernel_cka,
    kernel_euclidean,
    normalized_bures_similarity,
)
from archsim.zoo.models import create_model
from archsim.zoo.wrapper import PixelModel


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def q_minus_p(logits, beta):
    """d/dz sum_c q_c log p_c with q held constant: q - p (q sums to 1)."""
    p = softmax(logits)
    q = p ** beta / (p ** beta).sum(axis=1, keepdims=True)
    return q - p


def centred(k):
    n = len(k)
    h = np.eye(n) - np.ones((n, n)) / n
    return h @ k @ h


def dense_sketch(rows, weights, buckets):
    s = np.zeros((buckets, len(rows)))
    for i in range(len(rows)):
        s[rows[i].numpy(), i] = weights[i].numpy()
    return s


# --- gradients -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("beta", [0.5, 0.0])
def test_pre_logits_gradient_is_w_transpose_q_minus_p(beta):
    torch.manual_seed(0)
    vit = PixelModel(create_model("vit_tiny_patch16_224", num_classes=7, img_size=16, patch_size=4, embed_dim=24,
                                  depth=1, num_heads=2), input_size=16)
    with torch.no_grad():
        vit.model.head.weight.normal_()  # timm's small head init would make every gradient tiny
    images = torch.rand(12, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    (f, g), = layer_gradients(vit, images, "pre_logits", batch_size=12, beta=beta)
    w, b = vit.model.head.weight.detach().double().numpy(), vit.model.head.bias.detach().double().numpy()
    h = f.double().numpy()
    np.testing.assert_allclose(g.numpy(), q_minus_p(h @ w.T + b, beta) @ w, rtol=1e-4, atol=1e-5)
    assert np.abs(g.numpy()).max() > 0.1  # not trivially zero


def test_pre_logits_gradient_of_a_two_head_model_uses_the_mean_of_its_heads():
    torch.manual_seed(0)  # LeViT: get_classifier() is (head, head_dist), each BatchNorm1d + Linear, averaged
    levit = PixelModel(create_model("levit_128s", num_classes=5, img_size=32, embed_dim=[16, 24, 32], key_dim=8,
                                    depth=[1, 1, 1], num_heads=[2, 3, 4]), input_size=32)
    images = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    (f, g), = layer_gradients(levit, images, "pre_logits", batch_size=6)

    def affine(norm_linear):  # the eval-mode map h -> W (gamma (h - mu) / sqrt(var + eps) + beta) + b, as (A, c)
        bn, lin = norm_linear.bn, norm_linear.linear
        scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).double()
        w = lin.weight.detach().double() * scale
        return w.numpy(), (lin.bias.double() + lin.weight.double() @ (bn.bias.double() - scale * bn.running_mean)
                           ).detach().numpy()

    (w1, c1), (w2, c2) = affine(levit.model.head), affine(levit.model.head_dist)
    w, c = (w1 + w2) / 2, (c1 + c2) / 2
    np.testing.assert_allclose(g.numpy(), q_minus_p(f.double().numpy() @ w.T + c, 0.5) @ w, rtol=1e-4, atol=1e-6)
    assert np.abs(g.numpy()).max() > 0


def test_named_layer_gradient_through_an_inplace_relu():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 7), nn.ReLU(inplace=True), nn.Linear(7, 3))
    model = PixelModel(net, input_size=2, mean=(0, 0, 0), std=(1, 1, 1))
    images = torch.rand(10, 3, 2, 2, generator=torch.Generator().manual_seed(2))
    batches = list(layer_gradients(model, images, "1", batch_size=4))
    assert [len(f) for f, _ in batches] == [3, 4, 3]  # balanced batches
    f, g = (torch.cat(t).double().numpy() for t in zip(*batches))
    w1, b1 = net[1].weight.detach().double().numpy(), net[1].bias.detach().double().numpy()
    w2, b2 = net[3].weight.detach().double().numpy(), net[3].bias.detach().double().numpy()
    x = images.reshape(10, -1).double().numpy()
    h = x @ w1.T + b1
    np.testing.assert_allclose(f, h, atol=1e-6)
    expected = (q_minus_p(np.maximum(h, 0) @ w2.T + b2, 0.5) @ w2) * (h > 0)
    np.testing.assert_allclose(g, expected, atol=1e-6)


def test_pre_logits_gradients_refuse_a_head_that_is_more_than_its_classifier(monkeypatch):
    torch.manual_seed(0)
    model = PixelModel(create_model("resnet18", num_classes=3, channels=(8, 8, 8, 8)), input_size=16)
    images = torch.rand(4, 3, 16, 16)
    assert len(list(layer_gradients(model, images, "pre_logits", batch_size=4))) == 1
    head = model.model.forward_head
    monkeypatch.setattr(model.model, "forward_head", lambda x, pre_logits=False: head(x, pre_logits) * (
        1 if pre_logits else 2))
    with pytest.raises(ArchsimError, match="not its classifier applied to pre_logits"):
        list(layer_gradients(model, images, "pre_logits", batch_size=4))


def test_beta_one_makes_every_gradient_zero():
    logits = torch.randn(5, 4, requires_grad=True)
    (grad,) = torch.autograd.grad(tempered_objective(logits, beta=1.0), logits)
    assert grad.abs().max() < 1e-6


# --- the CountSketch -------------------------------------------------------------------------------------------

def test_count_sketch_columns_have_t_distinct_buckets_and_e_st_s_is_identity():
    gen = torch.Generator().manual_seed(0)
    total = np.zeros((5, 5))
    for _ in range(3000):
        rows, weights = count_sketch(5, buckets=7, nonzeros=3, generator=gen)
        assert all(len(set(r.tolist())) == 3 for r in rows)
        np.testing.assert_allclose(np.abs(weights.numpy()), 1 / np.sqrt(3))
        s = dense_sketch(rows, weights, 7)
        np.testing.assert_allclose(np.diag(s.T @ s), 1.0)  # distinct buckets: every column has norm 1
        total += s.T @ s
    off = (total / 3000)[~np.eye(5, dtype=bool)]
    assert np.abs(off).max() < 0.05


def test_streamed_sketch_equals_the_dense_sketch_of_the_centred_outer_products():
    """Reference by hand: S (dense, all batches side by side) times H Phi, Phi's rows f (x) g."""
    rng = np.random.default_rng(0)
    f, g = rng.normal(size=(25, 6)) + 2.0, rng.normal(size=(25, 4)) - 1.0  # means that centring must remove
    acc = GradientKernel(buckets=16, nonzeros=3, seed=7)
    gen, blocks = torch.Generator().manual_seed(7), []
    for s in (slice(0, 10), slice(10, 20), slice(20, 25)):
        acc.update(f[s], g[s])
        blocks.append(dense_sketch(*count_sketch(s.stop - s.start, 16, 3, gen), 16))
    sketch = np.hstack(blocks)  # a fresh sketch per batch, all summed into the same 16 buckets
    phi = np.einsum("ip,iq->ipq", f, g).reshape(25, -1)
    sphi = sketch @ (phi - phi.mean(0))
    np.testing.assert_allclose(acc.kernel().matrix.numpy(), sphi @ sphi.T, atol=1e-9)


def _independent(mean_f, mean_g, seed, n=2000):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 32, generator=gen, dtype=torch.float64) + mean_f,
            torch.randn(n, 16, generator=gen, dtype=torch.float64) + mean_g)


def _noisy(f, g, seed=5, scale=0.5):
    gen = torch.Generator().manual_seed(seed)
    return (f + scale * torch.randn(f.shape, generator=gen, dtype=f.dtype),
            g + scale * torch.randn(g.shape, generator=gen, dtype=g.dtype))


def _kernel(f, g, buckets, seed=11, batch=250, **kwargs):
    acc = GradientKernel(buckets=buckets, seed=seed, **kwargs)
    for start in range(0, len(f), batch):
        acc.update(f[start:start + batch], g[start:start + batch])
    return acc.kernel()


@pytest.mark.parametrize("means", [(0, 0), (3, 3), (5, 0.5)])
def test_the_sketch_estimates_the_exact_centred_kernel_cka(means):
    """Two unrelated random models (the issue's table): the default sketch is within 0.05 of the exact n x n kernel."""
    (f1, g1), (f2, g2) = _independent(*means, seed=1), _independent(*means, seed=2)
    exact = kernel_cka(_kernel(f1, g1, None), _kernel(f2, g2, None))
    errors = {m: max(abs(kernel_cka(_kernel(f1, g1, m, seed=s), _kernel(f2, g2, m, seed=s)) - exact)
                     for s in range(3)) for m in (256, 1024)}
    assert errors[256] <= 0.05
    assert errors[1024] <= max(errors[256] / 4, 0.005)  # the docstring: the error shrinks like 1/M
    related = _noisy(f1, g1)
    close = kernel_cka(_kernel(f1, g1, None), _kernel(*related, None))
    assert kernel_cka(_kernel(f1, g1, 256), _kernel(*related, 256)) == pytest.approx(close, abs=0.05)
    assert close > 0.5


def test_the_projection_for_wide_layers_keeps_the_estimate_close():
    (f1, g1), (f2, g2) = _independent(3, 3, seed=1), _independent(3, 3, seed=2)
    related = _noisy(f1, g1)
    for other in ((f2, g2), related):
        exact = kernel_cka(_kernel(f1, g1, None), _kernel(*other, None))
        projected = kernel_cka(_kernel(f1, g1, 256, max_dim=256), _kernel(*other, 256, max_dim=256))  # 32 x 16 > 256
        assert projected == pytest.approx(exact, abs=0.1)


def test_unsketched_kernel_is_the_hadamard_product_of_the_gram_matrices():
    rng = np.random.default_rng(1)
    f, g = rng.normal(size=(9, 5)), rng.normal(size=(9, 3))
    acc = GradientKernel(buckets=None)
    acc.update(f[:4], g[:4])
    acc.update(f[4:], g[4:])
    np.testing.assert_allclose(acc.kernel().numpy(), (f @ f.T) * (g @ g.T), atol=1e-12)


# --- indices ---------------------------------------------------------------------------------------------------

def psd_pair(n=12, seed=0):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, 4))
    k1 = f @ f.T * np.exp(-0.1 * ((f[:, None] - f[None]) ** 2).sum(-1))
    k2 = (f + 0.8 * rng.normal(size=f.shape)) @ (f + 0.8 * rng.normal(size=f.shape)).T
    return k1, k2 @ k2.T / n  # both PSD


def test_indices_match_their_formulas():
    k1, k2 = psd_pair()
    a, b = centred(k1), centred(k2)
    assert kernel_cka(k1, k2) == pytest.approx((a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b), abs=1e-12)
    ra = sqrtm(a)
    nbs = np.trace(sqrtm(ra @ b @ ra)).real / np.sqrt(np.trace(a) * np.trace(b))
    assert normalized_bures_similarity(k1, k2) == pytest.approx(nbs, abs=1e-6)
    euclid = np.linalg.norm(a / np.linalg.norm(a) - b / np.linalg.norm(b))
    assert kernel_euclidean(k1, k2) == pytest.approx(euclid, abs=1e-12)
    assert kernel_euclidean(k1, k2) ** 2 == pytest.approx(2 - 2 * kernel_cka(k1, k2), abs=1e-12)
    assert 0 < normalized_bures_similarity(k1, k2) < 1


def test_proportional_kernels_are_identical():
    k1, _ = psd_pair()
    assert kernel_cka(k1, 3 * k1) == pytest.approx(1.0, abs=1e-12)
    assert normalized_bures_similarity(k1, 3 * k1) == pytest.approx(1.0, abs=1e-6)
    assert kernel_euclidean(k1, 3 * k1) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("call,message", [
    (lambda: count_sketch(4, buckets=3, nonzeros=4, generator=torch.Generator()), "nonzeros <= buckets"),
    (lambda: GradientKernel(buckets=0), "buckets must be"),
    (lambda: GradientKernel().update(np.ones((4, 2)), np.ones((5, 2))), "same examples"),
    (lambda: GradientKernel().update(np.full((4, 2), np.nan), np.ones((4, 2))), "NaN or Inf"),
    (lambda: GradientKernel().kernel(), "no batches"),
    (lambda: kernel_cka(np.ones((4, 4)), np.eye(4)), "centred kernel is 0"),
    (lambda: normalized_bures_similarity(np.eye(4), np.eye(5)), "same examples"),
])
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises(ArchsimError, match=message):
        call()


def test_the_sketch_matches_the_exact_kernel_on_trained_timm_models_at_pre_logits(tiny_zoo, digits_split):
    images = digits_split[0].images[:1000]

    def kernels(model):
        exact, sketched = GradientKernel(buckets=None), GradientKernel(buckets=256, seed=3)
        for f, g in layer_gradients(model, images, "pre_logits", 250):
            f, g = f.double(), g.double()
            exact.update(f, g)
            sketched.update(f, g)
        return exact.kernel(), sketched.kernel()

    ks = {label: kernels(model) for label, model in tiny_zoo.items()}
    labels = list(ks)
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            exact = kernel_cka(ks[a][0], ks[b][0])
            assert kernel_cka(ks[a][1], ks[b][1]) == pytest.approx(exact, abs=0.05), (a, b)

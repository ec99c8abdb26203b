"""Chain normalization keeps the function; alignment undoes a hand-made permutation; non-chains are refused."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from archsim.errors import ArchsimError
from archsim.similarity.chain_layers import fold, load_chain, trace_chain
from archsim.similarity.chain_norm import align, layer_similarity, normalized_chain, overall
from archsim.similarity.measure import MeasureInputs
from archsim.similarity.registry import MEASURES
from archsim.zoo.build import Run
from archsim.zoo.models import create_model
from archsim.zoo.wrapper import PixelModel


def _randomise_bn(net, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen))
                m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
                m.weight.copy_(torch.randn(n, generator=gen))
                m.bias.copy_(torch.randn(n, generator=gen))
    return net.eval()


def small_cnn(seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(6, 5, 3, padding=1), nn.BatchNorm2d(5), nn.LeakyReLU(0.1), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(5 * 2 * 2, 7), nn.ReLU(), nn.Dropout(0.5), nn.Linear(7, 4))
    return _randomise_bn(net, seed)


def small_mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 9), nn.ReLU(), nn.Linear(9, 8), nn.ReLU(), nn.Linear(8, 3))


def tiny_vgg(seed=0):
    torch.manual_seed(seed)
    return _randomise_bn(create_model("vgg11_bn", num_classes=4, model_cfg=[6, "M", 8, "M"], mlp_ratio=1 / 512), seed)


def _normalised_copy(net, example, layers):
    twin = copy.deepcopy(net)
    load_chain(trace_chain(twin, example), layers)
    return twin


@pytest.mark.parametrize("make,shape", [(small_cnn, (3, 8, 8)), (small_mlp, (12,)), (tiny_vgg, (3, 8, 8))])
def test_chain_normalization_keeps_outputs_and_gives_unit_rows(make, shape):
    net = make()
    chain = normalized_chain(net, torch.randn(2, *shape))
    x = torch.randn(16, *shape) * 3  # other inputs than the check inside normalized_chain
    twin = _normalised_copy(net, x[:2], chain.layers)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), net(x), rtol=1e-4, atol=1e-4)
    for W, b in chain.layers[:-1]:
        rows = np.concatenate([W.reshape(len(W), -1), b[:, None]], axis=1)
        np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-12)
    assert not np.allclose(np.linalg.norm(chain.layers[-1][0], axis=1), 1.0)  # the last layer keeps the scale


def test_batchnorm_folding_matches_conv_then_bn():
    net = small_cnn()
    links = trace_chain(net, torch.randn(2, 3, 8, 8))
    W, b = fold(links)[0]
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        expected = net[1](net[0](x))
        got = F.conv2d(x.double(), torch.from_numpy(W), torch.from_numpy(b), padding=1)
    torch.testing.assert_close(got.float(), expected, rtol=1e-5, atol=1e-5)
    assert [link.fan for link in links] == [1, 1, 4, 1]  # Linear(5*2*2) reads 4 columns per channel


def permuted_copy(net, seed=1):
    """small_cnn with the hidden units of every layer permuted and rescaled, by hand on the modules."""
    rng = np.random.default_rng(seed)
    twin = copy.deepcopy(net)
    conv1, bn1, conv2, bn2, fc1, fc2 = twin[0], twin[1], twin[4], twin[5], twin[9], twin[12]
    p1, p2, p3 = (torch.from_numpy(rng.permutation(n)) for n in (6, 5, 7))
    with torch.no_grad():
        conv1.weight.copy_(conv1.weight[p1])
        for t in (bn1.weight, bn1.bias, bn1.running_mean, bn1.running_var):
            t.copy_(t[p1])
        conv2.weight.copy_(conv2.weight[p2][:, p1])
        conv2.bias.copy_(conv2.bias[p2])
        for t in (bn2.weight, bn2.bias, bn2.running_mean, bn2.running_var):
            t.copy_(t[p2])
        cols = (p2[:, None] * 4 + torch.arange(4)).reshape(-1)  # flatten is channel-major
        scale = torch.from_numpy(rng.uniform(0.2, 5.0, 7)).float()
        fc1.weight.copy_(fc1.weight[p3][:, cols] * scale[:, None])
        fc1.bias.copy_(fc1.bias[p3] * scale)
        fc2.weight.copy_(fc2.weight[:, p3] / scale)
    return twin, (p1.numpy(), p2.numpy(), p3.numpy())


def test_permuted_copy_differs_before_alignment_and_is_identical_after():
    net = small_cnn()
    twin, perms = permuted_copy(net)
    x = torch.randn(8, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), net(x), rtol=1e-4, atol=1e-4)  # the same function
    a, b = normalized_chain(net, x[:2]), normalized_chain(twin, x[:2])
    cos_before, _ = layer_similarity(a.layers, b.layers)
    assert cos_before[:3].max() < 0.9
    aligned, found = align(a, b)
    cos, dist = layer_similarity(a.layers, aligned)
    np.testing.assert_allclose(cos, 1.0, atol=1e-9)
    np.testing.assert_allclose(dist, 0.0, atol=1e-5)
    assert overall(cos, dist) == pytest.approx((1.0, 0.0), abs=1e-5)
    for applied, recovered in zip(perms, found):  # aligned[i] = twin[recovered[i]] = net[applied[recovered[i]]]
        np.testing.assert_array_equal(applied[recovered], np.arange(len(applied)))


def test_alignment_keeps_the_function():
    net, other = small_cnn(0), small_cnn(1)
    x = torch.randn(6, 3, 8, 8)
    a, b = normalized_chain(net, x[:2]), normalized_chain(other, x[:2])
    aligned, perms = align(a, b)
    assert any((p != np.arange(len(p))).any() for p in perms)
    with torch.no_grad():
        torch.testing.assert_close(_normalised_copy(other, x[:2], aligned)(x), other(x), rtol=1e-4, atol=1e-4)
    cos, _ = layer_similarity(a.layers, aligned)
    assert (cos < 0.99).all()


class _Residual(nn.Module):
    """Identity shortcut with matching widths: passes every shape check, fails the function check."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 3)
        self.r1, self.r2 = nn.ReLU(), nn.ReLU()

    def forward(self, x):
        h = self.r1(self.a(x))
        return self.c(h + self.r2(self.b(h)))


@pytest.mark.parametrize("net,shape,message", [
    (create_model("resnet18", num_classes=4, channels=(8, 16, 32, 64)), (3, 16, 16),
     "downsample.0' takes 64 inputs.*residual adds"),
    (_Residual(), (8,), "changed the model's outputs.*residual adds"),
    (create_model("vit_tiny_patch16_224", num_classes=4, img_size=16, patch_size=4, embed_dim=16, depth=1,
                  num_heads=2), (3, 16, 16), r"\(LayerNorm\) is not supported"),
    (nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 2)), (4,), r"\(GELU\) is not supported"),
    (nn.Sequential(nn.Conv2d(4, 4, 3, groups=2), nn.ReLU(), nn.Conv2d(4, 2, 1)), (4, 5, 5), "groups=2"),
    (nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.BatchNorm1d(4), nn.Linear(4, 2)), (4,), "does not directly follow"),
    (nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), (4,), "at least two weight layers"),
])
def test_non_chains_get_a_clear_message(net, shape, message):
    with pytest.raises(ArchsimError, match=message):
        normalized_chain(net.eval(), torch.randn(2, *shape))


def test_weights_measure_on_a_run():
    cnn = small_cnn()
    twin, _ = permuted_copy(cnn)
    models = {"cnn": PixelModel(cnn, input_size=8), "twin": PixelModel(twin, input_size=8),
              "seed2": PixelModel(small_cnn(2), input_size=8),
              "mlp": PixelModel(nn.Sequential(nn.Flatten(), nn.Linear(192, 5), nn.ReLU(), nn.Linear(5, 4)),
                                input_size=8),
              "resnet": PixelModel(create_model("resnet18", num_classes=4, channels=(8, 16, 32, 64)), input_size=8)}
    result = weights(Run(models, None), {})
    v = result.values
    assert v[0, 1] == pytest.approx(1.0, abs=1e-9) and v[0, 2] < 0.9
    np.testing.assert_allclose(v[:3, :3], v[:3, :3].T)
    assert np.isnan(v[3, :3]).all() and v[3, 3] == 1.0  # another architecture: not comparable
    assert np.isnan(v[4]).all()
    assert any("resnet not applicable" in n and "residual" in n for n in result.notes)
    assert any("cnn vs mlp not comparable" in n for n in result.notes)
    assert len([r for r in result.detail_rows if r[:2] == ["cnn", "twin"]]) == 4
    distance = weights(Run(models, None), {"score": "distance"}).values
    assert distance[0, 1] == pytest.approx(0.0, abs=1e-5) and distance[0, 2] > 0.5


def weights(run, options):
    """The registered `weights` measure on a run, its options checked as the command line checks them."""
    return MEASURES["weights"](MeasureInputs(run), options)

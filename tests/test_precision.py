"""Precision modes (archsim.sat.precision): fp32 loss and input gradient under bf16 autocast, the store key,
and how far bf16 and channels_last move SAT on the tiny zoo trained in the test (figures printed with -s)."""

import time

import numpy as np
import pytest
import torch
from store_fixtures import query, write_config
from torch import nn

from archsim.cli import main
from archsim.config import parse_config
from archsim.errors import ArchsimError
from archsim.sat.engine import sat_matrix
from archsim.sat.precision import Prepared, prepared
from archsim.store.keys import attack_entry

ATTACK = {"backend": "native", "norm": "Linf", "eps": 0.15, "alpha": 0.04, "steps": 5, "random_start": True}


def test_fp32_is_the_model_itself_and_bf16_runs_in_bf16():
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 5))
    assert prepared(net) is net
    low = prepared(net, "bf16")
    assert isinstance(low, Prepared)
    x = torch.rand(4, 3, 2, 2, requires_grad=True)
    logits = low(x)
    assert logits.dtype == torch.float32  # the loss is taken from float32 logits
    # the matmul ran in bf16: the result equals the bf16 product, not the fp32 one
    w, b = net[1].weight, net[1].bias
    in_bf16 = nn.functional.linear(x.flatten(1).bfloat16(), w.bfloat16(), b.bfloat16()).float()
    torch.testing.assert_close(logits, in_bf16, rtol=0, atol=0)
    assert not torch.equal(logits, net(x))
    grad = torch.autograd.grad(nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 3])), x)[0]
    assert grad.dtype == torch.float32 and grad.shape == x.shape and grad.abs().sum() > 0
    with pytest.raises(ValueError, match="precision"):
        prepared(net, "fp8")


def test_channels_last_changes_the_layout_not_the_result():
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(2))
    x = torch.rand(2, 3, 8, 8)
    expected = conv(x)
    cl = prepared(conv, "fp32", channels_last=True)
    assert conv[0].weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(cl(x), expected, rtol=1e-5, atol=1e-6)


def test_the_attack_key_holds_the_precision():
    fp32 = attack_entry(ATTACK, 0, 64)
    assert attack_entry(ATTACK, 0, 64, "fp32") == fp32 and "precision" not in fp32.config  # stores made before
    bf16, fp16 = attack_entry(ATTACK, 0, 64, "bf16"), attack_entry(ATTACK, 0, 64, "fp16")
    assert len({fp32.key, bf16.key, fp16.key}) == 3 and bf16.config["precision"] == "bf16"


def test_config_and_cli_options():
    base = {"data": {"source": "digits"}, "models": ["resnet18"]}
    cfg = parse_config(base)
    assert cfg.precision == "fp32" and cfg.channels_last is False
    cfg = parse_config({**base, "precision": "bf16", "channels_last": True})
    assert cfg.precision == "bf16" and cfg.channels_last is True
    with pytest.raises(ArchsimError, match="precision must be one of fp32, bf16, fp16, got 'int8'"):
        parse_config({**base, "precision": "int8"})
    with pytest.raises(ArchsimError, match="channels_last must be true or false"):
        parse_config({**base, "channels_last": "yes"})


def test_bf16_and_fp32_results_never_mix_in_the_store(zoo_specs, tmp_path, capsys):
    config = write_config(tmp_path / "run.yaml", list(zoo_specs.values())[:2])
    out = tmp_path / "run"
    assert main(["sat", "--config", str(config), "--out", str(out), "--no-progress"]) == 0
    assert main(["sat", "--config", str(config), "--out", str(out), "--no-progress", "--precision", "bf16",
                 "--channels-last"]) == 0
    text = capsys.readouterr().out
    assert "ran 2 attack and 4 evaluation units, 2 noise-control units; 0 reused" in text.split("wrote")[1]
    configs = [c for (c,) in query(out, "SELECT config FROM attacks ORDER BY id")]
    assert len(configs) == 2 and '"precision": "bf16"' in configs[1] and "precision" not in configs[0]


def test_bf16_against_fp32_on_the_tiny_zoo(tiny_zoo, digits_split):
    """How many per-image outcomes bf16 changes against fp32, and the largest |dSAT| (printed).

    On this CPU bf16 autocast is slower than fp32 (no bf16 matmul units used at these sizes); the point here is
    agreement, not speed."""
    _, test = digits_split
    kwargs = dict(eps=0.15, alpha=0.04, steps=5, seed=0, batch_size=64, progress=False)
    start = time.perf_counter()
    ref = sat_matrix(tiny_zoo, test.images, test.labels, **kwargs)
    seconds = {"fp32": time.perf_counter() - start}
    figures = {}
    for name, options in {"bf16": {"precision": "bf16"}, "channels_last": {"channels_last": True}}.items():
        start = time.perf_counter()
        got = sat_matrix(tiny_zoo, test.images, test.labels, **kwargs, **options)
        seconds[name] = time.perf_counter() - start
        both = (ref.adv_correct >= 0) & (got.adv_correct >= 0)
        changed = int((ref.adv_correct != got.adv_correct)[both].sum())
        clean = int((ref.clean_correct != got.clean_correct).sum())
        figures[name] = (changed, int(both.sum()), clean, float(np.abs(got.sat - ref.sat).max()))
        print(f"{name}: {changed} of {int(both.sum())} adversarial outcomes and {clean} of "
              f"{ref.clean_correct.size} clean outcomes changed vs fp32, largest |dSAT| = {figures[name][3]:.4f}; "
              f"{seconds[name]:.1f} s (fp32 {seconds['fp32']:.1f} s)")
    for m in tiny_zoo.values():  # the tiny zoo is shared by other tests: back to the default layout
        m.to(memory_format=torch.contiguous_format)
    changed, total, clean, dsat = figures["bf16"]
    assert changed <= 0.05 * total and clean <= 0.02 * ref.clean_correct.size and dsat < 0.25  # borderline images
    changed, total, clean, dsat = figures["channels_last"]
    assert changed <= 0.005 * total and clean <= 1 and dsat < 0.02  # the same arithmetic in another order

"""Components derived from timm module trees, checked against hand-checked answers.

The expected rows were written from the architectures' papers and timm's model
definitions (configs quoted in the comments), not from this code's output.
Models are built on the meta device: no weights, no downloads.
"""

import warnings

import pytest
import torch
from torch import nn

from analysis.components.derive import COLUMNS, ComponentError, ComponentWarning, derive_components
from analysis.components.nas_overrides import NAS_FAMILIES, apply_overrides, nas_reason
from analysis.components.table import ModelEntry, derive_table, entries_from_config
from archsim.errors import ArchsimError

# Columns after "Model name": base | hierarchical | stem | resolution | norm | act | stem pool |
# final pool | 2D SA | CW attention | CW location | DW conv | group conv
EXPECTED = {
    # 7x7/2 conv + 3x3/2 max pool, bottlenecks with BN + ReLU, average pool
    "resnet50": "CNN|Yes|7s2|224 x 224|BN|ReLU|Yes|GAP|No|No|~|No|No",
    # 16x16 patchify, isotropic pre-norm transformer, class token
    "vit_small_patch16_224": "Transformer|No|16s16|224 x 224|LN|GeLU|No|CLS token|No|No|~|No|No",
    # 4x4/4 patchify stem, 7x7 depthwise convs, LN, GELU, 4 stages
    "convnext_tiny": "CNN|Yes|4s4|224 x 224|LN|GeLU|No|GAP|No|No|~|Yes|No",
    # 4x4 patch embedding, windowed attention, patch merging (Linear) between stages, mean pool
    "swin_tiny_patch4_window7_224": "Transformer|Yes|4s4|224 x 224|LN|GeLU|No|GAP|No|No|~|No|No",
    # ResNet-50 with SE after conv3/bn3, just before the residual addition
    "seresnet50": "CNN|Yes|7s2|224 x 224|BN|ReLU|Yes|GAP|No|Yes (SE)|End|No|No",
    # byobnet: stem_type='tiered', stem_pool='' (stride on the last stem conv), act silu,
    # attn_layer='eca' in BottleneckBlock with attn_last=False: after conv2_kxk, before conv3_1x1
    "eca_resnet33ts": "CNN|Yes|3s2/3/3s2|256 x 256|BN|SiLU|No|GAP|No|Yes (ECA)|Middle|No|No",
    # byoanet: tiered stem + maxpool, ReLU, BottleneckAttn (MHSA) in place of 3x3 convs
    "botnet26t_256": "CNN|Yes|3s2/3/3|256 x 256|BN|ReLU|Yes|GAP|Yes (BoT)|No|~|No|No",
    # tiered stem + maxpool, silu, HaloAttn blocks
    "halonet50ts": "CNN|Yes|3s2/3/3|256 x 256|BN|SiLU|Yes|GAP|Yes (Halo)|No|~|No|No",
    # tiered stem + maxpool, silu, LambdaLayer blocks
    "lambda_resnet50ts": "CNN|Yes|3s2/3/3|256 x 256|BN|SiLU|Yes|GAP|Yes (Lambda)|No|~|No|No",
    # ResMLP: Affine (alpha * x + beta) instead of normalization, token-mixing Linear(196, 196)
    "resmlp_24_224": "MLP-Mixer|No|16s16|224 x 224|Affine transform|GeLU|No|GAP|No|No|~|No|No",
    # gMLP: spatial gating unit = Linear over the 196 tokens
    "gmlp_s16_224": "MLP-Mixer|No|16s16|224 x 224|LN|GeLU|No|GAP|No|No|~|No|No",
    # NF-ResNet: scaled weight-standardised convs, no activation normalization, '7x7_pool' stem
    "nf_resnet50": "CNN|Yes|7s2|256 x 256|Norm-free|ReLU|Yes|GAP|No|No|~|No|No",
    # ResNet-50 with GroupNorm in place of BN
    "resnet50_gn": "CNN|Yes|7s2|224 x 224|GN|ReLU|Yes|GAP|No|No|~|No|No",
    # CoaT-Lite: 4x4 patch embeddings, serial blocks with depthwise conv position encodings, class token
    "coat_lite_small": "Transformer|Yes|4s4|224 x 224|LN|GeLU|No|CLS token|No|No|~|Yes|No",
    # PiT: 16x16 patches at stride 8, depthwise-conv pooling between stages, class token
    "pit_s_224": "Transformer|Yes|16s8|224 x 224|LN|GeLU|No|CLS token|No|No|~|Yes|No",
    # MixNet (NAS): ReLU in the first stages, Swish (SiLU) in the majority of later blocks,
    # SE between the mixed depthwise conv and the projection
    "mixnet_xl": "NAS (CNN)|Yes|3s2|224 x 224|BN|SiLU + ReLU|No|GAP|No|Yes (SE)|Middle|Yes|No",
    # EfficientNet (NAS): MBConv with SE between depthwise conv and projection, SiLU
    "efficientnet_b2": "NAS (CNN)|Yes|3s2|256 x 256|BN|SiLU|No|GAP|No|Yes (SE)|Middle|Yes|No",
    # CSPDarknet-53: CspStemCfg(kernel_size=3, stride=1, pool=''), LeakyReLU
    "cspdarknet53": "CNN|Yes|3|256 x 256|BN|Leaky ReLU|No|GAP|No|No|~|No|No",
    # DPN: 7x7/2 conv + max pool input block, grouped 3x3 convs (groups=50)
    "dpn107": "CNN|Yes|7s2|224 x 224|BN|ReLU|Yes|GAP|No|No|~|No|Yes",
    # ReXNet: SiLU after the 15 expansion convs + stem + head (17) vs ReLU6 after the
    # 16 depthwise convs (16); SE (its ReLU excluded) after the depthwise conv
    "rexnet_150": "CNN|Yes|3s2|224 x 224|BN|SiLU + ReLU|No|GAP|No|Yes (SE)|Middle|Yes|No",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_components_match_hand_checked_answers(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ComponentWarning)  # all of these are known patterns
        row = derive_components(name)
    got = "|".join(row.values[c] for c in COLUMNS[1:])
    assert got == EXPECTED[name]
    assert row.values["Model name"] == name


def test_hand_checked_set_covers_every_listed_value():
    values = {c: {e.split("|")[i] for e in EXPECTED.values()} for i, c in enumerate(COLUMNS[1:])}
    assert values["Base architecture"] >= {"CNN", "Transformer", "MLP-Mixer", "NAS (CNN)"}
    assert values["Normalization"] >= {"BN", "LN", "GN", "Norm-free", "Affine transform"}
    assert values["Activation"] >= {"ReLU", "GeLU", "SiLU", "Leaky ReLU"}
    assert values["2D SA"] == {"No", "Yes (BoT)", "Yes (Halo)", "Yes (Lambda)"}
    assert values["Location of CW attention"] == {"Middle", "End", "~"}
    assert values["Pooling (final)"] == {"GAP", "CLS token"}


@pytest.mark.parametrize("name, kwargs, column, value", [
    ("vit_small_patch16_224", {"global_pool": "avg"}, "Pooling (final)", "GAP"),  # mean over patch tokens
    ("vit_base_patch16_siglip_224", {"num_classes": 10}, "Pooling (final)", "Attention pooling"),  # MAP head
    ("vit_small_patch16_224", {"num_classes": 0}, "Pooling (final)", "CLS token"),  # no classifier: the output
    ("gcresnet33ts", {}, "CW attention", "Yes (GCA)"),  # GlobalContext: softmax attention pooling over positions
    ("ese_vovnet39b", {}, "CW attention", "Yes (ESE)"),  # one 1x1 conv + hard sigmoid, end of the OSA block
    ("ese_vovnet39b", {}, "Location of CW attention", "End"),
    ("gcresnet33ts", {}, "Normalization", "BN"),  # the GC block's LayerNorm belongs to the attention
    ("resnest14d", {}, "CW attention", "Yes (SK)"),  # split attention: softmax over the radix branches
    ("vit_small_r26_s32_224", {}, "Base architecture", "Hybrid"),  # ResNet-26 stages before the ViT blocks
    ("vit_small_r26_s32_224", {}, "Stem layer", "7s2"),  # the nested ResNet's own stem
    ("xcit_nano_12_p16_224", {}, "Normalization", "LN + BN"),  # LN in blocks; BN in conv patch embed and LPI
    ("crossvit_tiny_240", {}, "Stem layer", "12s12 + 16s16"),  # two parallel patch embeddings
    ("crossvit_tiny_240", {}, "Hierarchical structure", "No"),  # two scales side by side, no downsampling
    ("levit_128s", {}, "Activation", "HardSwish"),
    ("mobilenetv3_large_100", {}, "Base architecture", "NAS (CNN)"),
])
def test_other_component_values(name, kwargs, column, value):
    assert derive_components(name, **kwargs).values[column] == value


class MysteryNorm(nn.Module):
    """A normalization layer the rules do not know."""

    def __init__(self, num_features, **kwargs):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(num_features))

    def forward(self, x):
        return x / x.abs().amax(dim=(2, 3), keepdim=True).clamp_min(1e-6) * self.scale.view(1, -1, 1, 1)


class Snake(nn.Module):
    """An activation the rules do not know: x + sin(x)^2."""

    def __init__(self, inplace=False):
        super().__init__()

    def forward(self, x):
        return x + torch.sin(x) ** 2


def test_unknown_patterns_give_a_value_and_a_warning():
    with pytest.warns(ComponentWarning) as caught:
        row = derive_components("resnet18", norm_layer=MysteryNorm, act_layer=Snake)
    assert row.values["Normalization"] == "MysteryNorm"
    assert row.values["Activation"] == "none"
    messages = " ".join(str(w.message) for w in caught)
    assert "MysteryNorm" in messages and "no activation" in messages
    assert row.notes and row.values["Stem layer"] == "7s2"  # everything else still derived


def test_a_model_that_cannot_be_built_gets_an_unknown_row_and_the_rest_still_derive():
    with pytest.raises(ComponentError, match="cannot build"):
        derive_components("resnet18", no_such_kwarg=1)
    with pytest.warns(ComponentWarning, match="cannot build timm model 'resnet18'"):
        rows, _ = derive_table([ModelEntry("resnet18", "broken", kwargs={"no_such_kwarg": 1}),
                                ModelEntry("resnet10t", "fine")])
    assert rows[0].values == {c: "unknown" for c in COLUMNS} | {"Model name": "broken"}
    assert rows[1].values["Stem layer"] == "3s2/3/3"


def test_override_table():
    assert all(why for _, why in NAS_FAMILIES)
    assert nas_reason("efficientnet_b2.ra_in1k") and nas_reason("tf_mixnet_l") and not nas_reason("resnet50")
    row = {"Base architecture": "Transformer"}
    assert apply_overrides("efficientnet_fictional_vit", row) == ["Base architecture"]
    assert row["Base architecture"] == "NAS (TFM)"
    row = {"Base architecture": "MLP-Mixer"}
    assert apply_overrides("mnasnet_100", row) == [] and row["Base architecture"] == "MLP-Mixer"
    row = {"Base architecture": "CNN"}
    assert apply_overrides("regnety_032", row) == [] and row["Base architecture"] == "CNN"


def test_unknown_model_names_are_reported_with_close_names():
    with pytest.raises(ArchsimError, match=r"resnet5O.*close: .*resnet50"):
        derive_table([ModelEntry("resnet5O", "x")])


def test_entries_from_config(components_config):
    cfg = components_config
    entries = entries_from_config(cfg)
    assert [(e.name, e.label) for e in entries] == [
        ("resnet18.a1_in1k", "r18"), ("efficientnet_b0.ra_in1k", "effb0"),
        ("vit_tiny_patch16_224", "vit_tiny_patch16_224")]
    assert entries[0].input_size == 192 and entries[2].kwargs == {"img_size": 160}


def test_small_inputs_and_scaled_architectures():
    """At 32 x 32 a ResNet-18's global pool sees a 1 x 1 map; it is still the final pool, not the stem's
    max pool. A Mixer scaled with arguments its timm entry point fixes is still derived."""
    r = derive_components("resnet18", input_size=32).values
    assert r["Pooling (final)"] == "GAP" and r["Pooling (stem)"] == "Yes" and r["Input resolution"] == "32 x 32"
    m = derive_components("mixer_s16_224", img_size=32, patch_size=4, embed_dim=64, num_blocks=4).values
    assert (m["Base architecture"], m["Stem layer"], m["Pooling (final)"]) == ("MLP-Mixer", "4s4", "GAP")

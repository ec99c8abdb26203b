"""configs/imagenet69.yaml is the SAT paper's pool (Hwang et al., ECCV 2024), row for row.

Fast: reads the config and timm's model / pretrained-config registries only
(shipped with timm), never creates a model, loads weights or touches the network.
"""

from pathlib import Path

import pytest
import timm
import timm.models

from archsim.config import load_config

CONFIG = Path(__file__).parent.parent / "configs" / "imagenet69.yaml"

# The 69 models in the order of the paper's released SAT matrix.
PAPER_MODELS = [
    "nfnet_l0", "regnety_032", "twins_pcpvt_base", "xcit_medium_24_p16_224", "eca_nfnet_l0", "pit_b_224",
    "coat_lite_small", "convit_base", "crossvit_base_240", "visformer_small", "convnext_tiny", "fbnetv3_g",
    "deit_base_patch16_224", "vit_small_r26_s32_224", "twins_svt_small", "halonet50ts", "lamhalobotnet50ts_256",
    "tnt_s_patch16_224", "wide_resnet50_2", "jx_nest_tiny", "convmixer_1536_20", "seresnext50_32x4d",
    "sebotnet33ts_256", "lambda_resnet50ts", "resnext50_32x4d", "haloregnetz_b", "resmlp_big_24_224",
    "sehalonet33ts", "nf_resnet50", "efficientnet_b2", "mixnet_xl", "resnetv2_50", "resnet50", "rexnet_150",
    "seresnet50", "regnetx_320", "dpn107", "gmlp_s16_224", "hrnet_w64", "dla102x2", "ese_vovnet39b",
    "resnetblur50", "botnet26t_256", "vit_small_patch16_224", "poolformer_m48", "swin_s3_tiny_224",
    "halo2botnet50ts_256", "resnetv2_101", "resnetv2_50d_evos", "resnet101", "swin_tiny_patch4_window7_224",
    "resnest50d", "gcresnet50t", "gcresnext50ts", "eca_resnet33ts", "cspdarknet53", "cspresnext50",
    "gluon_xception65", "gluon_resnet101_v1c", "cspresnet50", "eca_halonext26ts", "nf_regnet_b1",
    "eca_botnext26ts_256", "vit_base_patch32_224", "resnet50_gn", "deit_small_patch16_224", "pit_s_224",
    "xcit_tiny_12_p8_224", "resmlp_24_224",
]


@pytest.fixture(scope="module")
def config():
    return load_config(CONFIG)


@pytest.fixture(scope="module")
def pretrained_names():
    return set(timm.list_models(pretrained=True))


def test_paper_list_itself():
    assert len(PAPER_MODELS) == 69 and len(set(PAPER_MODELS)) == 69


def test_labels_are_the_paper_models_in_order(config):
    assert [m.label for m in config.models] == PAPER_MODELS


def test_every_model_is_pretrained_with_a_pinned_tag(config):
    for m in config.models:
        assert m.pretrained is True, m.label
        arch, tag = timm.models.split_model_name_tag(m.name)
        assert tag, f"{m.label}: {m.name} has no pretrained tag"


@pytest.mark.parametrize("index", range(len(PAPER_MODELS)), ids=PAPER_MODELS)
def test_model_and_weights_exist_in_timm(config, pretrained_names, index):
    m = config.models[index]
    arch, tag = timm.models.split_model_name_tag(m.name)
    assert timm.is_model(arch), f"{m.label}: timm has no architecture {arch!r}"
    assert m.name in pretrained_names, f"{m.label}: timm has no pretrained weights {m.name!r}"


def test_native_resolution_no_overrides(config):
    assert all(m.input_size is None for m in config.models)

"""Model creation, weights loading (local files and the offline hub cache), identity."""

import pytest
import timm
import torch
from safetensors.torch import save_file

from archsim.errors import ArchsimError
from archsim.zoo.models import create_model, load_checkpoint, model_identity, weights_hash


def small(**kw):
    return create_model("test_resnet", num_classes=10, **kw)


def test_unknown_name_suggests_close_names():
    with pytest.raises(ArchsimError, match=r"unknown timm model 'resnet5O'.*resnet50"):
        create_model("resnet5O")


def test_unknown_tag_lists_tags():
    with pytest.raises(ArchsimError, match=r"no pretrained tag 'nope'.*a1_in1k"):
        create_model("resnet50.nope", pretrained=True)
    with pytest.raises(ArchsimError, match="pretrained asks for"):
        create_model("resnet50.a1_in1k", pretrained="tv_in1k")


def test_bad_kwarg_is_clear():
    with pytest.raises(ArchsimError, match="bad keyword"):
        create_model("test_resnet", not_an_arg=3)


def test_kwargs_reach_timm():
    m = create_model("test_resnet", num_classes=7, in_chans=1)
    assert m(torch.rand(2, 1, 32, 32)).shape == (2, 7)
    assert not m.training


@pytest.mark.parametrize("fmt", ["safetensors", "torch", "torch-wrapped"])
def test_checkpoint_roundtrip(tmp_path, fmt):
    torch.manual_seed(1)
    src = small()
    state = src.state_dict()
    if fmt == "safetensors":
        path = tmp_path / "w.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        path = tmp_path / "w.pth"
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}} if fmt == "torch-wrapped" else state,
                   path)
    torch.manual_seed(2)
    assert weights_hash(small()) != weights_hash(src)
    loaded = small(checkpoint=path)
    assert weights_hash(loaded) == weights_hash(src)
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(loaded(x), src.eval()(x))


def test_checkpoint_mismatch_names_first_key(tmp_path):
    path = tmp_path / "w.safetensors"
    state = create_model("test_resnet", num_classes=5).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    with pytest.raises(ArchsimError, match=r"key 'fc.weight' has shape \(5, .*expects \(10,"):
        small(checkpoint=path)
    del state["conv1.0.weight"]
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    with pytest.raises(ArchsimError, match="missing key 'conv1.0.weight'"):
        load_checkpoint(create_model("test_resnet", num_classes=5), path)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"weights": torch.zeros(1), "obj": object()}, path)
    with pytest.raises(ArchsimError, match="holds pickled code, not only tensors, and is refused") as e:
        small(checkpoint=path)
    assert "\n" not in str(e.value) and "weights_only=False" not in str(e.value)  # never torch's unsafe advice


def test_missing_checkpoint(tmp_path):
    with pytest.raises(ArchsimError, match="checkpoint not found"):
        small(checkpoint=tmp_path / "none.safetensors")


def test_identity_follows_weights():
    torch.manual_seed(0)
    a = small()
    b = small()
    b.load_state_dict(a.state_dict())
    assert model_identity("x", a) == model_identity("x", b)
    with torch.no_grad():
        next(b.parameters())[0, 0, 0, 0] += 1e-3
    assert model_identity("x", a) != model_identity("x", b)
    assert model_identity("x", a).startswith("x@") and len(model_identity("x", a)) == 2 + 16


def fake_hub_cache(root, repo, state):
    """The layout huggingface_hub uses for a cached model repo."""
    rev = "0" * 40
    snap = root / f"models--{repo.replace('/', '--')}" / "snapshots" / rev
    snap.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(snap / "model.safetensors"))
    (root / f"models--{repo.replace('/', '--')}" / "refs").mkdir()
    (root / f"models--{repo.replace('/', '--')}" / "refs" / "main").write_text(rev)


def test_pretrained_from_offline_hub_cache(tmp_path, monkeypatch):
    """The real pretrained=True path: timm -> huggingface_hub cache, with the network off."""
    torch.manual_seed(3)
    reference = timm.create_model("test_resnet.r160_in1k", pretrained=False)
    fake_hub_cache(tmp_path, "timm/test_resnet.r160_in1k", reference.state_dict())
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    for model in (create_model("test_resnet.r160_in1k", pretrained=True),
                  create_model("test_resnet", pretrained="r160_in1k")):
        assert weights_hash(model) == weights_hash(reference)


def test_pretrained_missing_from_offline_cache_is_clear(tmp_path, monkeypatch):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(ArchsimError, match="could not load pretrained weights.*hub cache"):
        create_model("test_resnet.r160_in1k", pretrained=True)


def test_arguments_an_entry_point_fixes_can_be_overridden():
    """mixer_s16_224 builds dict(patch_size=16, num_blocks=8, embed_dim=512, **kwargs): a plain clash."""
    with pytest.raises(TypeError, match="multiple values"):
        timm.create_model("mixer_s16_224", patch_size=4)
    m = create_model("mixer_s16_224", num_classes=10, img_size=32, patch_size=4, embed_dim=32, num_blocks=2)
    assert m.stem.proj.kernel_size == (4, 4) and m.stem.proj.out_channels == 32 and len(m.blocks) == 2
    assert m(torch.rand(1, 3, 32, 32)).shape == (1, 10)
    c = create_model("convnext_atto", num_classes=10, dims=(16, 32, 64, 128))
    assert [s.blocks[0].conv_dw.in_channels for s in c.stages] == [16, 32, 64, 128]
    # the override is scoped to that one call
    assert timm.create_model("mixer_s16_224").stem.proj.kernel_size == (16, 16)

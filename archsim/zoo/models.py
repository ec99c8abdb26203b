"""Create timm models by name, load their weights, and identify them by content.

`create_model(name, pretrained=..., checkpoint=..., **kwargs)` is timm's factory
with archsim's checks in front of it:

- `name` is any timm architecture, optionally with a pretrained tag
  (`resnet50.a1_in1k`); an unknown name raises `ArchsimError` with close names.
- `pretrained=True` loads timm's default weights for the name (or the tag in the
  name); `pretrained="a1_in1k"` picks a tag. timm resolves them through the
  Hugging Face hub cache, so an offline machine (`HF_HUB_OFFLINE=1`) with a
  filled cache works and one without gets a clear error.
- kwargs override the architecture arguments of the entry point. Many timm entry
  points fix some of them (`mixer_s16_224` builds `dict(patch_size=16, ...,
  **kwargs)`, so passing `patch_size` collides); archsim then passes the
  colliding values straight to timm's `build_model_with_cfg` for that one call,
  so any timm architecture can be scaled (widths, depth, patch size).
- `checkpoint=PATH` loads a local file: safetensors, or a torch file read with
  `torch.load(weights_only=True)` (never unpickling code: a file holding pickled
  code is refused in one line). An unreadable (truncated, random) file, or one
  that does not fit the model, is an `ArchsimError` naming the file (and the
  first mismatching key).

A `name` of the form `package.module:callable` is the user's own architecture
(`archsim.zoo.callables`): the callable is called with the kwargs; pretrained
weights are timm's only, so such a model takes a checkpoint or is trained here.

A model's identity is `name@<sha256 of its weights>` (`model_identity`).
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import re
from pathlib import Path
from unittest import mock

import timm
import torch
from safetensors.torch import load_file
from timm.models import model_entrypoint, split_model_name_tag

from archsim.errors import ArchsimError, one_line
from archsim.zoo.callables import build_callable, is_callable_name


def create_model(name: str, *, pretrained: bool | str = False, checkpoint: str | Path | None = None,
                 **kwargs) -> torch.nn.Module:
    """timm.create_model with clear errors; returns the model in eval mode on the CPU."""
    if is_callable_name(name):
        if pretrained:
            raise ArchsimError(f"model {name!r}: pretrained weights are timm's; give a checkpoint instead")
        model = build_callable(name, **kwargs)
        if checkpoint is not None:
            load_checkpoint(model, checkpoint)
        return model.eval()
    arch, tag = split_model_name_tag(name)
    close = close_model_names(name)
    if close is not None:
        hint = f"; close names: {', '.join(close)}" if close else ""
        raise ArchsimError(f"unknown timm model {name!r}{hint}")
    if isinstance(pretrained, str):
        if tag and tag != pretrained:
            raise ArchsimError(f"model {name!r} names tag {tag!r} but pretrained asks for {pretrained!r}")
        tag, pretrained = pretrained, True
    full = f"{arch}.{tag}" if tag else arch
    if tag and full not in timm.list_pretrained(f"{arch}.*"):
        tags = [t.split(".", 1)[1] for t in timm.list_pretrained(f"{arch}.*")]
        raise ArchsimError(f"timm has no pretrained tag {tag!r} for {arch!r}; tags: {', '.join(tags) or 'none'}")
    if pretrained and checkpoint is not None:
        raise ArchsimError(f"model {name!r}: give pretrained or checkpoint, not both")
    try:
        model = _create_overriding_fixed_args(full, bool(pretrained), kwargs)
    except TypeError as e:
        raise ArchsimError(f"model {name!r}: bad keyword argument ({e})") from None
    except (OSError, RuntimeError, ValueError) as e:
        if pretrained:
            raise ArchsimError(
                f"could not load pretrained weights for {full!r} ({type(e).__name__}: {e}). "
                "Weights come from the Hugging Face hub cache; on an offline machine fill the cache "
                "first or use checkpoint: PATH"
            ) from None
        raise ArchsimError(f"could not create {full!r}: {e}") from None
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    return model.eval()


def close_model_names(name: str) -> list[str] | None:
    """None when `name` (a pretrained tag allowed) is a timm architecture, else up to 5 close names."""
    arch, _ = split_model_name_tag(name)
    if timm.is_model(arch):
        return None
    return difflib.get_close_matches(arch, timm.list_models(), n=5, cutoff=0.6)


def _create_overriding_fixed_args(full: str, pretrained: bool, kwargs: dict) -> torch.nn.Module:
    """timm.create_model; architecture arguments the entry point fixes go to its builder instead."""
    fixed, free = {}, dict(kwargs)
    while True:
        try:
            if not fixed:
                return timm.create_model(full, pretrained=pretrained, **free)
            module = inspect.getmodule(model_entrypoint(split_model_name_tag(full)[0]))
            build = module.build_model_with_cfg

            def build_with_fixed(*args, **build_kwargs):
                return build(*args, **{**build_kwargs, **fixed})

            with mock.patch.object(module, "build_model_with_cfg", build_with_fixed):
                return timm.create_model(full, pretrained=pretrained, **free)
        except TypeError as e:
            clash = re.search(r"got multiple values for keyword argument '(\w+)'", str(e))
            if not clash or clash.group(1) not in free:
                raise
            fixed[clash.group(1)] = free.pop(clash.group(1))


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file, or of a torch file loaded with weights_only=True.

    Torch files that wrap the weights (`{"state_dict": ...}` or `{"model": ...}`) are
    unwrapped, and a DataParallel `module.` prefix is dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise ArchsimError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path), device="cpu")
        except Exception as e:  # noqa: BLE001 - SafetensorError, or an OSError, for a truncated or foreign file
            raise ArchsimError(f"checkpoint {path} is not a readable safetensors file "
                               f"({one_line(e).split(';')[0]})") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors come in many types; all mean "not a safe weights file"
        if "Weights only load failed" in str(e):  # torch refused an object that is not a tensor: pickled code
            raise ArchsimError(f"checkpoint {path} holds pickled code, not only tensors, and is refused "
                               "(archsim never unpickles code; save the weights as safetensors)") from None
        raise ArchsimError(f"cannot read checkpoint {path} as safetensors or weights-only torch file "
                           f"({one_line(e).split(';')[0]})") from None
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ArchsimError(f"checkpoint {path} does not hold a dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_checkpoint(model: torch.nn.Module, path: str | Path) -> None:
    """Load `path` into `model` strictly; name the first key that is missing, extra or misshapen."""
    state = read_state_dict(path)
    expected = model.state_dict()
    for key, value in expected.items():
        if key not in state:
            raise ArchsimError(f"checkpoint {path} does not fit the model: missing key {key!r}")
        if state[key].shape != value.shape:
            raise ArchsimError(f"checkpoint {path} does not fit the model: key {key!r} has shape "
                               f"{tuple(state[key].shape)}, the model expects {tuple(value.shape)}"
                               + _channels_hint(state[key].shape, value.shape))
    extra = [k for k in state if k not in expected]
    if extra:
        raise ArchsimError(f"checkpoint {path} does not fit the model: unexpected key {extra[0]!r}")
    model.load_state_dict(state, strict=True)


def _channels_hint(found: torch.Size, expected: torch.Size) -> str:
    """A hint when a conv weight differs only in its input channels: the checkpoint's first layer takes other images."""
    if len(found) == len(expected) == 4 and found[0] == expected[0] and found[2:] == expected[2:]:
        return f"; its first layer takes {found[1]}-channel images: set the model's kwargs: {{in_chans: {found[1]}}}"
    return ""


def weights_hash(model: torch.nn.Module) -> str:
    """sha256 over the state dict: each key, dtype, shape and raw bytes, in key order."""
    h = hashlib.sha256()
    for key, t in sorted(model.state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def model_identity(name: str, model: torch.nn.Module) -> str:
    """A model's identity: its name plus the first 16 hex digits of its weights hash."""
    return f"{name}@{weights_hash(model)[:16]}"

"""Models named in one line (`--models`, `archsim pair A B`, the Python API) as config entries.

    parse_models("a,b,...") -> [entry]     each entry a `models:` item of a config (a dict, YAML-ready)
    parse_entry("...") -> entry
    entry_for(name, checkpoint=None, label=None) -> entry   (the Python API's (name, checkpoint) pairs)
    checkpoint_defaults(name, path) -> {in_chans, num_classes}   read off the checkpoint's weights

An entry is `[LABEL=]MODEL[=CHECKPOINT]`:

    resnet50.a1_in1k                   a timm name, with or without a pretrained tag: timm's pretrained weights
    resnet18=runs/a.safetensors        a timm architecture with the weights of a checkpoint (safetensors or a
                                       weights-only torch file)
    mine=resnet18=runs/a.safetensors   the same, labelled `mine` (the label defaults to MODEL)
    mypkg.nets:small_cnn=w.pt          the user's own architecture, `package.module:callable` returning an
                                       nn.Module (`archsim.zoo.callables`), with or without a checkpoint
    big=resnet50                       a label for a pretrained timm model

With one `=`, the right side is the checkpoint when it is a file or ends in a weights suffix
(.safetensors, .pt, .pth, .bin, .ckpt), else a model and the left side its label.

Defaults come from timm's pretrained config, or from the checkpoint: for a timm
architecture, `in_chans` is read off the first conv's weight and `num_classes`
off the classifier's (the layers timm's pretrained config names), where the key
is in the checkpoint and, for a model with two heads, both agree; a value that
differs from the architecture's default becomes the entry's kwargs. A callable is
imported and called once here, so a bad one stops before any work. Every failure
is one `ArchsimError` line naming the entry.
"""

from __future__ import annotations

from pathlib import Path

from timm.models import get_pretrained_cfg, split_model_name_tag

from archsim.errors import ArchsimError
from archsim.zoo.callables import build_callable, is_callable_name
from archsim.zoo.models import close_model_names, read_state_dict

WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")
FORMS = "an entry is NAME, NAME=CHECKPOINT, LABEL=NAME=CHECKPOINT or package.module:callable"


def parse_models(text: str) -> list[dict]:
    """The entries of a comma-separated list; ArchsimError for an empty list or a malformed entry."""
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise ArchsimError(f"--models is empty; {FORMS}")
    if not all(parts):
        raise ArchsimError(f"--models {text!r} has an empty entry (two commas, or one at an end)")
    return [parse_entry(p) for p in parts]


def parse_entry(text: str) -> dict:
    """One entry as a config `models:` item: {name, label, pretrained | checkpoint, kwargs}."""
    label, model, checkpoint = _split(text)
    return entry_for(model, checkpoint, label, text)


def entry_for(model: str, checkpoint=None, label: str | None = None, text: str | None = None) -> dict:
    """The entry of timm name or callable `model` with an optional checkpoint file and label (default: the model's
    name; `text`, the entry as typed, names it in errors)."""
    text = text or model
    entry = {"name": model, "label": label or _default_label(model)}
    if is_callable_name(model):
        build_callable(model)  # a bad callable stops here, in one line
    else:
        close = close_model_names(model)
        if close is not None:
            hint = f" (close names: {', '.join(close)})" if close else ""
            raise ArchsimError(f"--models entry {text!r}: {model!r} is not a timm model{hint}; {FORMS}")
    if checkpoint is None:
        if is_callable_name(model):
            return entry  # the user's architecture with its own initialisation: trained here, or random
        return {**entry, "pretrained": True}
    path = Path(checkpoint).expanduser().resolve()
    entry["checkpoint"] = str(path)
    kwargs = {} if is_callable_name(model) else checkpoint_defaults(model, path)
    return {**entry, "kwargs": kwargs} if kwargs else entry


def _split(text: str) -> tuple[str | None, str, str | None]:
    """(label, model, checkpoint) of `[LABEL=]MODEL[=CHECKPOINT]`."""
    parts = [p.strip() for p in text.split("=")]
    if len(parts) > 3 or not all(parts):
        raise ArchsimError(f"--models entry {text!r} is malformed; {FORMS}")
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        left, right = parts
        if Path(right).expanduser().is_file() or right.lower().endswith(WEIGHT_SUFFIXES):
            return None, left, right
        return left, right, None
    return None, parts[0], None


def _default_label(model: str) -> str:
    """The model as named; for a callable, the callable's own name."""
    return model.rsplit(":", 1)[1].rsplit(".", 1)[-1] if is_callable_name(model) else model


def checkpoint_defaults(name: str, path: str | Path) -> dict:
    """{in_chans, num_classes} of the timm architecture `name` read off the checkpoint, each only where the layer
    timm's pretrained config names is in the checkpoint (both heads agreeing) and differs from the default."""
    arch, _ = split_model_name_tag(name)
    cfg = get_pretrained_cfg(arch)
    if cfg is None:
        return {}
    state = read_state_dict(path)
    out = {}
    chans = _dims(state, cfg.first_conv, axis=1, ndim=(3, 4))
    if chans is not None and chans != cfg.input_size[0]:
        out["in_chans"] = chans
    classes = _dims(state, cfg.classifier, axis=0, ndim=(2, 4))
    if classes is not None and classes != cfg.num_classes:
        out["num_classes"] = classes
    return out


def _dims(state: dict, layers, *, axis: int, ndim: tuple[int, ...]) -> int | None:
    """The size along `axis` of each named layer's weight, when every one has it and all agree; else None."""
    names = layers if isinstance(layers, (list, tuple)) else [layers]
    sizes = set()
    for layer in names:
        weight = state.get(f"{layer}.weight") if layer else None
        if weight is None or weight.ndim not in ndim:
            return None
        sizes.add(int(weight.shape[axis]))
    return sizes.pop() if len(sizes) == 1 else None

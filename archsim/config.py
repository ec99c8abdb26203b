"""Run configuration: a YAML file read with `archsim.yaml_loader` (PyYAML's safe loader, which never executes
code, refusing repeated keys and alias bombs).

    seed: 0                 # attacks, subsets and training draw from it
    device: auto            # auto (cuda when available), cpu, cuda, cuda:1, ...
    batch_size: 64
    precision: fp32         # fp32, bf16 or fp16: autocast for attacks and evaluations (archsim.sat.precision)
    channels_last: false    # models and images in channels-last layout (faster convolutions on some devices)
    eps_s: 0.01             # floor inside SAT's log, in percent
    noise_warning: 0.1      # warn about a model that random noise of the attack's size fools more often
    cache_dir: ~/.cache/archsim   # trained weights (only with `train`)
    data: {...}             # see archsim.zoo.data
    attack: {...}           # see attacks.make_attack; default native PGD Linf 4/255, 1/255, 10 steps
    train: {...}            # optional: train models that have no weights (see archsim.settings)
    similarity: {cka: {...}}  # optional: options per measure (see archsim.similarity.registry)
    ensemble: {size: 3, ...}  # optional: defaults of `archsim ensemble` (see archsim.settings)
    distill: {student: ...}   # optional: defaults of `archsim distill` (see archsim.settings)
    shift: {severity: 0.5}    # optional: the applications' shifted images (see archsim.zoo.shift)
    model_defaults:         # optional: keys shared by every model (any model key but name and label);
      input_size: 16        #   a model's own keys win, and its kwargs and train are merged key by key
      kwargs: {num_classes: 10, in_chans: 1}
    models:
      - name: resnet50.a1_in1k   # timm name, optionally with a pretrained tag
        label: resnet50          # name in the matrices (default: name); unique
        pretrained: true         # or a tag
        checkpoint: w.safetensors  # or a local file (relative to the config file)
        kwargs: {num_classes: 10}  # passed to timm.create_model
        input_size: 32           # native size override (see archsim.zoo.wrapper)
        mean: [0.5, 0.5, 0.5]    # mean/std overrides
        std: [0.5, 0.5, 0.5]
        seed: 0                  # initialisation seed when trained here
        train: {epochs: 20}      # this model's overrides of the train section

The whole config is checked here, once, when it is loaded (`archsim.options`):
unknown keys and values of the wrong type or range raise `ArchsimError` naming
the place, before any model is created (a label must be printable, at most
MAX_LABEL characters; input_size whole numbers >= 1; mean/std 1 or 3 numbers,
std above 0; a file that is not UTF-8 is refused; a Linf eps above 0.5 warns);
every model's effective training settings (`ModelSpec.training`) are resolved here too. Relative paths are
resolved against the config file's folder.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
import torch

import attacks
from archsim.data_spec import check_spec
from archsim.errors import ArchsimError, short_repr
from archsim.options import Option, check_keys, check_value
from archsim.sat.formula import DEFAULT_EPS_S, check_eps_s
from archsim.sat.precision import PRECISIONS
from archsim.sat.result import NOISE_WARNING
from archsim.settings import DistillSettings, EnsembleSettings, ShiftSettings, TrainSettings
from archsim.yaml_loader import read_yaml_file

TOP_KEYS = {"seed", "device", "batch_size", "precision", "channels_last", "eps_s", "noise_warning", "cache_dir", "data",
            "attack", "train", "similarity", "ensemble", "distill", "shift", "model_defaults", "models"}
MODEL_KEYS = {"name", "label", "pretrained", "checkpoint", "kwargs", "input_size", "mean", "std",
              "interpolation", "seed", "train"}
TOP_OPTIONS = {"seed": Option(0, "int"), "device": Option("auto", "str", what="a device name (auto, cpu, cuda, cuda:1)"),
               "batch_size": Option(64, "int", minimum=1),
               "precision": Option("fp32", "choice", choices=PRECISIONS),
               "channels_last": Option(False, "bool"),
               "eps_s": Option(DEFAULT_EPS_S, "float", minimum=0, above=True),
               "noise_warning": Option(NOISE_WARNING, "float", minimum=0, maximum=1)}
MODEL_OPTIONS = {"seed": Option(0, "int"),
                 "interpolation": Option(None, "choice", choices=("bicubic", "bilinear", "nearest", "area"),
                                         nullable=True)}
MAX_LABEL = 100  # `archsim layers` names its files after two labels: under the 255-byte limit
DEFAULT_ATTACK = {"backend": "native", "norm": "Linf", "eps": 4 / 255, "alpha": 1 / 255, "steps": 10,
                  "random_start": True}


@dataclass
class ModelSpec:
    name: str
    label: str
    pretrained: bool | str = False
    checkpoint: Path | None = None
    kwargs: dict = field(default_factory=dict)
    input_size: int | list | None = None
    mean: list | None = None
    std: list | None = None
    interpolation: str | None = None
    seed: int = 0
    train: dict | None = None  # overrides of the config's train section for this model, as given
    training: TrainSettings | None = None  # the effective settings when trained here (resolved at load)

    @property
    def has_weights(self) -> bool:
        return bool(self.pretrained) or self.checkpoint is not None


@dataclass
class RunConfig:
    models: list[ModelSpec]
    data: dict
    attack: dict = field(default_factory=lambda: dict(DEFAULT_ATTACK))
    train: TrainSettings | None = None  # the config's train section
    seed: int = 0
    device: str = "auto"
    batch_size: int = 64
    precision: str = "fp32"  # attacks and evaluations under autocast in bf16/fp16 (archsim.sat.precision)
    channels_last: bool = False  # models and images in channels-last memory layout
    eps_s: float = DEFAULT_EPS_S
    noise_warning: float = NOISE_WARNING  # a model whose noise error exceeds this is named in a warning
    cache_dir: Path = field(default_factory=lambda: default_cache_dir())
    similarity: dict = field(default_factory=dict)
    ensemble: EnsembleSettings = field(default_factory=EnsembleSettings)
    distill: DistillSettings = field(default_factory=DistillSettings)
    shift: ShiftSettings | None = None  # None: the applications use the clean images
    source: Path | None = None

    def torch_device(self):
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(self.device)
        except RuntimeError as e:
            raise ArchsimError(f"bad device {short_repr(self.device)}: {e}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ArchsimError(f"device {self.device!r} asked for, but torch sees no CUDA device here")
        return device


def default_cache_dir() -> Path:
    """$ARCHSIM_CACHE, else the platform's user cache folder (platformdirs: ~/.cache/archsim on Linux)."""
    if os.environ.get("ARCHSIM_CACHE"):
        return Path(os.environ["ARCHSIM_CACHE"])
    return Path(platformdirs.user_cache_dir("archsim"))


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run config."""
    path = Path(path)
    return parse_config(read_config_file(path), base_dir=path.parent, source=path)


def read_config_file(path: str | Path):
    """The YAML of a config file as read (not yet checked); ArchsimError when it is missing or not YAML."""
    path = Path(path)
    if not path.is_file():
        raise ArchsimError(f"config file not found: {path}")
    return read_yaml_file(path)


def parse_config(raw: dict, *, base_dir: Path = Path("."), source: Path | None = None) -> RunConfig:
    """Validate a config dict (as read from YAML) into a RunConfig."""
    if not isinstance(raw, dict):
        raise ArchsimError("a config must be a mapping with at least `models` and `data`")
    check_keys(raw, TOP_KEYS, "the config")
    for key in ("models", "data"):
        if key not in raw:
            raise ArchsimError(f"the config has no `{key}` section")
    if not isinstance(raw["models"], list) or not raw["models"]:
        raise ArchsimError("`models` must be a non-empty list")
    models = [_model_spec(m, i, base_dir) for i, m in enumerate(with_model_defaults(raw))]
    dup = sorted(label for label, n in Counter(m.label for m in models).items() if n > 1)
    if dup:
        raise ArchsimError(f"model labels must be unique; repeated: {', '.join(dup)} (set `label`)")
    data = check_spec(_mapping(raw["data"], "data"))
    for key in ("root", "class_map"):
        if key in data and data[key] is not None:
            data[key] = str(_resolve(data[key], base_dir))
    attack = _mapping(raw.get("attack") or {}, "attack")
    if attack.get("backend", "native") == "native":  # other backends keep their own defaults
        attack = {**DEFAULT_ATTACK, **attack}
    attacks.make_attack(lambda x: x, attack)  # validates the attack config before any work starts
    _warn_eps(attack)
    train = TrainSettings.from_section(raw["train"], "train") if raw.get("train") is not None else None
    top = {key: check_value(raw.get(key, option.default), option, key) for key, option in TOP_OPTIONS.items()}
    check_eps_s(top["eps_s"])  # a floor above every possible rate would censor every pair
    cfg = RunConfig(models=models, data=data, attack=attack, train=train, source=source, **top)
    for i, spec in enumerate(models):
        if not spec.has_weights and (train is not None or spec.train is not None):
            spec.training = TrainSettings.from_section({**(raw.get("train") or {}), **(spec.train or {})},
                                                       f"models[{i}].train")
    if raw.get("cache_dir") is not None:
        cfg.cache_dir = _resolve(raw["cache_dir"], base_dir)
    cfg.similarity = _mapping(raw.get("similarity") or {}, "similarity")
    for metric, options in cfg.similarity.items():
        _mapping(options or {}, f"similarity.{metric}")
    cfg.ensemble = EnsembleSettings.from_section(raw.get("ensemble"), "ensemble")
    cfg.distill = DistillSettings.from_section(raw.get("distill"), "distill")
    cfg.shift = None if raw.get("shift") is None else ShiftSettings.from_section(raw["shift"], "shift")
    return cfg


def with_model_defaults(raw: dict) -> list:
    """The `models` entries with `model_defaults` under each: a model's own keys win; `kwargs` and `train`, mappings,
    are merged key by key (the model's keys winning)."""
    defaults = _mapping(raw.get("model_defaults") or {}, "model_defaults")
    check_keys(defaults, MODEL_KEYS - {"name", "label"}, "model_defaults")
    if not defaults:
        return raw["models"]
    out = []
    for i, model in enumerate(raw["models"]):
        model = _mapping({"name": model} if isinstance(model, str) else model, f"models[{i}]")
        merged = {**defaults, **model}
        for key in ("kwargs", "train"):
            if isinstance(defaults.get(key), dict) and isinstance(model.get(key), dict):
                merged[key] = {**defaults[key], **model[key]}
        out.append(merged)
    return out


def _model_spec(raw, i: int, base_dir: Path) -> ModelSpec:
    if isinstance(raw, str):
        raw = {"name": raw}
    raw = _mapping(raw, f"models[{i}]")
    check_keys(raw, MODEL_KEYS, f"models[{i}]")
    if not isinstance(raw.get("name"), str):
        raise ArchsimError(f"models[{i}] needs a `name` (a timm model name)")
    values = {key: check_value(raw.get(key, option.default), option, f"models[{i}].{key}")
              for key, option in MODEL_OPTIONS.items()}
    spec = ModelSpec(name=raw["name"], label=_label(raw.get("label", raw["name"]), i),
                     pretrained=raw.get("pretrained", False),
                     kwargs=_mapping(raw.get("kwargs") or {}, f"models[{i}].kwargs"),
                     input_size=_input_size(raw.get("input_size"), i), mean=_floats(raw.get("mean"), i, "mean"),
                     std=_floats(raw.get("std"), i, "std"), **values)
    if not isinstance(spec.pretrained, (bool, str)):
        raise ArchsimError(f"models[{i}].pretrained must be true/false or a tag string")
    if raw.get("checkpoint") is not None:
        spec.checkpoint = _resolve(raw["checkpoint"], base_dir)
    if raw.get("train") is not None:
        spec.train = _mapping(raw["train"], f"models[{i}].train")
        check_keys(spec.train, TrainSettings.OPTIONS, f"models[{i}].train")
        if "max_images" in spec.train:
            raise ArchsimError(f"models[{i}].train cannot set max_images: the training images are shared")
    return spec


def _label(value, i: int) -> str:
    """A model label: printable text of at most MAX_LABEL characters (labels name rows, columns and files)."""
    label = str(value)
    if not label.strip() or not label.isprintable():
        raise ArchsimError(f"models[{i}].label must be printable text, got {short_repr(label)}")
    if len(label) > MAX_LABEL:
        raise ArchsimError(f"models[{i}].label is {len(label)} characters long; at most {MAX_LABEL}")
    return label


def _input_size(value, i: int) -> int | list | None:
    """None, a side S (S x S) or [H, W] / [C, H, W], each a whole number >= 1."""
    sides = value if isinstance(value, list) and len(value) in (2, 3) else [value]
    if value is not None and not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in sides):
        raise ArchsimError(f"models[{i}].input_size must be a whole number >= 1 or a list [H, W], got {short_repr(value)}")
    return value


def _floats(value, i: int, key: str) -> list | None:
    """None, or a list of 1 or 3 finite numbers (std: each above 0, since the model divides by it)."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) in (1, 3)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise ArchsimError(f"models[{i}].{key} must be a list of 1 or 3 numbers, got {short_repr(value)}")
    if key == "std" and min(value) <= 0:
        raise ArchsimError(f"models[{i}].std must be above 0 in every channel, got {short_repr(value)}")
    return list(value)


def _warn_eps(attack: dict) -> None:
    """A Linf eps above 0.5 is likely a mistake: pixels live in [0, 1] (8/255, not 8)."""
    eps = attack.get("eps")
    if attacks.threat_model(attack).norm == "Linf" and isinstance(eps, (int, float)) and eps > 0.5:
        warnings.warn(f"attack.eps = {eps:g} is above 0.5 for a Linf attack on pixels in [0, 1] "
                      f"(did you mean {eps:g}/255?)", stacklevel=3)


def _mapping(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise ArchsimError(f"`{where}` must be a mapping")
    return dict(value)


def _resolve(value, base_dir: Path) -> Path:
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else (base_dir / p)

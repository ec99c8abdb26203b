"""One run config from a config file, models named in one line and data named by a word or a folder.

    assemble(config=None, models=None, data=None, n=None, validation=None, resolution=None) -> Assembled
    data_section(text) -> the `data:` section for "digits", "mnist5k" or an image folder
    save_config(raw, path)   the equivalent YAML, so the run can be repeated with --config

Every command that builds models takes `--config FILE`, `--models a,b,...`
(`archsim.zoo.model_entries`) and `--data`, alone or together: the config's
models come first and the command-line models are appended to them (the
config's `model_defaults` apply to both), `--data` replaces the config's data
section, and `--n` (evaluation images per class, drawn balanced with seed 0),
`--validation` (validation images per class, drawn first, `archsim.zoo.build.split_indices`)
and `--resolution` set its keys. Without a config, every other key keeps its
default (`archsim.config`). For data named on the command line, grey images
(one channel) are used when every model's first layer takes one channel.

The result is checked as a config file is (`archsim.config.parse_config`), and
`Assembled.raw` is the equivalent config with every path absolute, which
`save_config` writes as YAML.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from torch import nn

from archsim.config import RunConfig, parse_config, read_config_file, with_model_defaults
from archsim.errors import ArchsimError
from archsim.zoo.callables import build_callable, is_callable_name
from archsim.zoo.model_entries import parse_models

SOURCES = ("digits", "mnist5k")
_PATH_KEYS = {"data": ("root", "class_map"), "models": ("checkpoint",), "model_defaults": ("checkpoint",)}


@dataclass
class Assembled:
    cfg: RunConfig
    raw: dict  # the equivalent config, every path absolute


def assemble(config=None, models=None, data=None, *, n: int | None = None, validation: int | None = None,
             resolution: int | None = None) -> Assembled:
    """The run config of a config file and/or command-line models (a `--models` text, or its parsed entries) and
    data (see the module docstring)."""
    if config is None and models is None:
        raise ArchsimError("name the models: --models a,b,... (timm names, NAME=CHECKPOINT, package.module:callable) "
                           "or --config FILE")
    raw = {} if config is None else _absolute(read_config_file(config), Path(config).parent)
    if not isinstance(raw, dict):
        raise ArchsimError(f"{config}: a config must be a mapping with at least `models` and `data`")
    if models is not None:
        raw["models"] = list(raw.get("models") or []) + (parse_models(models) if isinstance(models, str) else models)
    if data is not None:
        raw["data"] = data_section(data)
    if config is None and data is None:
        raise ArchsimError("name the images: --data digits, --data mnist5k or --data FOLDER (one sub-folder per class)")
    if isinstance(raw.get("data"), dict):  # else the config's own check names what is wrong
        raw["data"] = {**raw["data"], **_data_overrides(n, validation, resolution)}
    if data is not None and _all_grey(raw):
        raw["data"]["channels"] = 1
    cfg = parse_config(raw, base_dir=Path(config).parent if config is not None else Path.cwd(),
                       source=Path(config) if config is not None else None)
    return Assembled(cfg, raw)


def data_section(text: str) -> dict:
    """{"source": text} for a built-in source, the image folder's section for a folder; else one ArchsimError line."""
    if text in SOURCES:
        return {"source": text}
    path = Path(text).expanduser()
    if path.is_dir():
        return {"source": "imagefolder", "root": str(path.resolve())}
    what = "a file, not a folder" if path.exists() else "not a folder"
    raise ArchsimError(f"--data {text!r} is {what} and not a built-in source ({', '.join(SOURCES)}); give a folder "
                       "with one sub-folder of images per class")


def save_config(raw: dict, path: str | Path) -> Path:
    """Write `raw` as YAML to `path` (created with its folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# written by --save-config: run it again with --config " + path.name + "\n"
                    + yaml.safe_dump(raw, sort_keys=False))
    return path


def _data_overrides(n, validation, resolution) -> dict:
    out = {}
    if n is not None:
        out["subset"] = {"how": "balanced", "n": n, "seed": 0}
    if validation is not None:
        out["validation"] = {"how": "balanced", "n": validation, "seed": 0}
    if resolution is not None:
        out["resolution"] = resolution
    return out


def _all_grey(raw: dict) -> bool:
    """Whether every model's first layer takes one channel (kwargs.in_chans, or a callable's first conv)."""
    return all(_in_chans(m) == 1 for m in with_model_defaults(raw))


def _in_chans(entry) -> int | None:
    if not isinstance(entry, dict):
        return 3
    kwargs = entry.get("kwargs") or {}
    if is_callable_name(str(entry.get("name"))):
        first = next((m for m in build_callable(entry["name"], **kwargs).modules() if isinstance(m, nn.Conv2d)), None)
        return None if first is None else first.in_channels
    return kwargs.get("in_chans", 3)


def _absolute(raw, base: Path):
    """`raw` with its paths (data root and class map, checkpoints, cache_dir) resolved against `base`."""
    if not isinstance(raw, dict):
        return raw
    raw = dict(raw)

    def resolve(value):
        p = Path(str(value)).expanduser()
        return str(p if p.is_absolute() else (base / p).resolve())

    for section, keys in _PATH_KEYS.items():
        items = raw.get(section)
        if isinstance(items, dict):
            raw[section] = {k: resolve(v) if k in keys and v is not None else v for k, v in items.items()}
        elif isinstance(items, list):
            raw[section] = [{k: resolve(v) if k in keys and v is not None else v for k, v in m.items()}
                            if isinstance(m, dict) else m for m in items]
    if raw.get("cache_dir") is not None:
        raw["cache_dir"] = resolve(raw["cache_dir"])
    return raw

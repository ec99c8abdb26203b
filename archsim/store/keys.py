"""Content keys: what a stored result depends on, hashed.

- A model: its timm architecture (the pretrained tag aside: the weights say
  which weights) or its `package.module:callable`, the kwargs it was built with, the sha256 of its weights, and
  the wrapper's data config (input size, interpolation, mean, std). The label
  is only a name: two labels for the same content share all results.
- A dataset: the image ids, the labels and the bytes of the image tensor.
- An attack: the full attack config, the seed, the attack and evaluation
  batch sizes (batch b is seeded from (seed, b)) and the precision of the
  attacks and evaluations (bf16 and fp16 only; fp32 is the key without it, as
  before precision modes existed), so fp32 and bf16 results never mix. The
  memory layout (`channels_last`) is not in the key: it changes no arithmetic,
  only the order in which the same products are summed (as another device does).

Changing any of these makes new entries; the same content finds the old ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import torch
from timm.models import split_model_name_tag

from archsim.sat.units import EVAL_BATCH_FACTOR
from archsim.zoo.callables import is_callable_name
from archsim.zoo.data import ImageSet
from archsim.zoo.models import weights_hash
from archsim.zoo.wrapper import PixelModel


@dataclass(frozen=True)
class ModelEntry:
    key: str
    label: str
    identity: str  # arch@first 16 hex digits of the weights hash
    data_config: dict


@dataclass(frozen=True)
class DatasetEntry:
    key: str
    image_ids: list[str]
    image_shape: list[int]


@dataclass(frozen=True)
class AttackEntry:
    key: str
    config: dict  # {"attack": {...}, "seed": int, "batch_size": int, "eval_batch_size": int[, "precision": str]}


def model_entry(label: str, name: str, kwargs: dict, model: PixelModel) -> ModelEntry:
    """The entry of `model`, created as timm `name` with `kwargs` and wrapped in a PixelModel."""
    arch = name if is_callable_name(name) else split_model_name_tag(name)[0]
    weights = weights_hash(model.model)
    data_config = {"input_size": list(model.input_size), "interpolation": model.interpolation,
                   "mean": model.mean.flatten().tolist(), "std": model.std.flatten().tolist()}
    key = _hash({"arch": arch, "kwargs": kwargs, "weights": weights, "data_config": data_config})
    return ModelEntry(key, label, f"{arch}@{weights[:16]}", data_config)


def dataset_entry(images: ImageSet) -> DatasetEntry:
    """The entry of an image set: ids, labels and pixels."""
    h = hashlib.sha256()
    h.update(json.dumps(images.ids).encode())
    for t in (images.labels, images.images):
        t = t.detach().cpu().contiguous()
        h.update(f"|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return DatasetEntry(h.hexdigest(), list(images.ids), list(images.images.shape[1:]))


def attack_entry(attack: dict, seed: int, batch_size: int, precision: str = "fp32") -> AttackEntry:
    """The entry of an attack config run with `seed` in batches of `batch_size` in `precision`
    (fp32 adds no key, so stores written before precision modes keep their entries)."""
    config = {"attack": dict(attack), "seed": int(seed), "batch_size": int(batch_size),
              "eval_batch_size": EVAL_BATCH_FACTOR * int(batch_size)}
    if precision != "fp32":
        config["precision"] = precision
    return AttackEntry(_hash(config), config)


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()

"""One pixel space for every model.

`PixelModel(model)` takes images in [0, 1] at archsim's canonical resolution and
returns logits. Inside forward it does what the model's own eval transform would
do after loading the image:

    x -> resize to the native input size (the pretrained config's interpolation,
         antialiased when shrinking; skipped when the size already matches)
      -> (x - mean) / std   (the model's own mean/std from timm's data config)
      -> model

so attacks, eps and adversarial images all live in one [0, 1] pixel space and
nothing is ever normalised outside the model. The wrapped model is always in
eval mode and its parameters never require gradients.

The native size comes from, in order: an explicit `input_size`, the `img_size`
the model was built with (timm keeps the pretrained config's size even then),
and timm's data config for the model.

A module that is not a timm model (no `pretrained_cfg`: the user's own
architecture) takes the images as they come: its native size is that of the
images (`image_shape`, (C, H, W)) and its mean 0 and std 1 in each channel,
unless `input_size`, `mean` and `std` say otherwise; its channels are its first
conv's input channels, else the images'.
"""

from __future__ import annotations

from collections.abc import Sequence

import timm.data
import torch
import torch.nn.functional as F
from torch import nn

from archsim.errors import ArchsimError

_MODES = {"bicubic": "bicubic", "bilinear": "bilinear", "nearest": "nearest", "area": "area"}


class PixelModel(nn.Module):
    """Wrap `model` so that forward takes [0, 1] images and returns logits."""

    def __init__(self, model: nn.Module, *, input_size: int | Sequence[int] | None = None,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 interpolation: str | None = None, img_size: int | Sequence[int] | None = None,
                 image_shape: Sequence[int] | None = None):
        super().__init__()
        cfg = _data_config(model, image_shape, input_size if input_size is not None else img_size)
        size = input_size if input_size is not None else img_size
        if size is None:
            size = cfg["input_size"][1:]
        elif isinstance(size, int):
            size = (size, size)
        self.input_size = tuple(int(s) for s in size)[-2:]
        self.interpolation = _MODES.get(interpolation or cfg.get("interpolation", "bilinear"), "bilinear")
        mean = tuple(mean if mean is not None else cfg["mean"])
        std = tuple(std if std is not None else cfg["std"])
        chans = _first_conv_in_channels(model)
        if chans is not None and chans != len(mean):
            if len(mean) != 3 or chans not in (1, 3):
                raise ArchsimError(f"model takes {chans} channels but mean/std have {len(mean)}; set mean and std")
            mean, std = _match_channels(mean, chans), _match_channels(std, chans)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.model = model
        self.model.eval().requires_grad_(False)

    @property
    def in_chans(self) -> int:
        return self.mean.shape[1]

    def train(self, mode: bool = True) -> PixelModel:
        """Always eval: archsim never trains through the wrapper (see `archsim.zoo.training`)."""
        return super().train(False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """Resize [0, 1] images to the native size and normalise with the model's mean/std."""
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ArchsimError(f"expected images of shape (B, {self.in_chans}, H, W), got {tuple(x.shape)}")
        if tuple(x.shape[-2:]) != self.input_size:
            shrinking = x.shape[-1] > self.input_size[-1] or x.shape[-2] > self.input_size[-2]
            smooth = self.interpolation in ("bilinear", "bicubic")
            x = F.interpolate(x, size=self.input_size, mode=self.interpolation,
                              antialias=shrinking and smooth,
                              align_corners=False if smooth else None)
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.preprocess(x))


def _data_config(model: nn.Module, image_shape: Sequence[int] | None, input_size) -> dict:
    """timm's data config for a timm model; for another module the identity on images of `image_shape` (C, H, W):
    its first conv's channels (else the images', else 3), the images' size, mean 0 and std 1."""
    if hasattr(model, "pretrained_cfg"):
        return timm.data.resolve_data_config({}, model=model)
    if image_shape is None and input_size is None:
        raise ArchsimError(f"{type(model).__name__} is not a timm model: give its input_size (and mean and std)")
    default = int(image_shape[0]) if image_shape is not None else 3
    chans = next((m.in_channels for m in model.modules() if isinstance(m, nn.Conv2d)), default)
    return {"input_size": None if image_shape is None else tuple(image_shape), "mean": (0.0,) * chans,
            "std": (1.0,) * chans, "interpolation": "bilinear"}


def _first_conv_in_channels(model: nn.Module) -> int | None:
    """Input channels of the model's first conv, as named in its pretrained config."""
    name = getattr(model, "pretrained_cfg", {}).get("first_conv")
    names = name if isinstance(name, (list, tuple)) else [name]
    for n in names:
        try:
            return int(model.get_submodule(n).in_channels)
        except (AttributeError, TypeError):
            continue
    return None


def _match_channels(values: Sequence[float], chans: int) -> tuple[float, ...]:
    """Grey models use the mean of the RGB statistics, as timm does when adapting in_chans."""
    return (sum(values) / len(values),) * chans

"""The spatial conv layers of a network, as the weight-space measures see them.

`spatial_convs(model)` lists every `nn.Conv2d` whose kernel has more than one
tap (1 x 1 convs mix channels only and are left out), in registration order,
which for timm models is the order of the forward pass. Each layer carries its
weights as float64 (c_out, c_in / groups, kh, kw), its relative depth
i / (L - 1) among the L listed layers (0.5 when L = 1) and its parameter count,
so a measure can report which layers, and what share of a model's parameters,
took part.

`resample(weight, k)` brings every filter to k x k by bilinear interpolation
with aligned corners (a 3 x 3 filter grown to 5 x 5 keeps its nine values on
the even grid points); shrinking is antialiased.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class ConvLayer:
    name: str
    weight: np.ndarray
    depth: float
    params: int

    @property
    def kernel(self) -> tuple[int, int]:
        return tuple(self.weight.shape[-2:])


def spatial_convs(model: nn.Module) -> list[ConvLayer]:
    """Every Conv2d with a kernel of more than one tap, with relative depth and parameter count."""
    convs = [(name, m) for name, m in model.named_modules()
             if isinstance(m, nn.Conv2d) and m.kernel_size[0] * m.kernel_size[1] > 1]
    last = max(len(convs) - 1, 1)
    return [ConvLayer(name=name, weight=m.weight.detach().to("cpu", torch.float32).numpy().astype(np.float64),
                      depth=i / last if len(convs) > 1 else 0.5,
                      params=m.weight.numel() + (m.bias.numel() if m.bias is not None else 0))
            for i, (name, m) in enumerate(convs)]


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def resample(weight: np.ndarray, k: int) -> np.ndarray:
    """Filters (c_out, c_in, kh, kw) resized to (c_out, c_in, k, k); unchanged when already k x k."""
    if weight.shape[-2:] == (k, k):
        return weight
    c_out, c_in, kh, kw = weight.shape
    x = torch.from_numpy(weight).reshape(c_out * c_in, 1, kh, kw)
    y = F.interpolate(x, size=(k, k), mode="bilinear", align_corners=True, antialias=kh > k or kw > k)
    return y.reshape(c_out, c_in, k, k).numpy()


def filter_matrix(weight: np.ndarray) -> np.ndarray:
    """W (c_out, c_in, kh, kw) reshaped to (c_out * c_in) x (kh * kw): one row per 2-D filter."""
    return weight.reshape(-1, weight.shape[-2] * weight.shape[-1])

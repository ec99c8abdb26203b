"""A seeded, locally generated shifted copy of a run's images, in the spirit of MNIST-C (Mu and Gilmer 2019):
the task the ensemble and distillation stages evaluate on when the config has a `shift:` section.

    shift_images(images, severity, seed) -> float32 (n, C, H, W) in [0, 1]
    application_images(cfg, run_) -> (validation ImageSet or None, test ImageSet)

Each image gets one corruption, drawn uniformly from four (torch.Generator seeded
with `seed`), at `severity` s in (0, 1]; H is the image height in pixels:

    rotation  by +-(0.5 .. 1) x 60 s degrees about the centre (bilinear, zeros outside)
    noise     + N(0, (0.4 s)^2) per pixel, the same in every channel (a grey image stays grey)
    blur      Gaussian, sigma = (0.02 + 0.06 s) H pixels (edges replicated)
    elastic   a uniform(-1, 1) displacement field per axis, Gaussian-smoothed (sigma = H / 8, then scaled to
              unit peak), times 0.25 s H pixels (Simard et al. 2003)

and the result is clipped to [0, 1]. Labels and ids are kept (ids with "~shift").
The shifted test images use `seed`, the shifted validation images `seed + 1`;
SAT and the similarity measures keep the clean images. Severity is chosen on the
validation images only (benchmarks/tune_shift.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from archsim.zoo.data import ImageSet

KINDS = ("rotation", "noise", "blur", "elastic")


def shift_images(images: torch.Tensor, severity: float, seed: int) -> torch.Tensor:
    """Every image with one of KINDS at `severity`, all draws from one generator seeded with `seed`."""
    g = torch.Generator().manual_seed(seed)
    x = images.float()
    kind = torch.randint(0, len(KINDS), (len(x),), generator=g)
    out = x.clone()
    for k, corrupt in enumerate((_rotate, _noise, _blur, _elastic)):
        idx = torch.nonzero(kind == k).flatten()
        if len(idx):
            out[idx] = corrupt(x[idx], severity, g)
    return out.clamp(0, 1)


def _rotate(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    sign = torch.randint(0, 2, (len(x),), generator=g) * 2 - 1
    angle = sign * (0.5 + 0.5 * torch.rand(len(x), generator=g)) * math.radians(60 * s)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros_like(cos)], 1),
                         torch.stack([sin, cos, torch.zeros_like(cos)], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _noise(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    return x + 0.4 * s * torch.randn((len(x), 1, *x.shape[2:]), generator=g)


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of every channel (edges replicated), radius ceil(3 sigma)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    y = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    y = F.conv2d(y, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def _blur(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    return _gaussian(x, (0.02 + 0.06 * s) * x.shape[-2])


def _elastic(x: torch.Tensor, s: float, g: torch.Generator) -> torch.Tensor:
    n, _, h, w = x.shape
    field = _gaussian(torch.rand((n, 2, h, w), generator=g) * 2 - 1, h / 8)
    field = field / field.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    shift = field * 0.25 * s * h * 2 / torch.tensor([w, h], dtype=x.dtype).view(1, 2, 1, 1)  # pixels -> [-1, 1]
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    grid = torch.stack([xs, ys], dim=-1).expand(n, h, w, 2) + shift.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def shifted(images: ImageSet, severity: float, seed: int) -> ImageSet:
    """The ImageSet with shifted pixels, the same labels and classes, ids marked "~shift"."""
    return ImageSet(shift_images(images.images, severity, seed), images.labels, [f"{i}~shift" for i in images.ids],
                    images.num_classes, images.classes)


def application_images(cfg, run_) -> tuple[ImageSet | None, ImageSet]:
    """(validation, test) images of the ensemble and distillation stages: shifted copies under `cfg.shift`."""
    if getattr(cfg, "shift", None) is None:
        return run_.validation, run_.images
    s = cfg.shift
    validation = None if run_.validation is None else shifted(run_.validation, s.severity, s.seed + 1)
    return validation, shifted(run_.images, s.severity, s.seed)

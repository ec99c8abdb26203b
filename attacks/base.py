"""The `Attack` base class (torchattacks style).

An attack is configured in `__init__` and maps a batch to adversarial images:

    adv_images = attack(images, labels)

`__call__` validates the batch at the boundary and then calls `forward(images,
labels)`, which subclasses implement and which is the whole algorithm. Contract:

- `model` is a callable taking images in [0, 1] of shape (B, C, H, W) and
  returning logits (B, num_classes).
- `images`: 4-D floating tensor with values in [0, 1] (tolerance 1e-6);
  `labels`: 1-D int64 tensor of length B (moved to the images' device).
- The result is detached, has the shape of `images` and lies on its device.
- The base class never changes the model's train/eval mode.
"""

from __future__ import annotations

import numbers

import torch

from archsim.errors import ArchsimError

RANGE_TOLERANCE = 1e-6


class Attack:
    """Base class: `__call__(images, labels)` validates, then runs `forward`."""

    def __init__(self, model, *, seed: int = 0):
        if not callable(model):
            raise ArchsimError(f"model must be callable (images -> logits), got {type(model).__name__}")
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
            raise ArchsimError(f"seed must be an integer, got {seed!r}")
        self.model = model
        self.seed = int(seed)

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        check_batch(images, labels)
        if images.shape[0] == 0:
            return images.detach().clone()
        return self.forward(images.detach(), labels.detach().to(images.device)).detach()

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The algorithm: adversarial images for a validated, non-empty batch."""
        raise NotImplementedError


def check_batch(images, labels) -> None:
    """Raise `ArchsimError` unless `images`/`labels` follow the contract above."""
    if not isinstance(images, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise ArchsimError(f"images and labels must be torch tensors, got "
                           f"{type(images).__name__} and {type(labels).__name__}")
    if images.ndim != 4:
        raise ArchsimError(f"images must have shape (B, C, H, W), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ArchsimError(f"images must be a floating tensor with values in [0, 1], got dtype {images.dtype}")
    inside = (images >= -RANGE_TOLERANCE) & (images <= 1 + RANGE_TOLERANCE)  # NaN is outside
    if not bool(inside.all()):
        lo, hi = images.min().item(), images.max().item()
        raise ArchsimError(f"images must lie in [0, 1] (pixel space, not normalised); "
                           f"got values in [{lo:.4g}, {hi:.4g}]")
    if labels.ndim != 1 or labels.dtype != torch.long:
        raise ArchsimError(f"labels must be a 1-D int64 tensor, got shape {tuple(labels.shape)} "
                           f"and dtype {labels.dtype}")
    if labels.shape[0] != images.shape[0]:
        raise ArchsimError(f"got {images.shape[0]} images but {labels.shape[0]} labels")

"""Random noise of an attack's norm and size: the control that needs no gradient.

    Linf:  x' = clip_[0,1]( x + eps * sign(u) ),         u ~ N(0, I)  (a random sign per pixel)
    L2:    x' = clip_[0,1]( x + eps * u / ||u||_2 ),     u ~ N(0, I)  (a random direction on the eps-sphere)

A model that such noise fools often gets a high SAT with everybody: its row
measures fragility, not similarity. Deterministic like `attacks.pgd.PGD`: u is
drawn from a generator seeded with `seed` on every call, never from the global RNG.
The model is not called.
"""

from __future__ import annotations

import numbers

import torch

from archsim.errors import ArchsimError
from attacks.base import Attack
from attacks.pgd import NORMS


class RandomNoise(Attack):
    def __init__(self, model, *, norm: str = "Linf", eps: float = 4 / 255, seed: int = 0):
        super().__init__(model, seed=seed)
        if norm not in NORMS:
            raise ArchsimError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
            raise ArchsimError(f"eps must be a number > 0, got {eps!r}")
        self.norm, self.eps = norm, float(eps)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        gen = torch.Generator(device=images.device).manual_seed(self.seed)
        u = torch.randn(images.shape, generator=gen, device=images.device, dtype=images.dtype)
        if self.norm == "Linf":
            delta = self.eps * u.sign()
        else:
            delta = self.eps * u / u.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        return (images + delta).clamp(0, 1)

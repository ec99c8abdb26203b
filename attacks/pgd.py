"""Projected gradient descent (Madry et al., 2018), untargeted, Linf or L2.

With L(x') = CrossEntropy(model(x'), y) averaged over the batch and g = dL/dx':

    Linf:  x' <- clip_[0,1]( x + clip_[-eps, eps]( x' + alpha * sign(g) - x ) )
    L2:    x' <- x' + alpha * g / (||g||_2 + 1e-10)            (per example)
           x' <- clip_[0,1]( x + delta * min(1, eps / ||delta||_2) ),  delta = x' - x

Random start: Linf adds uniform(-eps, eps) noise; L2 adds a direction drawn
from N(0, I), scaled to length r * eps with r ~ uniform(0, 1) per example
(as torchattacks.PGDL2 does); both are then clipped to [0, 1]. The arithmetic
follows torchattacks.PGD / PGDL2 operation by operation, so with the same
start both give the same images.

Determinism: the random start draws from a `torch.Generator` on the images'
device, created afresh and seeded with `seed` on every call. A given seed and
batch therefore always give the same adversarial images, whatever the global
RNG state or earlier calls, and the global RNG is never touched. The noise of
an image depends on the batch shape and its position in the batch, and CPU
and CUDA generators give different streams for the same seed.

The gradient is taken only with respect to the input (`torch.autograd.grad`),
so the model's parameters and their `.grad` are never touched, and the model
runs in whatever train/eval mode it is in.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn as nn

from archsim.errors import ArchsimError
from attacks.base import Attack

NORMS = ("Linf", "L2")
EPS_FOR_DIVISION = 1e-10


class PGD(Attack):
    """PGD with `steps` steps of size `alpha` inside the `norm` ball of radius `eps`."""

    def __init__(self, model, *, eps: float = 4 / 255, alpha: float = 1 / 255, steps: int = 10,
                 random_start: bool = True, norm: str = "Linf", seed: int = 0):
        super().__init__(model, seed=seed)
        if not _is_real(eps) or not eps >= 0 or eps == float("inf"):
            raise ArchsimError(f"PGD eps must be a finite number >= 0, got {eps!r}")
        if not _is_real(alpha) or not alpha > 0 or alpha == float("inf"):
            raise ArchsimError(f"PGD alpha must be a finite number > 0, got {alpha!r}")
        if not isinstance(steps, numbers.Integral) or isinstance(steps, bool) or steps < 0:
            raise ArchsimError(f"PGD steps must be an integer >= 0, got {steps!r}")
        if not isinstance(random_start, bool):
            raise ArchsimError(f"PGD random_start must be true or false, got {random_start!r}")
        if norm not in NORMS:
            raise ArchsimError(f"PGD norm must be one of {', '.join(NORMS)}, got {norm!r}")
        self.eps, self.alpha, self.steps = float(eps), float(alpha), int(steps)
        self.random_start, self.norm = random_start, norm

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = nn.CrossEntropyLoss()
        adv = images.clone()
        if self.random_start:
            generator = torch.Generator(device=images.device).manual_seed(self.seed)
            adv = self._random_start(adv, generator)
        for _ in range(self.steps):
            adv.requires_grad_(True)
            grad = torch.autograd.grad(loss(self.model(adv), labels), adv)[0]
            adv = self._step(adv.detach(), grad, images)
        return adv

    def _random_start(self, adv: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.norm == "Linf":
            adv = adv + torch.empty_like(adv).uniform_(-self.eps, self.eps, generator=generator)
        else:
            delta = torch.empty_like(adv).normal_(generator=generator)
            n = delta.reshape(adv.size(0), -1).norm(p=2, dim=1).view(-1, 1, 1, 1)
            r = torch.zeros_like(n).uniform_(0, 1, generator=generator)
            delta *= r / n * self.eps
            adv = adv + delta
        return torch.clamp(adv, min=0, max=1)

    def _step(self, adv: torch.Tensor, grad: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        if self.norm == "Linf":
            adv = adv + self.alpha * grad.sign()
            delta = torch.clamp(adv - images, min=-self.eps, max=self.eps)
        else:
            b = adv.size(0)
            grad_norms = torch.norm(grad.reshape(b, -1), p=2, dim=1) + EPS_FOR_DIVISION
            adv = adv + self.alpha * (grad / grad_norms.view(b, 1, 1, 1))
            delta = adv - images
            delta_norms = torch.norm(delta.reshape(b, -1), p=2, dim=1)
            # min(1, eps / ||delta||) as torchattacks computes it, except that a zero delta
            # with eps = 0 gets factor 1 instead of 0/0 = NaN.
            factor = torch.where(delta_norms > self.eps, self.eps / delta_norms, 1.0)
            delta = delta * factor.view(-1, 1, 1, 1)
        return torch.clamp(images + delta, min=0, max=1)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)

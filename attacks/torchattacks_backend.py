"""Any torchattacks attack, by class name and keyword arguments, as an `Attack`.

    TorchAttacksAttack(model, "MIFGSM", eps=4/255, alpha=1/255, steps=10, decay=1.0)

Names are the attack classes torchattacks exports (`torchattacks.__all__` minus
its wrappers MultiAttack and LGV, which do not take a model). torchattacks
3.5.1 needs an `nn.Module`: it reads its device from `next(model.parameters())`
and switches it to eval mode for the attack (back to train mode afterwards if
it was training). So the model, whatever callable it is, is wrapped in
`_ModuleAdapter`, whose one zero-element, non-trainable parameter satisfies the
device lookup; the actual device is set from the images on each call.

Differences from the native attacks: torchattacks runs an `nn.Module` model in
eval mode during the attack. Every module's train/eval flag is restored
afterwards, so the caller sees no change.

Determinism: torchattacks draws from the global RNG. Each call runs inside
`torch.random.fork_rng` with the CPU generator (and that of the images' device,
if it is an accelerator) seeded with `seed`, so a given seed and batch give the
same images and the caller's global RNG state is left as it was.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect

import torch
import torch.nn as nn
import torchattacks

from archsim.errors import ArchsimError
from attacks.base import Attack

ATTACK_NAMES = tuple(n for n in torchattacks.__all__ if n not in torchattacks.__wrapper__)


class TorchAttacksAttack(Attack):
    """`torchattacks.<name>(model, **kwargs)`, validated, seeded and mode-preserving."""

    def __init__(self, model, name: str = "PGD", *, seed: int = 0, **kwargs):
        super().__init__(model, seed=seed)
        attack_class = _attack_class(name)
        _check_kwargs(attack_class, name, kwargs)
        self.name, self.kwargs = name, dict(kwargs)
        try:
            self.attack = attack_class(_ModuleAdapter(model), **kwargs)
        except (TypeError, ValueError, AssertionError) as e:
            raise ArchsimError(f"torchattacks.{name}({_format_kwargs(kwargs)}) failed: {e}") from e

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        self.attack.set_device(images.device)
        modes = _training_flags(self.model)
        try:
            with _seeded_global_rng(self.seed, images.device):
                return self.attack(images, labels)
        finally:
            for module, training in modes:
                module.training = training


class _ModuleAdapter(nn.Module):
    """Presents any callable model to torchattacks as an `nn.Module` with a parameter."""

    def __init__(self, model):
        super().__init__()
        self.device_probe = nn.Parameter(torch.empty(0), requires_grad=False)
        self.model = model  # a child module if `model` is an nn.Module, else a plain attribute

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)


def _attack_class(name: str) -> type:
    if name not in ATTACK_NAMES:
        by_upper = {n.upper(): n for n in ATTACK_NAMES}
        close = [by_upper[n] for n in difflib.get_close_matches(str(name).upper(), by_upper, n=3)]
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise ArchsimError(f"unknown torchattacks attack {name!r}; {hint}"
                           f"available: {', '.join(ATTACK_NAMES)}")
    return getattr(torchattacks, name)


def _check_kwargs(attack_class: type, name: str, kwargs: dict) -> None:
    params = list(inspect.signature(attack_class.__init__).parameters.values())[2:]  # self, model
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    allowed = [p.name for p in params]
    for key in kwargs:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ArchsimError(f"torchattacks.{name} has no parameter {key!r}; {hint}"
                               f"its parameters are: {', '.join(allowed) or '(none)'}")


def _format_kwargs(kwargs: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _training_flags(model) -> list[tuple[nn.Module, bool]]:
    return [(m, m.training) for m in model.modules()] if isinstance(model, nn.Module) else []


@contextlib.contextmanager
def _seeded_global_rng(seed: int, device: torch.device):
    """Fork the CPU RNG (and `device`'s, if not the CPU) and seed them with `seed`."""
    accelerators = [] if device.type == "cpu" else [device]
    with torch.random.fork_rng(devices=accelerators, device_type=device.type if accelerators else None):
        torch.random.default_generator.manual_seed(seed)
        if accelerators:
            device_module = torch.get_device_module(device.type)
            with device_module.device(device):
                device_module.manual_seed(seed)
        yield

"""Adversarial attacks on pixel-space classifiers: native PGD and a torchattacks backend.

`make_attack(model, config)` builds an attack from a plain dict, e.g.

    {"backend": "native", "norm": "Linf", "eps": 4/255, "alpha": 1/255, "steps": 10,
     "random_start": True, "seed": 0}
    {"backend": "torchattacks", "name": "MIFGSM", "eps": 4/255, "alpha": 1/255, "steps": 10}

`backend` defaults to "native", which supports `name` "PGD" (the default, with
the keys of `PGD`) and "noise" (`RandomNoise`: `norm` and `eps` only, the
control of a SAT run); the torchattacks backend passes every other key to the
named torchattacks class. `seed` (default 0) seeds any randomness of the attack.
`noise_config(config)` is the SAT run's noise control for the attack that
`config` actually runs (`attacks.threat_model`: class defaults included).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

from archsim.errors import ArchsimError
from attacks.base import Attack
from attacks.noise import RandomNoise
from attacks.pgd import PGD
from attacks.threat_model import ThreatModel, threat_model
from attacks.torchattacks_backend import TorchAttacksAttack

__all__ = ["Attack", "PGD", "RandomNoise", "ThreatModel", "TorchAttacksAttack", "make_attack", "noise_config",
           "threat_model"]

BACKENDS = ("native", "torchattacks")
NATIVE_KEYS = ("norm", "eps", "alpha", "steps", "random_start")


def make_attack(model, config: Mapping) -> Attack:
    """The attack described by `config` (see the module docstring) on `model`."""
    if not isinstance(config, Mapping):
        raise ArchsimError(f"attack config must be a mapping, got {type(config).__name__}")
    options = dict(config)
    for key in options:
        if not isinstance(key, str):
            raise ArchsimError(f"attack config keys must be strings, got {key!r}")
    backend = options.pop("backend", "native")
    name = options.pop("name", "PGD")
    seed = options.pop("seed", 0)
    if backend == "torchattacks":
        return TorchAttacksAttack(model, name, seed=seed, **options)
    if backend != "native":
        raise ArchsimError(f"unknown attack backend {backend!r}; use one of {', '.join(BACKENDS)}")
    if name == "noise":
        unknown = sorted(set(options) - {"norm", "eps"})
        if unknown:
            raise ArchsimError(f"unknown key {unknown[0]!r} in the noise control's config; allowed: norm, eps")
        return RandomNoise(model, seed=seed, **options)
    if name != "PGD":
        raise ArchsimError(f"the native backend implements PGD and noise, got name {name!r}; "
                           f"use backend 'torchattacks' for other attacks")
    for key in options:
        if key not in NATIVE_KEYS:
            raise ArchsimError(f"unknown key {key!r} in native PGD attack config; allowed: "
                               f"{', '.join(('backend', 'name', 'seed') + NATIVE_KEYS)}")
    return PGD(model, seed=seed, **options)


def noise_config(attack: Mapping) -> dict | None:
    """The noise control of the attack `attack` runs: random noise of its norm and eps, class defaults included
    (a sign per pixel for Linf, a direction on the eps-sphere for L2). None, with one warning naming the attack,
    when its norm or eps cannot be read off (`threat_model`)."""
    threat = threat_model(attack)
    if threat.unknown:
        warnings.warn(f"no noise control: {threat.unknown}, so no random noise of its size can be made; "
                      "noise errors and fragility warnings are not available", stacklevel=2)
        return None
    return {"backend": "native", "name": "noise", "norm": threat.norm, "eps": threat.eps}

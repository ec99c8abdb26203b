"""What an attack config will actually run: its norm, its size eps and its gradient steps, defaults included.

    threat_model(config) -> ThreatModel(name, norm, eps, steps, unknown)

The values are those of the attack `attacks.make_attack(model, config)` builds:
a key of the config when it has it, else the default of the class that runs
(native `PGD`'s keyword defaults, or the torchattacks class's `__init__`
defaults: `{backend: torchattacks, name: PGDL2}` runs at eps 1.0, L2, 10 steps).

- `norm`: "Linf" or "L2". A class with a `norm` parameter (APGD, APGDT, FAB,
  Square, AutoAttack) takes it from the config or its default; every other
  torchattacks class has the one norm its docstring's "Distance Measure" line
  names (`LINF_ATTACKS`, `L2_ATTACKS`; tests/test_attacks.py checks both sets
  against the docstrings). None for the rest (L0, L1, elastic-net, none).
- `eps`: None when the attack has no eps (CW, DeepFool, JSMA, ...): unbounded.
- `steps`: the gradient steps of one attack on one batch: `steps` (config or
  default; 1 for a class without one, FGSM-like) x `eot_iter` x `n_restarts`
  where the class has them. Exact for PGD-like attacks; the attacks that run
  other attacks or queries (AutoAttack, Square, SPSA, Pixle, OnePixel) are
  counted by their own `steps` only.
- `unknown`: why the noise control cannot be sized ("" when it can).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass

import torchattacks

from attacks.noise import RandomNoise
from attacks.pgd import NORMS, PGD

LINF_ATTACKS = frozenset({"FGSM", "BIM", "RFGSM", "PGD", "EOTPGD", "FFGSM", "TPGD", "MIFGSM", "UPGD", "DIFGSM",
                          "TIFGSM", "Jitter", "NIFGSM", "PGDRS", "SINIFGSM", "VMIFGSM", "VNIFGSM", "SPSA", "PIFGSM",
                          "PIFGSMPP"})
L2_ATTACKS = frozenset({"CW", "PGDL2", "DeepFool", "PGDRSL2"})


@dataclass(frozen=True)
class ThreatModel:
    name: str  # "PGD", "noise" (native) or the torchattacks class name
    norm: str | None
    eps: float | None
    steps: int
    unknown: str = ""  # why no noise control of this size can be made; "" when it can


def threat_model(config: Mapping) -> ThreatModel:
    """The norm, eps and steps of the attack `config` runs (module docstring); the config is not validated here."""
    backend, name = config.get("backend", "native"), config.get("name", "PGD")
    if backend == "torchattacks":
        attack_class = getattr(torchattacks, name, None)
    else:
        attack_class = RandomNoise if name == "noise" else PGD
    defaults = {} if attack_class is None else _keyword_defaults(attack_class.__init__)
    values = {**defaults, **{k: v for k, v in config.items() if k not in ("backend", "name", "seed")}}
    if "norm" in defaults:
        norm = values["norm"]
    else:
        norm = "Linf" if name in LINF_ATTACKS else "L2" if name in L2_ATTACKS else None
    eps = values.get("eps")
    steps = int(values.get("steps", 1)) * int(values.get("eot_iter", 1)) * int(values.get("n_restarts", 1))
    label = f"{backend} attack {name}"
    if norm not in NORMS:
        why = f"{label} has no Linf or L2 threat model archsim can read off"
    elif eps is None:
        why = f"{label} has no eps: its perturbations are not bounded"
    else:
        why = ""
    return ThreatModel(name, norm if norm in NORMS else None, None if eps is None else float(eps), steps, why)


def _keyword_defaults(init) -> dict:
    return {k: p.default for k, p in inspect.signature(init).parameters.items()
            if p.default is not inspect.Parameter.empty}

"""The SAT engine in memory: N attacks plus N^2 forward-only evaluations.

    sat_matrix(models, images, labels, *, eps=4/255, alpha=1/255, steps=10,
               random_start=True, seed=0, eps_s=0.01, batch_size=64, precision="fp32",
               channels_last=False) -> SATResult

1. Clean pass: every model classifies every image.
2. For each source model s: attack only the images s classifies correctly (an
   image s gets wrong can never enter X_s*); then every target t classifies
   those adversarial images that t also gets right on clean input. The
   adversarial images of s (float16 perturbations, `archsim.sat.advset`) are
   dropped before the next source, so memory does not grow with N.
3. The noise control: every model on its clean-correct images under seeded
   random noise of the attack's norm and eps (`attacks.noise`).
4. SAT, transfer rates and intervals derive from the per-image outcomes
   (`archsim.sat.result.SATResult`).

The units of work (`archsim.sat.units`) are those of the run store
(`archsim.store`), which runs them cached and resumable: both give the same
outcomes. Attack batch b of every source uses the seed derived from (seed, b),
so a run is reproducible for a given seed and batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch
from tqdm.auto import tqdm

import attacks
from archsim.errors import ArchsimError
from archsim.sat import units
from archsim.sat.formula import DEFAULT_EPS_S, check_eps_s
from archsim.sat.precision import prepared
from archsim.sat.result import SATResult


def sat_matrix(models: Mapping[str, Callable[[torch.Tensor], torch.Tensor]], images: torch.Tensor,
               labels: torch.Tensor, *, eps: float = 4 / 255, alpha: float = 1 / 255, steps: int = 10,
               random_start: bool = True, seed: int = 0, eps_s: float = DEFAULT_EPS_S,
               batch_size: int = 64, attack: dict | None = None, device: str | torch.device | None = None,
               image_ids: list[str] | None = None, progress: bool = True, precision: str = "fp32",
               channels_last: bool = False) -> SATResult:
    """SAT between every pair of `models` on `images` (N, C, H, W in [0, 1]) with `labels`.

    `attack` replaces the default native PGD config (e.g. `{"backend": "torchattacks",
    "name": "MIFGSM", "eps": ...}`); when it is given, eps/alpha/steps/random_start are not used.
    `precision` and `channels_last`: see `archsim.sat.precision`.
    """
    names = list(models)
    models = {name: prepared(m, precision, channels_last) for name, m in models.items()}
    check_inputs(names, images, labels, eps_s, batch_size)
    device = torch.device(device) if device is not None else images.device
    attack_cfg = dict(attack) if attack is not None else {
        "backend": "native", "norm": "Linf", "eps": eps, "alpha": alpha, "steps": steps,
        "random_start": random_start}
    attacks.make_attack(models[names[0]], {**attack_cfg, "seed": seed})  # bad configs fail before any work
    images = images.cpu()
    labels = labels.cpu()
    bar = tqdm(total=len(names) * (2 + len(names)), desc="SAT (clean, attacks, evaluations)", unit="unit",
               disable=not progress)
    bar.set_postfix_str("clean pass")
    clean = np.zeros((len(names), len(labels)), dtype=bool)
    for i, name in enumerate(names):
        clean[i] = units.clean_pass(models[name], images, labels, batch_size=batch_size, device=device, name=name)
        bar.update(1)
    adv_correct = np.full((len(names), len(names), len(labels)), -1, dtype=np.int8)
    for s, source in enumerate(names):
        bar.set_postfix_str(f"attacking with {source} ({int(clean[s].sum())} images)")
        adv = units.attack(models[source], images, labels, clean[s], attack_cfg, seed=seed,
                           batch_size=batch_size, device=device)
        bar.update(1)
        for t, target in enumerate(names):
            adv_correct[s, t] = units.evaluate(models[target], images, labels, adv, clean[t],
                                               batch_size=batch_size, device=device, name=target)
            bar.update(1)
        del adv
    noise_cfg, noise = attacks.noise_config(attack_cfg), None
    if noise_cfg is not None:  # the control: random noise of the attack's norm and eps, as the run store makes it
        noise = np.stack([units.noise(models[n], images, labels, clean[i], noise_cfg, seed=seed,
                                      batch_size=batch_size, device=device, name=n) for i, n in enumerate(names)])
    bar.close()
    return SATResult(names, clean, adv_correct, eps_s, image_ids=image_ids, noise_correct=noise)


def check_inputs(names, images, labels, eps_s, batch_size) -> None:
    """ArchsimError for no models, images that are not (N, C, H, W) floats in [0, 1], labels that are not 1-D int64
    class indices of the same length, a bad eps_s or batch size."""
    if len(names) == 0:
        raise ArchsimError("no models given")
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        raise ArchsimError(f"images must be a float tensor of shape (N, C, H, W), got "
                           f"{getattr(images, 'shape', type(images))}")
    lo, hi = float(images.min()), float(images.max())
    if lo < 0 or hi > 1:
        raise ArchsimError(f"images must lie in [0, 1] (archsim normalises inside each model); got [{lo:.3g}, {hi:.3g}]")
    if not isinstance(labels, torch.Tensor) or labels.ndim != 1 or labels.dtype != torch.int64:
        raise ArchsimError("labels must be a 1-D int64 tensor")
    if len(labels) != len(images):
        raise ArchsimError(f"{len(images)} images but {len(labels)} labels")
    if len(labels) and int(labels.min()) < 0:
        raise ArchsimError("labels must be non-negative class indices")
    check_eps_s(eps_s)
    if batch_size < 1:
        raise ArchsimError("batch_size must be at least 1")

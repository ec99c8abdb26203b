"""The work a SAT run is made of, shared by `sat_matrix` (in memory) and the run store (on disk).

    clean_pass(model, images, labels, ...)           -> bool (n,): the model classifies image i correctly
    attack(model, images, labels, correct, ...)      -> AdvSet of the images `correct` marks
    evaluate(model, images, labels, adv, keep, ...)  -> int8 (n,): the model on adversarial image i:
                                                        1 correct, 0 fooled, -1 not evaluated
    noise(model, images, labels, correct, noise_cfg, ...) -> int8 (n,): the model on random noise of the
                                                        attack's norm and eps (`attacks.noise`), on its
                                                        clean-correct images; -1 elsewhere

`evaluate` classifies the adversarial images whose clean image `keep` marks (the
target's clean-correct images), so outcomes exist exactly on X_st.

Attacks run in batches of `batch_size`; batch b uses the seed derived from
SeedSequence([seed, b]), so a run is reproducible for a given seed and batch
size. Forward-only passes run under inference mode in batches of
EVAL_BATCH_FACTOR x batch_size, so only one batch of adversarial images is in
memory at a time. The same inputs give the same outputs whichever path calls these.
"""

from __future__ import annotations

import numpy as np
import torch

import attacks
from archsim.errors import ArchsimError
from archsim.sat.advset import AdvSet, quantize

EVAL_BATCH_FACTOR = 4  # inference keeps no activations for backward: larger batches fit


def clean_pass(model, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int, device, name: str) -> np.ndarray:
    """Whether `model` classifies each clean image correctly."""
    out = np.zeros(len(labels), dtype=bool)
    step = EVAL_BATCH_FACTOR * batch_size
    for start in range(0, len(labels), step):
        sl = slice(start, start + step)
        out[sl] = _correct(model, images[sl], labels[sl], device, name)
    return out


def attack(model, images: torch.Tensor, labels: torch.Tensor, correct: np.ndarray, attack_cfg: dict, *,
           seed: int, batch_size: int, device) -> AdvSet:
    """Adversarial images for the images `correct` marks, batch by batch, each batch with its own seed."""
    idx = np.flatnonzero(correct)
    deltas = []
    for b, start in enumerate(range(0, len(idx), batch_size)):
        rows = torch.from_numpy(idx[start:start + batch_size])
        batch_seed = int(np.random.SeedSequence([seed, b]).generate_state(1)[0])
        attacker = attacks.make_attack(model, {**attack_cfg, "seed": batch_seed})
        x = images[rows].to(device)
        deltas.append(quantize(attacker(x, labels[rows].to(device)) - x).cpu())
    delta = torch.cat(deltas) if deltas else torch.zeros((0, *images.shape[1:]), dtype=torch.float16)
    return AdvSet.in_memory(idx, delta)


def evaluate(model, images: torch.Tensor, labels: torch.Tensor, adv: AdvSet, keep: np.ndarray, *,
             batch_size: int, device, name: str) -> np.ndarray:
    """`model` on the adversarial images of `adv` whose clean image `keep` marks; -1 elsewhere."""
    out = np.full(len(labels), -1, dtype=np.int8)
    positions = np.flatnonzero(keep[adv.index])
    step = EVAL_BATCH_FACTOR * batch_size
    for start in range(0, len(positions), step):
        chunk = positions[start:start + step]
        where = torch.from_numpy(adv.index[chunk])
        out[adv.index[chunk]] = _correct(model, adv.images(images, chunk), labels[where], device, name)
    return out


def _correct(model, x: torch.Tensor, y: torch.Tensor, device, name: str) -> np.ndarray:
    """One forward-only batch: whether `model` gets each image right."""
    x, y = x.to(device), y.to(device)
    with torch.inference_mode():
        try:
            logits = model(x)
        except RuntimeError as e:  # shape errors deep inside a model; ArchsimError passes through
            raise ArchsimError(f"model {name!r} failed on images of shape {tuple(x.shape)}: {e}") from None
    if int(y.max()) >= logits.shape[1]:
        raise ArchsimError(f"label {int(y.max())} is outside model {name!r}'s {logits.shape[1]} classes")
    return (logits.argmax(1) == y).cpu().numpy()


def noise(model, images: torch.Tensor, labels: torch.Tensor, correct: np.ndarray, noise_cfg: dict, *,
          seed: int, batch_size: int, device, name: str) -> np.ndarray:
    """`model` on its clean-correct images under seeded random noise (the noise control); -1 elsewhere.

    The noise is drawn, stored and evaluated exactly as an attack's images are (`attack`, then `evaluate`
    with keep = correct), so it is of the same size after the float16 rounding."""
    adv = attack(model, images, labels, correct, noise_cfg, seed=seed, batch_size=batch_size, device=device)
    return evaluate(model, images, labels, adv, correct, batch_size=batch_size, device=device, name=name)

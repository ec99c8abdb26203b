"""Layer order: within one model, similarity to the first block should fall with depth.

    first_layer_curves(run_, labels, batch_size, progress) -> ({label: (layers, curve)}, notes)
    monotone_steps(curve) -> (falling steps, steps)
    layer_order(curves, groups) -> Estimate: the share of falling steps over every model

For a model with layers L_1, ..., L_m (`archsim layers`' defaults: timm's feature stages, then
pre_logits), curve[k] = minibatch CKA(L_1, L_k) (the measure of `archsim layers`,
`archsim.similarity.layer_cka`) on the run's evaluation images. The steps are k -> k + 1 for k = 2 .. m - 1
(the step from L_1 itself, CKA 1, falls by construction and is left out); a step falls when
curve[k + 1] <= curve[k]. A model with fewer than 3 layers has no step. The interval is the bootstrap over
architectures of `known_answers.share`.
"""

from __future__ import annotations

import numpy as np

from analysis.scorecard.known_answers import Estimate, group_index, share
from archsim.errors import ArchsimError
from archsim.similarity.activations import default_layers
from archsim.similarity.layer_cka import layer_cka


def first_layer_curves(run_, labels, batch_size: int, progress: bool = False):
    """({label: (its layers, minibatch CKA of its first layer with each of them)}, notes) for the models `labels`;
    a model whose layers cannot be read (a stage that returns a tuple, ...) is left out with a note."""
    out, notes = {}, []
    for label in labels:
        model = run_.models[label]
        layers = default_layers(model)
        try:
            out[label] = layers, layer_cka(model, model, run_.images.images, layers[:1], layers,
                                           batch_size=batch_size, progress=progress)[0]
        except ArchsimError as e:
            notes.append(f"{label} left out: {e}")
    return out, notes


def monotone_steps(curve) -> tuple[int, int]:
    """(steps k -> k + 1, k >= 2, where the curve does not rise; all such steps) of one model's curve."""
    tail = np.asarray(curve, dtype=float)[1:]
    steps = np.isfinite(tail[:-1]) & np.isfinite(tail[1:])
    return int(((tail[1:] <= tail[:-1]) & steps).sum()), int(steps.sum())


def layer_order(curves: dict[str, np.ndarray], groups: dict[str, str], *, seed: int = 0) -> Estimate:
    """The share of falling steps over the models of `curves` ({label: curve}), `groups[label]` its architecture."""
    labels = list(curves)
    gi = group_index([groups[label] for label in labels])
    hits, totals = np.zeros(gi.max() + 1), np.zeros(gi.max() + 1)
    for label, g in zip(labels, gi):
        falling, steps = monotone_steps(curves[label])
        hits[g] += falling
        totals[g] += steps
    return share(hits, totals, seed=seed)

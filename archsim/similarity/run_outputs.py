"""A run's activations and softmax outputs on its evaluation images, computed once per run (`Run.memo`).

    run_features(run, opts, progress) -> {label: (n, p) float32 CPU activations at the option's layer}
    run_probabilities(run, batch_size, progress) -> float32 (M, n, C), the models in `run.models` order
    memoised(run, key, compute) -> run.memo[key], computed by compute() the first time

Several measures of one `archsim demo` (or `archsim ensemble`) run read the same
activations; each is kept in `run.memo` under the model label, layer and batch
size (features) or the batch size (probabilities), so the forward passes run once.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from archsim.similarity.activations import layer_features
from archsim.similarity.representation_measures import _layer
from archsim.zoo.predictions import class_probabilities


def run_features(run, opts: dict, progress: bool) -> dict[str, torch.Tensor]:
    """The activations of every model at the layer of `opts` ("layer", "batch_size"), memoised in the run."""
    out = {}
    for label, model in tqdm(run.models.items(), desc="activations", disable=not progress):
        layer = _layer(opts, label, run)
        key = ("features", label, layer, opts["batch_size"])
        if key not in run.memo:
            run.memo[key] = torch.cat([f[layer].cpu() for f in layer_features(model, run.images.images, [layer],
                                                                               opts["batch_size"])])
        out[label] = run.memo[key]
    return out


def run_probabilities(run, batch_size: int, progress: bool) -> np.ndarray:
    """softmax(model(x)) of every model on the run's evaluation images, memoised in the run."""
    key = ("probabilities", tuple(run.models), batch_size)
    if key not in run.memo:
        device = next(iter(run.models.values())).mean.device
        run.memo[key] = class_probabilities(run.models, run.images, batch_size=batch_size, device=device,
                                            progress=progress, desc="outputs")
    return run.memo[key]


def memoised(run, key: tuple, compute):
    """run.memo[key], set to compute() when missing (a value derived from the run that several measures share)."""
    if key not in run.memo:
        run.memo[key] = compute()
    return run.memo[key]

"""Softmax class probabilities of every model on an image set: the input of ensembles and their evaluation.

    class_probabilities(models, images, *, batch_size, device, progress) -> float32 (M, n, C)

Forward-only passes under inference mode, in batches of
`units.EVAL_BATCH_FACTOR x batch_size`, the models in the mapping's order.
All models must predict the same number of classes.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from archsim.data import ImageSet
from archsim.errors import ArchsimError
from archsim.units import EVAL_BATCH_FACTOR


def class_probabilities(models: dict, images: ImageSet, *, batch_size: int, device, progress: bool = False,
                        desc: str = "predict") -> np.ndarray:
    """softmax(model(x)) for every model (in `models` order) and image: float32 (M, n, C)."""
    step = EVAL_BATCH_FACTOR * batch_size
    out = []
    for name, model in tqdm(models.items(), desc=desc, unit="model", disable=not progress, leave=False):
        parts = []
        with torch.inference_mode():
            for start in range(0, len(images.labels), step):
                x = images.images[start:start + step].to(device)
                parts.append(torch.softmax(model(x).float(), dim=1).cpu())
        probs = torch.cat(parts).numpy()
        if out and probs.shape[1] != out[0].shape[1]:
            raise ArchsimError(f"{name} predicts {probs.shape[1]} classes, {next(iter(models))} "
                               f"{out[0].shape[1]}: an ensemble needs one label space")
        out.append(probs)
    return np.stack(out)

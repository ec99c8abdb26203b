"""Softmax class probabilities of every model on an image set: zoo accuracies, ensembles and their evaluation.

    class_probabilities(models, images, *, batch_size, device, progress) -> float32 (M, n, C)
    predict_run(cfg, run_, *, progress) -> Predictions   (validation and test images, models in config order;
                                                          under the config's `shift:` also their shifted copies)

Forward-only passes under inference mode, in batches of
`units.EVAL_BATCH_FACTOR x batch_size`, the models in the mapping's order.
All models must predict the same number of classes, and every label must be one
of them. One `predict_run` serves both the zoo table (accuracy = argmax of the
probabilities) and the ensembles, so `archsim demo` runs each model over the
images once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from archsim.errors import ArchsimError
from archsim.sat.units import EVAL_BATCH_FACTOR
from archsim.zoo.data import ImageSet
from archsim.zoo.shift import application_images


@dataclass
class Predictions:
    names: list[str]
    test: np.ndarray  # (M, n_test, C) on the run's evaluation (test) images
    validation: np.ndarray | None  # (M, n_val, C), None without validation images
    shifted_test: np.ndarray | None = None  # on the shifted copies (archsim.zoo.shift), under `shift:` only
    shifted_validation: np.ndarray | None = None

    def for_applications(self) -> tuple[np.ndarray | None, np.ndarray]:
        """(validation, test) probabilities the ensemble stage selects and evaluates on: shifted when present."""
        if self.shifted_test is not None:
            return self.shifted_validation, self.shifted_test
        return self.validation, self.test

    def accuracy(self, name: str, images: ImageSet, split: str) -> float | None:
        """The model's accuracy on `images` (the split's images), from its argmax prediction."""
        probs = getattr(self, split)
        if probs is None:
            return None
        return float((probs[self.names.index(name)].argmax(1) == images.labels.numpy()).mean())


def predict_run(cfg, run_, *, progress: bool = True) -> Predictions:
    """Probabilities of the config's models on the run's test and validation images."""
    names = [s.label for s in cfg.models]
    models = {n: run_.models[n] for n in names}
    kw = {"batch_size": cfg.batch_size, "device": cfg.torch_device(), "progress": progress}
    test = class_probabilities(models, run_.images, desc="test predictions", **kw)
    val = None if run_.validation is None else class_probabilities(models, run_.validation,
                                                                   desc="validation predictions", **kw)
    if cfg.shift is None:
        return Predictions(names, test, val)
    shifted_val, shifted_test = application_images(cfg, run_)
    return Predictions(names, test, val, class_probabilities(models, shifted_test, desc="shifted test", **kw),
                       None if shifted_val is None else class_probabilities(models, shifted_val,
                                                                            desc="shifted validation", **kw))


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
                try:
                    logits = model(x)
                except RuntimeError as e:  # shape errors deep inside a model
                    raise ArchsimError(f"model {name!r} failed on images of shape {tuple(x.shape)}: {e}") from None
                parts.append(torch.softmax(logits.float(), dim=1).cpu())
        probs = torch.cat(parts).numpy()
        if int(images.labels.max()) >= probs.shape[1]:
            raise ArchsimError(f"label {int(images.labels.max())} is outside model {name!r}'s {probs.shape[1]} "
                               "classes")
        if out and probs.shape[1] != out[0].shape[1]:
            raise ArchsimError(f"{name} predicts {probs.shape[1]} classes, {next(iter(models))} "
                               f"{out[0].shape[1]}: an ensemble needs one label space")
        out.append(probs)
    return np.stack(out)

"""Layer x layer CKA between two models: the heatmap of Kornblith et al. (2019), by minibatch.

Both models see the same minibatches of the same images; per batch, every
layer's Gram matrix is formed and U-centred once (`MinibatchCKA`), so the cost
grows with L_A + L_B Gram computations (plus one (L_A x n_b^2) x (n_b^2 x L_B)
product), not with L_A x L_B, and memory with L_A + L_B matrices of n_b x n_b.
The value is Nguyen et al.'s minibatch CKA (unbiased HSIC), which equals
full-batch debiased CKA when one batch holds every image.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from tqdm import tqdm

from archsim.errors import ArchsimError
from archsim.similarity.activations import layer_features
from archsim.similarity.cka_minibatch import MinibatchCKA
from archsim.similarity.inputs import batch_slices
from archsim.zoo.wrapper import PixelModel


def layer_cka(model_a: PixelModel, model_b: PixelModel, images: torch.Tensor, layers_a: Sequence[str],
              layers_b: Sequence[str], *, batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """(len(layers_a), len(layers_b)) minibatch CKA of every layer of model_a with every layer of model_b."""
    if batch_size < 4:
        raise ArchsimError(f"layer CKA uses the unbiased HSIC, which needs batches of at least 4; got {batch_size}")
    if len(images) < 4:
        raise ArchsimError(f"layer CKA needs at least 4 images; got {len(images)}")
    acc = MinibatchCKA()
    batches = _paired_features(model_a, model_b, images, layers_a, layers_b, batch_size)
    for fa, fb in tqdm(batches, total=len(batch_slices(len(images), batch_size)), desc="layer CKA",
                       disable=not progress):
        acc.update([fa[name] for name in layers_a], [fb[name] for name in layers_b])
    return acc.result()


def _paired_features(model_a, model_b, images, layers_a, layers_b, batch_size) -> Iterator[tuple[dict, dict]]:
    """Per batch, (activations of model_a, activations of model_b); one pass when both are the same model."""
    if model_a is model_b:
        for feats in layer_features(model_a, images, list(dict.fromkeys([*layers_a, *layers_b])), batch_size):
            yield feats, feats
    else:
        yield from zip(layer_features(model_a, images, layers_a, batch_size),
                       layer_features(model_b, images, layers_b, batch_size))

"""Perturbation alignment: how alike two models' adversarial perturbations are, from the attacks alone.

Every model's attack runs in any SAT run, budgeted or not, and keeps its
perturbations (`archsim.sat.advset`). For models A and B, over the images both
attacked among the first `max_images` positions of the dataset,

    P_AB = mean_x cos(delta_A(x), delta_B(x)),   P_AA = 1

the mean cosine between the two perturbations of the same clean image (a zero
perturbation counts as cosine 0). It costs no forward pass: one read of each
model's set and a Gram matrix, summed over blocks of image positions small
enough that all the models' perturbations of a block fit in `block_bytes`
(float32). It is a covariate of the SAT completion
(`archsim.sat.completion`): a pair whose attacks push the same images the same
way tends to transfer (on the demo zoo the Spearman correlation of P with SAT,
each less its per-model effects, is 0.80).

The computation is exact: a random projection of the perturbations (tried
with 512 values per image) moved P by up to 0.017 on the demo zoo, as much as
the spread of P between pairs, because the same projection errs alike on
every image's similar perturbations.
"""

from __future__ import annotations

import numpy as np
import torch

from archsim.sat.advset import AdvSet

MAX_IMAGES = 1000  # the first dataset positions looked at
BLOCK_BYTES = 1 << 30  # all models' perturbations of one block of positions, float32


def perturbation_alignment(sets: list[AdvSet], *, max_images: int = MAX_IMAGES,
                           block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """(N, N) P_AB (module docstring) of the models whose adversarial sets are `sets`; NaN for a pair with no
    image attacked by both."""
    n = len(sets)
    limit = min(max_images, max((int(s.index.max()) + 1 for s in sets if len(s)), default=0))
    dim = next((int(np.prod(s.rows(0, 1).shape[1:])) for s in sets if len(s)), 1)
    block = max(1, block_bytes // (4 * n * dim))
    gram = torch.zeros(n, n, dtype=torch.float64)
    attacked = torch.zeros(n, limit, dtype=torch.float64)
    for first in range(0, limit, block):
        last = min(first + block, limit)
        units = torch.zeros(n, last - first, dim)  # unit perturbations by position; 0 where not attacked
        for m, s in enumerate(sets):
            start, stop = np.searchsorted(s.index, [first, last])
            if stop > start:
                rows = s.rows(int(start), int(stop)).to(torch.float32).reshape(stop - start, -1)
                at = torch.from_numpy(s.index[start:stop] - first)
                units[m, at] = torch.nn.functional.normalize(rows, dim=1)
                attacked[m, at + first] = 1.0
        flat = units.reshape(n, -1)
        gram += (flat @ flat.T).double()
    with np.errstate(invalid="ignore", divide="ignore"):
        out = gram.numpy() / (attacked @ attacked.T).numpy()
    np.fill_diagonal(out, 1.0)
    return out

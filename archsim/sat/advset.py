"""Adversarial images kept compactly: the float16 perturbation of each attacked image.

An `AdvSet` stands for the adversarial images one source model made:

    index  int64 (k,)            positions of the attacked images in the dataset, increasing
    delta  float16 (k, C, H, W)  the perturbation x_adv - x, rounded toward zero

and adversarial image j is clamp(x[index[j]] + delta[j], 0, 1). Every SAT path
(`sat_matrix` in memory, the run store on disk) evaluates exactly these images,
so both give identical outcomes. Rounding toward zero keeps |delta| <= |x_adv - x|
elementwise: a stored image never leaves the attack's eps ball (up to the
float32 addition). It costs C*H*W*2 + 8 bytes per image (301,064 bytes at
224 x 224 RGB; 1,544 at 16 x 16 RGB), half of float32.

`rows(start, stop)` returns delta rows [start, stop), so an AdvSet read from a
file (`archsim.store.tensors`) is never loaded whole: `images` reads only the
blocks it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class AdvSet:
    index: np.ndarray  # int64 (k,), increasing
    rows: Callable[[int, int], torch.Tensor]  # float16 delta rows [start, stop)

    @classmethod
    def in_memory(cls, index: np.ndarray, delta: torch.Tensor) -> AdvSet:
        return cls(np.asarray(index, dtype=np.int64), lambda start, stop: delta[start:stop])

    def __len__(self) -> int:
        return len(self.index)

    def images(self, clean: torch.Tensor, positions: np.ndarray) -> torch.Tensor:
        """Adversarial images for the set's rows `positions` (increasing), from the clean dataset
        images; delta is read in blocks of len(positions) rows, so memory stays within two batches."""
        block = max(len(positions), 1)
        parts = []
        for start in np.unique(positions // block) * block:
            stop = min(start + block, len(self))
            chosen = positions[(positions >= start) & (positions < stop)]
            parts.append(self.rows(int(start), int(stop))[torch.from_numpy(chosen - start)])
        delta = torch.cat(parts).to(torch.float32)
        return (clean[torch.from_numpy(self.index[positions])] + delta).clamp(0, 1)


def quantize(delta: torch.Tensor) -> torch.Tensor:
    """`delta` in float16, each value rounded toward zero."""
    q = delta.to(torch.float16)
    too_far = q.to(delta.dtype).abs() > delta.abs()
    return torch.where(too_far, torch.nextafter(q, torch.zeros_like(q)), q)

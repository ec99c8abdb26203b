"""Perturbation alignment (archsim.sat.alignment): the mean cosine of two models' perturbations of the same image."""

import numpy as np
import pytest
import torch

from archsim.sat.advset import AdvSet
from archsim.sat.alignment import perturbation_alignment


def advset(index, delta):
    return AdvSet.in_memory(np.asarray(index), delta.to(torch.float16))


def direct(a: AdvSet, b: AdvSet, max_images: int) -> float:
    """The definition, one image at a time."""
    cosines = []
    for row_a, x in enumerate(a.index):
        if x < max_images and x in b.index:
            row_b = int(np.flatnonzero(b.index == x)[0])
            u = a.rows(row_a, row_a + 1).float().flatten()
            v = b.rows(row_b, row_b + 1).float().flatten()
            cosines.append(float(torch.nn.functional.cosine_similarity(u, v, dim=0)))
    return float(np.mean(cosines)) if cosines else float("nan")


def test_planted_alignments():
    g = torch.Generator().manual_seed(0)
    delta = torch.randn(40, 3, 4, 4, generator=g)
    same = advset(range(40), delta)
    opposite = advset(range(40), -2 * delta)  # the scale does not matter
    other = advset(range(40), torch.randn(40, 3, 4, 4, generator=g))
    p = perturbation_alignment([same, opposite, other, same])
    assert np.allclose(np.diag(p), 1.0)
    assert p[0, 3] == pytest.approx(1.0, abs=1e-6)
    assert p[0, 1] == pytest.approx(-1.0, abs=1e-6)
    assert abs(p[0, 2]) < 0.1  # independent directions in 48 dimensions, averaged over 40 images
    assert np.array_equal(p, p.T)


def test_equals_the_definition_over_the_images_both_attacked_in_any_blocks():
    rng = np.random.default_rng(1)
    sets = []
    for _ in range(5):
        index = np.sort(rng.choice(60, size=int(rng.integers(20, 50)), replace=False))
        sets.append(advset(index, torch.from_numpy(rng.normal(size=(len(index), 2, 3, 3))).float()))
    sets.append(advset(np.arange(100, 110), torch.ones(10, 2, 3, 3)))  # no image shared with the others
    for max_images, block_bytes in [(1000, 1 << 30), (1000, 1), (30, 5000)]:
        p = perturbation_alignment(sets, max_images=max_images, block_bytes=block_bytes)
        for i in range(5):
            for j in range(5):
                if i != j:
                    assert p[i, j] == pytest.approx(direct(sets[i], sets[j], max_images), abs=2e-6)
        assert np.isnan(p[:5, 5]).all() and p[5, 5] == 1.0

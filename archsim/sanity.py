"""Warnings about setups that make every number meaningless, each naming its likely cause.

    near_chance(names, accuracy, n_classes, what) -> [warning]      a model at or near chance clean accuracy
    weak_attack(names, white_box) -> [warning]                       white-box success below WHITE_BOX_MIN
    interval_spans_range(low, high) -> bool                          a correlation interval that says nothing

Near chance: clean accuracy below chance + NEAR_CHANCE x (1 - chance), chance =
1 / C for C classes (0.325 for 10 classes, 0.20 for 1,000). A trained
classifier that low on its own task has almost always been fed images it was
not made for: a wrong input size, mean/std or number of input channels, or
outputs that do not line up with the labels (num_classes, class order).

Weak attack: white-box success (the share of a model's correctly classified
images its own attack fools) below WHITE_BOX_MIN = 0.8 means the attack's eps
is too small for these images (or the steps too few): transfer rates between
such models measure little but the attack's weakness.

A rank correlation whose 95% interval reaches from below -SPAN to above +SPAN
(SPAN = 0.95) covers nearly the whole range [-1, 1]: the pool is too small for
it, and it is reported as "too few models", not as a result.
"""

from __future__ import annotations

import math

NEAR_CHANCE = 0.25
WHITE_BOX_MIN = 0.8
SPAN = 0.95


def chance_threshold(n_classes: int) -> float:
    """The accuracy below which a classifier of `n_classes` classes counts as near chance."""
    chance = 1.0 / n_classes
    return chance + NEAR_CHANCE * (1.0 - chance)


def near_chance(names, accuracy, n_classes: int, what: str = "model") -> list[str]:
    """One warning per model whose clean accuracy is below `chance_threshold(n_classes)`."""
    limit = chance_threshold(n_classes)
    return [f"{what} {name!r}: clean accuracy {acc:.3f} is at or near chance ({1 / n_classes:.3f} for "
            f"{n_classes} classes): check its input_size, mean/std, in_chans and num_classes (and its weights)"
            for name, acc in zip(names, accuracy) if math.isfinite(acc) and acc < limit]


def weak_attack(names, white_box) -> list[str]:
    """One warning per model whose white-box success is below WHITE_BOX_MIN."""
    return [f"model {name!r}: white-box success {rate:.3f} is below {WHITE_BOX_MIN:g}: the attack's eps is too "
            "small for these images (or its steps too few), so its transfer rates measure the attack's weakness"
            for name, rate in zip(names, white_box) if math.isfinite(rate) and rate < WHITE_BOX_MIN]


def interval_spans_range(low: float, high: float) -> bool:
    """True when a correlation's interval is missing or covers nearly all of [-1, 1]."""
    return not (math.isfinite(low) and math.isfinite(high)) or (low <= -SPAN and high >= SPAN)

"""The functional measures (`archsim.similarity.functional`) registered on a run's models: computed from
each model's softmax outputs on the run's evaluation images and their labels, no layer needed.

    disagreement       share of images whose predicted classes differ                a distance
    js-divergence      mean Jensen-Shannon divergence of the softmax outputs (nats)  a distance
    error-consistency  Cohen's kappa of the errors (Geirhos et al. 2020)
    double-fault       share of images both models get wrong (Kuncheva and Whitaker 2003)
    yules-q            Yule's Q of the correctness table (Kuncheva and Whitaker 2003)

Option (each): batch_size: 100, images per forward pass (x archsim.sat.units.EVAL_BATCH_FACTOR).
The outputs are computed once per run for all five (`archsim.similarity.run_outputs`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from archsim.options import Option
from archsim.similarity.functional import (
    correctness,
    disagreement,
    double_fault,
    error_consistency,
    js_divergence,
    yules_q,
)
from archsim.similarity.measure import Measure, MeasureInputs, SimilarityResult
from archsim.similarity.run_outputs import run_probabilities

OPTIONS = {"batch_size": Option(100, "int", minimum=1)}


def _functional(name: str, statistic: Callable[[np.ndarray], np.ndarray], summary: str, *, on_errors: bool,
                distance: bool = False) -> Measure:
    """The measure of `statistic` of the (M, n, C) outputs, or with `on_errors` of the (M, n) correctness."""
    def compute(inputs: MeasureInputs, opts: dict) -> SimilarityResult:
        run = inputs.run
        probs = run_probabilities(run, opts["batch_size"], inputs.progress)
        values = statistic(correctness(probs, run.images.labels.numpy()) if on_errors else probs)
        notes = [f"outputs on {len(run.images)} images"]
        notes += [f"{n}: undefined against every other model (e.g. right on every image)"
                  for i, n in enumerate(run.models) if np.isnan(np.delete(values[i], i)).all()]
        return SimilarityResult(list(run.models), values, notes=notes)
    return Measure(name, compute, dict(OPTIONS), summary, distance_when=distance or None)


MEASURES = [
    _functional("disagreement", disagreement, "prediction disagreement", on_errors=False, distance=True),
    _functional("js-divergence", js_divergence, "Jensen-Shannon divergence of the softmax outputs", on_errors=False,
                distance=True),
    _functional("error-consistency", error_consistency,
                "error consistency, Cohen's kappa of the errors (Geirhos et al. 2020)", on_errors=True),
    _functional("double-fault", double_fault, "double-fault measure (Kuncheva and Whitaker 2003)", on_errors=True),
    _functional("yules-q", yules_q, "Yule's Q statistic (Kuncheva and Whitaker 2003)", on_errors=True),
]

"""Adaptive images: evaluate one pair's images in rounds and stop once its SAT interval is narrow enough.

    check_adaptive(target_width, round_images, n_images)    -> ArchsimError on bad input, else None
    image_order(n_images, seed)                             -> the seeded order the rounds take images in
    sat_interval(counts, eps_s, seed=0)                     -> (low, high) of SAT, log scale
    adaptive_pair(evaluate_round, n_images, target_width, round_images, eps_s, seed) -> AdaptiveOutcome
    simulate_coverage(p_ab, p_ba, rho, target_width, round_images, max_images, runs, seed, rule) -> Coverage

The rule ("sequential"). The images are taken in a seeded random order, R at a
time. After each round, the e-counts (n0, n1, n2) of the pair's images so far
(e_i in {0, 1, 2}: how many of the two directions image i of X_AB transfers in,
`archsim.sat.intervals`) give the pair's interval of SAT: the same seeded
percentile bootstrap as the non-adaptive path (`pair_intervals`, seed 0, mapped
through ln(max(eps_s, 100 p))). Stop after the first round whose interval has
high - low <= the target width, or when every image is used. Two guards: a
round whose images all have the same e (all 0, all 1 or all 2) never stops the
run, since such a bootstrap interval has width 0 without measuring anything
(all 0 would otherwise stop a pair at ln(eps_s) after one round); and the
reported interval is exactly what `pair_intervals` gives on the images used, so
a run that uses all images reports what `archsim pair` reports without
`--target-width`.

Why the interval stays valid. The rule stops on the interval's width, not on
where it lies. On the log scale the width is about z sd(e) / (p sqrt n), so it
does depend on the estimate: a pair whose first rounds happen to transfer more
looks more precise and stops earlier, which biases the rate at stopping up. For
small rates this is inverse binomial sampling (stop once about 2 z^2 / W^2
transfers are seen), where the bias of the rate is about 1/k of it for k
transfers while the interval's half width is about 1/sqrt(k) of it; for larger
rates the first round usually already meets the target, and the interval is a
fixed-size one. The bias is thus a small fraction of the interval, and
width-based stopping keeps its nominal coverage as the target shrinks (Chow and
Robbins, 1965). Whether it is small enough at real targets is measured, not
assumed: `simulate_coverage` draws images from a pair with directional rates
(p_ab, p_ba) whose directions correlate with rho, runs the rule and counts how
often the reported interval holds the true SAT. Over pooled rates 0.02 to 0.9,
rho 0 and 0.5, targets 0.3 to 1.5 and rounds of 25 to 100 images, 2,000 runs
each, the coverage lay in [93.8%, 96.7%] (docs/adaptive-images.md has the
table, part of it from a pass with 1,000 bootstrap resamples per look;
benchmarks/adaptive_images.py prints it). With rounds of 10 images it fell to
93.5% at a pooled rate of 0.02, and with rounds of 1 image and a target of 2 to
90.9% at 0.05: small rounds stop on few transfers, so use rounds of 25 or more.

The corrected alternative ("two-stage", Stein-type) is simulated beside it: the
first round only sets how many images to use, N = R (w_1 / W)^2 rounded up to
whole rounds (w_1 its width), and the final interval uses all N images. Its
coverage is as close to 95% but its final width often misses the target (the
pilot's width is noisy), so the sequential rule is the one `archsim pair` uses.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np

from archsim.errors import ArchsimError
from archsim.sat.formula import sat_score
from archsim.sat.intervals import RESAMPLES, pair_intervals

RULES = ("sequential", "two-stage")
DEFAULT_ROUND_IMAGES = 100


def check_adaptive(target_width, round_images, n_images: int) -> None:
    """ArchsimError (one line) unless target_width > 0 and 1 <= round_images <= n_images."""
    if isinstance(target_width, bool) or not isinstance(target_width, numbers.Real) or not target_width > 0 \
            or not math.isfinite(target_width):
        raise ArchsimError(f"--target-width must be a positive number (the widest SAT interval, high - low on the "
                           f"log scale, to stop at); got {target_width!r}")
    if isinstance(round_images, bool) or not isinstance(round_images, numbers.Integral) or round_images < 1:
        raise ArchsimError(f"--round-images must be a whole number of at least 1; got {round_images!r}")
    if round_images > n_images:
        raise ArchsimError(f"--round-images {round_images} is more than the run's {n_images} images: use at most "
                           f"{n_images}, or more images (--n)")


def image_order(n_images: int, seed: int) -> np.ndarray:
    """The seeded random order the rounds take the images in: round r is order[r R : (r + 1) R]."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), 29])).permutation(n_images)


def sat_interval(counts, eps_s: float, *, seed: int = 0) -> tuple[float, float]:
    """The pair's SAT interval (log scale) from its e-counts (n0, n1, n2): `pair_intervals` through `sat_score`,
    as `SATResult.sat_intervals` computes it; NaN for no image."""
    low, high = pair_intervals(np.asarray(counts, dtype=np.int64).reshape(1, 3), seed=seed)
    if math.isnan(low[0]):
        return math.nan, math.nan
    return float(sat_score(low[0], eps_s)), float(sat_score(high[0], eps_s))


def _degenerate(counts: np.ndarray) -> np.ndarray:
    """Rows whose images all have the same e (or none): a width-0 interval that measures nothing."""
    counts = np.atleast_2d(counts)
    return (counts == counts.sum(axis=1, keepdims=True)).any(axis=1)


@dataclass
class AdaptiveOutcome:
    counts: np.ndarray  # (3,) e-counts of the images of X_AB used
    images_used: int  # images of the run evaluated (X_AB and the rest)
    n_images: int  # all the run's images
    rounds: int
    low: float  # SAT interval, log scale
    high: float
    target_width: float
    reason: str  # "target" (the interval got narrow enough) or "all images"

    def line(self) -> str:
        """One line: the images used and why the rounds stopped."""
        width = "no interval" if math.isnan(self.low) else f"interval width {self.high - self.low:.2f}"
        if self.reason == "target":
            why = f"stopped: {width} <= target {self.target_width:g}"
        else:
            why = f"stopped: all images used, {width} (target {self.target_width:g} not reached)"
        return (f"adaptive images: used {self.images_used} of {self.n_images} images in {self.rounds} round(s) "
                f"of up to {math.ceil(self.images_used / self.rounds)}; {why}")


def adaptive_pair(evaluate_round: Callable[[np.ndarray], np.ndarray], n_images: int, *, target_width: float,
                  round_images: int = DEFAULT_ROUND_IMAGES, eps_s: float, seed: int = 0) -> AdaptiveOutcome:
    """Run the sequential rule: `evaluate_round(indices)` evaluates the pair on those images of the run and
    returns the e-counts (n0, n1, n2) of the ones in X_AB; rounds take `image_order(n_images, seed)` R at a time."""
    check_adaptive(target_width, round_images, n_images)
    order = image_order(n_images, seed)
    counts = np.zeros(3, dtype=np.int64)
    used = rounds = 0
    while True:
        chunk = order[used:used + round_images]
        counts = counts + np.asarray(evaluate_round(chunk), dtype=np.int64)
        used, rounds = used + len(chunk), rounds + 1
        low, high = sat_interval(counts, eps_s)
        if not math.isnan(low) and high - low <= target_width and not _degenerate(counts)[0]:
            return AdaptiveOutcome(counts, used, n_images, rounds, low, high, float(target_width), "target")
        if used >= n_images:
            return AdaptiveOutcome(counts, used, n_images, rounds, low, high, float(target_width), "all images")


def e_probabilities(p_ab: float, p_ba: float, rho: float) -> np.ndarray:
    """P(e = 0, 1, 2) for an image whose directions transfer with rates p_ab, p_ba and correlation rho (the
    joint rate clipped to what the margins allow)."""
    both = p_ab * p_ba + rho * math.sqrt(p_ab * (1 - p_ab) * p_ba * (1 - p_ba))
    both = min(max(both, max(0.0, p_ab + p_ba - 1)), min(p_ab, p_ba))
    one = p_ab + p_ba - 2 * both
    return np.array([1 - one - both, one, both])


@dataclass
class Coverage:
    coverage: float  # share of runs whose reported interval holds the true SAT
    mean_images: float  # images used per run, mean
    max_images: int
    mean_width: float  # reported interval width, mean
    met_target: float  # share of runs whose reported interval is within the target width
    runs: int


def simulate_coverage(p_ab: float, p_ba: float, rho: float, *, target_width: float, round_images: int,
                      max_images: int, runs: int = 2000, seed: int = 0, rule: str = "sequential",
                      eps_s: float = 0.01, resamples: int = RESAMPLES) -> Coverage:
    """Coverage of the true SAT by the interval reported at the stopping time, over `runs` seeded simulated pairs.

    Each image is in X_AB and carries e drawn from `e_probabilities(p_ab, p_ba, rho)`; a round adds
    `round_images` of them, up to `max_images`. The intervals are `pair_intervals`' (seeded per look), as the rule
    computes them. rule "sequential" is `adaptive_pair`'s; "two-stage" is the Stein-type alternative of the
    module docstring (the first non-degenerate round sets N, the final interval uses all N images)."""
    if rule not in RULES:
        raise ArchsimError(f"rule must be one of {', '.join(RULES)}; got {rule!r}")
    check_adaptive(target_width, round_images, max_images)
    q = e_probabilities(p_ab, p_ba, rho)
    truth = float(sat_score((p_ab + p_ba) / 2, eps_s))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 2]))
    counts = np.zeros((runs, 3), dtype=np.int64)
    planned = np.full(runs, max_images)  # two-stage: the images the pilot asks for
    piloted = np.zeros(runs, dtype=bool)
    low, high = np.full(runs, np.nan), np.full(runs, np.nan)
    active = np.ones(runs, dtype=bool)
    look = 0
    while active.any():
        idx = np.flatnonzero(active)
        step = np.minimum(round_images, max_images - counts[idx].sum(axis=1))
        counts[idx] += rng.multinomial(step, q)
        n = counts[idx].sum(axis=1)
        lo, hi = pair_intervals(counts[idx], resamples=resamples, seed=int(seed) * 1000 + look)
        lo, hi = sat_score(lo, eps_s), sat_score(hi, eps_s)
        look += 1
        usable = ~_degenerate(counts[idx])
        if rule == "sequential":
            stop = (usable & (hi - lo <= target_width)) | (n >= max_images)
        else:
            pilot = usable & ~piloted[idx]
            need = np.ceil(n * ((hi - lo) / target_width) ** 2 / round_images) * round_images
            planned[idx[pilot]] = np.clip(need[pilot], n[pilot], max_images).astype(int)
            piloted[idx[pilot]] = True
            stop = (piloted[idx] & (n >= planned[idx])) | (n >= max_images)
        low[idx[stop]], high[idx[stop]] = lo[stop], hi[stop]
        active[idx[stop]] = False
    width = high - low
    return Coverage(float(np.mean((low <= truth) & (truth <= high))), float(counts.sum(axis=1).mean()), max_images,
                    float(np.mean(width)), float(np.mean(width <= target_width)), runs)

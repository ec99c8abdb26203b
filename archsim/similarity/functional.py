"""Functional similarity: models compared by their outputs on the same labelled images, no layer needed.

`probs` is (M, n, C): each model's softmax probabilities on n images; `labels` (n,). A model's
prediction is its argmax (lowest class on ties) and it is correct where that equals the label.
For a pair of models, N11, N10, N01, N00 count the images both get right, only the first, only
the second, and neither (Kuncheva and Whitaker, "Measures of diversity in classifier ensembles",
Machine Learning 2003). Each function returns the (M, M) matrix of one statistic:

    disagreement       (1/n) #{argmax p_a != argmax p_b}                            a distance, 0 on the diagonal
    js_divergence      (1/n) sum_x JS(p_a(x), p_b(x)),                              a distance, in [0, ln 2]
                       JS(p, q) = KL(p || m) / 2 + KL(q || m) / 2, m = (p + q) / 2, natural log
    error_consistency  Cohen's kappa of the two correctness vectors (Geirhos, Meding and Wichmann, NeurIPS
                       2020): (c_obs - c_exp) / (1 - c_exp), c_obs = (N11 + N00) / n,
                       c_exp = r_a r_b + (1 - r_a)(1 - r_b), r the accuracies
    double_fault       N00 / n, the share of images both get wrong (Giacinto and Roli 2001)
    yules_q            (N11 N00 - N01 N10) / (N11 N00 + N01 N10)                    in [-1, 1]

All but the first two are similarities (larger = the two models fail on the same images). Error
consistency is undefined (NaN) where c_exp = 1 (both models right on every image, or both wrong;
against a model that is right everywhere, kappa is 0), Yule's Q where its denominator is 0 (a
model right on every image, say).
"""

from __future__ import annotations

import numpy as np

from archsim.errors import ArchsimError


def check_outputs(probs, labels=None) -> tuple[np.ndarray, np.ndarray | None]:
    """probs as float64 (M, n, C) and labels as int (n,); ArchsimError for other shapes."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 3 or probs.shape[1] == 0:
        raise ArchsimError(f"model outputs must be (models, images, classes); got shape {probs.shape}")
    if labels is None:
        return probs, None
    labels = np.asarray(labels)
    if labels.shape != probs.shape[1:2]:
        raise ArchsimError(f"{probs.shape[1]} images but {labels.size} labels")
    return probs, labels.astype(int)


def correctness(probs, labels) -> np.ndarray:
    """(M, n) bool: each model's argmax equals the label."""
    probs, labels = check_outputs(probs, labels)
    return probs.argmax(axis=2) == labels[None, :]


def disagreement(probs) -> np.ndarray:
    predictions = check_outputs(probs)[0].argmax(axis=2)
    return (predictions[:, None, :] != predictions[None, :, :]).mean(axis=2)


def js_divergence(probs) -> np.ndarray:
    probs = check_outputs(probs)[0]
    m = len(probs)
    out = np.zeros((m, m))
    for a in range(m):
        for b in range(a + 1, m):
            mid = (probs[a] + probs[b]) / 2
            out[a, b] = out[b, a] = float(np.mean(_kl(probs[a], mid) + _kl(probs[b], mid)) / 2)
    return out


def _kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(n,) KL(p || q) per image, 0 log 0 = 0 (q > 0 wherever p > 0 here, since q is a midpoint with p)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(p / q), 0.0).sum(axis=1)


def counts(correct: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(N11, N10, N01, N00), each (M, M), from the (M, n) correctness matrix."""
    right = correct.astype(float)
    wrong = 1 - right
    return right @ right.T, right @ wrong.T, wrong @ right.T, wrong @ wrong.T


def error_consistency(correct: np.ndarray) -> np.ndarray:
    n11, _, _, n00 = counts(correct)
    n = correct.shape[1]
    rate = correct.mean(axis=1)
    expected = rate[:, None] * rate[None, :] + (1 - rate[:, None]) * (1 - rate[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected < 1, ((n11 + n00) / n - expected) / (1 - expected), np.nan)


def double_fault(correct: np.ndarray) -> np.ndarray:
    return counts(correct)[3] / correct.shape[1]


def yules_q(correct: np.ndarray) -> np.ndarray:
    n11, n10, n01, n00 = counts(correct)
    den = n11 * n00 + n01 * n10
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (n11 * n00 - n01 * n10) / den, np.nan)

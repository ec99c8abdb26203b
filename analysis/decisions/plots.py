"""PNG figures of the decisions: gain against similarity, the prediction table's intervals, ensemble accuracy.

Each function draws one figure, writes it as PNG to `path` (a file path or a
binary file object) with `analysis.matrix.plots.save_figure` and returns `path`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from analysis.matrix.plots import save_figure


def plot_gain_vs_similarity(panels: dict[str, tuple[np.ndarray, np.ndarray, str]], ylabel: str, path,
                            point_labels: list[str] | None = None, columns: int = 4) -> Path:
    """Small multiples, one scatter per measure (rows of `columns`) on a shared gain axis: x = similarity, y = gain.

    `panels` maps measure -> (x, y, subtitle); `point_labels`, when given, names each point.
    """
    n = max(1, len(panels))
    cols = min(n, columns)
    rows = -(-n // cols)
    fig = Figure(figsize=(3.6 * cols, 3.3 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, sharey=True, squeeze=False)
    for ax, (measure, (x, y, subtitle)) in zip(axes.flat, panels.items()):
        ax.scatter(x, y, s=14, alpha=0.7)
        for label, xi, yi in zip(point_labels or [], x, y):
            if np.isfinite(xi) and np.isfinite(yi):
                ax.annotate(label, (xi, yi), xytext=(3, 3), textcoords="offset points", fontsize=7)
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_xlabel(f"{measure} similarity")
        ax.set_title(subtitle, fontsize=9)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    return save_figure(fig, path)


def plot_prediction_intervals(measures: list[str], targets: dict[str, list[tuple[float, float, float]]],
                              path) -> Path:
    """One panel per target (ensemble gain, distillation gain): each measure's Spearman rho with its interval.

    `targets` maps a target's title to (rho, low, high) per measure, in the order of `measures` (top first).
    """
    fig = Figure(figsize=(4.2 * len(targets), 0.32 * len(measures) + 1.4), layout="constrained")
    axes = fig.subplots(1, len(targets), sharey=True, squeeze=False)[0]
    y = np.arange(len(measures))
    for ax, (title, values) in zip(axes, targets.items()):
        rho, low, high = (np.array(v, dtype=float) for v in zip(*values)) if values else ([], [], [])
        err = np.vstack([rho - low, high - rho])
        ax.errorbar(rho, y, xerr=np.where(np.isfinite(err), err, 0), fmt="o", ms=4, capsize=2)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.set_xlim(-1.05, 1.05)
        ax.set_xlabel("Spearman rho (95% bootstrap interval)")
        ax.set_title(title, fontsize=9)
    axes[0].set_yticks(y, measures, fontsize=8)
    axes[0].invert_yaxis()
    return save_figure(fig, path)


def plot_ensemble_accuracy(rows: list, path) -> Path:
    """Test accuracy (mean of softmax) of each selection (`analysis.decisions.ensemble_study.SummaryRow`): bars per
    (measure, method), random with its sd; the two baselines as vertical lines (top-k dashed, the best single model,
    most accurate on validation, dotted)."""
    labels = [f"{r.method}" + (f" ({r.measure})" if r.measure else "") for r in rows]
    acc = np.array([r.test_softmax for r in rows], dtype=float)
    err = np.array([r.sd_over_draws if r.sd_over_draws is not None else 0.0 for r in rows], dtype=float)
    top, single = rows[0].test_softmax - rows[0].vs_top_k, rows[0].test_softmax - rows[0].vs_best_single
    fig = Figure(figsize=(7, 0.35 * len(rows) + 1.5))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    ax.barh(y, acc, xerr=err, color=["0.6" if not r.measure else "tab:blue" for r in rows])
    ax.axvline(top, color="black", ls="--", lw=1, label=f"top-k {top:.3f}")
    ax.axvline(single, color="tab:red", ls=":", lw=1.2, label=f"best single model {single:.3f}")
    ax.legend(loc="lower right", fontsize=7)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    low = max(0.0, float(np.nanmin(np.r_[acc - err, single])) - 0.01)
    ax.set_xlim(low, min(1.0, float(np.nanmax(np.r_[acc + err, single])) + 0.005))
    ax.set_xlabel("test accuracy of the ensemble (mean of softmax)")
    ax.set_title("ensemble members chosen on validation data; grey: no similarity measure", fontsize=9)
    return save_figure(fig, path)

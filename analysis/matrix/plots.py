"""PNG figures of the matrix analyses: clustering, maps, importance, comparisons, the heatmap.

matplotlib's Agg canvas; no display, no pyplot state.

Each function draws one figure, writes it as PNG to `path` (a file path or a
binary file object such as io.BytesIO) and returns `path`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator
from scipy.cluster.hierarchy import dendrogram

from analysis.matrix.compare import Comparison
from analysis.matrix.importance import METHODS, Importance
from archsim.files import atomic_path


def save_figure(fig: Figure, path):
    """Write `fig` as PNG to `path` (a file path, whose folder is created, or a binary file object)."""
    FigureCanvasAgg(fig)
    if hasattr(path, "write"):
        fig.savefig(path, format="png", dpi=120, bbox_inches="tight")
        return path
    with atomic_path(path) as tmp:  # archsim.files: renamed into place when written (all or nothing inside a set)
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return Path(path)


def _colours(labels: np.ndarray):
    cmap = colormaps["tab20" if labels.max() >= 10 else "tab10"]
    return [cmap(int(x) % cmap.N) for x in labels]


def plot_dendrogram(linkage: np.ndarray, names: list[str], labels: np.ndarray, path: str | Path) -> Path:
    """Average-linkage dendrogram; leaf labels coloured by spectral cluster."""
    fig = Figure(figsize=(8, max(4, 0.22 * len(names))))
    ax = fig.add_subplot()
    tree = dendrogram(linkage, labels=list(names), orientation="left", ax=ax, color_threshold=0,
                      above_threshold_color="0.4")
    colours = dict(zip(names, _colours(labels)))
    for tick in ax.get_yticklabels():
        tick.set_color(colours[tick.get_text()])
    ax.set_xlabel("dissimilarity (max S - S)")
    ax.set_title(f"Average-linkage dendrogram ({len(tree['leaves'])} models; colours: spectral clusters)")
    return save_figure(fig, path)


def plot_map(coords: np.ndarray, names: list[str], labels: np.ndarray, title: str, path: str | Path) -> Path:
    """2-D map of the models, coloured by cluster and labelled by name."""
    fig = Figure(figsize=(9, 7))
    ax = fig.add_subplot()
    ax.scatter(coords[:, 0], coords[:, 1], c=_colours(labels), s=40, edgecolors="k", linewidths=0.4)
    for (x, y), name in zip(coords, names):
        ax.annotate(name, (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
    for c in np.unique(labels):
        ax.scatter([], [], color=_colours(np.array([c]))[0], label=f"cluster {c}")
    ax.legend(fontsize=7, loc="best")
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return save_figure(fig, path)


def plot_spectrum(spectrum: np.ndarray, k: int, path: str | Path) -> Path:
    """Smallest Laplacian eigenvalues, with the chosen k marked."""
    shown = spectrum[: min(len(spectrum), 20)]
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    ax.plot(np.arange(1, len(shown) + 1), shown, "o-")
    ax.axvline(k + 0.5, color="r", ls="--", label=f"k = {k}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("index")
    ax.set_ylabel("eigenvalue of the normalised Laplacian")
    ax.legend()
    return save_figure(fig, path)


def plot_importance(imp: Importance, path: str | Path) -> Path:
    """One horizontal bar chart per method, most important component on top."""
    fig = Figure(figsize=(12, max(3, 0.35 * len(imp.components))), layout="constrained")
    for n, method in enumerate(METHODS, start=1):
        ax = fig.add_subplot(1, len(METHODS), n)
        order = np.argsort(imp.scores[method], kind="stable")
        ax.barh([imp.components[k] for k in order], imp.scores[method][order], color="C0" if n == 1 else "C1")
        f = imp.fit[method]
        ax.set_title(f"{method}\nCV R$^2$ = {f['cv_r2']:.3f} ± {f['cv_r2_std']:.3f}", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(f"Component importance ({imp.n_models} models, {imp.n_pairs} pairs)")
    return save_figure(fig, path)


def plot_scatter(comp: Comparison, path: str | Path) -> Path:
    """Pair values of one matrix against the other, with the agreement statistics."""
    fig = Figure(figsize=(6, 5.5))
    ax = fig.add_subplot()
    ax.scatter(comp.pairs_a, comp.pairs_b, s=6, alpha=0.5)
    ax.set_xlabel(Path(comp.matrix_a).name or "A")
    ax.set_ylabel(Path(comp.matrix_b).name or "B")
    ax.set_title(f"Pearson {comp.pearson:.3f}, Spearman {comp.spearman:.3f}, Kendall {comp.kendall:.3f}\n"
                 f"Mantel p = {comp.mantel_p:.3g} ({comp.permutations} perm.), NN agreement {comp.nn_agreement:.2f}",
                 fontsize=9)
    return save_figure(fig, path)


def plot_clustered_heatmap(values: np.ndarray, names: list[str], linkage: np.ndarray, labels: np.ndarray,
                           path, *, title: str = "SAT", colorbar_label: str = "SAT",
                           predicted: np.ndarray | None = None) -> Path:
    """The matrix with rows and columns in the dendrogram's leaf order, the dendrogram above it; the cells
    that `predicted` (N x N bool) marks, completed rather than measured, are hatched.

    The colour scale spans the off-diagonal values; the diagonal (for SAT, the
    white-box success) is grey, its value written in the cell. Cell values are written in the cells when there are at most 20 models; leaf
    labels are coloured by spectral cluster. `path` may be a file path or a
    binary file object (PNG).
    """
    n = len(names)
    size = max(5.0, 0.45 * n + 2.5)
    fig = Figure(figsize=(size + 1.2, size + 1.5))
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 4], width_ratios=[30, 1], hspace=0.02, wspace=0.03)
    heat = fig.add_subplot(grid[1, 0])
    tree_ax = fig.add_subplot(grid[0, 0], sharex=heat)
    tree = dendrogram(linkage, no_labels=True, ax=tree_ax, color_threshold=0, above_threshold_color="0.4")
    order = tree["leaves"]
    tree_ax.set_axis_off()
    shown = values[np.ix_(order, order)]
    off = shown[~np.eye(n, dtype=bool)]
    off = off[np.isfinite(off)]
    low, high = (off.min(), off.max()) if len(off) else (None, None)
    cmap = colormaps["viridis"].with_extremes(bad="0.85")
    diagonal_masked = np.where(np.eye(n, dtype=bool), np.nan, shown)  # the diagonal (white-box) is off the scale
    image = heat.imshow(diagonal_masked, extent=(0, 10 * n, 10 * n, 0), aspect="auto", cmap=cmap, vmin=low,
                        vmax=high, interpolation="nearest")
    ticks = 5 + 10 * np.arange(n)
    ordered = [names[k] for k in order]
    colours = _colours(labels)
    heat.set_xticks(ticks, ordered, rotation=90, fontsize=7)
    heat.set_yticks(ticks, ordered, fontsize=7)
    for ticklabels in (heat.get_xticklabels(), heat.get_yticklabels()):
        for tick, k in zip(ticklabels, order):
            tick.set_color(colours[k])
    if n <= 20:
        mid = np.mean(off) if len(off) else 0.0
        for r in range(n):
            for c in range(n):
                if np.isfinite(shown[r, c]):
                    heat.text(ticks[c], ticks[r], f"{shown[r, c]:.2f}", ha="center", va="center", fontsize=6,
                              color="black" if r == c or shown[r, c] >= mid else "white")
    hatched = ""
    if predicted is not None and predicted.any():
        cells = predicted[np.ix_(order, order)]
        for r, c in zip(*np.nonzero(cells)):
            heat.add_patch(Rectangle((10 * c, 10 * r), 10, 10, fill=False, hatch="///", edgecolor="white",
                                     linewidth=0))
        hatched = f"; hatched: {int(np.triu(predicted, 1).sum())} pairs completed, not measured"
    fig.colorbar(image, cax=fig.add_subplot(grid[1, 1]), label=colorbar_label)
    tree_ax.set_title(f"{title}\nordered by average-linkage clustering ({n} models; label colours: spectral clusters; "
                      f"diagonal in grey, off the colour scale{hatched})",
                      fontsize=9)
    return save_figure(fig, path)

"""`archsim layers A B --measure cka --config FILE --out DIR`: layer x layer CKA between two models of a run.

Builds the run as `archsim sat` does (same training cache, same evaluation
images), streams the images through models A and B in minibatches and writes

    DIR/layers_cka_<A>_<B>.csv   rows: A's layers, columns: B's layers (first header cell empty)
    DIR/layers_cka_<A>_<B>.png   the heatmap

The value is Nguyen et al.'s minibatch CKA (unbiased HSIC); each layer's Gram
matrix is formed once per batch (see archsim.similarity.layer_cka). Layers
default to timm's feature stages plus pre_logits; name others with
--layers-a / --layers-b (comma-separated module names of the timm model).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from archsim.cli.args import add_run_arguments, run_config
from archsim.errors import ArchsimError
from archsim.files import all_or_nothing, atomic_path, write_rows
from archsim.similarity.activations import check_layers, default_layers
from archsim.similarity.layer_cka import layer_cka
from archsim.zoo.build import build_run


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("layers", help="layer x layer CKA heatmap between two models of a run", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", help="label of the first model (rows)")
    p.add_argument("b", help="label of the second model (columns)")
    p.add_argument("--measure", default="cka", choices=["cka"], help="the measure (minibatch linear CKA)")
    add_run_arguments(p)
    p.add_argument("--layers-a", help="comma-separated layers of A (default: its stages and pre_logits)")
    p.add_argument("--layers-b", help="comma-separated layers of B (default: its stages and pre_logits)")
    p.add_argument("--batch-size", type=int, help="images per minibatch (default: the config's batch_size)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    cfg = run_config(args)
    labels = [m.label for m in cfg.models]
    for label in (args.a, args.b):
        if label not in labels:
            raise ArchsimError(f"no model labelled {label!r} in the run; labels: {', '.join(labels)}")
    run_ = build_run(cfg, progress=not args.no_progress)
    model_a, model_b = run_.models[args.a], run_.models[args.b]
    layers_a = _layers(args.layers_a, model_a, args.a)
    layers_b = _layers(args.layers_b, model_b, args.b)
    values = layer_cka(model_a, model_b, run_.images.images, layers_a, layers_b,
                       batch_size=args.batch_size or cfg.batch_size, progress=not args.no_progress)
    stem = Path(args.out) / f"layers_{args.measure}_{args.a}_{args.b}".replace("/", "_")
    with all_or_nothing():  # the CSV and its heatmap, both or neither
        csv = write_rows(stem.with_suffix(".csv"), [""] + layers_b,
                         [[name, *map(float, row)] for name, row in zip(layers_a, values)])
        png = plot_heatmap(values, layers_a, layers_b, args.a, args.b, stem.with_suffix(".png"))
    print(f"layer x layer CKA, {args.a} ({len(layers_a)} layers) x {args.b} ({len(layers_b)} layers), "
          f"{len(run_.images)} images, {time.perf_counter() - start:.1f} s")
    print(f"wrote {csv}, {png}")
    return 0


def plot_heatmap(values: np.ndarray, rows: list[str], cols: list[str], a: str, b: str, path: Path) -> Path:
    """The matrix as an image, A's layers bottom to top, B's left to right."""
    fig = Figure(figsize=(2 + 0.35 * len(cols), 1.5 + 0.35 * len(rows)))
    ax = fig.add_subplot()
    image = ax.imshow(values, origin="lower", cmap="magma", vmin=min(0.0, float(np.nanmin(values))), vmax=1.0)
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xlabel(f"{b} layer")
    ax.set_ylabel(f"{a} layer")
    ax.set_title(f"minibatch CKA: {a} x {b}")
    fig.colorbar(image, ax=ax, shrink=0.8)
    with atomic_path(path) as tmp:
        FigureCanvasAgg(fig)
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    return path


def _layers(option: str | None, model, label: str) -> list[str]:
    if option is None:
        return default_layers(model)
    return check_layers(model, [name.strip() for name in option.split(",") if name.strip()], label)

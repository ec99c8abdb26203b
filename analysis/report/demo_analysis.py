"""Stage 4 of `archsim demo`: clustering of SAT, component importance and SAT against each other measure.

    analyse(out, cfg, sat, measures, notes) -> Analysis   (files in out: clustering, maps, importance,
                                                            comparisons, sat_heatmap.png, features.csv)

A step that cannot run for this zoo (too few models or pairs, components that
cannot be derived) is skipped, with its reason in `Analysis.skipped` under the
report section it would have filled.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from analysis.components.table import derive_table, entries_from_specs, read_features, write_components
from analysis.matrix import plots
from analysis.matrix.load import MIN_MODELS, validate_similarity
from analysis.matrix.write import write_clustering, write_comparisons, write_importance
from analysis.report.render import SECTIONS
from archsim.errors import ArchsimError
from archsim.files import saved_if_current, write_sidecar
from archsim.similarity.registry import oriented


class Analysis:
    """What the report needs from stage 4; None where a step was skipped (reason in `skipped`)."""

    def __init__(self, out: Path):
        self.out = out
        self.clusters = None
        self.importance = None
        self.comparisons: list = []  # (metric, Comparison, n models compared)
        self.figures: dict[str, Path] = {}  # role -> PNG path
        self.skipped: dict[str, str] = {}  # report section heading -> reason
        self.outcome = ""
        self.figure_count = 0


def analyse(out: Path, cfg, sat, measures: dict, notes: list[str], options: dict | None = None) -> Analysis:
    """Stage 4 on `sat` and `measures` ({measure: (names, values)}); each measure is oriented first
    (`archsim.similarity.registry.oriented` with its `options`), so a distance is compared as a similarity."""
    a = Analysis(out)
    out.mkdir(parents=True, exist_ok=True)
    if len(sat.names) < MIN_MODELS:
        reason = f"needs at least {MIN_MODELS} models; the zoo has {len(sat.names)}"
        for key in ("sat", "maps", "importance", "comparison"):
            a.skipped[SECTIONS[key]] = reason
        a.outcome = f"skipped: {reason}"
        return a
    m = validate_similarity(sat.names, sat.sat_for_analyses, source="SAT")
    a.clusters, files = write_clustering(m, out, seed=cfg.seed)
    cl = a.clusters
    a.figures["sat"] = plots.plot_clustered_heatmap(m.values, cl.names, cl.linkage, cl.labels,
                                                    out / "sat_heatmap.png", title="SAT = ln(100 x transfer rate)")
    a.figures.update({"dendrogram": files[1], "tsne": files[2], "mds": files[3], "spectrum": files[4]})
    parts = [f"{cl.k} clusters"]

    features = components(out, cfg)
    n_pairs = len(m.pairs())
    folds = min(5, n_pairs // 2)
    if features is None:
        a.skipped[SECTIONS["importance"]] = "the components of the models could not be derived"
    elif folds < 2:
        a.skipped[SECTIONS["importance"]] = (f"{n_pairs} model pairs are too few for cross-validated "
                                             f"component importance (at least 4 needed)")
    else:
        columns, table = features
        try:
            a.importance, files = write_importance(m, list(m.names), table, columns, out, folds=folds, seed=cfg.seed)
            a.figures["importance"] = files[-1]
            parts.append("importance")
        except (ArchsimError, ValueError) as e:
            a.skipped[SECTIONS["importance"]] = f"component importance failed: {e}"

    others, compared = [], []
    for metric, (names, values) in measures.items():
        values = oriented(metric, values, (options or {}).get(metric))
        other, why = comparable(metric, names, values, m.names)
        if other is None:
            notes.append(f"{metric}: not compared with SAT: {why}")
            continue
        if why:
            notes.append(f"{metric}: {why}")
        others.append(other)
        compared.append(metric)
    comps, files = write_comparisons(m, others, compared, out, seed=cfg.seed)
    a.comparisons = list(zip(compared, comps))
    a.figures.update({f"scatter_{metric}": f for metric, f in zip(compared, files[1:])})
    if a.comparisons:
        parts.append(f"SAT compared with {', '.join(compared)}")
    elif not measures:
        a.skipped[SECTIONS["comparison"]] = "no other similarity measure was computed"
    a.outcome = "; ".join(parts)
    return a


def comparable(metric: str, names: list[str], values: np.ndarray, sat_names: list[str]):
    """(SimilarityMatrix over the models the measure has values for, a note) or (None, why not)."""

    values = np.asarray(values, dtype=float)
    off = ~np.eye(len(names), dtype=bool)
    keep = [i for i in range(len(names)) if names[i] in sat_names and not np.isnan(values[i][off[i]]).all()]
    dropped = [n for i, n in enumerate(names) if i not in keep]
    if len(keep) < MIN_MODELS:
        return None, f"values for {len(keep)} model(s) only"
    try:
        m = validate_similarity([names[i] for i in keep], values[np.ix_(keep, keep)], source=metric)
    except ArchsimError as e:
        return None, str(e)
    note = f"compared with SAT on {len(keep)} of {len(names)} models (no value for {', '.join(dropped)})" \
        if dropped else ""
    return m, note


def components(out: Path, cfg):
    """(component columns, {label: {column: value}}) of the config's models; features.csv is cached."""
    entries = entries_from_specs(cfg.models)
    key = json.loads(json.dumps([vars(e) for e in entries], default=str))
    path = out / "features.csv"
    if saved_if_current(path, key) is not None:
        return read_features(path)
    try:
        rows, _ = derive_table(entries)
    except ArchsimError as e:
        print(f"warning: components not derived: {e}")
        return None
    write_components(path, rows)
    write_sidecar(path, key)
    return read_features(path)

"""Stage 7 of `archsim demo`: the HTML report, assembled from what the stages before it produced.

    write_report(path, config_path, cfg, run_, zoo, sat, units, analysis, notes, extra, start, answers) -> path

Sections: the answers first (`analysis.report.sections.answer_sections`: the most
similar pairs, the recommended ensemble and teacher, each with its evidence and
verdict), then the summary with the controls, the zoo table, the per-model table,
the SAT heatmap in dendrogram order with the cluster spectrum and the 2-D maps,
every pair with its interval, component importance, SAT against each other
measure, and the `extra` sections (ensembles, distillation, which measure predicts
what, the decisions on sub-pools); rendered by `analysis.report.render`.
"""

from __future__ import annotations

import importlib.metadata
import platform
import time
from pathlib import Path

import numpy as np
import timm
import torch

from analysis.report.demo_analysis import Analysis
from analysis.report.render import Figure, ReportData, Table, render_report
from archsim.files import atomic_path
from archsim.matrices import mean_to_others
from archsim.sat.censoring import censored_note
from archsim.sat.effects import directional_effects, effects_or_reason, row_rank, seed_pairs
from attacks import threat_model


def write_report(path: Path, config_path: Path, cfg, run_, zoo, sat, units, analysis: Analysis, notes,
                  extra: list, start: float, answers: list | None = None) -> Path:
    def fig(role: str, caption: str) -> list[Figure]:
        p = analysis.figures.get(role)
        return [Figure(p.name, p.read_bytes(), caption)] if p is not None else []

    attack = threat_model(cfg.attack)  # what runs, class defaults included
    summary = {"models": len(sat.names), "test images": len(run_.images),
               "validation images": 0 if run_.validation is None else len(run_.validation),
               "attack": f"{attack.name} {attack.norm or ''}, eps {attack.eps}, {attack.steps} steps",
               "SAT units": units.summary(), "device": str(cfg.torch_device()), "seed": cfg.seed,
               "config": str(config_path), "time (this run)": f"{time.perf_counter() - start:.1f} s"}
    effects, why_not = effects_or_reason(sat.sat, sat.censored)
    directional = directional_effects(sat.transfer, sat.eps_s) if effects is not None else None
    summary["per-model R^2"] = why_not or (f"{effects.r2_summary()}: the share of the measured off-diagonal SAT "
                                           "variance explained by SAT_ij = mu + a_i + a_j (sat-adjusted: the pair "
                                           "term left)")
    censored = censored_note(sat.names, sat.censored)
    if censored:
        summary["censored pairs"] = censored
    summary.update(control_summary(cfg, sat, effects))
    zoo_table = Table(["model", "timm name", "params (M)", "weights", "train s", "val acc", "test acc"],
                      [[r.model, r.timm_name, r.params / 1e6, r.weights, r.train_seconds, r.val_accuracy,
                        r.test_accuracy] for r in zoo])
    data = ReportData(title="archsim demo report", summary=summary, zoo=zoo_table, seed=cfg.seed,
                      config_text=config_path.read_text(),
                      versions={"archsim": importlib.metadata.version("archsim"), "torch": torch.__version__,
                                "timm": timm.__version__, "python": platform.python_version(),
                                "platform": platform.platform()},
                      skipped=dict(analysis.skipped), measure_notes=list(notes), extra=list(extra),
                      answers=list(answers or []))
    cl = analysis.clusters
    cluster = dict(zip(cl.names, cl.labels)) if cl is not None else {}
    def effect(values, i):
        return None if values is None else float(values[i])

    noise = sat.noise_error
    data.models = Table(["model", "test acc", "white-box success", "noise error", "mean SAT to others",
                         "per-model effect a_i", "attacker s_i", "fragility t_i", "cluster"],
                        [[n, float(sat.clean_accuracy[i]), float(sat.transfer[i, i]), effect(noise, i),
                          mean_to_others(sat.sat_measured, i),
                          effect(effects and effects.effects, i), effect(directional and directional.source, i),
                          effect(directional and directional.target, i),
                          int(cluster[n]) if n in cluster else None] for i, n in enumerate(sat.names)],
                        caption="white-box success = the PGD attack's success rate on the model's own correctly "
                                "classified test images (the SAT diagonal is its ln(100 x rate)); noise error: the "
                                "share of them that random noise of the attack's norm and eps fools (the control: "
                                "a high one makes the model's SAT row a fragility score); a_i: the model's "
                                "term in SAT_ij = mu + a_i + a_j + r_ij; s_i, t_i: its source and target terms in "
                                "the directional fit of ln(100 x transfer rate) (archsim.sat.effects)")
    if cl is not None:
        data.sat_figure = fig("sat", "SAT matrix (natural log of 100 x the pooled transfer rate); rows and columns "
                                     "in the order of the average-linkage dendrogram above it.")[0]
        data.cluster_figures = fig("spectrum", f"Eigenvalues of the normalised Laplacian; k = {cl.k} "
                                               f"({cl.k_method}).")
        data.maps = fig("mds", "Metric MDS of the SAT dissimilarity (max SAT - SAT), coloured by spectral cluster.") \
            + fig("tsne", "t-SNE of the same dissimilarity.")
    pairs = sorted((p for p in sat.pairs() if p["a"] != p["b"]), key=lambda p: -p["sat"])
    if pairs:
        data.pairs = Table(["model A", "model B", "|X_AB|", "SAT", "95% CI low", "95% CI high", "A to B", "B to A"],
                           [[p["a"], p["b"], p["n_common"], p["sat"], p["ci_low"], p["ci_high"], p["rate_a_to_b"],
                             p["rate_b_to_a"]] for p in pairs],
                           caption="All pairs, most similar first. X_AB: test images both models classify "
                                   "correctly; A to B: share of A's adversarial images that fool B; the interval "
                                   "is the 95% bootstrap interval of the pooled rate (images resampled, each with both "
                                   "directions), on the SAT scale.")
    if analysis.importance is not None:
        imp = analysis.importance
        data.importance = Table(["method", "R^2 (in sample)", "CV R^2", "CV R^2 std", "models", "pairs"],
                                [[meth, f["r2"], f["cv_r2"], f["cv_r2_std"], imp.n_models, imp.n_pairs]
                                 for meth, f in imp.fit.items()],
                                caption="How well pairs of component values predict SAT (cross-validated over "
                                        "model pairs).")
        data.importance_figures = fig("importance", "Importance of each architectural component for SAT.")
    if analysis.comparisons:
        data.comparisons = Table(
            ["measure", "models", "pairs", "Spearman rho", "Spearman p", "Kendall tau", "Pearson r", "Mantel r",
             "Mantel p", "NN agreement"],
            [[metric, c.n_models, c.n_pairs, c.spearman, c.spearman_p, c.kendall, c.pearson, c.mantel_r, c.mantel_p,
              c.nn_agreement] for metric, c in analysis.comparisons],
            caption="Rank and linear correlations of the off-diagonal pairs; Mantel: permutation test over "
                    f"model relabelings ({analysis.comparisons[0][1].permutations} permutations).")
        for metric, _ in analysis.comparisons:
            data.comparison_figures += fig(f"scatter_{metric}", f"SAT against {metric}, one point per model pair.")
    html = render_report(data)
    analysis.figure_count = html.count("<img ")
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


def control_summary(cfg, sat, effects) -> dict[str, str]:
    """The controls against their targets: noise error <= 5%, white-box >= 95%, seed pairs in the top 3 of both
    rows (issue targets for the demo zoo); the per-model R^2 is in the summary beside exchangeable noise's."""
    out = {}
    if sat.noise_error is not None:
        noise = sat.noise_error
        out["noise error (target <= 0.05 each)"] = (f"max {noise.max():.3f} ({sat.names[int(noise.argmax())]}); "
                                                    f"{int((noise <= 0.05).sum())} of {len(noise)} models meet it")
    white = np.diag(sat.transfer)
    out["white-box success (target >= 0.95 each)"] = (f"min {white.min():.3f} ({sat.names[int(white.argmin())]}); "
                                                      f"{int((white >= 0.95).sum())} of {len(white)} models meet it")
    for a, b in seed_pairs([s for s in cfg.models if s.label in sat.names]):
        i, j = sat.names.index(a), sat.names.index(b)
        out[f"seed pair {a} / {b} (target: top 3 of both rows)"] = (
            f"SAT rank {row_rank(sat.sat, i, j)} in {a}'s row, {row_rank(sat.sat, j, i)} in {b}'s row"
            + ("" if effects is None else f"; sat-adjusted {row_rank(effects.adjusted, i, j)} and "
                                          f"{row_rank(effects.adjusted, j, i)}"))
    return out

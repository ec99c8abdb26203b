"""How much of a SAT matrix a pair budget needs: completion from a fraction of the evaluations, random against active.

    python benchmarks/pair_budget.py --matrix SAT_release.csv [--fractions 0.2 0.3 0.4 0.5] [--seeds 0]
    python benchmarks/pair_budget.py --run runs/demo [--config configs/demo.yaml]

`--matrix`: a full SAT matrix (the SAT paper's released `SAT_release.csv`, 69 models, from the paper's
repository; not shipped here). Observation is simulated: `archsim.sat.pair_choice.choose` picks pairs round by
round (active) or at random after the same design (random), reading the true values of the pairs it picks;
since a larger budget picks a superset in the same order, one run to the largest fraction gives every smaller
one as a prefix. Beside them, the plain baseline: soft-impute of additive + rank 3 at a fixed shrinkage (0.1 x
the residual scale) on the random pairs.

`--run`: a run folder whose store holds the full SAT of a config's models (`archsim demo` or `archsim sat`).
The observed values are the stored SAT of the pairs picked, exactly what a budgeted run would measure, and the
full computation's self-agreement is measured: SAT from two disjoint halves of the images, clustered each. The
stored attacks give the perturbation alignment (`archsim.sat.alignment`), the completion's covariate as in a
budgeted run; the rows "random, no alignment" complete the same random pairs without it. The rows "random +
pilot F" and "active + pilot F" spend N (N - 1) F of the budget on a pilot (every pair on F of the images,
`archsim.sat.pilot`, read from the full run's outcomes on those images, as a pilot unit evaluates them; each
seed draws its own pilot images, so the mean is over pilots too) and the rest on pairs chosen as the row says,
and combine each completed pair with its pilot value (`--pilots`, default 0.1 0.15 0.2).

Per fraction of the N^2 evaluations (the N white-box ones included) it prints, against the full matrix:
Spearman over the completed (hidden) pairs and over all pairs (measured pairs exact), the ARI of the 10-cluster
(at most N // 3) spectral clustering, the coverage of the completed pairs' 95% intervals, and the mean rank of
each same-family partner in its model's row (1 = nearest; the family is the name up to its first '_' or digit);
with several seeds, then the mean of each over the seeds.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import adjusted_rand_score

from analysis.matrix.clustering import cluster_models
from analysis.matrix.load import SimilarityMatrix
from archsim.matrices import read_matrix
from archsim.sat import pair_choice
from archsim.sat.completion import complete_sat, residual_scale
from archsim.sat.pilot import Pilot, combine, pilot_count
from archsim.sat.result import SATResult


def family(name: str) -> str:
    return re.split(r"[_\d]", name, maxsplit=1)[0]


def family_ranks(values: np.ndarray, names: list[str]) -> float:
    """Mean rank (1 = nearest) of each same-family partner in its model's row."""
    ranks = []
    for i, a in enumerate(names):
        row = np.where(np.arange(len(names)) == i, -np.inf, values[i])
        order = np.argsort(-row)
        for j, b in enumerate(names):
            if j != i and family(a) == family(b):
                ranks.append(int(np.flatnonzero(order == j)[0]) + 1)
    return float(np.mean(ranks)) if ranks else float("nan")


def clusters(values: np.ndarray, names: list[str], k: int) -> np.ndarray:
    return cluster_models(SimilarityMatrix(names, values), k=k, embed=False).labels


def observed_of(n: int, pairs) -> np.ndarray:
    out = np.zeros((n, n), dtype=bool)
    for i, j in pairs:
        out[i, j] = out[j, i] = True
    return out


def evaluate(truth, names, pairs, k, *, fit=None, covariate=None, pilot: Pilot | None = None, seed=0) -> dict:
    n = len(truth)
    observed = observed_of(n, pairs)
    c = complete_sat(truth, observed, covariate=covariate, fit=fit, seed=seed)
    values, (low, high) = c.values, c.intervals()
    if pilot is not None:
        values, width = combine(c, pilot.sat, pilot.variance)
        low, high = values - width, values + width
    iu = np.triu_indices(n, 1)
    hidden = c.predicted[iu]
    return {"spearman_hidden": spearmanr(values[iu][hidden], truth[iu][hidden])[0],
            "spearman_all": spearmanr(values[iu], truth[iu])[0],
            "ari": adjusted_rand_score(clusters(truth, names, k), clusters(values, names, k)),
            "coverage": float(np.mean(((truth >= low) & (truth <= high))[c.predicted])),
            "family_rank": family_ranks(values, names)}


def pilot_of(full, share: float, seed: int) -> Pilot:
    """A pilot of `share` of the full run's images: the full run's outcomes on ceil(share n) images drawn with
    `seed` (a run takes the first of its fixed pilot order, `pilot_images`: one such draw)."""
    n_images = full.clean_correct.shape[1]
    images = np.sort(np.random.default_rng([seed, 77]).permutation(n_images)[:pilot_count(n_images, share)])
    return Pilot(SATResult(full.names, full.clean_correct[:, images], full.adv_correct[:, :, images], full.eps_s),
                 len(images) / n_images)


def budget_pairs(n: int, fraction: float, pilot: float = 0.0) -> int:
    """Pairs a budget of `fraction` of the N^2 evaluations buys beside a pilot of `pilot` evaluations."""
    return pair_choice.pairs_in_budget(n, pair_choice.budget_evaluations(n * n, fraction), pilot=pilot)


def from_run(run: Path, config: Path, seed: int):
    """The run's full SATResult, the SAT of two disjoint random halves of its images, and the perturbation
    alignment of its attacks: (full, half_a, half_b, alignment)."""
    from archsim.config import load_config
    from archsim.pipeline.sat_in_store import plan_run
    from archsim.sat.alignment import perturbation_alignment
    from archsim.store import RunStore
    from archsim.zoo.build import build_run

    cfg = load_config(config)
    store = RunStore(run, create=False)
    try:
        plan = plan_run(store, cfg, build_run(cfg, progress=False))
        full = store.sat_result(plan, cfg.eps_s)
        alignment = perturbation_alignment(store.advsets(plan))
    finally:
        store.close()
    images = np.random.default_rng(seed).permutation(full.clean_correct.shape[1])
    halves = [np.sort(images[: len(images) // 2]), np.sort(images[len(images) // 2:])]
    parts = [SATResult(full.names, full.clean_correct[:, h], full.adv_correct[:, :, h], full.eps_s).sat_for_analyses
             for h in halves]
    return full, parts[0], parts[1], alignment


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--matrix", help="a full SAT matrix CSV (e.g. the paper's SAT_release.csv)")
    p.add_argument("--run", help="a run folder with the full SAT of --config's models in its store")
    p.add_argument("--config", default="configs/demo.yaml")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.2, 0.3, 0.4, 0.5])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--clusters", type=int, default=10)
    p.add_argument("--pilots", type=float, nargs="*", default=[0.1, 0.15, 0.2],
                   help="with --run, the pilot shares to try beside the pairs alone")
    args = p.parse_args()
    start = time.perf_counter()
    alignment = full = None
    if args.run:
        full, half_a, half_b, alignment = from_run(Path(args.run), Path(args.config), seed=0)
        names, truth = full.names, full.sat_for_analyses
    else:
        names, truth = read_matrix(args.matrix)
    n = len(names)
    k = min(args.clusters, n // 3)
    if args.run:
        print(f"the full computation against itself, two disjoint halves of the images: ARI "
              f"{adjusted_rand_score(clusters(half_a, names, k), clusters(half_b, names, k)):.3f}, Spearman "
              f"{spearmanr(half_a[np.triu_indices(n, 1)], half_b[np.triu_indices(n, 1)])[0]:.3f}")
    print(f"{n} models, {k} clusters; same-family partners' mean rank in the full matrix: "
          f"{family_ranks(truth, names):.2f}")
    top = budget_pairs(n, max(args.fractions))
    print("fraction  choice                 pairs  Spearman hidden  Spearman all   ARI   coverage  family rank")
    table = {}
    for seed in args.seeds:
        order = {}
        for active in (False, True):
            t = time.perf_counter()
            order[active] = pair_choice.choose(lambda new: truth, n, top, seed=seed, active=active,
                                               covariate=alignment)
            print(f"  (seed {seed}: {'active' if active else 'random'} choice of {top} pairs in "
                  f"{time.perf_counter() - t:.0f} s)")
        for fraction in args.fractions:
            m = budget_pairs(n, fraction)
            rows = {"random": (m, evaluate(truth, names, order[False][:m], k, covariate=alignment, seed=seed)),
                    "active": (m, evaluate(truth, names, order[True][:m], k, covariate=alignment, seed=seed))}
            if alignment is not None:
                rows["random, no alignment"] = (m, evaluate(truth, names, order[False][:m], k, seed=seed))
            random_obs = observed_of(n, order[False][:m])
            rows["baseline"] = (m, evaluate(truth, names, order[False][:m], k, seed=seed,
                                            fit=(3, 0.1 * residual_scale(truth, random_obs))))
            for share in args.pilots if full is not None else []:
                pilot = pilot_of(full, share, seed)
                mp = budget_pairs(n, fraction, pilot.evaluations)
                for active in (False, True):
                    rows[f"{'active' if active else 'random'} + pilot {share:g}"] = (mp, evaluate(
                        truth, names, order[active][:mp], k, seed=seed, covariate=alignment, pilot=pilot))
            for what, (pairs, r) in rows.items():
                table.setdefault((fraction, pairs, what), []).append(r)
                print_row(fraction, what, pairs, r)
    if len(args.seeds) > 1:
        print(f"mean over the seeds {args.seeds}:")
        for (fraction, m, what), rs in table.items():
            print_row(fraction, what, m, {key: float(np.mean([r[key] for r in rs])) for key in rs[0]})
    print(f"({time.perf_counter() - start:.0f} s)")


def print_row(fraction: float, what: str, m: int, r: dict) -> None:
    print(f"{fraction:8.2f}  {what:22}  {m:5d}  {r['spearman_hidden']:15.3f}  {r['spearman_all']:12.3f}  "
          f"{r['ari']:5.3f}  {r['coverage']:8.3f}  {r['family_rank']:11.2f}", flush=True)


if __name__ == "__main__":
    main()

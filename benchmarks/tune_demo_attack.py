"""Choose the demo's attack budget on the VALIDATION images only (never the test images it reports).

For each candidate (Linf eps, steps; alpha = eps / 4) it runs SAT with the noise control on the
500 validation images of configs/demo.yaml (the zoo from the weights cache, trained if missing) and
prints the issue's targets: every model's noise error <= 5%, white-box success >= 95%, both seed
pairs in the top 3 of both of their rows; and the per-model R^2 beside exchangeable noise's.

    python benchmarks/tune_demo_attack.py [--eps 0.1,0.07,0.05] [--steps 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import archsim
from archsim.config import load_config
from archsim.sat.effects import row_rank, seed_pairs
from archsim.zoo.build import build_run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", default="configs/demo.yaml")
    p.add_argument("--eps", default="0.1,0.07,0.05")
    p.add_argument("--steps", default="10")
    args = p.parse_args()
    cfg = load_config(args.config)
    run = build_run(cfg, progress=False)
    val = run.validation
    pairs = seed_pairs(cfg.models)
    print(f"{len(run.models)} models, {len(val)} validation images")
    for steps in [int(s) for s in args.steps.split(",")]:
        for eps in [float(e) for e in args.eps.split(",")]:
            start = time.perf_counter()
            attack = {**cfg.attack, "eps": eps, "alpha": eps / 4, "steps": steps}
            r = archsim.sat_matrix(run.models, val.images, val.labels, attack=attack, seed=cfg.seed,
                                   batch_size=cfg.batch_size, eps_s=cfg.eps_s, progress=False)
            names, white = r.names, np.diag(r.transfer)
            ranks = [(row_rank(r.sat, names.index(a), names.index(b)), row_rank(r.sat, names.index(b), names.index(a)))
                     for a, b in pairs]
            effects = r.effects()
            adjusted = effects.adjusted
            adj_ranks = [(row_rank(adjusted, names.index(a), names.index(b)), row_rank(adjusted, names.index(b), names.index(a)))
                         for a, b in pairs]
            noise = r.noise_error
            worst = int(np.argmax(noise))
            print(f"eps {eps:g} steps {steps}: max noise error {noise.max():.3f} ({names[worst]}), "
                  f"min white-box {white.min():.3f} ({names[int(np.argmin(white))]}), seed-pair ranks {ranks} "
                  f"(sat-adjusted {adj_ranks}), per-model {effects.r2_summary()}, "
                  f"{time.perf_counter() - start:.0f} s")
            print("  noise error: " + ", ".join(f"{n} {e:.3f}" for n, e in zip(names, noise)))
            print("  white-box:   " + ", ".join(f"{n} {w:.3f}" for n, w in zip(names, white)))


if __name__ == "__main__":
    main()

"""Adaptive images: the coverage of the SAT interval reported at the stopping time, and the images the rule uses.

For each pooled transfer rate (both directions equal, correlated with rho), target width (log scale) and round
size, `archsim.sat.adaptive.simulate_coverage` runs the rule on `--runs` seeded simulated pairs and prints the
share whose interval holds the true SAT, the mean images used against the cap, and the share that met the
target. --rule two-stage prints the Stein-type alternative instead. Monte Carlo standard error of a coverage
near 95% with 2,000 runs: 0.5 points.

    python benchmarks/adaptive_images.py              # the table in docs/adaptive-images.md (several minutes)
    python benchmarks/adaptive_images.py --quick      # three settings
"""

import argparse
import time

from archsim.sat.adaptive import simulate_coverage

RATES = (0.02, 0.05, 0.1, 0.3, 0.6, 0.9)
RHOS = (0.0, 0.5)
WIDTHS = (0.3, 0.6, 1.0)
MAX_IMAGES = 10_000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=2000)
    p.add_argument("--round-images", type=int, nargs="+", default=[100])
    p.add_argument("--rule", choices=("sequential", "two-stage"), default="sequential")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    grid = [(r, rho, w) for r in RATES for rho in RHOS for w in WIDTHS]
    if args.quick:
        grid = [(0.05, 0.5, 0.6), (0.3, 0.0, 0.3), (0.9, 0.5, 0.3)]
    print(f"rule {args.rule}, {args.runs} runs per setting, at most {MAX_IMAGES} images")
    print(f"{'rate':>5} {'rho':>4} {'width':>5} {'R':>4} {'coverage':>8} {'mean images':>11} {'met target':>10} "
          f"{'seconds':>7}")
    worst = [1.0, 0.0]
    for rounds in args.round_images:
        for rate, rho, width in grid:
            t = time.perf_counter()
            c = simulate_coverage(rate, rate, rho, target_width=width, round_images=rounds, max_images=MAX_IMAGES,
                                  runs=args.runs, seed=1, rule=args.rule)
            worst = [min(worst[0], c.coverage), max(worst[1], c.coverage)]
            print(f"{rate:>5} {rho:>4} {width:>5} {rounds:>4} {100 * c.coverage:>7.1f}% {c.mean_images:>11.0f} "
                  f"{100 * c.met_target:>9.1f}% {time.perf_counter() - t:>7.1f}", flush=True)
    print(f"coverage from {100 * worst[0]:.1f}% to {100 * worst[1]:.1f}%")


if __name__ == "__main__":
    main()

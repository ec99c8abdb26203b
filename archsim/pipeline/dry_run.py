"""`archsim sat --dry-run`: what a run would train, run and reuse, and what it would cost, doing none of it.

    dry_run(out_dir, cfg, run_) -> DryRun      (run_ from build_run(cfg, train=False))

The models of the config whose weights are known (pretrained, a checkpoint,
cached trained weights) are registered, with the images and the attack, in
an in-memory copy of the run store in `out_dir` (`RunStore(scratch=True)`;
nothing is written, and no store is created): the units to run and to reuse
are the run store's own plan. A model still to train has no weights yet, so
no key: every unit it takes part in is to run. Each model's forward FLOPs
are counted on one image (`archsim.sat.cost.forward_flops`), the units'
FLOPs follow from `archsim.sat.cost`, and the time is FLOPs / (EFFICIENCY x
this device's matmul rate in the run's precision), measured here in ~0.3 s.
Training time is not estimated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import attacks
from archsim.config import RunConfig
from archsim.pipeline.budgeted_sat import pilot_plan
from archsim.pipeline.sat_in_store import plan_run
from archsim.sat import cost, pair_choice
from archsim.sat.pilot import pilot_evaluations
from archsim.store import RunStore
from archsim.zoo.build import Run


@dataclass(frozen=True)
class DryRun:
    to_train: list[str]  # labels of the models whose trained weights are not cached
    cost: cost.Cost  # of the units to run (their count by kind in cost.units), with the assumed rate
    reused: int  # units of the run already done in the store
    flops: dict[str, float]  # forward FLOPs per image, per label
    n_images: int
    matmul_rate: float  # FLOP/s measured on the device
    device: str
    precision: str
    budget: int | None = None  # the evaluations a pair budget buys (--pairs), else None
    pilot: tuple[int, float] | None = None  # a pilot's images and its cost in evaluations (--pilot), else None

    def summary(self) -> str:
        """The lines `archsim sat --dry-run` prints."""
        c, units, n = self.cost, self.cost.units, len(self.flops)
        f = np.array(list(self.flops.values()))
        shares = ", ".join(f"{kind} {100 * v / c.total_flops:.0f}%" for kind, v in c.flops.items()
                           if c.total_flops > 0 and v > 0)
        lines = ["dry run: nothing is trained, attacked or evaluated",
                 f"{len(self.flops)} models, {self.n_images} images; models still to train: {len(self.to_train)}"
                 + (f" ({', '.join(self.to_train)})" if self.to_train else ""),
                 f"units to run: {units['attack']} attack, {units['evaluation']} evaluation, {units['noise']} noise"
                 + (f", {units['pilot']} pilot" if units.get("pilot") else "")
                 + f" ({sum(units.values())}); reused from the store: {self.reused}",
                 *([f"pair budget: {self.budget} of the {n * n} evaluations ({self.budget / (n * n):.0%}), chosen as "
                    "the run goes; the other pairs are completed (those the store has are reused, so at most "
                    f"{units['evaluation']} run)"] if self.budget is not None else []),
                 *([f"pilot: every ordered pair on {self.pilot[0]} of the {self.n_images} images, the cost of "
                    f"{self.pilot[1]:.4g} evaluations, off the budget"] if self.pilot else []),
                 f"forward pass per image: {f.min() / 1e9:.3g} to {f.max() / 1e9:.3g} GFLOP (median "
                 f"{np.median(f) / 1e9:.3g}); the units to run: {c.total_flops / 1e12:.3g} TFLOP"
                 + (f" ({shares})" if shares else ""),
                 f"estimated time on {self.device} ({self.precision}): {cost.format_seconds(c.seconds)} = FLOPs / "
                 f"({cost.EFFICIENCY:g} x the measured matmul rate {self.matmul_rate / 1e9:.0f} GFLOP/s)"
                 + ("; training not included" if self.to_train else "")]
        return "\n".join(lines)


def dry_run(out_dir, cfg: RunConfig, run_: Run, *, budget: float | None = None,
            pilot: float | None = None) -> DryRun:
    """The plan and cost of `cfg`'s SAT in `out_dir` (module docstring); `run_` from build_run(train=False). With
    a pair `budget` (`--pairs`), the evaluations to run are at most the budget's (`archsim.sat.pair_choice`),
    less a `pilot` share's (`--pilot`: N (N - 1) pilot units, each on that share of the images)."""
    untrained = list(run_.untrained)
    store = RunStore(out_dir, scratch=True)
    try:
        known = [s.label for s in cfg.models if s.label not in untrained]
        todo, reused = [], 0
        if known:
            plan = plan_run(store, cfg, run_, skip=untrained)
            todo = [(kind, plan.name(s), None if t is None else plan.name(t)) for kind, s, t in store.units_to_do(plan)]
            reused = sum(n for (_, status), n in store.progress(plan).items() if status == "done")
            distinct = list(dict.fromkeys(plan.name(i) for i in plan.model_ids))
        else:
            distinct = []
    finally:
        store.close()
    todo += _units_of_untrained(untrained, distinct, noise=attacks.noise_config(cfg.attack) is not None)
    shape = tuple(run_.images.images.shape[1:])
    flops = {s.label: cost.forward_flops(run_.models[s.label], shape) for s in cfg.models}
    n_images = len(run_.images.labels)
    evaluations = None
    images, share = pilot_plan(pilot, n_images)
    if budget is not None:
        n = len(cfg.models)
        evaluations = n + 2 * pair_choice.pairs_in_budget(n, pair_choice.budget_evaluations(n * n, budget),
                                                          pilot=pilot_evaluations(n, share))
        todo = [u for u in todo if u[0] != "evaluation"] + _budgeted_evaluations(evaluations, list(flops))
    units = cost.units_cost(todo, flops, n_images, cost.attack_steps(cfg.attack))
    if images:  # every ordered pair on the pilot's images (those the store has are counted as to run)
        n = len(cfg.models)
        units = cost.Cost({**units.flops, "pilot": images * (n - 1) * float(sum(flops.values()))},
                          {**units.units, "pilot": n * (n - 1)})
    rate = cost.matmul_rate(cfg.torch_device(), cfg.precision)
    return DryRun(untrained, units.with_rate(cost.EFFICIENCY * rate), reused, flops, n_images, rate,
                  str(cfg.torch_device()), cfg.precision, evaluations,
                  (images, pilot_evaluations(len(cfg.models), share)) if images else None)


def _budgeted_evaluations(evaluations: int, labels: list[str]) -> list[tuple]:
    """`evaluations` evaluation units spread evenly over the targets (which are chosen as the run goes)."""
    return [("evaluation", labels[k % len(labels)], labels[k % len(labels)]) for k in range(evaluations)]


def _units_of_untrained(untrained: list[str], known: list[str], *, noise: bool) -> list[tuple]:
    """Every unit a model still to train takes part in: its attack and noise unit, its evaluations both ways."""
    units, everyone = [], known + untrained
    for u in untrained:
        units.append(("attack", u, None))
        if noise:
            units.append(("noise", u, None))
        units += [("evaluation", u, t) for t in everyone]
        units += [("evaluation", s, u) for s in everyone if s not in untrained]
    return units

"""Add models to an existing run directory: `archsim sat --out DIR --add ENTRIES`.

    base = run_directory_config(out, config)     the raw config the run directory was made with
    check_new_labels(base_labels, new_labels, out)
    addition = plan_addition(out, cfg, run_, new_labels)   what the store lacks: for k new models beside N,
                                                            k attacks and 2Nk + k^2 evaluations (2N + 1 for one)
    write_run_config(out, raw)                   DIR/config.yaml, the run's config with every path absolute

Every `archsim sat` run writes DIR/config.yaml, the equivalent of its config and
command-line models (`archsim.zoo.assemble`), so that a model can later be added
by naming only it. The addition itself is an ordinary run through the store
(`archsim.pipeline.sat_in_store`): everything the N models already have is
reused, and `plan_addition` counts, before anything runs, the units that will
run (registering them, which the run does anyway), so a caller can print or
restrict the cost.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from archsim.errors import ArchsimError
from archsim.pipeline.sat_in_store import plan_run
from archsim.store import RunStore
from archsim.store.runstore import DB_NAME
from archsim.zoo.assemble import save_config

RUN_CONFIG = "config.yaml"


@dataclass
class Addition:
    new: list[str]  # labels of the models added
    n_before: int  # N, the models already in the run
    units: Counter  # units the store lacks, by kind (attack, evaluation, noise)

    def cost(self) -> str:
        """The units to run against the formula: k attacks and 2Nk + k^2 evaluations (2N + 1 for one model)."""
        k, n = len(self.new), self.n_before
        formula = f"2N+1 = {2 * n + 1}" if k == 1 else f"2Nk+k^2 = {2 * n * k + k * k}"
        noise = f", {self.units['noise']} noise-control unit(s)" if self.units["noise"] else ""
        return (f"adding {', '.join(self.new)} to {n} model(s): {self.units['attack']} attack(s) and "
                f"{self.units['evaluation']} evaluations ({formula} with N = {n}){noise}")


def run_directory_config(out, config=None) -> Path:
    """The config to extend: DIR/config.yaml, else `config` (--config); ArchsimError when DIR is not a run directory."""
    out = Path(out)
    if not (out / DB_NAME).is_file():
        raise ArchsimError(f"--add: {out} is not a run directory (it has no {DB_NAME}); make one with "
                           f"`archsim sat --out {out}` first")
    if (out / RUN_CONFIG).is_file():
        if config is not None:
            raise ArchsimError(f"--add extends {out / RUN_CONFIG}, the config the run was made with; drop --config")
        return out / RUN_CONFIG
    if config is not None:
        return Path(config)
    raise ArchsimError(f"--add: {out} has no {RUN_CONFIG} (written by every `archsim sat` run since models could be "
                       "added by name); give the config it was made with: --config FILE")


def check_new_labels(existing: list[str], new: list[str], out) -> None:
    """ArchsimError naming a new label that the run already has (or that repeats among the new ones)."""
    for i, label in enumerate(new):
        if label in existing or label in new[:i]:
            raise ArchsimError(f"--add: a model labelled {label!r} is already in the run at {out}; give the new one "
                               f"another label: LABEL=NAME=CHECKPOINT")


def plan_addition(out, cfg, run_, new: list[str]) -> Addition:
    """Register the run's models (the new ones among them) in the store at `out`; the units it lacks."""
    store = RunStore(out)
    try:
        units = Counter(kind for kind, _, _ in store.units_to_do(plan_run(store, cfg, run_)))
    finally:
        store.close()
    return Addition(list(new), len(cfg.models) - len(new), units)


def write_run_config(out, raw: dict) -> Path:
    """DIR/config.yaml: the run's config, to add models to later."""
    return save_config(raw, Path(out) / RUN_CONFIG)

"""A budgeted SAT run through the run store: `archsim sat --pairs BUDGET`.

    budgeted_sat_in_store(out_dir, cfg, run_, budget, ...) -> (CompletedSAT, RunReport)

Every model's attack (and noise control) runs as in a full run; of the N^2
evaluations only the budget's run: the N diagonal ones, then the pairs that
`archsim.sat.pair_choice.choose` picks round by round, each round's units run
through the store (`run_plan` on the plan restricted to the pairs chosen so
far) before the next round is chosen from their outcomes. The attacks run
first; their perturbations give every pair's alignment
(`archsim.sat.alignment`), the completion's covariate in every round and in
the result (none when a pair shares no attacked image). With a pilot share f
(`--pilot`), every ordered pair is also evaluated on the first ceil(f n)
images of the pilot order (pilot units, `RunStore.add_pilot`), beside the
attacks, at N (N - 1) f evaluations of the budget; the completed pairs then
combine the completion with their pilot values (`archsim.sat.pilot`). The
choice is a fixed function of the seed and the stored outcomes, so

- a killed run, rerun, chooses the same pairs again and runs only the units
  the store lacks (it resumes like a full run);
- a larger budget later chooses a superset of a smaller one's pairs and reuses
  every unit already run; a full run (no --pairs) reuses them all too.

The result is completed (`archsim.sat.budgeted.CompletedSAT`) from every pair
observed.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from archsim.config import RunConfig
from archsim.errors import ArchsimError
from archsim.pipeline.sat_in_store import local_executor, plan_run
from archsim.sat import pair_choice
from archsim.sat.alignment import perturbation_alignment
from archsim.sat.budgeted import CompletedSAT
from archsim.sat.pilot import PILOT_NOT_WITH_ADD, Pilot, check_share, pilot_count, pilot_evaluations
from archsim.store import RunReport, RunStore, run_plan
from archsim.zoo.build import Run


def budgeted_sat_in_store(out_dir, cfg: RunConfig, run_: Run, budget: float, *, added: list[str] = (),
                          active: bool = True, pilot: float | None = None, progress: bool = True,
                          make_executor=None) -> tuple[CompletedSAT, RunReport]:
    """Run the budget's units of `cfg`'s SAT in `out_dir` (module docstring) and complete the rest. With `added`
    (labels of models added to a run), the budget is of their 2Nk + k^2 evaluations, and the pairs the store
    has among the other models are observed already. `active` False: the pairs after the design are seeded
    random ones (`pair_choice.choose`). `pilot`: the pilot's share of the images (None: no pilot)."""
    labels = [m.label for m in cfg.models]
    n, k = len(labels), len(added)
    total = 2 * (n - k) * k + k * k if k else n * n
    images, share = pilot_plan(pilot, len(run_.images.labels), added=k)
    n_pairs = pair_choice.pairs_in_budget(n, pair_choice.budget_evaluations(total, budget), added=k,
                                          pilot=pilot_evaluations(n, share))
    new = {labels.index(label) for label in added}
    store = RunStore(out_dir)
    try:
        plan = plan_run(store, cfg, run_)
        if images:
            plan = store.add_pilot(plan, images)
        given, candidates = [], None
        if k:
            old = [i for i in range(n) if i not in new]
            given = [(i, j) for i, j in store.done_pairs(plan) if i in old and j in old]
            candidates = {(i, j) for i in range(n) for j in range(i + 1, n) if i in new or j in new}
        executor = (make_executor or local_executor(cfg))(*_executor_inputs(plan, run_))
        report, state = RunReport(), {"observed": list(given), "result": None}
        bar = tqdm(total=n_pairs, desc="pairs chosen", unit="pair", disable=not progress)

        def values_of(new_pairs):
            state["observed"] += new_pairs
            part = plan.only(state["observed"])
            ran = run_plan(store, part, executor, progress=False)
            report.ran.update(ran.ran)
            report.recomputed += ran.recomputed
            state["result"] = store.sat_result(part, cfg.eps_s)
            bar.update(len(new_pairs))
            return state["result"].sat_for_analyses

        try:
            values_of([])  # the attacks, noise controls, white-box evaluations and the pilot
            first = Pilot(store.pilot_result(plan.only([]), cfg.eps_s), share) if images else None
            alignment = perturbation_alignment(store.advsets(plan))
            if not np.isfinite(alignment).all():  # a pair with no image attacked by both: no covariate
                alignment = None
            pair_choice.choose(values_of, n, n_pairs, seed=cfg.seed, active=active, given=given,
                               candidates=candidates, covariate=alignment)
        finally:
            executor.close()
            bar.close()
        done = sum(c for (_, status), c in store.progress(plan.only(state["observed"])).items() if status == "done")
        report.reused = done - sum(report.ran.values())
        return CompletedSAT.complete(state["result"], alignment=alignment, pilot=first, seed=cfg.seed), report
    finally:
        store.close()


def pilot_plan(pilot: float | None, n_images: int, *, added: int = 0) -> tuple[int, float]:
    """(images, share) of a pilot of `pilot` of the run's n_images (ceil; the share is images / n_images);
    (0, 0.0) for none. ArchsimError for a share outside (0, 1) or with models `added` to a run."""
    if pilot is None:
        return 0, 0.0
    share = check_share(pilot)
    if added:
        raise ArchsimError(PILOT_NOT_WITH_ADD)
    images = pilot_count(n_images, share)
    return images, images / n_images


def _executor_inputs(plan, run_: Run):
    models = {i: run_.models[label] for label, i in zip(plan.labels, plan.model_ids)}
    return models, run_.images.images, run_.images.labels

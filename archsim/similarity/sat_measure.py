"""SAT registered as a measure like every other, and `sat-adjusted`, its pair term without per-model effects.

SAT(A, B) = ln(max(eps_s, 100 x the pooled transfer rate of A's and B's attacks)),
`archsim.sat.formula`. It has no options of its own: the attack, eps_s, batch
size and device come from the config (`inputs.cfg`), and the attacks and
evaluations are read from (or, where missing, computed into) the run store in
`inputs.out`, exactly as `archsim sat --out DIR` does.

sat-adjusted(A, B) = SAT(A, B) - mu - a_A - a_B, the residual of the additive
per-model fit over the off-diagonal pairs (`archsim.sat.effects.model_effects`):
what is left for similarity once each model's overall fragility and attack
strength are taken out. Symmetric, larger = more similar, NaN on the diagonal.
"""

from __future__ import annotations

from archsim.errors import ArchsimError
from archsim.pipeline.sat_in_store import sat_in_store
from archsim.sat.effects import model_effects
from archsim.similarity.measure import Measure, MeasureInputs, SimilarityResult


def sat_measure(inputs: MeasureInputs, options: dict) -> SimilarityResult:
    if inputs.cfg is None or inputs.out is None:
        raise ArchsimError("sat needs the run's config and a run folder for its store")
    result, report = sat_in_store(inputs.out, inputs.cfg, inputs.run, progress=inputs.progress)
    return SimilarityResult(result.names, result.sat, notes=[report.summary(), *result.sanity_warnings()])


def sat_adjusted_measure(inputs: MeasureInputs, options: dict) -> SimilarityResult:
    sat = sat_measure(inputs, options)
    effects = model_effects(sat.values)
    return SimilarityResult(sat.names, effects.adjusted,
                            notes=sat.notes + [f"per-model effects explain R^2 = {effects.r2:.2f} of the "
                                               "off-diagonal SAT variance; this is the pair term left"])


SAT = Measure("sat", sat_measure, {}, "similarity by attack transferability (Hwang et al., ECCV 2024)")
SAT_ADJUSTED = Measure("sat-adjusted", sat_adjusted_measure, {},
                       "SAT's pair term after the additive per-model fit SAT_ij = mu + a_i + a_j + r_ij")

"""SAT registered as a measure like every other, and `sat-adjusted`, its pair term without per-model effects.

SAT(A, B) = ln(max(eps_s, 100 x the pooled transfer rate of A's and B's attacks)),
`archsim.sat.formula`. It has no options of its own: the attack, eps_s, batch
size and device come from the config (`inputs.cfg`), and the attacks and
evaluations are read from (or, where missing, computed into) the run store in
`inputs.out`, exactly as `archsim sat --out DIR` does. As a measure (what
clustering, ensembles, distillation and the prediction table read), a censored
pair (at the floor: `archsim.sat.censoring`) holds the least similar measured
pair's value, not ln(eps_s); `archsim sat`'s own sat.csv keeps the formula's value.

sat-adjusted(A, B) = SAT(A, B) - mu - a_A - a_B, the residual of the additive
per-model fit over the measured off-diagonal pairs (`archsim.sat.effects.model_effects`):
what is left for similarity once each model's overall fragility and attack
strength are taken out. Symmetric, larger = more similar, NaN on the diagonal; a
censored pair holds the smallest measured pair term. Below
`MIN_MODELS_FOR_EFFECTS` models it raises "too few models for per-model effects".
Neither value of a measured pair depends on eps_s.
"""

from __future__ import annotations

import numpy as np

from archsim.errors import ArchsimError
from archsim.pipeline.sat_in_store import sat_in_store
from archsim.sat.censoring import as_least_measured, censored_note
from archsim.sat.effects import ModelEffects
from archsim.similarity.measure import Measure, MeasureInputs, SimilarityResult


def _sat_result(inputs: MeasureInputs):
    if inputs.cfg is None or inputs.out is None:
        raise ArchsimError("sat needs the run's config and a run folder for its store")
    result, report = sat_in_store(inputs.out, inputs.cfg, inputs.run, progress=inputs.progress)
    notes = [report.summary()] + [n for n in [censored_note(result.names, result.censored)] if n]
    return result, notes + result.sanity_warnings()


def sat_measure(inputs: MeasureInputs, options: dict) -> SimilarityResult:
    result, notes = _sat_result(inputs)
    return SimilarityResult(result.names, result.sat_for_analyses, notes=notes)


def sat_adjusted_measure(inputs: MeasureInputs, options: dict) -> SimilarityResult:
    result, notes = _sat_result(inputs)
    values, effects = sat_adjusted(result)
    return SimilarityResult(result.names, values,
                            notes=notes + [f"per-model effects explain {effects.r2_summary()} of the measured "
                                           "off-diagonal SAT variance; this is the pair term left"])


def sat_adjusted(result) -> tuple[np.ndarray, ModelEffects]:
    """(sat-adjusted of a SATResult, its per-model fit): the pair terms, a censored pair at the smallest measured
    one; TooFewModels below MIN_MODELS_FOR_EFFECTS models."""
    effects = result.effects()
    return as_least_measured(effects.adjusted, result.censored), effects


SAT = Measure("sat", sat_measure, {}, "similarity by attack transferability (Hwang et al., ECCV 2024)", version=2)
SAT_ADJUSTED = Measure("sat-adjusted", sat_adjusted_measure, {},
                       "SAT's pair term after the additive per-model fit SAT_ij = mu + a_i + a_j + r_ij", version=2)

"""SAT registered as a measure like every other: the SAT matrix of the run's models, through the run store.

SAT(A, B) = ln(max(eps_s, 100 x the pooled transfer rate of A's and B's attacks)),
`archsim.sat.formula`. It has no options of its own: the attack, eps_s, batch
size and device come from the config (`inputs.cfg`), and the attacks and
evaluations are read from (or, where missing, computed into) the run store in
`inputs.out`, exactly as `archsim sat --out DIR` does.
"""

from __future__ import annotations

from archsim.errors import ArchsimError
from archsim.sat.in_store import sat_in_store
from archsim.similarity.measure import Measure, MeasureInputs, SimilarityResult


def sat_measure(inputs: MeasureInputs, options: dict) -> SimilarityResult:
    if inputs.cfg is None or inputs.out is None:
        raise ArchsimError("sat needs the run's config and a run folder for its store")
    result, report = sat_in_store(inputs.out, inputs.cfg, inputs.run, progress=inputs.progress)
    return SimilarityResult(result.names, result.sat, notes=[report.summary()])


SAT = Measure("sat", sat_measure, {}, "similarity by attack transferability (Hwang et al., ECCV 2024)")

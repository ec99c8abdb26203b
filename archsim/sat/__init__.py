"""SAT: similarity by attack transferability (Hwang et al., ECCV 2024): the primitives, below the run store.

    formula.py    the SAT formula and transfer rates from counts
    intervals.py  the bootstrap interval of a pair's pooled rate (images resampled, both directions each)
    result.py     SATResult: per-image outcomes -> SAT, transfer, pairs, CSV files
    effects.py    per-model (additive and directional) effects fitted to a SAT matrix
    units.py      the units of work: clean pass, attack, evaluation
    advset.py     adversarial images stored as float16 perturbations
    precision.py  fp32 / bf16 autocast for attacks and evaluations
    cost.py       the cost model: FLOPs and units of a run
    engine.py     sat_matrix: the whole computation in memory
    adaptive.py   a pair's images in rounds, stopped at a target interval width
    completion.py, alignment.py, pair_choice.py, pilot.py, budgeted.py: a pair budget (`--pairs`): which
                  pairs to measure, and the others completed from them, the attacks' alignment and a pilot

May import: `attacks` and archsim's foundation (errors, files, matrices, options).
The store (`archsim.store`) builds on these; SAT run through the store for a
config is `archsim.pipeline`, above both.
"""

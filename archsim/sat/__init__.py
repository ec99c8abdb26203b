"""SAT: similarity by attack transferability (Hwang et al., ECCV 2024).

    formula.py    the SAT formula and transfer rates from counts
    intervals.py  the bootstrap interval of a pair's pooled rate (images resampled, both directions each)
    result.py     SATResult: per-image outcomes -> SAT, transfer, pairs, CSV files
    units.py      the units of work: clean pass, attack, evaluation
    advset.py     adversarial images stored as float16 perturbations
    engine.py     sat_matrix: the whole computation in memory
    in_store.py   sat_in_store: the same through the run store (cached, resumable)
"""

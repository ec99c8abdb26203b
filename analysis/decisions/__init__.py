"""Decisions: which models to ensemble, which teacher to distil from, and which measure predicts either.

    ensemble_eval.py       softmax and vote ensembles from class probabilities, pair gains, correlations
    ensemble_selection.py  top-k, random draws, greedy diversity with lambda, one per cluster
    ensemble_study.py      every method under every measure: chosen on validation, scored on test
    distill_study.py       teachers ranked by similarity; gains of the distilled students
    prediction_table.py    each measure's rank correlation with ensemble gain and with distillation gain
    stages.py              the ensemble and distillation stages on a built zoo (`archsim ensemble`,
                           `archsim distill`, the demo)
    plots.py, write.py     their figures and files

May import: `analysis.matrix`, `analysis.components` and the `archsim` library
(similarity measures, zoo, settings). Not the report.
"""

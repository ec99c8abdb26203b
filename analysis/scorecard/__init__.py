"""Which measure to trust on this zoo: known-answer tests for every measure, on the run's own models.

    known_answers.py  seed AUC (sklearn's roc_auc_score), mutual nearest seeds, untrained AUC, and the
                      bootstrap over architectures behind their intervals
    reliability.py    split-half reliability: two halves of the images, Spearman rho of the two matrices
    layer_order.py    inside a model, similarity to the first stage falling with depth
    fusion.py         the fused measure: the mean of the measures' ranks
    pools.py          the untrained copies and image halves, and every measure's matrix on them, cached
    table.py          the scorecard: measure x test with intervals, the best per test, its CSV files
    stage.py          run_scorecard: every test on a run (`archsim scorecard`, the demo's stage)

May import `analysis.matrix`, `analysis.decisions` and the `archsim` library below the CLI; the report
imports it.
"""

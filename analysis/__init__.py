"""Analyses of models and similarity matrices, in five rooms, each importing only the rooms listed before it:

    components/  the SAT paper's architectural components of a model, derived from one traced forward pass
    matrix/      a similarity matrix analysed: loading and checks, clustering, component importance,
                 comparison of two matrices, their figures and files
    decisions/   what the similarities are for: ensemble members and distillation teachers, chosen on
                 validation images and scored on test images, and which measure predicts what
    scorecard/   known-answer tests for every measure: seeds, untrained copies, split-half reliability, layer order
    report/      the demo's analysis stage and its self-contained HTML report

All of them may import the `archsim` library below the CLI (never `archsim.cli`,
which wires them to commands).
"""

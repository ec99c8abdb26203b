"""The demo's analysis stage and its one self-contained HTML report.

    render.py         render_report(data): ReportData in, one HTML string out (a pure function)
    sections.py       the ensemble, distillation and prediction sections, from the studies
    demo_analysis.py  stage 4 of `archsim demo`: clustering, importance and comparisons of SAT
    demo_report.py    stage 7 of `archsim demo`: the report assembled from every stage

May import every other room of `analysis` and the `archsim` library below the CLI.
"""

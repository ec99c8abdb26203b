"""One similarity matrix analysed: `archsim analyze` and the demo's analysis stage.

    load.py        load_similarity / validate_similarity: the analysis contract (names, NaN, symmetry)
    clustering.py  spectral and hierarchical clusters, the number of clusters, 2-D maps
    importance.py  which components make models similar: pair-level regression
    compare.py     agreement of two matrices: rank correlations, Mantel test, neighbours
    plots.py       their PNG figures (and save_figure, shared by every figure)
    write.py       the files of each analysis, written all or nothing

May import: `analysis.components` and archsim's foundation (errors, files,
matrices). Not the decisions or the report.
"""

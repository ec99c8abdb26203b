"""The demo's scorecard stage and its report section: which measure passes which known-answer test.

    scorecard_stage(out, cfg, run_, sat, measures, options, progress) -> (Section or None, outcome line)
    scorecard_section(card) -> Section: the answers first, then measure x test and the seeds per architecture

The demo runs DEMO_TESTS, the tests its pool allows cheaply: the seeds (from the matrices it has), split-half
reliability (SAT's halves from the stored outcomes; each other measure on two halves of the images) and the
layer order. The untrained copies are left to `archsim scorecard`: they add one attack per architecture.
A test the pool cannot take (too few images to split, ...) is skipped with its reason, and so is the stage
when it cannot run at all: neither is fatal to the demo.
"""

from __future__ import annotations

import math

from analysis.report.render import Section, Table
from analysis.scorecard.stage import run_scorecard
from analysis.scorecard.table import TESTS, Scorecard
from archsim.errors import ArchsimError

DEMO_TESTS = ("seeds", "reliability", "layer-order")
EXPLANATION = ("Seeds: two seeds of one architecture should be more similar than two architectures (AUC 1 if always, "
               "0.5 by chance) and each other's nearest. Untrained: a trained model should be more similar to "
               "trained models than to untrained copies. Reliability: the measure on two halves of the images "
               "should rank the pairs alike. Layer order: inside a model, similarity to the first stage should fall "
               "with depth. A verdict needs an interval; 'above chance' means the interval lies above the chance "
               "level.")


def scorecard_stage(out, cfg, run_, sat, measures: dict, options: dict, progress: bool):
    """(report section, outcome) of the scorecard of DEMO_TESTS, written to DIR/scorecard.csv; (None, reason)
    when it cannot run."""
    try:
        card = run_scorecard(out, cfg, run_, sat, measures, options, tests=DEMO_TESTS, progress=progress)
    except ArchsimError as e:
        return None, f"skipped: {e}"
    card.notes.append("untrained copies: not in the demo (one more attack per architecture); "
                      "`archsim scorecard --config FILE --out DIR` adds them")
    return scorecard_section(card), "; ".join(line.split(";")[0] for line in card.answers())


def scorecard_section(card: Scorecard) -> Section:
    """The answers first (best measure and verdicts per test), then measure x test and the seeds per architecture."""
    tests = card.tests
    tables = [Table(["measure", *tests], [[m, *(card.cell(m, t) for t in tests)] for m in card.measures],
                    caption="Each cell: the value and its 95% interval where the pool allows one; * the best "
                            "measure of the test; '-' not run; 'n/a' not defined (see the notes). Chance: "
                            + ", ".join(f"{t} {c:g}" for t, c in TESTS.items() if c is not None and t in tests)
                            + ".")]
    architectures = list(dict.fromkeys(r.architecture for r in card.per_architecture))
    if architectures:
        cells = {(r.measure, r.architecture): ("n/a" if math.isnan(r.auc) else f"{r.auc:.3f}")
                 + f"; {r.mutual} of {r.pairs}" for r in card.per_architecture}
        tables.append(Table(["measure", *architectures],
                            [[m, *(cells.get((m, a), "-") for a in architectures)] for m in card.measures
                             if any((m, a) in cells for a in architectures)],
                            caption="The seed test per architecture: AUC of its seed pairs against its pairs with "
                                    "other architectures; seed pairs that are mutual nearest, of all."))
    return Section("Which measure to trust: known-answer tests", [*card.answers(), EXPLANATION, *card.notes], tables)

"""The scorecard: measure x test, each an estimate with its interval, the best measure per test marked.

    Scorecard(tests).add(measure, test, estimate); .best(test); .verdict(measure, test); .answers()
    Scorecard.write(out) -> DIR/scorecard.csv and DIR/scorecard_seeds.csv, all or nothing; Scorecard.read(out, notes)

The columns (TESTS, with the value a measure that knows nothing would get):

    seeds: AUC              0.5   same-architecture pairs against different-architecture pairs
    seeds: mutual nearest    -    share of seed pairs that are each other's nearest (no chance level: it
                                  depends on the pool's size)
    untrained: AUC          0.5   trained-trained pairs against trained-untrained pairs
    reliability             0     Spearman rho of the matrices of two halves of the images
    layer order             0.5   share of steps in depth where similarity to the first block falls

A measure passes a test with a chance level when the test's 95% interval lies above it ("above chance");
"not above chance" when the interval reaches it; no verdict without an interval (the pool is too small for
one, and says so in the note). The best measure of a test is the one with the highest value (ties: all) among
those whose value rests on more than half the pairs (or steps) of the measure that covers the most; a value on
fewer is shown with its count ("on 3 of 21").
scorecard.csv: measure, test, value, ci_low, ci_high, n, best, verdict, note (one row per measure and test
run; n: the pairs, seed pairs or steps behind the value). scorecard_seeds.csv: the seed test per architecture.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analysis.scorecard.known_answers import Estimate
from archsim.files import all_or_nothing, write_rows

TESTS = {"seeds: AUC": 0.5, "seeds: mutual nearest": None, "untrained: AUC": 0.5, "reliability": 0.0,
         "layer order": 0.5}
CSV_HEADER = ["measure", "test", "value", "ci_low", "ci_high", "n", "best", "verdict", "note"]
SEEDS_HEADER = ["measure", "architecture", "models", "auc", "mutual_nearest", "seed_pairs"]


@dataclass
class ArchitectureSeeds:
    """The seed test of one measure on one architecture's seeds (no interval: 1 to 3 pairs)."""

    measure: str
    architecture: str
    models: int
    auc: float
    mutual: int  # seed pairs that are mutual nearest
    pairs: int  # seed pairs with a finite value

    def values(self) -> list:
        return [self.measure, self.architecture, self.models, self.auc, self.mutual, self.pairs]


@dataclass
class Scorecard:
    measures: list[str] = field(default_factory=list)  # row order
    scores: dict[tuple[str, str], Estimate] = field(default_factory=dict)
    per_architecture: list[ArchitectureSeeds] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per test, when computed (not when read back)

    def add(self, measure: str, test: str, estimate: Estimate) -> None:
        if test not in TESTS:
            raise ValueError(f"unknown test {test!r}")
        if measure not in self.measures:
            self.measures.append(measure)
        self.scores[measure, test] = estimate

    @property
    def tests(self) -> list[str]:
        """The tests that have a score, in TESTS order."""
        return [t for t in TESTS if any(test == t for _, test in self.scores)]

    def coverage(self, test: str) -> int:
        """The most pairs (or steps) any measure's value of `test` rests on."""
        return max((e.n for (_, t), e in self.scores.items() if t == test), default=0)

    def best(self, test: str) -> list[str]:
        """The measures with the highest finite value of `test` among those that cover more than half of its pairs
        (a measure defined on a few pairs only cannot be the best); empty when none has one."""
        full = self.coverage(test)
        values = {m: e.value for (m, t), e in self.scores.items()
                  if t == test and np.isfinite(e.value) and 2 * e.n > full}
        top = max(values.values(), default=np.nan)
        return [m for m, v in values.items() if v == top]

    def verdict(self, measure: str, test: str) -> str:
        """"above chance", "not above chance", or "" (no chance level, no interval or no value)."""
        e, chance = self.scores.get((measure, test)), TESTS[test]
        if e is None or chance is None or not np.isfinite(e.low):
            return ""
        return "above chance" if e.low > chance else "not above chance"

    def answers(self) -> list[str]:
        """One line per test: the best measure, then which measures pass (above chance) and which do not."""
        lines = []
        for test in self.tests:
            best = self.best(test)
            line = f"{test}: best {', '.join(best) or 'none'}"
            if best:
                e = self.scores[best[0], test]
                line += f" ({e.value:.3f}" + (f" [{e.low:.3f}, {e.high:.3f}])" if np.isfinite(e.low) else ")")
            verdicts = {m: self.verdict(m, test) for m in self.measures if (m, test) in self.scores}
            passed = [m for m, v in verdicts.items() if v == "above chance"]
            failed = [m for m, v in verdicts.items() if v == "not above chance"]
            if passed or failed:
                line += (f"; above chance: {', '.join(passed) or 'none'}; not above chance: "
                         f"{', '.join(failed) or 'none'}")
            elif TESTS[test] is not None:
                notes = [e.note for (_, t), e in self.scores.items() if t == test and e.note]
                line += f"; no verdict ({notes[0] if notes else 'no interval'})"
            lines.append(line)
        return lines

    def rows(self) -> list[list]:
        """scorecard.csv's rows, measure by measure in row order, tests in TESTS order."""
        best = {t: set(self.best(t)) for t in self.tests}
        return [[m, t, e.value, e.low, e.high, e.n, m in best[t], self.verdict(m, t), e.note]
                for m in self.measures for t in self.tests if (e := self.scores.get((m, t))) is not None]

    def write(self, out) -> list[Path]:
        """DIR/scorecard.csv and DIR/scorecard_seeds.csv, both or neither."""
        out = Path(out)
        with all_or_nothing():
            return [write_rows(out / "scorecard.csv", CSV_HEADER, self.rows()),
                    write_rows(out / "scorecard_seeds.csv", SEEDS_HEADER, [r.values() for r in self.per_architecture])]

    @classmethod
    def read(cls, out, notes: list[str]) -> Scorecard:
        """The scorecard written to DIR by `write` (values to 6 significant digits), with these notes."""
        card = cls(notes=list(notes))
        with open(Path(out) / "scorecard.csv", newline="") as f:
            for r in csv.DictReader(f):
                card.add(r["measure"], r["test"], Estimate(float(r["value"]), float(r["ci_low"]), float(r["ci_high"]),
                                                           int(r["n"]), r["note"]))
        with open(Path(out) / "scorecard_seeds.csv", newline="") as f:
            card.per_architecture = [ArchitectureSeeds(r["measure"], r["architecture"], int(r["models"]),
                                                       float(r["auc"]), int(r["mutual_nearest"]), int(r["seed_pairs"]))
                                     for r in csv.DictReader(f)]
        return card

    def cell(self, measure: str, test: str) -> str:
        """The value with its interval for a table, '*' marking the test's best; '-' when not run."""
        e = self.scores.get((measure, test))
        if e is None or not np.isfinite(e.value):
            return "-" if e is None else "n/a"
        text = f"{e.value:.3f}" + (f" [{e.low:.2f}, {e.high:.2f}]" if np.isfinite(e.low) else "")
        if 2 * e.n <= self.coverage(test):
            text += f" (on {e.n} of {self.coverage(test)})"
        return text + (" *" if measure in self.best(test) else "")

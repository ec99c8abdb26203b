"""`archsim weights-test --config FILE --group-a A1,A2,... --group-b B1,B2,... --out DIR`.

Hypothesis-training-testing (archsim.similarity.weight_test) on the
chain-normalised weights of two groups of models of one plain MLP/CNN
architecture (e.g. several seeds of two training recipes). Only the models the
groups (and the reference) name are built, as `archsim sat` builds them. Every
model's weights are aligned to the reference model and flattened into one
vector. The reference is never in the classifier's data (aligned to itself it
would stand out): by default it is the first model of the config outside both
groups with group A's architecture; without one, the first of group A, left
out of group A. Writes DIR/weights_test.csv, one row:

    accuracy, chance, p_value, min_p, n_a, n_b, n_splits, n_permutations, train_size, test_size, classifier,
    reference

min_p is the smallest p the group sizes and permutations allow; a larger p is
reported as "no evidence of a difference", with min_p beside it.
"""

from __future__ import annotations

import argparse

import numpy as np

from archsim.cli.args import add_run_arguments, run_config
from archsim.errors import ArchsimError
from archsim.files import write_rows
from archsim.similarity.chain_norm import align, representation
from archsim.similarity.weight_measures import model_chain
from archsim.similarity.weight_test import CLASSIFIERS, hypothesis_training_testing
from archsim.zoo.build import build_run

COLUMNS = ["accuracy", "chance", "p_value", "min_p", "n_a", "n_b", "n_splits", "n_permutations", "train_size",
           "test_size", "classifier"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights-test", help="can a classifier tell two groups of models apart by their weights?",
                       description=__doc__)
    add_run_arguments(p)
    p.add_argument("--group-a", required=True, help="comma-separated model labels")
    p.add_argument("--group-b", required=True, help="comma-separated model labels")
    p.add_argument("--reference", help="label of the model the others are aligned to (default: the first model "
                                       "outside both groups with group A's architecture, else the first of "
                                       "group A, then left out of the test)")
    p.add_argument("--splits", type=int, help="cross-validation folds (default: min(5, smaller group))")
    p.add_argument("--permutations", type=int, default=200, help="label permutations for the p-value")
    p.add_argument("--classifier", choices=CLASSIFIERS, default="logistic")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = run_config(args)
    group_a, group_b = _labels(args.group_a), _labels(args.group_b)
    both = sorted(set(group_a) & set(group_b))
    if both:
        raise ArchsimError(f"model(s) in both groups: {', '.join(both)}")
    unknown = sorted((set(group_a) | set(group_b) | {args.reference or group_a[0]}) - {m.label for m in cfg.models})
    if unknown:
        raise ArchsimError(f"not a model label of the config: {', '.join(unknown)}")
    reference = args.reference or _outside_reference(cfg, group_a, group_b) or group_a[0]
    group_a, group_b = [x for x in group_a if x != reference], [x for x in group_b if x != reference]
    if min(len(group_a), len(group_b)) < 2:
        raise ArchsimError(f"the reference {reference} is left out of the test, which leaves a group with fewer "
                           "than 2 models: add a model of the same architecture outside both groups, or name it "
                           "with --reference")
    wanted = set(group_a) | set(group_b) | {reference}
    cfg.models = [m for m in cfg.models if m.label in wanted]
    models = build_run(cfg, progress=not args.no_progress).models
    ref_chain = _labelled(reference, lambda: model_chain(models[reference], cfg.seed))
    vectors = {x: _labelled(x, lambda x=x: representation(align(ref_chain, model_chain(models[x], cfg.seed))[0]))
               for x in group_a + group_b}
    result = hypothesis_training_testing(np.stack([vectors[x] for x in group_a]),
                                         np.stack([vectors[x] for x in group_b]),
                                         n_splits=args.splits, n_permutations=args.permutations,
                                         classifier=args.classifier, seed=cfg.seed)
    path = write_rows(f"{args.out}/weights_test.csv", COLUMNS + ["reference"],
                      [[getattr(result, c) for c in COLUMNS] + [reference]])
    verdict = ("the classifier tells the groups apart: their weights differ" if result.p_value <= 0.05 else
               f"no evidence of a difference (smallest achievable p = {result.min_p:.3g})")
    print(f"held-out accuracy {result.accuracy:.3f} (chance {result.chance:.3f}), permutation p = "
          f"{result.p_value:.3g}, {result.n_splits}-fold, {result.n_a} vs {result.n_b} models, reference "
          f"{reference}: {verdict}")
    print(f"wrote {path}")
    return 0


def _outside_reference(cfg, group_a: list[str], group_b: list[str]) -> str | None:
    """The first model of the config outside both groups with the architecture of group A's first model."""
    name = next(m.name for m in cfg.models if m.label == group_a[0])
    return next((m.label for m in cfg.models if m.name == name and m.label not in group_a + group_b), None)


def _labels(text: str) -> list[str]:
    labels = [x.strip() for x in text.split(",") if x.strip()]
    if len(labels) < 2:
        raise ArchsimError(f"a group needs at least 2 model labels, got {text!r}")
    return labels


def _labelled(label: str, compute):
    """compute(), its ArchsimError prefixed with the model's label."""
    try:
        return compute()
    except ArchsimError as e:
        raise ArchsimError(f"{label}: {e}") from None

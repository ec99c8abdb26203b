"""`archsim weights-test --config FILE --group-a A1,A2,... --group-b B1,B2,... --out DIR`.

Hypothesis-training-testing (archsim.similarity.weight_test) on the
chain-normalised weights of two groups of models of one plain MLP/CNN
architecture (e.g. several seeds of two training recipes). Only the models the
groups (and the reference) name are built, as `archsim sat` builds them. Every
model's weights are aligned to the reference model (default: the first of group
A) and flattened into one vector. Writes DIR/weights_test.csv, one row:

    accuracy, chance, p_value, n_a, n_b, n_splits, n_permutations, train_size, test_size, classifier, reference
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

COLUMNS = ["accuracy", "chance", "p_value", "n_a", "n_b", "n_splits", "n_permutations", "train_size",
           "test_size", "classifier"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights-test", help="can a classifier tell two groups of models apart by their weights?",
                       description=__doc__)
    add_run_arguments(p)
    p.add_argument("--group-a", required=True, help="comma-separated model labels")
    p.add_argument("--group-b", required=True, help="comma-separated model labels")
    p.add_argument("--reference", help="label of the model the others are aligned to (default: first of group A)")
    p.add_argument("--splits", type=int, help="cross-validation folds (default: min(5, smaller group))")
    p.add_argument("--permutations", type=int, default=200, help="label permutations for the p-value")
    p.add_argument("--classifier", choices=CLASSIFIERS, default="logistic")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    cfg = run_config(args)
    group_a, group_b = _labels(args.group_a), _labels(args.group_b)
    reference = args.reference or group_a[0]
    wanted = set(group_a) | set(group_b) | {reference}
    both = sorted(set(group_a) & set(group_b))
    if both:
        raise ArchsimError(f"model(s) in both groups: {', '.join(both)}")
    unknown = sorted(wanted - {m.label for m in cfg.models})
    if unknown:
        raise ArchsimError(f"not a model label of the config: {', '.join(unknown)}")
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
               "not distinguishable from chance: consistent with both groups reaching the same solution")
    print(f"held-out accuracy {result.accuracy:.3f} (chance {result.chance:.3f}), permutation p = "
          f"{result.p_value:.3g}, {result.n_splits}-fold, {result.n_a} vs {result.n_b} models: {verdict}")
    print(f"wrote {path}")
    return 0


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

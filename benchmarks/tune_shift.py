"""Choose the applications' shift severity on the VALIDATION images only (never the test images it reports).

For each severity it shifts the 500 validation images of configs/demo.yaml (`archsim.zoo.shift`, seed + 1,
as the ensemble stage does), predicts with the 16 zoo models (weights from the cache) and the cached
distilled students, and prints the issue's headroom targets on those images: the best K-model softmax
ensemble (over every K-subset) and the top-K-by-accuracy ensemble against their best member (target:
>= 1 point), and the students' mean accuracy against their teachers' (target: >= 3 points below).

    python benchmarks/tune_shift.py [--severity 0.25,0.5,0.75,1.0] [--test]

--test prints the same figures on the shifted test images once a severity is chosen (report only).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools

import numpy as np

from analysis.decisions.ensemble_eval import evaluate_members, member_accuracies
from archsim.config import load_config
from archsim.settings import ShiftSettings
from archsim.zoo.build import build_run
from archsim.zoo.predictions import class_probabilities
from archsim.zoo.shift import application_images
from archsim.zoo.students import train_students


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", default="configs/demo.yaml")
    p.add_argument("--severity", default="0.25,0.5,0.75,1.0")
    p.add_argument("--test", action="store_true", help="the shifted test images instead (after choosing)")
    args = p.parse_args()
    cfg = load_config(args.config)
    run = build_run(cfg, progress=False)
    k, names = cfg.ensemble.size, list(run.models)
    settings = cfg.distill
    print(f"{len(names)} models, K = {k}, {'test' if args.test else 'validation'} images")
    for severity in [float(s) for s in args.severity.split(",")]:
        shifted_cfg = dataclasses.replace(cfg, shift=ShiftSettings(severity=severity, seed=cfg.seed))
        validation, test = application_images(shifted_cfg, run)
        images = test if args.test else validation
        probs = class_probabilities(run.models, images, batch_size=cfg.batch_size, device=cfg.torch_device())
        labels = images.labels.numpy()
        acc = member_accuracies(probs, labels)
        gains = {tuple(m): evaluate_members(probs, labels, m)["gain_softmax"]
                 for m in itertools.combinations(range(len(names)), k)}
        best = max(gains, key=gains.get)
        top = tuple(np.argsort(-acc, kind="stable")[:k])
        scored = dataclasses.replace(run, images=images)  # the students scored on these images
        runs = train_students(dataclasses.replace(cfg, shift=None), scored, settings.student, settings.teachers,
                              settings, progress=False)
        students = np.mean([r.test_accuracy for r in runs if r.teacher is not None])
        baseline = np.mean([r.test_accuracy for r in runs if r.teacher is None])
        teachers = np.mean([acc[names.index(t)] for t in settings.teachers])
        print(f"severity {severity:.2f}: member accuracy {acc.min():.3f}-{acc.max():.3f}; best {k}-ensemble gain "
              f"{gains[best]:+.3f} ({' '.join(names[i] for i in best)}); top-{k} gain "
              f"{evaluate_members(probs, labels, top)['gain_softmax']:+.3f}; students {students:.3f} (labels only "
              f"{baseline:.3f}) vs teachers {teachers:.3f}: {teachers - students:+.3f}", flush=True)


if __name__ == "__main__":
    main()

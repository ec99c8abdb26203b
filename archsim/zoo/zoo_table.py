"""The zoo table: one `ZooRow` per model of a config (parameters, where its weights came from, accuracies).

    zoo_rows(cfg, run_, predictions) -> list[ZooRow]
    write_zoo_csv(out_dir, rows) -> DIR/zoo.csv with the columns of `HEADER` (empty cells for None)

`weights` is "trained" (in this call, `train_seconds` set), "cache", "checkpoint",
"pretrained" or "random init"; `val_accuracy` is None without validation images.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from archsim.files import write_rows

HEADER = ["model", "timm_name", "params", "weights", "train_seconds", "val_accuracy", "test_accuracy"]


@dataclass(frozen=True)
class ZooRow:
    model: str
    timm_name: str
    params: int
    weights: str
    train_seconds: float | None
    val_accuracy: float | None
    test_accuracy: float


def zoo_rows(cfg, run_, predictions) -> list[ZooRow]:
    """One row per model of `cfg`, in the config's order."""
    return [ZooRow(spec.label, spec.name, sum(p.numel() for p in run_.models[spec.label].model.parameters()),
                   _weights_source(spec, run_.train_seconds), run_.train_seconds.get(spec.label),
                   predictions.accuracy(spec.label, run_.validation, "validation"),
                   predictions.accuracy(spec.label, run_.images, "test"))
            for spec in cfg.models]


def write_zoo_csv(out_dir, rows: list[ZooRow]):
    """DIR/zoo.csv with the `HEADER` columns; empty cells for None."""
    return write_rows(f"{out_dir}/zoo.csv", HEADER,
                      [["" if v is None else v for v in dataclasses.astuple(r)] for r in rows])


def _weights_source(spec, trained: dict) -> str:
    if spec.pretrained:
        return "pretrained"
    if spec.checkpoint is not None:
        return "checkpoint"
    if spec.training is None:
        return "random init"
    return "trained" if spec.label in trained else "cache"

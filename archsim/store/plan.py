"""What a run asks of the store (`Plan`), what a worker takes from it (`Claim`), and the SQL that selects them.

A plan is the units for some models on one dataset under one attack:
`IN_PLAN` selects them from the `units` table (alias u) with `Plan.params`:
every attack and noise unit of its models, the evaluations among them (or
only those of `evaluations`, a budgeted run's chosen pairs and the diagonal)
and the pilot units of its `pilot` image count. `CLAIMABLE` is the next of
them that can run now: attacks first, then the noise controls, then the
evaluations and pilots target by target (one placement per target), an
evaluation or pilot once its source's adversarial set and its target's clean
outcomes are stored; `CLAIMABLE_FOR_TARGET` more of the same kind for one
target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np

from archsim.store.tensors import FileRecord

IN_PLAN = """u.dataset = :dataset AND u.attack = :attack
    AND u.source IN (SELECT value FROM json_each(:models))
    AND (u.target IS NULL OR u.target IN (SELECT value FROM json_each(:models)))
    AND (u.kind != 'evaluation' OR :pairs IS NULL
         OR (u.source || ',' || u.target) IN (SELECT value FROM json_each(:pairs)))
    AND (u.kind != 'pilot' OR u.images = :pilot)"""

CLAIMABLE_WHERE = f"""u.status = 'pending' AND {IN_PLAN}
  AND (u.kind IN ('attack', 'noise') OR (
        EXISTS (SELECT 1 FROM units a JOIN adversarial_sets s ON s.unit = a.id
                WHERE a.kind = 'attack' AND a.status = 'done' AND a.source = u.source
                  AND a.dataset = u.dataset AND a.attack = u.attack)
        AND EXISTS (SELECT 1 FROM clean_outcomes c WHERE c.model = u.target AND c.dataset = u.dataset)))"""
CLAIMABLE = f"""SELECT u.id, u.kind, u.source, u.target FROM units u WHERE {CLAIMABLE_WHERE}
ORDER BY CASE u.kind WHEN 'attack' THEN 0 WHEN 'noise' THEN 1 ELSE 2 END, u.target, u.source LIMIT 1"""
CLAIMABLE_FOR_TARGET = f"""SELECT u.id, u.kind, u.source, u.target FROM units u WHERE {CLAIMABLE_WHERE}
  AND u.kind = :kind AND u.target = :target AND u.id != :first ORDER BY u.source LIMIT :more"""


@dataclass(frozen=True)
class Plan:
    """The units for some models on one dataset under one attack."""

    labels: list[str]
    model_ids: list[int]  # per label; labels with the same content share an id
    model_keys: dict[int, str]
    dataset: int
    dataset_key: str
    image_ids: list[str]
    attack: int
    attack_key: str
    attack_config: dict  # see archsim.store.keys.attack_entry
    evaluations: tuple[tuple[int, int], ...] | None = None  # (source, target) model ids; None: all N^2
    pilot: int | None = None  # the pilot's image count (`RunStore.add_pilot`); None: no pilot units

    def name(self, model_id: int) -> str:
        return self.labels[self.model_ids.index(model_id)]

    def only(self, pairs) -> Plan:
        """This plan with only the evaluations of `pairs`, (i, j) label indices, both directions of each, and
        every model's own (its white-box success); attacks and noise controls as they were."""
        ids = self.model_ids
        chosen = {(i, i) for i in ids} | {(ids[i], ids[j]) for i, j in pairs} | {(ids[j], ids[i]) for i, j in pairs}
        return replace(self, evaluations=tuple(sorted(chosen)))

    @property
    def params(self) -> dict:
        pairs = None if self.evaluations is None else json.dumps([f"{s},{t}" for s, t in self.evaluations])
        return {"dataset": self.dataset, "attack": self.attack, "models": json.dumps(sorted(set(self.model_ids))),
                "pairs": pairs, "pilot": self.pilot}


@dataclass(frozen=True)
class Claim:
    """A unit taken by a worker, with what it needs from the store."""

    unit: int
    run: int  # unit_runs id
    kind: str  # attack | evaluation | noise | pilot
    source: int
    target: int | None
    output: str | None = None  # attack: where to write the adversarial set
    clean: np.ndarray | None = None  # attack, noise: the source's stored clean outcomes, when known
    advset: FileRecord | None = None  # evaluation, pilot: the source's adversarial set
    attack_unit: int | None = None  # evaluation, pilot: the unit that made it
    keep: np.ndarray | None = None  # evaluation: the target's clean outcomes; pilot: those on the pilot images

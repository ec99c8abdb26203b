"""Shared by the run store tests: configs naming the tiny zoo's checkpoints (fixture `zoo_specs`), store queries."""

import sqlite3
from collections import Counter

import torch
import yaml
from safetensors.torch import save_file

from archsim.config import load_config
from archsim.pipeline.sat_in_store import plan_run
from archsim.store import RunStore
from archsim.zoo.build import build_run

ATTACK = {"backend": "native", "norm": "Linf", "eps": 0.15, "alpha": 0.04, "steps": 5, "random_start": True}


def write_config(path, specs, *, n_per_class=6, attack=None, batch_size=64):
    """A run config for `specs` on n_per_class x 10 digits at 16 px (the tiny zoo's evaluation images)."""
    cfg = {"seed": 0, "device": "cpu", "batch_size": batch_size, "eps_s": 0.01,
           "data": {"source": "digits", "resolution": 16, "subset": {"how": "balanced", "n": n_per_class, "seed": 0}},
           "attack": {**ATTACK, **(attack or {})}, "models": list(specs)}
    path.write_text(yaml.safe_dump(cfg))
    return path


def stored_result(config_path, run_dir):
    """The SATResult the store at run_dir holds for the config (computing nothing)."""
    cfg = load_config(config_path)
    store = RunStore(run_dir, create=False)
    try:
        return store.sat_result(plan_run(store, cfg, build_run(cfg, progress=False)), cfg.eps_s)
    finally:
        store.close()


def query(run_dir, sql, *params):
    conn = sqlite3.connect(run_dir / "store.sqlite")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def finished_runs(run_dir) -> Counter:
    """Units run to the end, by kind, over the store's whole history."""
    return Counter(dict(query(run_dir, "SELECT u.kind, COUNT(*) FROM unit_runs r JOIN units u ON u.id = r.unit "
                                       "WHERE r.result = 'done' GROUP BY u.kind")))


def runs_per_unit(run_dir) -> dict:
    """unit id -> list of run results, in order."""
    out = {}
    for unit, result in query(run_dir, "SELECT unit, result FROM unit_runs ORDER BY id"):
        out.setdefault(unit, []).append(result)
    return out


def perturbed_checkpoint(spec, path):
    """A copy of spec's checkpoint with one weight changed: the same label, different content."""
    from safetensors.torch import load_file

    state = load_file(spec["checkpoint"])
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key] + 1e-3 * torch.ones_like(state[key])
    save_file(state, str(path))
    return {**spec, "checkpoint": str(path)}

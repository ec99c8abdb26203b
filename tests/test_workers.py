"""Work side by side in local processes (archsim.workers): training the zoo and the students
(archsim.zoo.train_pool) and SAT's units (archsim.store.ProcessExecutor) give exactly what the same work gives in
this process at the same number of torch threads."""

import os
import socket
import sqlite3
import subprocess
import sys

import pytest
import torch
import yaml

from archsim import workers
from archsim.config import load_config
from archsim.errors import ArchsimError
from archsim.pipeline.sat_in_store import local_executor, sat_in_store
from archsim.store import LocalExecutor, ProcessExecutor
from archsim.zoo.build import build_run
from archsim.zoo.models import create_model
from archsim.zoo.train_pool import TrainJob, train_and_cache
from archsim.zoo.wrapper import PixelModel


@pytest.fixture
def two_workers(monkeypatch):
    """Pools of two processes, each with the torch threads a two-process pool gives it; yields that thread
    count, at which this process runs the reference."""
    monkeypatch.setenv("ARCHSIM_WORKERS", "2")
    real = workers.cores()
    monkeypatch.setattr(workers, "cores", lambda: max(2, real))
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, workers.cores() // 2))
    yield torch.get_num_threads()
    torch.set_num_threads(threads)


def test_cpu_workers_is_one_off_the_cpu_for_one_job_when_capped_or_outside_the_command_line(monkeypatch):
    monkeypatch.setattr(workers, "cores", lambda: 8)
    monkeypatch.delenv("ARCHSIM_WORKERS")
    assert workers.cpu_workers(20, "cpu") == 1  # from Python: a spawned process would rerun an unguarded script
    monkeypatch.setattr(workers, "_command_line", True)  # as `archsim ...` sets it (archsim.cli.command)
    assert workers.cpu_workers(20, "cpu") == 8 and workers.cpu_workers(3, "cpu") == 3
    assert workers.cpu_workers(1, "cpu") == 1 and workers.cpu_workers(20, "cuda") == 1
    monkeypatch.setenv("ARCHSIM_WORKERS", "2")
    assert workers.cpu_workers(20, "cpu") == 2
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("ARCHSIM_WORKERS", bad)
        with pytest.raises(ArchsimError, match=r"ARCHSIM_WORKERS must be a whole number >= 1"):
            workers.cpu_workers(20, "cpu")


def _tiny(seed: int, name="resnet18", **kwargs) -> PixelModel:
    torch.manual_seed(seed)
    return PixelModel(create_model(name, num_classes=10, **kwargs), input_size=16)


def _jobs(tmp_path, teacher: PixelModel, tag: str) -> list[TrainJob]:
    """A plain model on every image, one on the first 300 only, and a student distilled from `teacher`."""
    common = {"epochs": 1, "lr": 3e-3, "batch_size": 64, "shift": 1, "noise": 0.1}
    vit = {"img_size": 16, "patch_size": 4, "embed_dim": 32, "depth": 1, "num_heads": 2}
    return [TrainJob(_tiny(0, channels=(8, 16, 32, 64)), {**common, "seed": 0}, tmp_path / tag / "a.safetensors",
                     {"a": 1}, "model 'a'"),
            TrainJob(_tiny(1, "vit_tiny_patch16_224", **vit), {**common, "seed": 1}, tmp_path / tag / "b.safetensors",
                     {"b": 1}, "model 'b'", rows=list(range(300))),
            TrainJob(_tiny(2, "vit_tiny_patch16_224", **vit), {**common, "seed": 2}, tmp_path / tag / "c.safetensors",
                     {"c": 1}, "student 'c'", extra={"teacher": teacher, "temperature": 4.0, "alpha": 0.9})]


def test_training_in_a_pool_gives_the_weights_of_training_here(two_workers, tiny_zoo, digits_split, tmp_path):
    train, _ = digits_split
    here, pooled = _jobs(tmp_path, tiny_zoo["resnet"], "here"), _jobs(tmp_path, tiny_zoo["resnet"], "pooled")
    for job in here:  # the reference: one after the other in this process
        train_and_cache([job], train.images, train.labels, device="cpu", progress=False)
    seconds = train_and_cache(pooled, train.images, train.labels, device="cpu", progress=False)
    assert len(seconds) == 3 and all(s > 0 for s in seconds)
    for a, b in zip(here, pooled):
        assert b.path.is_file()  # cached by the worker, then loaded back into the caller's model
        wa, wb = a.model.model.state_dict(), b.model.model.state_dict()
        assert all(torch.equal(wa[k], wb[k]) for k in wa), a.desc
    untrained = _tiny(0, channels=(8, 16, 32, 64)).model.state_dict()
    assert not torch.equal(untrained["fc.weight"], pooled[0].model.model.state_dict()["fc.weight"])


def test_a_failing_job_in_a_pool_raises_its_own_error(two_workers, digits_split, tmp_path):
    train, _ = digits_split
    jobs = [TrainJob(_tiny(k, channels=(8, 16, 32, 64)), {"epochs": 1, "seed": k}, tmp_path / f"{k}.safetensors",
                     {"k": k}, f"model {k}", rows=[] if k else None) for k in range(2)]
    with pytest.raises(ArchsimError, match="no training images"):
        train_and_cache(jobs, train.images, train.labels, device="cpu", progress=False)


def _config(tmp_path, zoo_specs, name: str):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "seed": 0, "device": "cpu", "batch_size": 50, "cache_dir": str(tmp_path / "cache"),
        "data": {"source": "digits", "resolution": 16, "subset": {"how": "balanced", "n": 6, "seed": 0}},
        "attack": {"backend": "native", "norm": "Linf", "eps": 0.1, "alpha": 0.05, "steps": 3},
        "models": list(zoo_specs.values())}))
    return load_config(path)


def test_sat_units_in_processes_give_the_local_result(two_workers, zoo_specs, tmp_path):
    cfg = _config(tmp_path, zoo_specs, "run")
    run_ = build_run(cfg, progress=False, place=False)
    models = dict(enumerate(run_.models.values()))
    executor = local_executor(cfg)(models, run_.images.images, run_.images.labels)
    assert isinstance(executor, ProcessExecutor) and executor.capacity == 2
    executor.close()
    pooled, report = sat_in_store(tmp_path / "pooled", cfg, run_, progress=False)
    here, _ = sat_in_store(tmp_path / "here", cfg, run_, progress=False, make_executor=lambda m, x, y: LocalExecutor(
        m, x, y, "cpu"))
    assert report.ran["attack"] == 3 and report.ran["evaluation"] > 0
    assert pooled.names == here.names
    for field in ("clean_correct", "adv_correct", "noise_correct", "errors", "n_common", "sat"):
        assert (getattr(pooled, field) == getattr(here, field)).all(), field
    with sqlite3.connect(tmp_path / "pooled" / "store.sqlite") as db:
        processes = {r[0].split()[0] for r in db.execute("SELECT ran_on FROM unit_runs WHERE ran_on IS NOT NULL")}
    assert processes and f"{socket.gethostname()}:{os.getpid()}" not in processes  # ran in the worker processes


def test_build_run_trains_a_configs_models_in_a_pool(two_workers, tmp_path):
    """build_run trains a config's models side by side and caches them: a second build loads them all."""
    path = tmp_path / "zoo.yaml"
    path.write_text(yaml.safe_dump({
        "seed": 0, "device": "cpu", "cache_dir": str(tmp_path / "cache"),
        "data": {"source": "digits", "resolution": 16, "subset": {"how": "balanced", "n": 5, "seed": 0}},
        "train": {"epochs": 1, "lr": 0.003, "batch_size": 64},
        "models": [{"name": "resnet18", "label": f"r{k}", "seed": k, "input_size": 16,
                    "kwargs": {"num_classes": 10, "channels": [8, 16, 32, 64]}} for k in range(2)]}))
    cfg = load_config(path)
    first = build_run(cfg, progress=False)
    assert set(first.train_seconds) == {"r0", "r1"}
    again = build_run(cfg, progress=False)
    assert again.train_seconds == {}
    for label in ("r0", "r1"):
        a, b = first.models[label].model.state_dict(), again.models[label].model.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_an_unguarded_script_runs_in_its_own_process_and_the_command_line_spreads(tmp_path, zoo_specs):
    """A script without `if __name__ == "__main__":` that trains a config's models: a spawned process would run
    its top level again; from Python, without $ARCHSIM_WORKERS, the work stays in the calling process. The command
    line (`python -m archsim.cli`, as the `archsim` entry point) spreads the same work over processes."""
    _config(tmp_path, zoo_specs, "run")  # writes run.yaml
    script = tmp_path / "unguarded.py"
    script.write_text("from archsim.config import load_config\n"
                      "from archsim.pipeline.sat_in_store import sat_in_store\n"
                      "from archsim.zoo.build import build_run\n"
                      f"cfg = load_config({str(tmp_path / 'run.yaml')!r})\n"
                      f"print(sat_in_store({str(tmp_path / 'py')!r}, cfg, build_run(cfg, progress=False), "
                      "progress=False)[1].summary(), flush=True)\n")
    env = {k: v for k, v in os.environ.items() if k != "ARCHSIM_WORKERS"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0 and done.stdout.count("ran 3 attack") == 1, done.stderr[-2000:]
    proc = subprocess.Popen([sys.executable, "-m", "archsim.cli", "sat", "--config", str(tmp_path / "run.yaml"),
                             "--out", str(tmp_path / "cli"), "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**env, "ARCHSIM_WORKERS": "2"})
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "ran 3 attack" in out, err[-2000:]
    with sqlite3.connect(tmp_path / "cli" / "store.sqlite") as db:
        processes = {r[0].split()[0] for r in db.execute("SELECT ran_on FROM unit_runs WHERE ran_on IS NOT NULL")}
    assert processes and f"{socket.gethostname()}:{proc.pid}" not in processes  # the units ran in its workers

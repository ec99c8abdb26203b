"""Train several models and cache each one, side by side on the CPU.

    train_and_cache(jobs, images, labels, *, device, progress) -> [seconds of each job]

A TrainJob is one model (a PixelModel, created and initialised by the caller) to train with
`archsim.zoo.training.train_classifier` on the shared `images`/`labels` at `rows` (all of them when None), with
`settings` (train_classifier's keyword arguments: epochs, lr, batch_size, weight_decay, shift, noise, seed, and
teacher, temperature, alpha for a distilled student), and save to the weights cache at `path` under `key`
(`archsim.zoo.weights_cache.save_cached`).

With one worker (`archsim.workers.cpu_workers`: a GPU, one job, one core) the jobs run here, one after the
other, each model trained in place. Otherwise they run in a pool of processes that hold the images once; each
job's model (and teacher) is pickled to its process, trained there and saved to the cache, and then loaded back
into the caller's model, so either way every job's model ends trained. A job's result does not depend on the
order the jobs run in (the pool starts those with the most optimizer steps first): each draws from its own seeded
generators (`train_classifier`).
"""

from __future__ import annotations

import time
from concurrent.futures import as_completed
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from archsim.workers import cpu_workers, process_pool, stop
from archsim.zoo.training import train_classifier
from archsim.zoo.weights_cache import load_cached, save_cached
from archsim.zoo.wrapper import PixelModel


@dataclass
class TrainJob:
    model: PixelModel
    settings: dict
    path: Path
    key: dict
    desc: str  # names the model in progress bars and errors
    rows: list[int] | None = None
    extra: dict = field(default_factory=dict)  # e.g. {"teacher": PixelModel}: passed to train_classifier as is


def train_and_cache(jobs: list[TrainJob], images: torch.Tensor, labels: torch.Tensor, *, device,
                    progress: bool = True) -> list[float]:
    """Train every job's model and cache its weights (module docstring); the seconds each took."""
    workers = cpu_workers(len(jobs), device)
    if workers == 1:
        return [_train(job, images, labels, device, progress)
                for job in tqdm(jobs, desc="train", unit="model", disable=not progress or len(jobs) < 2)]
    seconds = [0.0] * len(jobs)
    with process_pool(workers, _hold, (images, labels)) as pool, \
            tqdm(total=len(jobs), desc=f"train in {workers} processes", unit="model", disable=not progress) as bar:
        longest_first = sorted(range(len(jobs)), key=lambda k: -_steps(jobs[k], len(labels)))
        futures = {pool.submit(_train_held, jobs[k], str(device)): k for k in longest_first}
        try:
            for future in as_completed(futures):
                seconds[futures[future]] = future.result()
                bar.update(1)
        except BaseException:  # an error or Ctrl-C: the other processes' jobs are not waited for
            stop(pool)
            raise
    for job in jobs:
        if not load_cached(job.model.model, job.path, job.key, job.desc):
            raise RuntimeError(f"{job.desc}: trained in a worker process, but its cached weights cannot be read")
        job.model.to(device)
    return seconds


def _steps(job: TrainJob, n_images: int) -> int:
    """The job's optimizer steps: what the pool starts the longest jobs first by, so none is left alone at the end."""
    n = n_images if job.rows is None else len(job.rows)
    return job.settings.get("epochs", 3) * -(-n // job.settings.get("batch_size", 64))


def _train(job: TrainJob, images, labels, device, progress: bool) -> float:
    start = time.perf_counter()
    x, y = (images, labels) if job.rows is None else (images[job.rows], labels[job.rows])
    train_classifier(job.model, x, y, device=device, desc=job.desc, progress=progress, **job.settings, **job.extra)
    seconds = time.perf_counter() - start
    save_cached(job.model.model.to("cpu"), job.path, job.key)
    job.model.to(device)
    return seconds


_held: tuple = ()  # in a worker process: the images and labels every job trains on


def _hold(images, labels) -> None:
    global _held
    _held = images, labels


def _train_held(job: TrainJob, device: str) -> float:
    return _train(job, *_held, device, progress=False)

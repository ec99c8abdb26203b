"""Running claimed units: the part of the work that an executor ships to a worker.

    run_job(job, model, images, labels, device, channels_last=False) -> AttackDone | EvaluationDone | NoiseDone

A job carries everything the worker needs besides the model and the images
(small values: configs, paths, outcome vectors). An attack job runs the clean
pass (unless the store has it) and the attack, and writes the adversarial set
into the run directory (which must be reachable at the same path from every
worker); an evaluation job is one target on the adversarial sets of several
sources (one placement of the target for all of them), each set read from its
file (checksum verified) in inference batches, a corrupt set reported in its
place instead of failing the others; a noise job (the control) runs the clean
pass when needed and classifies the model's clean-correct images under seeded
random noise, writing no file. Every job runs in its `precision`, the model in
`channels_last` layout when asked (`archsim.sat.precision`). None touches the
database: the driver records what a job returns.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import numpy as np
import torch

from archsim.sat import units
from archsim.sat.precision import prepared
from archsim.store.tensors import CorruptTensorFile, FileRecord, read_advset, write_advset


@dataclass(frozen=True)
class AttackJob:
    model: int
    name: str
    attack: dict
    seed: int
    batch_size: int
    run_dir: str
    output: str
    clean: np.ndarray | None
    metadata: dict
    precision: str = "fp32"


@dataclass(frozen=True)
class EvaluationJob:
    model: int  # the target
    name: str
    batch_size: int
    run_dir: str
    advsets: tuple[FileRecord, ...]  # one per source
    keep: np.ndarray
    precision: str = "fp32"


@dataclass(frozen=True)
class NoiseJob:
    model: int
    name: str
    noise: dict  # the noise control's attack config (attacks.noise_config)
    seed: int
    batch_size: int
    clean: np.ndarray | None
    precision: str = "fp32"


@dataclass(frozen=True)
class NoiseDone:
    clean: np.ndarray
    correct: np.ndarray
    ran_on: str


@dataclass(frozen=True)
class AttackDone:
    clean: np.ndarray
    file: FileRecord
    n_images: int
    ran_on: str


@dataclass(frozen=True)
class Outcome:
    """One evaluation of an evaluation job, as the store records it."""

    correct: np.ndarray
    ran_on: str


@dataclass(frozen=True)
class EvaluationDone:
    correct: list[np.ndarray | None]  # per adversarial set of the job; None where it was corrupt
    corrupt: list[CorruptTensorFile | None]  # per adversarial set: why it could not be read, or None
    ran_on: str

    def outcomes(self) -> list[Outcome | CorruptTensorFile]:
        """Per adversarial set: its Outcome, or the CorruptTensorFile that kept it from being read."""
        return [Outcome(c, self.ran_on) if e is None else e for c, e in zip(self.correct, self.corrupt)]


def run_job(job: AttackJob | EvaluationJob | NoiseJob, model, images: torch.Tensor, labels: torch.Tensor,
            device: str, channels_last: bool = False) -> AttackDone | EvaluationDone | NoiseDone:
    """Run `job` with `model` on `device`."""
    model = prepared(model.to(device), job.precision, channels_last)
    ran_on = f"{socket.gethostname()}:{os.getpid()} {device}"
    if isinstance(job, EvaluationJob):
        correct, corrupt = [], []
        for record in job.advsets:
            try:
                adv = read_advset(job.run_dir, record)
            except CorruptTensorFile as e:
                correct.append(None)
                corrupt.append(e)
                continue
            correct.append(units.evaluate(model, images, labels, adv, job.keep, batch_size=job.batch_size,
                                          device=device, name=job.name))
            corrupt.append(None)
        return EvaluationDone(correct, corrupt, ran_on)
    clean = job.clean
    if clean is None:
        clean = units.clean_pass(model, images, labels, batch_size=job.batch_size, device=device, name=job.name)
    if isinstance(job, NoiseJob):
        correct = units.noise(model, images, labels, clean, job.noise, seed=job.seed, batch_size=job.batch_size,
                              device=device, name=job.name)
        return NoiseDone(clean, correct, ran_on)
    adv = units.attack(model, images, labels, clean, job.attack, seed=job.seed, batch_size=job.batch_size,
                       device=device)
    return AttackDone(clean, write_advset(job.run_dir, job.output, adv, job.metadata), len(adv), ran_on)

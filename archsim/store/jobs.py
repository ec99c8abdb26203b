"""Running one claimed unit: the part of the work that an executor ships to a worker.

    run_job(job, model, images, labels, device) -> AttackDone | EvaluationDone | NoiseDone

A job carries everything the worker needs besides the model and the images
(small values: configs, paths, outcome vectors). An attack job runs the clean
pass (unless the store has it) and the attack, and writes the adversarial set
into the run directory (which must be reachable at the same path from every
worker); an evaluation job reads one (checksum verified) and classifies it; a
noise job (the control) runs the clean pass when needed and classifies the
model's clean-correct images under seeded random noise, writing no file.
None touches the database: the driver records what a job returns.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import numpy as np
import torch

from archsim.sat import units
from archsim.store.tensors import FileRecord, read_advset, write_advset


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


@dataclass(frozen=True)
class EvaluationJob:
    model: int
    name: str
    batch_size: int
    run_dir: str
    advset: FileRecord
    keep: np.ndarray


@dataclass(frozen=True)
class NoiseJob:
    model: int
    name: str
    noise: dict  # the noise control's attack config (attacks.noise_config)
    seed: int
    batch_size: int
    clean: np.ndarray | None


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
class EvaluationDone:
    correct: np.ndarray
    ran_on: str


def run_job(job: AttackJob | EvaluationJob | NoiseJob, model, images: torch.Tensor, labels: torch.Tensor,
            device: str) -> AttackDone | EvaluationDone | NoiseDone:
    """Run `job` with `model` on `device`."""
    model = model.to(device)
    ran_on = f"{socket.gethostname()}:{os.getpid()} {device}"
    if isinstance(job, EvaluationJob):
        adv = read_advset(job.run_dir, job.advset)
        correct = units.evaluate(model, images, labels, adv, job.keep, batch_size=job.batch_size, device=device,
                                 name=job.name)
        return EvaluationDone(correct, ran_on)
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

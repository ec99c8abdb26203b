"""Local processes for independent work on the CPU: training the models of a zoo, distilling students, SAT's units.

    cpu_workers(jobs, device) -> int      how many processes to run `jobs` independent jobs in
    process_pool(workers, initializer, initargs) -> ProcessPoolExecutor

Small models gain little from a second intra-op thread: on a 2-core CPU one epoch of the demo's ResNet-18
(width 16) takes 1.9 s on one thread and 1.8 s on two, while two single-threaded processes side by side each keep
their single-thread speed. So on the CPU, independent jobs run in `cpu_workers` processes with
cores // workers torch threads each (one thread each when there are at least as many jobs as cores).

cpu_workers is 1 (run in this process) on a GPU, for a single job, on one core, or when $ARCHSIM_WORKERS says 1;
$ARCHSIM_WORKERS=N caps the processes at N. A pool's processes are spawned (no fork of a process holding torch's
threads), ignore SIGINT (Ctrl-C reaches this process, which stops the pool: one line, no worker tracebacks), and
get `initargs` once, so that models and images are not pickled again for each job.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

import torch

from archsim.errors import ArchsimError

ENV = "ARCHSIM_WORKERS"


def cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_workers(jobs: int, device) -> int:
    """Processes for `jobs` independent jobs on `device`: min(jobs, cores, $ARCHSIM_WORKERS) on the CPU, else 1."""
    if torch.device(device).type != "cpu" or jobs <= 1:
        return 1
    cap = os.environ.get(ENV, "").strip()
    if cap and (not cap.isdigit() or int(cap) < 1):
        raise ArchsimError(f"${ENV} must be a whole number >= 1 (the most processes to use), got {cap!r}")
    return max(1, min(jobs, cores(), int(cap) if cap else jobs))


def process_pool(workers: int, initializer=None, initargs=()) -> ProcessPoolExecutor:
    """`workers` spawned processes, each with cores // workers torch threads, SIGINT ignored, then
    `initializer(*initargs)` run once in each."""
    threads = max(1, cores() // workers)
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start,
                               initargs=(threads, initializer, initargs))


def _start(threads: int, initializer, initargs) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    if initializer is not None:
        initializer(*initargs)

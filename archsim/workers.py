"""Local processes for independent work on the CPU: training the models of a zoo, distilling students, SAT's units.

    cpu_workers(jobs, device) -> int      how many processes to run `jobs` independent jobs in
    use_processes()                       the command line's switch: every core without $ARCHSIM_WORKERS
    process_pool(workers, initializer, initargs) -> ProcessPoolExecutor
    stop(pool)                            cancel what has not started and end the processes now (Ctrl-C, an error)

Small models gain little from a second intra-op thread (on the project's 2-core CPU one epoch of the demo's
ResNet-18 at width 16 takes 1.9 s on one thread and 1.8 s on two), somewhat more from a second process:
`benchmarks/train_pool.py` trains 16 of the demo's models for one epoch in 65.2 s one after the other (two
threads) and in 58.3 s in two single-threaded processes, 1.12x (1.16x for 8 models). So on the CPU, independent
jobs run in `cpu_workers` processes with cores // workers torch threads each.

cpu_workers is 1 (run in this process) on a GPU, for a single job, on one core, or when $ARCHSIM_WORKERS says 1;
$ARCHSIM_WORKERS=N caps the processes at N. Without $ARCHSIM_WORKERS, only the `archsim` command uses processes
(`archsim.cli.main` calls `use_processes`): a spawned process imports the caller's main module again, which runs
an unguarded script's top level a second time, so from Python the work runs in the calling process unless
$ARCHSIM_WORKERS is set (the script then needs the `if __name__ == "__main__":` guard multiprocessing asks for).

A pool's processes are spawned (no fork of a process holding torch's threads), ignore SIGINT (Ctrl-C reaches this
process, which stops the pool: one line, no worker tracebacks), and get `initargs` once, so that models and images
are not pickled again for each job.
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


_command_line = False  # True inside `archsim ...`, whose entry points a spawned process can import safely


def use_processes() -> None:
    """Let `cpu_workers` use every core without $ARCHSIM_WORKERS: for the command line (module docstring)."""
    global _command_line
    _command_line = True


def cpu_workers(jobs: int, device) -> int:
    """Processes for `jobs` independent jobs on `device`: min(jobs, cores, $ARCHSIM_WORKERS) on the CPU (without
    $ARCHSIM_WORKERS: every core under the command line, else 1); 1 on a GPU."""
    cap = os.environ.get(ENV, "").strip()
    if cap and (not cap.isdigit() or int(cap) < 1):
        raise ArchsimError(f"${ENV} must be a whole number >= 1 (the most processes to use), got {cap!r}")
    if torch.device(device).type != "cpu" or jobs <= 1 or not (cap or _command_line):
        return 1
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


def stop(pool: ProcessPoolExecutor) -> None:
    """Cancel the jobs not yet started and terminate the running ones: an interrupted or failed run does not wait
    for the other processes' jobs to finish."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # CPython's pool keeps them there
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()

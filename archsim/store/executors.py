"""Where jobs run: in this process, in local processes, or as Ray tasks.

An executor gets the models (by store model id), images and labels once, then

    handle = executor.submit(job)           # start a job (archsim.store.jobs)
    handle, result, error = executor.wait(handles)   # one finished job: its result or its exception
    executor.capacity                       # how many jobs to keep in flight
    executor.close()                        # cancel what still runs

`LocalExecutor` runs each job in this process when it is submitted, on the
run's device; its `Placement` keeps the models on the device while they all
fit, else only the current attacker and target, the rest in host memory.
`ProcessExecutor` runs the jobs in `workers` local processes on the CPU (`archsim.workers.process_pool`: one
process per core, each holding the models and images once), reading and writing adversarial sets under the run
directory as a Ray task does; `sat_in_store` uses it on the CPU when the machine has more than one core.
`RayExecutor` runs each job as a Ray task with `cpus_per_task` CPUs and `gpus_per_task` GPUs (on CUDA when that is above 0, else on the CPU);
models and images go to the workers once through Ray's object store (a unit's
`ran_on` names the Ray node it ran on), and
tasks read and write adversarial sets under the run directory, which must be
on a path every node sees. Ray is imported only here, only when asked for
(`pip install 'archsim[ray]'`).
"""

from __future__ import annotations

import dataclasses
import math
from concurrent.futures import FIRST_COMPLETED
from concurrent.futures import wait as wait_for

import torch

from archsim.errors import ArchsimError
from archsim.store.jobs import run_job
from archsim.workers import process_pool, stop


class LocalExecutor:
    capacity = 1

    def __init__(self, models: dict, images: torch.Tensor, labels: torch.Tensor, device: str, *,
                 channels_last: bool = False, resident: int | None = None):
        self._models, self._images, self._labels, self.device = models, images, labels, device
        self._channels_last = channels_last
        self._placement = Placement(models, device, resident)
        self._done: dict[int, tuple] = {}

    def submit(self, job) -> int:
        handle = len(self._done) + 1
        try:
            model = self._placement.place(job.model)
            self._done[handle] = (run_job(job, model, self._images, self._labels, self.device, self._channels_last),
                                  None)
        except Exception as e:  # handed to the scheduler, which decides what it means
            self._done[handle] = (None, e)
        return handle

    def wait(self, handles: list) -> tuple:
        handle = handles[0]
        return (handle, *self._done.pop(handle))

    def close(self) -> None:
        self._done.clear()


class ProcessExecutor:
    def __init__(self, models: dict, images: torch.Tensor, labels: torch.Tensor, workers: int, *,
                 channels_last: bool = False):
        self.capacity = workers
        self._pool = process_pool(workers, _hold, ({i: m.to("cpu") for i, m in models.items()}, images, labels,
                                                   channels_last))

    def submit(self, job):
        return self._pool.submit(_run_held, job)

    def wait(self, handles: list) -> tuple:
        done, _ = wait_for(handles, return_when=FIRST_COMPLETED)
        handle = next(h for h in handles if h in done)
        try:
            return handle, handle.result(), None
        except Exception as e:  # the job's own exception, or BrokenProcessPool when a worker died
            return handle, None, e

    def close(self) -> None:
        """Cancel the jobs not yet started and end the processes, running jobs too (after an error or Ctrl-C the
        scheduler gives their units back)."""
        stop(self._pool)


_held: tuple = ()  # in a ProcessExecutor's process: the models, images, labels and layout every job uses


def _hold(models, images, labels, channels_last) -> None:
    global _held
    _held = models, images, labels, channels_last


def _run_held(job):
    models, images, labels, channels_last = _held
    return run_job(job, models[job.model], images, labels, "cpu", channels_last)


class Placement:
    """Which models are on the device: the `resident` most recently used ones, the rest in host memory.

    `resident` None: every model when all their weights take at most half the device's free memory
    (always on the CPU), else 2 (the current attacker and target). A model used again stays where it is,
    so evaluating one target over many adversarial sets places it once."""

    def __init__(self, models: dict, device: str, resident: int | None = None):
        self._models, self._device = models, torch.device(device)
        self._order: list = []  # model ids on the device, least recently used first
        if resident is None:
            resident = len(models) if _all_fit(models.values(), self._device) else 2
        self.resident = max(1, resident)

    def place(self, model_id):
        """The model, on the device; the least recently used one goes back to host memory when too many are."""
        model = self._models[model_id]
        if model_id in self._order:
            self._order.remove(model_id)
        self._order.append(model_id)
        while len(self._order) > self.resident:
            self._models[self._order.pop(0)].to("cpu")
        return model.to(self._device)

    @property
    def on_device(self) -> list:
        return list(self._order)


def _all_fit(models, device: torch.device) -> bool:
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    weights = sum(t.numel() * t.element_size() for m in models for t in [*m.parameters(), *m.buffers()])
    return weights <= free / 2


class RayExecutor:
    def __init__(self, models: dict, images: torch.Tensor, labels: torch.Tensor, *, address: str | None = None,
                 cpus_per_task: float = 1, gpus_per_task: float = 0, channels_last: bool = False):
        if not cpus_per_task > 0 or not gpus_per_task >= 0:
            raise ArchsimError(f"--cpus-per-task must be > 0 and --gpus-per-task >= 0, "
                               f"got {cpus_per_task} and {gpus_per_task}")
        try:
            import ray
        except ImportError:
            raise ArchsimError("--executor ray needs Ray: pip install 'archsim[ray]'") from None
        self._ray, self._running = ray, set()
        self._started = not ray.is_initialized()
        if self._started:
            try:
                ray.init(address=address)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise ArchsimError(f"cannot start or reach a Ray cluster (address {address or 'local'}): {e}") from None
        try:
            self.capacity = _task_slots(ray.cluster_resources(), cpus_per_task, gpus_per_task)
        except ArchsimError:
            self.close()
            raise
        self.device = "cuda" if gpus_per_task > 0 else "cpu"
        self._channels_last = channels_last
        self._models = {i: ray.put(m.to("cpu")) for i, m in models.items()}
        self._images, self._labels = ray.put(images), ray.put(labels)
        # Ray retries a task whose worker died; an exception the task raises comes back to the scheduler
        self._task = ray.remote(_run_on_node).options(num_cpus=cpus_per_task, num_gpus=gpus_per_task)

    def submit(self, job):
        handle = self._task.remote(job, self._models[job.model], self._images, self._labels, self.device,
                                   self._channels_last)
        self._running.add(handle)
        return handle

    def wait(self, handles: list) -> tuple:
        ray = self._ray
        [handle], _ = ray.wait(handles, num_returns=1)
        self._running.discard(handle)
        try:
            return handle, ray.get(handle), None
        except ray.exceptions.RayTaskError as e:  # the task's own exception, as raised in the worker
            return handle, None, e.cause if e.cause is not None else e
        except ray.exceptions.RayError as e:  # a worker or node died
            return handle, None, e

    def close(self) -> None:
        """Cancel the tasks still running; shut Ray down if this executor started it."""
        for handle in self._running:
            self._ray.cancel(handle, force=True)
        if self._started:
            self._ray.shutdown()


def _run_on_node(job, model, images, labels, device, channels_last):
    """`run_job` in a Ray worker, its `ran_on` naming the Ray node too (`host:pid device node NODE_ID`)."""
    import ray

    result = run_job(job, model, images, labels, device, channels_last)
    return dataclasses.replace(result, ran_on=f"{result.ran_on} node {ray.get_runtime_context().get_node_id()}")


def _task_slots(resources: dict, cpus_per_task: float, gpus_per_task: float) -> int:
    """How many tasks the cluster runs at once."""
    slots = resources.get("CPU", 1) / cpus_per_task
    if gpus_per_task > 0:
        slots = min(slots, resources.get("GPU", 0) / gpus_per_task)
        if slots < 1:
            raise ArchsimError(f"the Ray cluster has {resources.get('GPU', 0):g} GPU(s); "
                               f"--gpus-per-task {gpus_per_task:g} fits no task")
    return max(1, math.floor(slots))

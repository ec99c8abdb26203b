"""The run store: cached, incremental, resumable SAT runs in one run directory.

    RUN_DIR/store.sqlite   entries, units, outcomes (archsim.store.db)
    RUN_DIR/tensors/adv/   adversarial sets, safetensors with a sha256 in the database

Everything is keyed by content (archsim.store.keys): asking again for what
exists computes nothing, and adding model N+1 to N costs 1 attack and 2N+1
evaluation units. Units are claimed atomically, so a run can be killed and
restarted, and several processes can share one store (archsim.store.runstore);
`run_plan` runs the missing units in this process, in local processes or on Ray (archsim.store.executors).
"""

from archsim.store.executors import LocalExecutor, ProcessExecutor, RayExecutor
from archsim.store.keys import attack_entry, dataset_entry, model_entry
from archsim.store.plan import Plan
from archsim.store.resume import RunReport, run_plan
from archsim.store.runstore import RunStore
from archsim.store.tensors import CorruptTensorFile

__all__ = ["CorruptTensorFile", "LocalExecutor", "Plan", "ProcessExecutor", "RayExecutor", "RunReport", "RunStore", "attack_entry",
           "dataset_entry", "model_entry", "run_plan"]

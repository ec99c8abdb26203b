"""archsim: similarity of image-classifier architectures by adversarial attack transferability (SAT).

The Python API mirrors the command line (`archsim.api`, docs/python-api.md):
`compare(models, images, labels, measures=[...])` returns every matrix with SAT's
intervals, rates, noise control, per-model effects and warnings (`Comparison`);
`recommend_ensemble(...)` and `rank_teachers(...)` return the decisions of
`archsim ensemble` and `archsim distill`. `sat_matrix(models, images, labels, ...)`
is the low-level SAT engine on callables, in memory.
"""

import importlib.metadata

from archsim.errors import ArchsimError
from archsim.sat.engine import sat_matrix
from archsim.sat.result import SATResult
from archsim.zoo.models import create_model, model_identity, weights_hash
from archsim.zoo.wrapper import PixelModel

__all__ = ["ArchsimError", "Comparison", "PixelModel", "SATResult", "compare", "create_model", "load_images",
           "model_identity", "rank_teachers", "recommend_ensemble", "sat_matrix", "weights_hash"]
__version__ = importlib.metadata.version("archsim")
_API = {"compare": "archsim.api", "recommend_ensemble": "archsim.api", "rank_teachers": "archsim.api",
        "load_images": "archsim.api", "Comparison": "archsim.comparison"}


def __getattr__(name: str):
    """The API functions, imported when first used: they reach the analysis package, whose modules import
    archsim's, so importing them here at once would be circular (and slow down `import archsim`)."""
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'archsim' has no attribute {name!r}")

"""archsim: similarity of image-classifier architectures by adversarial attack transferability (SAT).

The low-level entry point is `sat_matrix(models, images, labels, ...)`; the
command line (`archsim sat --config FILE --out DIR`) wires configs, data and
timm models to it.
"""

import importlib.metadata

from archsim.errors import ArchsimError
from archsim.sat.engine import sat_matrix
from archsim.sat.result import SATResult
from archsim.zoo.models import create_model, model_identity, weights_hash
from archsim.zoo.wrapper import PixelModel

__all__ = ["ArchsimError", "PixelModel", "SATResult", "create_model", "model_identity", "sat_matrix",
           "weights_hash"]
__version__ = importlib.metadata.version("archsim")

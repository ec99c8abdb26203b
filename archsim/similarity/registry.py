"""Every measure `archsim similarity --metric NAME` can compute, by name."""

from archsim.similarity.representation_metrics import MEASURES as REPRESENTATION_MEASURES
from archsim.similarity.weight_metrics import MEASURES as WEIGHT_MEASURES

MEASURES = {**REPRESENTATION_MEASURES, **WEIGHT_MEASURES}

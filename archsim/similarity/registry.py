"""Every measure `archsim similarity --metric NAME` can compute, by name, and the options each accepts."""

from archsim.similarity.representation_metrics import MEASURES as REPRESENTATION_MEASURES
from archsim.similarity.representation_metrics import OPTIONS as REPRESENTATION_OPTIONS
from archsim.similarity.weight_metrics import MEASURES as WEIGHT_MEASURES
from archsim.similarity.weight_metrics import OPTIONS as WEIGHT_OPTIONS

MEASURES = {**REPRESENTATION_MEASURES, **WEIGHT_MEASURES}
OPTIONS = {**REPRESENTATION_OPTIONS, **WEIGHT_OPTIONS}  # name -> {option: default}

DISTANCE_SETTINGS = {"grassmann": ("score", "distance"), "weights": ("score", "distance"),
                     "gradient": ("index", "euclidean")}  # the option values that make a measure a distance


def is_distance(metric: str, options: dict) -> bool:
    """Whether `metric` with `options` gives a distance (smaller = more similar) rather than a similarity."""
    key, value = DISTANCE_SETTINGS.get(metric, (None, None))
    return key is not None and options.get(key) == value

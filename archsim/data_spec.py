"""The `data` section of a config, checked once: which keys each source takes and what values they hold.

    check_spec(spec) -> spec     (ArchsimError naming the key or value otherwise)

The section:

    source:      imagefolder | mnist5k | digits | synthetic
    resolution:  canonical side R (224 for imagefolder, else 32)
    channels:    3 (default) or 1; grey sources are replicated to 3 channels
    subset:      {how: first|random|balanced, n: int, seed: int}  (default: all the rest): the
                 evaluation (test) images, drawn from the images outside `validation`
    validation:  {how, n, seed} like subset, drawn first from all the images: held out from
                 training for choices made on validation data (never the test images); changing
                 the test subset never changes them
    imagefolder: root (one sub-folder per class), class_map (JSON or text file),
                 crop_pct (0.875), interpolation ("bicubic"), skip_unreadable (false: a file
                 PIL cannot read is an error naming it; true: every file is decoded once
                 when the folder is described, and those that fail are left out, with a
                 warning that counts them)
    synthetic:   n (64), num_classes (10), seed (0)

Both the config (`archsim.config`, when it loads) and the image loader
(`archsim.zoo.data`, for a spec built in code) check a spec here, so this
module sits below both.
"""

from __future__ import annotations

from torchvision.transforms import InterpolationMode

from archsim.errors import ArchsimError
from archsim.options import Option, check_value

_COMMON_KEYS = ("source", "resolution", "channels", "subset", "validation")
_SOURCE_KEYS = {
    "imagefolder": ("root", "class_map", "crop_pct", "interpolation", "skip_unreadable"),
    "mnist5k": (),
    "digits": (),
    "synthetic": ("n", "num_classes", "seed"),
}
_SUBSET_KEYS = ("how", "n", "seed")
_VALUE_OPTIONS = {"resolution": Option(None, "int", minimum=1), "n": Option(None, "int", minimum=1),
                  "num_classes": Option(None, "int", minimum=1), "seed": Option(0, "int", minimum=0),
                  "channels": Option(3, "choice", choices=(1, 3)), "skip_unreadable": Option(False, "bool"),
                  "crop_pct": Option(0.875, "float", minimum=0, maximum=1, above=True),
                  "interpolation": Option("bicubic", "choice",
                                          choices=tuple(m.value for m in InterpolationMode))}


def check_spec(spec: dict) -> dict:
    """Check keys and values of a data spec (`archsim.options` for the values); return it unchanged."""
    if not isinstance(spec, dict):
        raise ArchsimError(f"data spec must be a mapping, got {type(spec).__name__}")
    source = spec.get("source")
    if source not in _SOURCE_KEYS:
        raise ArchsimError(f"unknown data source {source!r}; expected one of {', '.join(_SOURCE_KEYS)}")
    allowed = _COMMON_KEYS + _SOURCE_KEYS[source]
    for key in spec:
        if key not in allowed:
            raise ArchsimError(f"unknown key {key!r} in data spec for source {source!r}; "
                               f"allowed keys: {', '.join(allowed)}")
    for key, option in _VALUE_OPTIONS.items():
        if key in spec:
            check_value(spec[key], option, f"data.{key}")
    for section in ("subset", "validation"):
        subset = spec.get(section)
        if subset is None:
            continue
        if not isinstance(subset, dict) or "n" not in subset:
            raise ArchsimError(f"data {section} must be a mapping with at least 'n', got {subset!r}")
        for key in subset:
            if key not in _SUBSET_KEYS:
                raise ArchsimError(f"unknown key {key!r} in data {section}; allowed keys: {', '.join(_SUBSET_KEYS)}")
    return spec

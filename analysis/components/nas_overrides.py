"""The curated override table: what the module tree cannot show.

Only one fact is curated: whether an architecture family was found by a
neural architecture search (NAS). The derived base architecture then becomes
"NAS (CNN)" (derived CNN) or "NAS (TFM)" (derived Transformer or Hybrid); an
MLP-Mixer stays as derived. Families are matched on the timm architecture name
(the model name without its ".tag"). Each entry says where the search came from.
"""

from __future__ import annotations

import re

#: (pattern on the architecture name, why it counts as NAS)
NAS_FAMILIES: list[tuple[str, str]] = [
    (r"^(tf_|gc_)?efficientnet", "EfficientNet/-V2/-Lite/-EdgeTPU: MnasNet-style search (Tan & Le 2019, 2021)"),
    (r"^(tf_)?mixnet", "MixNet: MixConv search space with NAS (Tan & Le 2019)"),
    (r"^(tf_)?mnasnet|^semnasnet", "MnasNet: platform-aware NAS (Tan et al. 2019)"),
    (r"^(tf_)?mobilenetv3", "MobileNetV3: platform-aware NAS + NetAdapt (Howard et al. 2019)"),
    (r"^mobilenetv4", "MobileNetV4: searched with a refined NAS recipe (Qin et al. 2024)"),
    (r"^fbnet", "FBNet: differentiable NAS (Wu et al. 2019)"),
    (r"^spnasnet", "Single-Path NAS (Stamoulis et al. 2019)"),
    (r"^hardcorenas", "HardCoRe-NAS (Nayman et al. 2021)"),
    (r"^tinynet", "TinyNet: EfficientNet-B0 (NAS) shrunk by the Model Rubik's Cube rules (Han et al. 2020)"),
    (r"^p?nasnet", "NASNet / PNASNet (Zoph et al. 2018, Liu et al. 2018)"),
]


def nas_reason(model_name: str) -> str | None:
    """Why the architecture of `model_name` counts as NAS-designed, or None."""
    arch = model_name.split(".", 1)[0]
    return next((why for pat, why in NAS_FAMILIES if re.search(pat, arch)), None)


def apply_overrides(model_name: str, values: dict[str, str]) -> list[str]:
    """Apply the table to a row of derived `values` in place; return the columns it changed."""
    if nas_reason(model_name) is None:
        return []
    base = values["Base architecture"]
    new = {"CNN": "NAS (CNN)", "Transformer": "NAS (TFM)", "Hybrid": "NAS (TFM)"}.get(base, base)
    if new == base:
        return []
    values["Base architecture"] = new
    return ["Base architecture"]

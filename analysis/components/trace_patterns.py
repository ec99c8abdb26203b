"""Patterns and small facts the component rules (`analysis.components.rules`) read off a traced call.

Function-name sets (pools, reductions, products, norms, activations), the
label patterns of normalization and activation classes, the stem pattern of a
model, and predicates on single calls (channel gates, single-position pools).
"""

from __future__ import annotations

import re
from collections import Counter

from timm.layers.bottleneck_attn import BottleneckAttn
from timm.layers.halo_attn import HaloAttn
from timm.layers.lambda_layer import LambdaLayer
from torch import nn

from analysis.components.trace import BATCH, Call, Trace


class ComponentWarning(UserWarning):
    """A component value that the derivation rules do not know; reported as found."""


POOL_FUNCS = {"max_pool2d", "avg_pool2d", "max_pool2d_with_indices", "adaptive_max_pool2d", "adaptive_avg_pool2d"}
AVG_REDUCTIONS = {"mean", "adaptive_avg_pool2d", "adaptive_avg_pool1d", "avg_pool2d", "avg_pool1d", "sum"}
MAX_REDUCTIONS = {"amax", "max", "adaptive_max_pool2d", "adaptive_max_pool1d", "max_pool2d"}
INDEX_FUNCS = {"__getitem__", "select", "narrow"}
PRODUCT_FUNCS = {"matmul", "__matmul__", "__rmatmul__", "bmm", "baddbmm", "einsum"}
PASSIVE_FUNCS = {"view", "reshape", "transpose", "permute", "contiguous", "unsqueeze", "squeeze", "flatten",
                  "dropout", "to", "type_as", "float", "half", "__getitem__", "unflatten", "view_as", "clone"}
GATE_FUNCS = {"mul", "__mul__", "__rmul__", "__imul__", "add", "__add__", "__radd__", "__iadd__"}
EXPAND_FUNCS = {"expand", "expand_as", "broadcast_to"}
NORM_FUNCS = {"layer_norm": "LN", "batch_norm": "BN", "group_norm": "GN", "instance_norm": "IN", "rms_norm": "RMSNorm"}
ACT_FUNCS = {"relu", "relu6", "leaky_relu", "prelu", "rrelu", "gelu", "silu", "mish", "hardswish",
              "elu", "selu", "celu", "softplus"}
# (pattern on a lower-cased class or function name, label); the first match wins.
ACT_LABELS = [
    (r"hard_?swish", "HardSwish"), (r"leaky", "Leaky ReLU"), (r"prelu", "PReLU"), (r"relu", "ReLU"),
    (r"gelu", "GeLU"), (r"swish|silu", "SiLU"), (r"mish", "Mish"), (r"selu", "SELU"), (r"celu", "CELU"),
    (r"elu", "ELU"), (r"softplus", "Softplus"),
]
# (pattern on the class name of a leaf module with parameters, label)
NORM_LABELS = [
    (r"BatchNorm", "BN"), (r"LayerNorm", "LN"), (r"GroupNorm", "GN"), (r"^EvoNorm", "EvoNorm"),
    (r"^Affine$", "Affine transform"), (r"RmsNorm|RMSNorm|SimpleNorm", "RMSNorm"), (r"^GlobalResponseNorm", "GRN"),
    (r"^FilterResponseNorm", "FRN"),
]
POS_OR_POOL = re.compile(r"Pos|Pool")


def sa2d_kinds() -> dict[type, str]:
    return {BottleneckAttn: "BoT", HaloAttn: "Halo", LambdaLayer: "Lambda"}


def combine(items: list[str]) -> str:
    """Distinct items joined by " + ", most frequent first, ties in order of first appearance."""
    counts = Counter(items)
    first = {x: i for i, x in reversed(list(enumerate(items)))}
    return " + ".join(sorted(counts, key=lambda x: (-counts[x], first[x])))


def has_params(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def is_leaf(module: nn.Module) -> bool:
    return next(module.children(), None) is None


def pools_single_position(name: str, c: Call) -> bool:
    """A global pool applied to a 1 x 1 map (a small input): it reduces nothing, but it is the final pool."""
    shape = tuple(c.in_shapes[0])
    return name in AVG_REDUCTIONS | MAX_REDUCTIONS and len(shape) == 4 and shape[-2:] == (1, 1)


def numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def call_names(c: Call) -> tuple[str, ...]:
    return c.stack + ((c.name,) if c.kind == "module" else ())


def stem_pattern(model: nn.Module) -> re.Pattern | None:
    matcher = model.group_matcher() if hasattr(model, "group_matcher") else None
    pattern = matcher.get("stem") if isinstance(matcher, dict) else None
    if isinstance(pattern, (list, tuple)):
        pattern = "|".join(p[0] if isinstance(p, tuple) else p for p in pattern)
    return re.compile(pattern) if pattern else None


def call_end(trace: Trace, call: Call) -> int:
    """Index of the last call made inside module call `call`."""
    end = call.index
    for c in trace.calls[call.index + 1:]:
        if call.name not in c.stack:
            break
        end = c.index
    return end


def is_channel_gate(x: tuple[int, ...], g: tuple[int, ...]) -> bool:
    """g is a per-sample tensor that keeps x's channel axis and is broadcast over all its positions.

    Channels-first (B, C, H, W) / (B, branches, C, H, W): g keeps leading axes and
    is 1 on all trailing (position) axes. Channels-last (B, H, W, C) / (B, N, C):
    g keeps only the last axis.
    """
    if len(x) != len(g) or len(x) < 3 or g[0] != BATCH or x[0] != BATCH:
        return False
    if any(gi not in (1, xi) for gi, xi in zip(g, x)):
        return False
    reduced = {i for i in range(1, len(x)) if g[i] == 1 and x[i] > 1}
    kept = {i for i in range(1, len(x)) if g[i] == x[i] > 1}
    if not reduced or not kept:
        return False
    channels_first = max(kept) < min(reduced) and reduced == set(range(min(reduced), len(x)))
    channels_last = kept == {len(x) - 1} and reduced == set(range(1, len(x) - 1))
    return channels_first or channels_last


def norm_label(m: nn.Module) -> str | None:
    """Normalization type of a module; '?Class' for an unknown leaf '...Norm...' layer; None otherwise."""
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return "BN"
    if isinstance(m, nn.LayerNorm):
        return "LN"
    if isinstance(m, nn.GroupNorm):
        return "GN"
    if isinstance(m, nn.modules.instancenorm._InstanceNorm):
        return "IN"
    cls = type(m).__name__
    if not is_leaf(m) or not has_params(m):
        return None
    for pattern, label in NORM_LABELS:
        if re.search(pattern, cls):
            return label
    return "?" + cls if "Norm" in cls else None


def act_label(name: str) -> str | None:
    low = name.lower()
    return next((label for pat, label in ACT_LABELS if re.search(pat, low)), None)

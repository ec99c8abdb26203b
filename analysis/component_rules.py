"""The rules of `analysis.components`, applied to one traced forward pass.

`TraceFacts(trace, notes)` indexes the trace once (who produced and who
consumed each tensor, where the stem ends, which multiplications are
channel-attention gates) and answers one question per component column. The
rules themselves are stated in the `analysis.components` docstring.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass

from torch import nn

from analysis.model_trace import BATCH, Call, Trace, base_name


class ComponentWarning(UserWarning):
    """A component value that the derivation rules do not know; reported as found."""


_POOL_FUNCS = {"max_pool2d", "avg_pool2d", "max_pool2d_with_indices", "adaptive_max_pool2d", "adaptive_avg_pool2d"}
_AVG_REDUCTIONS = {"mean", "adaptive_avg_pool2d", "adaptive_avg_pool1d", "avg_pool2d", "avg_pool1d", "sum"}
_MAX_REDUCTIONS = {"amax", "max", "adaptive_max_pool2d", "adaptive_max_pool1d", "max_pool2d"}
_INDEX_FUNCS = {"__getitem__", "select", "narrow"}
_PRODUCT_FUNCS = {"matmul", "__matmul__", "__rmatmul__", "bmm", "baddbmm", "einsum"}
_PASSIVE_FUNCS = {"view", "reshape", "transpose", "permute", "contiguous", "unsqueeze", "squeeze", "flatten",
                  "dropout", "to", "type_as", "float", "half", "__getitem__", "unflatten", "view_as", "clone"}
_GATE_FUNCS = {"mul", "__mul__", "__rmul__", "__imul__", "add", "__add__", "__radd__", "__iadd__"}
_EXPAND_FUNCS = {"expand", "expand_as", "broadcast_to"}
_NORM_FUNCS = {"layer_norm": "LN", "batch_norm": "BN", "group_norm": "GN", "instance_norm": "IN", "rms_norm": "RMSNorm"}
_ACT_FUNCS = {"relu", "relu6", "leaky_relu", "prelu", "rrelu", "gelu", "silu", "mish", "hardswish",
              "elu", "selu", "celu", "softplus"}
# (pattern on a lower-cased class or function name, label); the first match wins.
_ACT_LABELS = [
    (r"hard_?swish", "HardSwish"), (r"leaky", "Leaky ReLU"), (r"prelu", "PReLU"), (r"relu", "ReLU"),
    (r"gelu", "GeLU"), (r"swish|silu", "SiLU"), (r"mish", "Mish"), (r"selu", "SELU"), (r"celu", "CELU"),
    (r"elu", "ELU"), (r"softplus", "Softplus"),
]
# (pattern on the class name of a leaf module with parameters, label)
_NORM_LABELS = [
    (r"BatchNorm", "BN"), (r"LayerNorm", "LN"), (r"GroupNorm", "GN"), (r"^EvoNorm", "EvoNorm"),
    (r"^Affine$", "Affine transform"), (r"RmsNorm|RMSNorm|SimpleNorm", "RMSNorm"), (r"^GlobalResponseNorm", "GRN"),
    (r"^FilterResponseNorm", "FRN"),
]
_POS_OR_POOL = re.compile(r"Pos|Pool")


def _sa2d_kinds() -> dict[type, str]:
    from timm.layers.bottleneck_attn import BottleneckAttn
    from timm.layers.halo_attn import HaloAttn
    from timm.layers.lambda_layer import LambdaLayer

    return {BottleneckAttn: "BoT", HaloAttn: "Halo", LambdaLayer: "Lambda"}


def combine(items: list[str]) -> str:
    """Distinct items joined by " + ", most frequent first, ties in order of first appearance."""
    counts = Counter(items)
    first = {x: i for i, x in reversed(list(enumerate(items)))}
    return " + ".join(sorted(counts, key=lambda x: (-counts[x], first[x])))


def _has_params(module: nn.Module) -> bool:
    return next(module.parameters(), None) is not None


def _is_leaf(module: nn.Module) -> bool:
    return next(module.children(), None) is None


def _pools_single_position(name: str, c: Call) -> bool:
    """A global pool applied to a 1 x 1 map (a small input): it reduces nothing, but it is the final pool."""
    shape = tuple(c.in_shapes[0])
    return name in _AVG_REDUCTIONS | _MAX_REDUCTIONS and len(shape) == 4 and shape[-2:] == (1, 1)


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _names(c: Call) -> tuple[str, ...]:
    return c.stack + ((c.name,) if c.kind == "module" else ())


def _stem_pattern(model: nn.Module) -> re.Pattern | None:
    matcher = model.group_matcher() if hasattr(model, "group_matcher") else None
    pattern = matcher.get("stem") if isinstance(matcher, dict) else None
    if isinstance(pattern, (list, tuple)):
        pattern = "|".join(p[0] if isinstance(p, tuple) else p for p in pattern)
    return re.compile(pattern) if pattern else None


@dataclass
class _Gate:
    owner: str  # innermost module with parameters that applies the gate
    call: Call  # the multiply/add
    gate_shape: tuple[int, ...]
    feature_shape: tuple[int, ...]
    path: list[Call]  # excitation path: calls from the global reduction to the gate


class TraceFacts:
    """Facts about one trace, computed once and shared by the column rules."""

    def __init__(self, trace: Trace, notes: list[str]):
        self.t = trace
        self.notes = notes
        self.mod = trace.modules
        self.producer: dict[int, Call] = {}
        self.consumers: dict[int, list[Call]] = {}
        for c in trace.calls:
            if c.kind == "function":
                for o in c.outputs:
                    if o not in c.inputs:
                        self.producer.setdefault(o, c)
                for i in c.inputs:
                    self.consumers.setdefault(i, []).append(c)
        self.convs = trace.module_calls(nn.Conv2d)
        self.stem, self.body_start = self._stem_region()
        self.gates = self._channel_gates()
        self.excitation = {c.index for g in self.gates for c in g.path}
        self.excitation_outputs = {o for g in self.gates for c in g.path for o in c.outputs}

    def warn(self, msg: str) -> None:
        self.notes.append(msg)
        warnings.warn(msg, ComponentWarning, stacklevel=4)

    # ---- stem ---------------------------------------------------------------------------------
    def _stem_region(self) -> tuple[list[Call], int]:
        model = self.t.model
        root = _stem_pattern(model)
        if root is None:
            first = model.feature_info[0]["module"]
            body = next((c.index for c in self.t.calls if c.within(first)), len(self.t.calls))

            def in_root_stem(c: Call) -> bool:
                return c.index < body
        else:
            def in_root_stem(c: Call) -> bool:
                return any(root.match(n) for n in _names(c) if n)

        nested = {name: rx for name, m in self.mod.items()
                  if name and hasattr(m, "group_matcher") and (rx := _stem_pattern(m)) is not None}

        def in_stem(c: Call) -> bool:
            if not in_root_stem(c):
                return False
            for prefix, rx in nested.items():
                if c.within(prefix):
                    inner = [n[len(prefix) + 1:] for n in _names(c) if n.startswith(prefix + ".")]
                    if not any(rx.match(n) for n in inner):
                        return False
            return True

        stem = []
        for c in self.t.calls:
            if c.kind == "module" and c.name:
                m = self.mod[c.name]
                if _is_leaf(m) and _has_params(m) and not in_stem(c):
                    return stem, c.index
            if in_stem(c):
                stem.append(c)
        return stem, len(self.t.calls)

    def stem_layer(self) -> str:
        root = self.t.calls[0]
        from_image = {c.index for c in self.t.descendants(root.index, set(root.inputs))}
        convs = [c for c in self.stem if c.kind == "module" and isinstance(self.mod[c.name], nn.Conv2d)
                 and c.index in from_image]
        if not convs:
            self.warn("no convolution on the image in the stem")
            return "none"
        text = ""
        for prev, c in zip([None] + convs[:-1], convs):
            if prev is not None:
                fed = self.t.descendants(prev.index, set(prev.outputs), c.index + 1)
                text += "/" if any(d.index == c.index for d in fed) else " + "
            k, s = self.mod[c.name].kernel_size, self.mod[c.name].stride
            text += (str(k[0]) if k[0] == k[1] else f"{k[0]}x{k[1]}") + (
                "" if max(s) == 1 else (f"s{s[0]}" if s[0] == s[1] else f"s{s[0]}x{s[1]}"))
        return text

    def stem_pooling(self) -> str:
        return "Yes" if any(c.kind == "function" and base_name(c.name) in _POOL_FUNCS for c in self.stem) else "No"

    # ---- resolution ---------------------------------------------------------------------------
    def body_reductions(self) -> list[int]:
        """Reductions (input size / feature size) of the body's `feature_info` entries.

        One entry per module (the first listed: a multi-branch model such as
        CrossViT lists each block once per branch); entries whose module runs in
        the stem region (judged by its first parameterised layer) are left out.
        """
        out, seen = [], set()
        for f in self.t.model.feature_info:
            if f["module"] in seen:
                continue
            seen.add(f["module"])
            inside = [c for c in self.t.calls if c.within(f["module"])]
            leaves = [c.index for c in inside if c.kind == "module" and _is_leaf(self.mod[c.name])
                      and _has_params(self.mod[c.name])]
            first = leaves[0] if leaves else (inside[0].index if inside else None)
            if first is None or first >= self.body_start:
                out.append(int(f["reduction"]))
        return out

    def hierarchical(self) -> str:
        return "Yes" if len(set(self.body_reductions())) > 1 else "No"

    def final_pooling(self) -> str:
        """The last reduction over positions before the classifier's first Linear/Conv2d (or the output)."""
        get = getattr(self.t.model, "get_classifier", None)
        head = get() if get else None
        if isinstance(head, (tuple, list)):
            head = head[0]
        names = [n for n, m in self.mod.items() if m is head and n]
        fc = next((c for c in self.t.calls if c.kind == "module" and any(c.within(n) for n in names)
                   and isinstance(self.mod[c.name], (nn.Linear, nn.Conv2d))), None)
        for c in reversed(self.t.calls[: fc.index if fc else len(self.t.calls)]):  # no classifier: before the output
            if c.kind != "function" or not c.in_shapes or not c.out_shapes:
                continue
            name = base_name(c.name)
            if name in _PRODUCT_FUNCS | {"scaled_dot_product_attention"}:
                if _numel(c.out_shapes[0]) < _numel(c.in_shapes[-1]):  # fewer queries than values
                    return "Attention pooling"
                continue
            if _numel(c.out_shapes[0]) >= _numel(c.in_shapes[0]) and not _pools_single_position(name, c):
                continue
            if name in _AVG_REDUCTIONS:
                return "GAP"
            if name in _INDEX_FUNCS:
                return "CLS token"
            if name in _MAX_REDUCTIONS:
                self.warn(f"final pooling is a max pool ({name})")
                return "GMP"
        self.warn("no pooling over positions found before the classifier or the output")
        return "unknown"

    # ---- normalization / activation -----------------------------------------------------------
    def _in_excitation(self, c: Call) -> bool:
        if c.kind == "function":
            return c.index in self.excitation
        return bool(self.excitation_outputs.intersection(c.outputs))

    def normalization(self) -> str:
        kinds, norm_modules = [], set()
        for c in self.t.module_calls():
            label = _norm_label(self.mod[c.name])
            if label:
                norm_modules.add(c.name)
                if not self._in_excitation(c):
                    kinds.append(label)
        for c in self.t.function_calls(*_NORM_FUNCS):
            if any(s in norm_modules or isinstance(self.mod[s], nn.Conv2d) for s in c.stack):
                continue  # already counted, or weight standardisation inside a convolution
            if not self._in_excitation(c):
                kinds.append(_NORM_FUNCS[base_name(c.name)])
        for label in sorted({k for k in kinds if k.startswith("?")}):
            self.warn(f"unknown normalization layer {label[1:]}")
        return combine([k.lstrip("?") for k in kinds]) if kinds else "Norm-free"

    def activation(self) -> str:
        kinds, act_modules = [], set()
        for c in self.t.module_calls():
            m = self.mod[c.name]
            label = _act_label(type(m).__name__) if _is_leaf(m) else None
            if label:
                act_modules.add(c.name)
                if not self._in_excitation(c):
                    kinds.append(label)
        for c in self.t.calls:
            if (c.kind == "function" and base_name(c.name) in _ACT_FUNCS and not act_modules.intersection(c.stack)
                    and not self._in_excitation(c)):
                kinds.append(_act_label(base_name(c.name)))
        if not kinds:
            self.warn("no activation function found")
            return "none"
        return combine(kinds)

    # ---- attention ----------------------------------------------------------------------------
    def _owner(self, c: Call) -> str:
        """Innermost enclosing module with parameters."""
        return next((name for name in reversed(c.stack) if _has_params(self.mod[name])), "")

    def attention(self) -> tuple[list[str], list[str]]:
        """(2D SA kinds, transformer attention modules), one entry per attention module."""
        kinds = _sa2d_kinds()
        owners = []
        for c in self.t.calls:
            if c.kind != "function" or c.index in self.excitation:
                continue
            name = base_name(c.name)
            if name == "scaled_dot_product_attention" or (name == "softmax" and self._feeds_product(c)):
                owners.append(self._owner(c))
        sa2d, token = [], []
        for owner in dict.fromkeys(owners):
            label = next((v for k, v in kinds.items() if isinstance(self.mod[owner], k)), None)
            if label:
                sa2d.append(label)
            else:
                token.append(owner)
        return sa2d, token

    def _feeds_product(self, call: Call) -> bool:
        """The call's output reaches a matrix product through reshapes/dropout only."""
        todo, seen = list(call.outputs), set()
        while todo:
            for c in self.consumers.get(todo.pop(), ()):
                if c.index in seen:
                    continue
                seen.add(c.index)
                name = base_name(c.name)
                if name in _PRODUCT_FUNCS:
                    return True
                if name in _PASSIVE_FUNCS:
                    todo.extend(c.outputs)
        return False

    def _channel_gates(self) -> list[_Gate]:
        """One gate per channel-attention module, in order of first use."""
        gates, owners = [], set()
        for c in self.t.calls:
            if c.kind != "function" or base_name(c.name) not in _GATE_FUNCS or len(c.inputs) != 2:
                continue
            if any(_norm_label(self.mod[s]) for s in c.stack):
                continue  # normalization arithmetic (FrozenBatchNorm, EvoNorm, ...)
            shapes = [self._source_shape(i, s) for i, s in zip(c.inputs, c.in_shapes)]
            j = next((j for j in (0, 1) if _is_channel_gate(shapes[1 - j], shapes[j])), None)
            if j is None:
                continue
            path = self._excitation_path(c.inputs[j])
            owner = self._owner(c)
            if path is not None and owner not in owners:
                owners.add(owner)
                gates.append(_Gate(owner, c, shapes[j], shapes[1 - j], path))
        return gates

    def _source_shape(self, tensor: int, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of `tensor` before any expand/expand_as/broadcast_to."""
        c = self.producer.get(tensor)
        while c is not None and base_name(c.name) in _EXPAND_FUNCS:
            shape = c.in_shapes[0]
            c = self.producer.get(c.inputs[0])
        return shape

    def _excitation_path(self, tensor: int) -> list[Call] | None:
        """Calls from a global reduction up to `tensor`, or None when no reduction feeds it."""
        path, todo, seen, reduced = [], [tensor], set(), False
        while todo:
            c = self.producer.get(todo.pop())
            if c is None or c.index in seen:
                continue
            seen.add(c.index)
            path.append(c)
            name = base_name(c.name)
            if (name in _AVG_REDUCTIONS | _MAX_REDUCTIONS | _PRODUCT_FUNCS
                    and _numel(c.out_shapes[0]) < _numel(c.in_shapes[0])):
                reduced = True
                if name in _PRODUCT_FUNCS:  # attention pooling: the attention map is part of the path
                    todo.extend(c.inputs[1:])
                continue
            todo.extend(c.inputs[:1] if name in _EXPAND_FUNCS else c.inputs)  # expand_as(x): not x
        return path if reduced else None

    def channel_attention(self) -> list[tuple[str, str]]:
        """(kind, location) of every channel-attention module, in order of first use."""
        return [(self._ca_kind(g), self._ca_location(g.owner)) for g in self.gates]

    def _ca_kind(self, g: _Gate) -> str:
        if sum(1 for i, s in enumerate(g.gate_shape) if i > 0 and s > 1) > 1:
            return "SK"
        names = {base_name(c.name) for c in g.path}
        positions = _numel(g.feature_shape[2:])
        if "conv1d" in names:
            return "ECA"
        if any(base_name(c.name) == "softmax" and c.in_shapes[0][-1] == positions for c in g.path):
            return "GCA"
        layers = sum(1 for c in g.path if base_name(c.name) in ("conv2d", "linear"))
        if layers in (1, 2):
            return "ESE" if layers == 1 else "SE"
        label = type(self.mod[g.owner]).__name__ if g.owner else "unknown"
        self.warn(f"unrecognised channel attention {label} ({layers} channel layers)")
        return label

    def _ca_location(self, owner: str) -> str:
        att = next(c for c in self.t.calls if c.kind == "module" and c.name == owner)
        block = next((anc for anc in reversed(att.stack) if any(
            c.kind == "module" and c.within(anc) and not c.within(owner)
            and isinstance(self.mod[c.name], (nn.Conv2d, nn.Linear)) for c in self.t.calls)), None)
        if block is None:
            return "End"
        block_call = next(c for c in reversed(self.t.calls[: att.index]) if c.kind == "module" and c.name == block)
        for d in self.t.descendants(_call_end(self.t, att), set(att.outputs), _call_end(self.t, block_call) + 1):
            if d.kind == "module" and isinstance(self.mod[d.name], (nn.Conv2d, nn.Linear)):
                return "Middle"
        return "End"

    # ---- architecture -------------------------------------------------------------------------
    def conv_blocks(self) -> bool:
        """A k > 1, stride-1 Conv2d runs in the body outside positional-encoding and pooling modules."""
        for c in self.convs:
            m = self.mod[c.name]
            if c.index < self.body_start or max(m.kernel_size) == 1 or max(m.stride) > 1:
                continue
            if not any(_POS_OR_POOL.search(type(self.mod[s]).__name__) for s in c.stack if s):
                return True
        return False

    def token_mixing_mlp(self) -> bool:
        """A Linear applied to a >= 3-D tensor whose last axis has as many entries as a feature map has positions."""
        h, w = self.t.input_shape[2:]
        positions = {(h // r) * (w // r) for r in self.body_reductions() if r}
        return any(self.mod[c.name].in_features in positions and len(c.in_shapes[0]) >= 3
                   for c in self.t.module_calls(nn.Linear) if c.index >= self.body_start)

    def dw_and_group(self) -> tuple[str, str]:
        dw = group = False
        for c in self.convs:
            m = self.mod[c.name]
            if m.groups > 1 and m.groups == m.in_channels and max(m.kernel_size) > 1:
                dw = True
            elif 1 < m.groups < m.in_channels:
                group = True
        return ("Yes" if dw else "No"), ("Yes" if group else "No")


def _call_end(trace: Trace, call: Call) -> int:
    """Index of the last call made inside module call `call`."""
    end = call.index
    for c in trace.calls[call.index + 1:]:
        if call.name not in c.stack:
            break
        end = c.index
    return end


def _is_channel_gate(x: tuple[int, ...], g: tuple[int, ...]) -> bool:
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


def _norm_label(m: nn.Module) -> str | None:
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
    if not _is_leaf(m) or not _has_params(m):
        return None
    for pattern, label in _NORM_LABELS:
        if re.search(pattern, cls):
            return label
    return "?" + cls if "Norm" in cls else None


def _act_label(name: str) -> str | None:
    low = name.lower()
    return next((label for pat, label in _ACT_LABELS if re.search(pat, low)), None)

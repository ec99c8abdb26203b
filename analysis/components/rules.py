"""The rules of `analysis.components.derive`, applied to one traced forward pass.

`TraceFacts(trace, notes)` indexes the trace once (who produced and who
consumed each tensor, where the stem ends, which multiplications are
channel-attention gates) and answers one question per component column. The
rules themselves are stated in the `analysis.components.derive` docstring.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from torch import nn

from analysis.components.trace import Call, Trace, base_name
from analysis.components.trace_patterns import (
    ACT_FUNCS,
    AVG_REDUCTIONS,
    EXPAND_FUNCS,
    GATE_FUNCS,
    INDEX_FUNCS,
    MAX_REDUCTIONS,
    NORM_FUNCS,
    PASSIVE_FUNCS,
    POOL_FUNCS,
    POS_OR_POOL,
    PRODUCT_FUNCS,
    ComponentWarning,
    act_label,
    call_end,
    call_names,
    combine,
    has_params,
    is_channel_gate,
    is_leaf,
    norm_label,
    numel,
    pools_single_position,
    sa2d_kinds,
    stem_pattern,
)


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
        root = stem_pattern(model)
        if root is None:
            first = model.feature_info[0]["module"]
            body = next((c.index for c in self.t.calls if c.within(first)), len(self.t.calls))

            def in_root_stem(c: Call) -> bool:
                return c.index < body
        else:
            def in_root_stem(c: Call) -> bool:
                return any(root.match(n) for n in call_names(c) if n)

        nested = {name: rx for name, m in self.mod.items()
                  if name and hasattr(m, "group_matcher") and (rx := stem_pattern(m)) is not None}

        def in_stem(c: Call) -> bool:
            if not in_root_stem(c):
                return False
            for prefix, rx in nested.items():
                if c.within(prefix):
                    inner = [n[len(prefix) + 1:] for n in call_names(c) if n.startswith(prefix + ".")]
                    if not any(rx.match(n) for n in inner):
                        return False
            return True

        stem = []
        for c in self.t.calls:
            if c.kind == "module" and c.name:
                m = self.mod[c.name]
                if is_leaf(m) and has_params(m) and not in_stem(c):
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
        return "Yes" if any(c.kind == "function" and base_name(c.name) in POOL_FUNCS for c in self.stem) else "No"

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
            leaves = [c.index for c in inside if c.kind == "module" and is_leaf(self.mod[c.name])
                      and has_params(self.mod[c.name])]
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
            if name in PRODUCT_FUNCS | {"scaled_dot_product_attention"}:
                if numel(c.out_shapes[0]) < numel(c.in_shapes[-1]):  # fewer queries than values
                    return "Attention pooling"
                continue
            if numel(c.out_shapes[0]) >= numel(c.in_shapes[0]) and not pools_single_position(name, c):
                continue
            if name in AVG_REDUCTIONS:
                return "GAP"
            if name in INDEX_FUNCS:
                return "CLS token"
            if name in MAX_REDUCTIONS:
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
            label = norm_label(self.mod[c.name])
            if label:
                norm_modules.add(c.name)
                if not self._in_excitation(c):
                    kinds.append(label)
        for c in self.t.function_calls(*NORM_FUNCS):
            if any(s in norm_modules or isinstance(self.mod[s], nn.Conv2d) for s in c.stack):
                continue  # already counted, or weight standardisation inside a convolution
            if not self._in_excitation(c):
                kinds.append(NORM_FUNCS[base_name(c.name)])
        for label in sorted({k for k in kinds if k.startswith("?")}):
            self.warn(f"unknown normalization layer {label[1:]}")
        return combine([k.lstrip("?") for k in kinds]) if kinds else "Norm-free"

    def activation(self) -> str:
        kinds, act_modules = [], set()
        for c in self.t.module_calls():
            m = self.mod[c.name]
            label = act_label(type(m).__name__) if is_leaf(m) else None
            if label:
                act_modules.add(c.name)
                if not self._in_excitation(c):
                    kinds.append(label)
        for c in self.t.calls:
            if (c.kind == "function" and base_name(c.name) in ACT_FUNCS and not act_modules.intersection(c.stack)
                    and not self._in_excitation(c)):
                kinds.append(act_label(base_name(c.name)))
        if not kinds:
            self.warn("no activation function found")
            return "none"
        return combine(kinds)

    # ---- attention ----------------------------------------------------------------------------
    def _owner(self, c: Call) -> str:
        """Innermost enclosing module with parameters."""
        return next((name for name in reversed(c.stack) if has_params(self.mod[name])), "")

    def attention(self) -> tuple[list[str], list[str]]:
        """(2D SA kinds, transformer attention modules), one entry per attention module."""
        kinds = sa2d_kinds()
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
                if name in PRODUCT_FUNCS:
                    return True
                if name in PASSIVE_FUNCS:
                    todo.extend(c.outputs)
        return False

    def _channel_gates(self) -> list[_Gate]:
        """One gate per channel-attention module, in order of first use."""
        gates, owners = [], set()
        for c in self.t.calls:
            if c.kind != "function" or base_name(c.name) not in GATE_FUNCS or len(c.inputs) != 2:
                continue
            if any(norm_label(self.mod[s]) for s in c.stack):
                continue  # normalization arithmetic (FrozenBatchNorm, EvoNorm, ...)
            shapes = [self._source_shape(i, s) for i, s in zip(c.inputs, c.in_shapes)]
            j = next((j for j in (0, 1) if is_channel_gate(shapes[1 - j], shapes[j])), None)
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
        while c is not None and base_name(c.name) in EXPAND_FUNCS:
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
            if (name in AVG_REDUCTIONS | MAX_REDUCTIONS | PRODUCT_FUNCS
                    and numel(c.out_shapes[0]) < numel(c.in_shapes[0])):
                reduced = True
                if name in PRODUCT_FUNCS:  # attention pooling: the attention map is part of the path
                    todo.extend(c.inputs[1:])
                continue
            todo.extend(c.inputs[:1] if name in EXPAND_FUNCS else c.inputs)  # expand_as(x): not x
        return path if reduced else None

    def channel_attention(self) -> list[tuple[str, str]]:
        """(kind, location) of every channel-attention module, in order of first use."""
        return [(self._ca_kind(g), self._ca_location(g.owner)) for g in self.gates]

    def _ca_kind(self, g: _Gate) -> str:
        if sum(1 for i, s in enumerate(g.gate_shape) if i > 0 and s > 1) > 1:
            return "SK"
        names = {base_name(c.name) for c in g.path}
        positions = numel(g.feature_shape[2:])
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
        for d in self.t.descendants(call_end(self.t, att), set(att.outputs), call_end(self.t, block_call) + 1):
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
            if not any(POS_OR_POOL.search(type(self.mod[s]).__name__) for s in c.stack if s):
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

"""Architectural components of a timm model, read off one traced forward pass.

`derive_components(name)` returns the SAT paper's table row (`COLUMNS`:
`Model name` and 13 components) for any timm model. Nothing is looked up by
model name except the curated override table in `analysis.components.nas_overrides` (what
code cannot show: that a design came from a NAS search). Everything else comes from the module tree and one meta-device
forward pass (`analysis.components.trace`), by these rules:

- Stem region: what timm's own `group_matcher()["stem"]` names (applied again
  inside a nested timm backbone, e.g. the ResNet of a hybrid ViT's patch
  embedding); without one, whatever runs before the first `feature_info`
  module. The body starts at the first parameterised leaf module outside it.
- Stem layer: the Conv2d layers of the stem region that process the image, as
  "k" or "ksS" (kernel k, stride S > 1; "kxl" for non-square), joined by "/"
  when stacked (one consumes the other's output) and " + " when parallel.
- Pooling (stem): a max/avg pooling runs in the stem region.
- Hierarchical structure: the body's `feature_info` entries come at more than
  one reduction (feature-map resolution changes after the stem; each module
  counted once, so parallel branches at two scales are not a hierarchy).
- Pooling (final): the last reduction over positions before the classifier's
  first Linear/Conv2d (before the output for a model built without one):
  mean/average pooling -> "GAP", taking a token by indexing -> "CLS token",
  attention with fewer queries than values (a learned-query pooling head)
  -> "Attention pooling".
- Normalization: executed normalization layers by type (BN, LN, GN, EvoNorm,
  Affine transform, RMSNorm (timm's SimpleNorm included), GRN, FRN, IN);
  "Norm-free" when there is none. Weight standardisation inside a
  convolution does not count.
- Activation: executed activation layers or functions by type (ReLU6 counts
  as ReLU). Gates (sigmoid, hard-sigmoid, softmax, tanh) are not activations.
- Normalization and activation skip the layers inside a channel-attention
  excitation path (an SE block's ReLU, a GC block's LayerNorm): those belong
  to the attention columns. Combinations list the most used type first
  ("ReLU + SiLU"); ties keep the order of first use.
- 2D SA: self-attention modules that replace a convolution in a CNN block:
  timm's BottleneckAttn (BoT), HaloAttn (Halo), LambdaLayer (Lambda).
  Any other self-attention (a fused scaled_dot_product_attention, or a softmax
  multiplied into a matrix product: attn @ v, softmax(k)^T v) is transformer
  attention.
- CW attention: a feature map multiplied (or added to) by a per-sample tensor
  that keeps the channel axis, is broadcast over all positions, and is
  computed from a global reduction of features. Its kind comes from the gate
  and the excitation path between reduction and gate: a gate with a branch
  axis (softmax over parallel branches) -> SK (SKNet, ResNeSt split
  attention); a Conv1d -> ECA; a softmax over positions (attention pooling)
  -> GCA; one channel layer -> ESE; two -> SE.
- Location of CW attention: "Middle" when, inside the block holding the
  attention module (its nearest ancestor with other conv/linear layers), a
  conv/linear layer consumes the attention's output; "End" otherwise; "~"
  without CW attention.
- DW conv: a Conv2d with k > 1 and groups == in_channels > 1. Group conv: a
  Conv2d with 1 < groups < in_channels.
- Base architecture: "Transformer" with transformer attention, "Hybrid" when
  convolutional blocks (k > 1, stride-1 Conv2d in the body, outside
  positional-encoding and pooling modules) run as well; "MLP-Mixer" when a
  Linear mixes along the token axis (in_features == positions of a body
  feature map); "CNN" otherwise. The override table turns a NAS family's CNN
  into "NAS (CNN)" and its Transformer/Hybrid into "NAS (TFM)".

Values outside these rules (an unknown normalization class, an unrecognised
channel attention, no pooling found, ...) are reported as found (or as
"none"/"unknown"), with a `ComponentWarning`. A model that cannot be built or traced raises
`ComponentError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import timm.data
from torch import nn

from analysis.components.nas_overrides import apply_overrides
from analysis.components.rules import TraceFacts
from analysis.components.trace import Trace, build_meta_model, trace_model
from analysis.components.trace_patterns import ComponentWarning, combine

__all__ = ["COLUMNS", "ComponentError", "ComponentWarning", "Components", "derive_components", "derive_from_trace"]

COLUMNS = [
    "Model name", "Base architecture", "Hierarchical structure", "Stem layer", "Input resolution",
    "Normalization", "Activation", "Pooling (stem)", "Pooling (final)", "2D SA", "CW attention",
    "Location of CW attention", "DW conv", "Group conv",
]


class ComponentError(RuntimeError):
    """The model could not be built or traced on the meta device."""


@dataclass
class Components:
    """One row of the components table, and what in it did not come from code."""
    name: str
    values: dict[str, str]
    overridden: list[str] = field(default_factory=list)  # columns set by the override table
    notes: list[str] = field(default_factory=list)  # warnings raised while deriving


def derive_from_trace(trace: Trace, notes: list[str]) -> dict[str, str]:
    """The 13 derived component columns (all but `Model name`) of one traced model."""
    a = TraceFacts(trace, notes)
    sa2d, token_attn = a.attention()
    if token_attn:
        base = "Hybrid" if a.conv_blocks() else "Transformer"
    elif a.token_mixing_mlp():
        base = "MLP-Mixer"
    else:
        base = "CNN"
    ca = a.channel_attention()
    dw, group = a.dw_and_group()
    h, w = trace.input_shape[2:]
    return {
        "Base architecture": base,
        "Hierarchical structure": a.hierarchical(),
        "Stem layer": a.stem_layer(),
        "Input resolution": f"{h} x {w}",
        "Normalization": a.normalization(),
        "Activation": a.activation(),
        "Pooling (stem)": a.stem_pooling(),
        "Pooling (final)": a.final_pooling(),
        "2D SA": f"Yes ({combine(sa2d)})" if sa2d else "No",
        "CW attention": f"Yes ({combine([k for k, _ in ca])})" if ca else "No",
        "Location of CW attention": combine([loc for _, loc in ca]) if ca else "~",
        "DW conv": dw,
        "Group conv": group,
    }


def _native_size(model: nn.Module, size: int | tuple[int, ...] | list[int] | None) -> tuple[int, int]:
    """(H, W) the model runs at: `size` when given (an int or a sequence ending in H, W), else timm's data config."""
    if size is None:

        size = timm.data.resolve_data_config({}, model=model)["input_size"]
    if isinstance(size, int):
        return size, size
    h, w = (int(s) for s in tuple(size)[-2:])
    return h, w


def derive_components(name: str, label: str | None = None, *, input_size: int | tuple[int, ...] | None = None,
                      **kwargs) -> Components:
    """Derive the components of timm model `name` (optionally "arch.tag").

    The model is built with `pretrained=False` on the meta device (extra
    `kwargs` go to `archsim.create_model`) and traced at its native size: the
    `input_size` given (an int or (..., H, W)), else an `img_size` keyword,
    else timm's data config, as `archsim.zoo.wrapper.PixelModel` does. `label`
    becomes `Model name`.
    """
    try:
        model = build_meta_model(name, **kwargs)
    except Exception as e:  # timm raises RuntimeError/KeyError/TypeError/... for bad names or kwargs
        raise ComponentError(f"cannot build timm model {name!r}: {type(e).__name__}: {e}") from e
    size = _native_size(model, input_size if input_size is not None else kwargs.get("img_size"))
    try:
        trace = trace_model(model, (3, *size))
    except Exception as e:  # any failure of a foreign forward pass on meta tensors
        raise ComponentError(f"cannot trace {name!r} on the meta device: {type(e).__name__}: {e}") from e
    notes: list[str] = []
    values = {"Model name": label or name, **derive_from_trace(trace, notes)}
    overridden = apply_overrides(name, values)
    return Components(name=name, values=values, overridden=overridden, notes=notes)

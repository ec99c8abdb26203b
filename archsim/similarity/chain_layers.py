"""A network as a chain of weight layers, with BatchNorm folded in.

`trace_chain(model, example)` runs one forward pass with hooks on the leaf
modules and accepts exactly the networks chain normalization can handle: weight
layers (Conv2d with groups=1, Linear), each optionally followed directly by a
BatchNorm, joined by ReLU-family activations (positively homogeneous:
f(c x) = c f(x) for c > 0), channel-wise pooling, flatten, dropout and identity.
Every other leaf module is refused by name. Unit counts must line up: a conv
takes the previous layer's channels, a linear layer takes them times a spatial
fan (flatten is channel-major, so unit c owns input columns c*fan ... (c+1)*fan - 1).
A residual network fails this check at its first projection shortcut (the
shortcut conv reads the block's input, not the previous layer's output); a
network whose structure hides in functional code (identity shortcuts, attention)
is caught later, when the normalised weights do not reproduce its outputs
(`chain_norm.normalized_chain`).

`fold(links)` folds each BatchNorm (eval statistics) into its layer:

    s = gamma / sqrt(var + eps),   W' = s * W (per output unit),   b' = s * (b - mean) + beta

`load_chain(links, layers)` writes (W, b) pairs back into the modules; a
BatchNorm that was folded becomes the identity (or carries the bias when its
layer has none).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from archsim.errors import ArchsimError

WEIGHT_LAYERS = (nn.Conv2d, nn.Linear)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
PASS_THROUGH = (nn.ReLU, nn.LeakyReLU, nn.Identity, nn.Dropout, nn.Dropout2d, nn.Flatten, nn.MaxPool2d,
                nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)
RESIDUAL_HINT = ("not a sequential chain (residual adds, concatenations or branches tie unit scales and orders "
                 "across layers, so chain normalization does not apply; use it for plain MLP/CNN chains)")


@dataclass
class ChainLink:
    """One weight layer; `fan` = input columns per unit of the previous layer (1 except after a flatten)."""

    name: str
    layer: nn.Conv2d | nn.Linear
    norm: nn.Module | None = None
    fan: int = 1

    @property
    def units(self) -> int:
        return self.layer.out_channels if isinstance(self.layer, nn.Conv2d) else self.layer.out_features


def trace_chain(model: nn.Module, example: torch.Tensor) -> list[ChainLink]:
    """The weight layers of `model` in forward order; ArchsimError when the model is not such a chain."""
    calls = _leaf_calls(model, example)
    links: list[ChainLink] = []
    previous = None
    for name, module in calls:
        if isinstance(module, WEIGHT_LAYERS):
            links.append(_link(name, module, links[-1] if links else None))
        elif isinstance(module, NORMS):
            if not isinstance(previous, WEIGHT_LAYERS) or module.num_features != links[-1].units:
                raise ArchsimError(f"BatchNorm {name!r} does not directly follow a conv/linear layer of its width")
            if module.running_mean is None:
                raise ArchsimError(f"BatchNorm {name!r} keeps no running statistics, so it cannot be folded")
            links[-1].norm = module
        elif not isinstance(module, PASS_THROUGH):
            raise ArchsimError(f"layer {name!r} ({type(module).__name__}) is not supported: chain normalization "
                               "needs conv/linear layers (+BatchNorm) joined by ReLU-family activations and pooling")
        previous = module
    if len(links) < 2:
        raise ArchsimError(f"chain normalization needs at least two weight layers, found {len(links)}")
    return links


def _leaf_calls(model: nn.Module, example: torch.Tensor) -> list[tuple[str, nn.Module]]:
    calls, hooks = [], []
    for name, module in model.named_modules():
        if not any(True for _ in module.children()):
            hooks.append(module.register_forward_hook(lambda m, i, o, name=name: calls.append((name, m))))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    seen = set()
    for name, module in calls:
        if name in seen:
            raise ArchsimError(f"layer {name!r} runs more than once in a forward pass: {RESIDUAL_HINT}")
        seen.add(name)
    return calls


def _link(name: str, layer: nn.Module, previous: ChainLink | None) -> ChainLink:
    if isinstance(layer, nn.Conv2d) and layer.groups != 1:
        raise ArchsimError(f"conv {name!r} is grouped (groups={layer.groups}); chain normalization needs groups=1")
    if previous is None:
        return ChainLink(name, layer)
    takes = layer.in_channels if isinstance(layer, nn.Conv2d) else layer.in_features
    gives = previous.units
    fan_in_ok = takes == gives or (isinstance(layer, nn.Linear) and isinstance(previous.layer, nn.Conv2d)
                                   and takes % gives == 0)
    if not fan_in_ok:
        raise ArchsimError(f"layer {name!r} takes {takes} inputs but the layer before it, {previous.name!r}, "
                           f"gives {gives} units: {RESIDUAL_HINT}")
    return ChainLink(name, layer, fan=takes // gives)


def fold(links: list[ChainLink]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W, b) per link as float64, BatchNorm folded in."""
    out = []
    for link in links:
        W = link.layer.weight.detach().to("cpu", torch.float64).numpy().copy()
        b = (link.layer.bias.detach().to("cpu", torch.float64).numpy().copy() if link.layer.bias is not None
             else np.zeros(W.shape[0]))
        if link.norm is not None:
            n = link.norm
            gamma = n.weight.detach().double().cpu().numpy() if n.weight is not None else 1.0
            beta = n.bias.detach().double().cpu().numpy() if n.bias is not None else 0.0
            s = gamma / np.sqrt(n.running_var.detach().double().cpu().numpy() + n.eps)
            W = W * s.reshape(-1, *([1] * (W.ndim - 1)))
            b = s * (b - n.running_mean.detach().double().cpu().numpy()) + beta
        out.append((W, b))
    return out


@torch.no_grad()
def load_chain(links: list[ChainLink], layers: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Write (W, b) into the links' modules in place; folded BatchNorms become identities (or carry the bias)."""
    for link, (W, b) in zip(links, layers):
        weight = link.layer.weight
        weight.copy_(torch.as_tensor(W, dtype=weight.dtype))
        bias = torch.as_tensor(b, dtype=weight.dtype)
        if link.layer.bias is not None:
            link.layer.bias.copy_(bias)
            bias = torch.zeros_like(bias)
        if link.norm is not None:
            _set_identity(link.norm, bias)
        elif bias.abs().max() > 0:
            raise ArchsimError(f"layer {link.name!r} has no bias to hold the normalised one")


def _set_identity(norm: nn.Module, bias: torch.Tensor) -> None:
    """BatchNorm in eval computing x + bias: mean 0, var 1 - eps, gamma 1, beta = bias."""
    norm.running_mean.zero_()
    norm.running_var.fill_(1.0 - norm.eps)
    if norm.affine:
        norm.weight.fill_(1.0)
        norm.bias.copy_(bias)
    elif bias.abs().max() > 0:
        raise ArchsimError("a BatchNorm without affine parameters cannot carry the bias of a layer that has none")

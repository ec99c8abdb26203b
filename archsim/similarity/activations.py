"""Activations of a model's layers on [0, 1] images, streamed in minibatches, and gradients at a layer.

A layer is a module name of the model (`model.model.named_modules()`, e.g.
"layer2.1", "blocks.3", "stages.2") or "pre_logits", the features the
classifier reads: timm's `forward_head(forward_features(x), pre_logits=True)`
for a timm model, and for any other `nn.Module` the input of its last linear
layer (the last `nn.Linear` it registers, `last_linear`). Module outputs are caught with forward hooks (a module that
runs twice in one forward gives its last output) and flattened to
(batch, features). Images go through the wrapper's own resize and
normalisation (`PixelModel.preprocess`), so the activations are those of the
same pixel-space images SAT attacks. Batches come from `batch_slices`
(balanced: no tiny last batch).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from archsim.errors import ArchsimError
from archsim.similarity.inputs import batch_slices
from archsim.zoo.wrapper import PixelModel

PRE_LOGITS = "pre_logits"


def default_layers(model: PixelModel) -> list[str]:
    """timm's feature stages (`feature_info`, the outputs `forward_intermediates` reports), then pre_logits."""
    info = getattr(model.model, "feature_info", None) or []
    modules = dict(model.model.named_modules())
    stages = [d["module"] for d in info if isinstance(d, dict) and d.get("module") in modules]
    return list(dict.fromkeys(stages)) + [PRE_LOGITS]


def check_layers(model: PixelModel, layers: Sequence[str], label: str = "the model") -> list[str]:
    """`layers` as a list, each a module name of the model or pre_logits; ArchsimError naming close names."""
    modules = {name for name, _ in model.model.named_modules() if name}
    if not layers:
        raise ArchsimError(f"no layers named for {label}")
    for layer in layers:
        if layer != PRE_LOGITS and layer not in modules:
            close = difflib.get_close_matches(str(layer), sorted(modules | {PRE_LOGITS}), n=5)
            raise ArchsimError(f"{label} has no layer {layer!r}" + (f"; close names: {', '.join(close)}" if close else
                                                                     "; layers are module names or pre_logits"))
    if PRE_LOGITS in layers and not hasattr(model.model, "forward_head"):
        last_linear(model.model, label)
    return list(layers)


def last_linear(net: nn.Module, label: str = "the model") -> str:
    """The name of the last nn.Linear that `net` registers: its classifier, whose input is pre_logits for a module
    that is not a timm model; ArchsimError when it has none."""
    names = [name for name, m in net.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ArchsimError(f"{label} has no linear layer whose input would be pre_logits; name a layer by module")
    return names[-1]


def layer_features(model: PixelModel, images: torch.Tensor, layers: Sequence[str],
                   batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
    """For each minibatch, {layer: (batch, features) activations} on the model's device."""
    layers = check_layers(model, layers)
    net, device = model.model, model.mean.device
    modules = [name for name in layers if name != PRE_LOGITS]
    for s in batch_slices(len(images), batch_size):
        with _caught_outputs(net, modules) as caught, torch.no_grad():  # never left open across a yield
            x = model.preprocess(images[s].to(device))
            if hasattr(net, "forward_head"):
                feats = net.forward_features(x)
                if PRE_LOGITS in layers:
                    caught[PRE_LOGITS] = net.forward_head(feats, pre_logits=True)
                if any(name not in caught for name in modules):
                    net.forward_head(feats)
            elif PRE_LOGITS in layers:
                with _caught_input(net, last_linear(net), caught):
                    net(x)
            else:
                net(x)
        missing = [name for name in layers if name not in caught]
        if missing:
            raise ArchsimError(f"layer {missing[0]!r} did not run in the model's forward")
        yield {name: caught[name].flatten(1) for name in layers}


def layer_gradients(model: PixelModel, images: torch.Tensor, layer: str, batch_size: int,
                    beta: float = 0.5) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """For each minibatch, (f, g): the layer's activations and d/dh of `tempered_objective(logits, beta)`, flattened."""
    check_layers(model, [layer])
    net, device = model.model, model.mean.device
    for s in batch_slices(len(images), batch_size):
        x = model.preprocess(images[s].to(device))
        with torch.enable_grad():
            if layer == PRE_LOGITS and not hasattr(net, "forward_head"):
                with _tracked_input(net, last_linear(net)) as tracked:
                    logits = net(x)
                h = tracked["h"]
            elif layer == PRE_LOGITS:
                with torch.no_grad():
                    feats = net.forward_features(x)
                    h = net.forward_head(feats, pre_logits=True)
                    expected = net.forward_head(feats)
                h.requires_grad_(True)
                logits = _classifier(net)(h)
                if not torch.allclose(logits.detach(), expected, rtol=1e-4, atol=1e-5):
                    raise ArchsimError("this model's logits are not its classifier applied to pre_logits; "
                                       "name a module layer for gradients instead")
            else:
                with _tracked_output(net, layer) as tracked:
                    logits = net(x)
                h = tracked["h"]
            (g,) = torch.autograd.grad(tempered_objective(logits, beta), h, allow_unused=True)
        if g is None:
            raise ArchsimError(f"the logits do not depend on layer {layer!r}")
        yield h.detach().flatten(1), g.flatten(1)


def tempered_objective(logits: torch.Tensor, beta: float = 0.5) -> torch.Tensor:
    """sum over examples and classes of q_c log p_c, p = softmax(logits), q = p^beta / sum p^beta held constant.

    No labels needed. Its gradient with respect to the logits is q - p, so beta = 1 would make every gradient 0.
    """
    log_p = torch.log_softmax(logits.float(), dim=1)
    q = torch.softmax(beta * log_p, dim=1).detach()
    return (q * log_p).sum()


def _classifier(net: nn.Module):
    """pre_logits -> logits: get_classifier(), or the mean of its modules when it is a tuple (LeViT's
    (head, head_dist), averaged at inference). The caller checks the result against the model's logits."""
    head = net.get_classifier() if hasattr(net, "get_classifier") else None
    heads = head if isinstance(head, tuple) else (head,)
    if not all(isinstance(h, nn.Module) and not isinstance(h, nn.Identity) for h in heads):
        raise ArchsimError("gradients at pre_logits need a model whose get_classifier() is its classifier module "
                           "(num_classes > 0); name a module layer instead")
    if len(heads) == 1:
        return heads[0]
    return lambda h: sum(m(h) for m in heads) / len(heads)


@contextmanager
def _caught_outputs(net: nn.Module, names: Sequence[str]):
    """A dict filled by forward hooks with the output of each named module."""
    caught: dict[str, torch.Tensor] = {}

    def catch(name):
        def hook(module, inputs, output):
            caught[name] = _tensor(output, name).detach()
        return hook

    handles = [net.get_submodule(name).register_forward_hook(catch(name)) for name in names]
    try:
        yield caught
    finally:
        for h in handles:
            h.remove()


@contextmanager
def _caught_input(net: nn.Module, name: str, caught: dict):
    """caught[PRE_LOGITS] filled by a forward pre-hook with the (first) input of the named module."""
    def hook(module, inputs):
        caught[PRE_LOGITS] = _tensor(inputs[0], name).detach()

    handle = net.get_submodule(name).register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def _tracked_input(net: nn.Module, name: str):
    """Replace the module's input by a clone of a leaf that requires grad; the leaf lands in the dict as "h"."""
    tracked: dict[str, torch.Tensor] = {}

    def hook(module, inputs):
        tracked["h"] = _tensor(inputs[0], name).detach().requires_grad_(True)
        return (tracked["h"].clone(), *inputs[1:])

    handle = net.get_submodule(name).register_forward_pre_hook(hook)
    try:
        yield tracked
    finally:
        handle.remove()


@contextmanager
def _tracked_output(net: nn.Module, name: str):
    """Replace the module's output by a clone of a leaf that requires grad; the leaf lands in the dict as "h".

    The clone, not the leaf, flows on, so in-place operations after the layer stay legal.
    """
    tracked: dict[str, torch.Tensor] = {}

    def hook(module, inputs, output):
        tracked["h"] = _tensor(output, name).detach().requires_grad_(True)
        return tracked["h"].clone()

    handle = net.get_submodule(name).register_forward_hook(hook)
    try:
        yield tracked
    finally:
        handle.remove()


def _tensor(output, name: str) -> torch.Tensor:
    if not isinstance(output, torch.Tensor):
        raise ArchsimError(f"layer {name!r} returns {type(output).__name__}, not a tensor; pick another module")
    return output

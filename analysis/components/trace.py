"""Record one forward pass of a timm model on the meta device.

`trace_model(name)` builds the model with `pretrained=False` under
`torch.device("meta")` (no weights are read or allocated) and runs one forward
pass on a meta batch at the model's pretrained input size. While it runs, a
`TorchFunctionMode` and global module hooks record, in execution order:

- every module call (`Call.kind == "module"`), with its qualified name and class;
- every torch function / tensor method call (`Call.kind == "function"`) that
  returns a tensor, with the module stack it ran under.

Each call keeps the ids of the tensors it consumed and produced, and their
shapes, so later passes can follow data flow (which call consumed what) without
touching weights. Tensors are kept alive for the life of the trace, so ids are
never reused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode

from archsim.zoo.models import create_model

#: batch size of the traced forward pass; 2 so that a batch dimension is never
#: mistaken for a broadcast (size-1) dimension.
BATCH = 2

# Tensor metadata accessors: called constantly, never part of the computation.
_IGNORED = {"__get__", "size", "dim", "numel", "stride", "is_contiguous", "data_ptr", "__len__",
            "__format__", "__repr__", "is_floating_point", "element_size", "__bool__", "tolist", "item"}


@dataclass
class Call:
    """One module call or one function call of the traced forward pass."""
    index: int
    kind: str  # "module" or "function"
    name: str  # function name, or the module's qualified name
    cls: str  # module class name ("" for functions)
    stack: tuple[str, ...]  # qualified names of the enclosing module calls, outermost first
    inputs: tuple[int, ...]  # ids of the consumed tensors
    outputs: tuple[int, ...]  # ids of the produced tensors
    in_shapes: tuple[tuple[int, ...], ...]
    out_shapes: tuple[tuple[int, ...], ...]
    kwargs: dict = field(default_factory=dict)  # non-tensor arguments (functions only)
    args: tuple = ()  # positional non-tensor arguments (functions only)

    def within(self, prefix: str) -> bool:
        """True when the call ran inside module `prefix` or one of its submodules (or is one of them)."""
        names = self.stack + ((self.name,) if self.kind == "module" else ())
        return any(n == prefix or n.startswith(prefix + ".") for n in names)


@dataclass
class Trace:
    """The recorded forward pass plus the module tree it ran on."""
    model: torch.nn.Module
    input_shape: tuple[int, ...]
    calls: list[Call]
    modules: dict[str, torch.nn.Module]  # qualified name -> module

    def module_calls(self, types=None) -> list[Call]:
        """Module calls, optionally only of modules that are instances of `types`."""
        return [c for c in self.calls
                if c.kind == "module" and (types is None or isinstance(self.modules[c.name], types))]

    def function_calls(self, *names: str) -> list[Call]:
        """Function calls whose (in-place suffix stripped) name is one of `names`."""
        return [c for c in self.calls if c.kind == "function" and base_name(c.name) in names]

    def descendants(self, start: int, roots: set[int], stop: int | None = None) -> list[Call]:
        """Calls after index `start` (up to `stop`) that consume `roots` or anything computed from them."""
        live = set(roots)
        found = []
        for c in self.calls[start + 1 : stop]:
            if live.intersection(c.inputs):
                found.append(c)
                live.update(c.outputs)
        return found


def base_name(func_name: str) -> str:
    """`relu_` -> `relu`; dunder names are left as they are."""
    if func_name.endswith("_") and not func_name.endswith("__"):
        return func_name[:-1]
    return func_name


def _tensors(obj, out: list):
    if isinstance(obj, torch.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _tensors(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _tensors(o, out)
    return out


def _plain(obj):
    """Keep small non-tensor arguments (dims, sizes, flags); drop everything else."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)) and all(isinstance(o, (bool, int, float, type(None))) for o in obj):
        return tuple(obj)
    if isinstance(obj, slice):
        return ("slice", obj.start, obj.stop, obj.step)
    if isinstance(obj, tuple):
        return tuple(_plain(o) for o in obj)
    return type(obj).__name__


class _Recorder(TorchFunctionMode):
    def __init__(self, names: dict[int, str]):
        super().__init__()
        self.names = names
        self.stack: list[str] = []
        self.calls: list[Call] = []
        self.keep: list[torch.Tensor] = []  # keeps every seen tensor alive: ids stay unique
        self.pending: dict[int, list[int]] = {}

    def _add(self, **kw) -> Call:
        call = Call(index=len(self.calls), **kw)
        self.calls.append(call)
        return call

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        name = getattr(func, "__name__", str(func))
        outs = _tensors(result, [])
        if name in _IGNORED or not outs:
            return result
        ins = _tensors(args, []) + _tensors(kwargs, [])
        self.keep.extend(ins + outs)
        self._add(kind="function", name=name, cls="", stack=tuple(self.stack),
                  inputs=tuple(id(t) for t in ins), outputs=tuple(id(t) for t in outs),
                  in_shapes=tuple(tuple(t.shape) for t in ins), out_shapes=tuple(tuple(t.shape) for t in outs),
                  args=tuple(_plain(a) for a in args if not isinstance(a, torch.Tensor)),
                  kwargs={k: _plain(v) for k, v in kwargs.items() if not isinstance(v, torch.Tensor)})
        return result

    def pre_hook(self, module, args):
        name = self.names.get(id(module))
        if name is None:
            return
        ins = _tensors(args, [])
        self.keep.extend(ins)
        call = self._add(kind="module", name=name, cls=type(module).__name__, stack=tuple(self.stack),
                         inputs=tuple(id(t) for t in ins), outputs=(),
                         in_shapes=tuple(tuple(t.shape) for t in ins), out_shapes=())
        self.pending.setdefault(id(module), []).append(call.index)
        self.stack.append(name)

    def post_hook(self, module, args, output):
        name = self.names.get(id(module))
        if name is None:
            return
        call = self.calls[self.pending[id(module)].pop()]
        outs = _tensors(output, [])
        self.keep.extend(outs)
        call.outputs = tuple(id(t) for t in outs)
        call.out_shapes = tuple(tuple(t.shape) for t in outs)
        self.stack.pop()


def build_meta_model(name: str, **kwargs) -> torch.nn.Module:
    """`archsim.create_model(name, **kwargs)` (timm, no weights) on the meta device, in eval mode.

    archsim's factory lets kwargs override architecture arguments a timm entry point fixes.
    """
    with torch.device("meta"):
        return create_model(name, **kwargs)


def trace_model(model: torch.nn.Module, input_size: tuple[int, int, int]) -> Trace:
    """Run `model` once on a meta batch of shape (BATCH, *input_size) and record every call."""
    names = {id(m): n for n, m in model.named_modules()}
    rec = _Recorder(names)
    x = torch.empty((BATCH, *input_size), device="meta")
    pre = torch.nn.modules.module.register_module_forward_pre_hook(rec.pre_hook)
    post = torch.nn.modules.module.register_module_forward_hook(rec.post_hook)
    try:
        with torch.no_grad(), rec:
            model(x)
    finally:
        pre.remove()
        post.remove()
    return Trace(model=model, input_shape=tuple(x.shape), calls=rec.calls,
                 modules={n: m for n, m in model.named_modules()})

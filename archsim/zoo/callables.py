"""The user's own architectures, named `package.module:callable`.

    is_callable_name(name) -> bool            "pkg.mod:fn" (a dotted module path, a colon, a dotted attribute)
    build_callable(name, **kwargs) -> nn.Module

The callable is imported (`importlib.import_module` on the module part, then the
attribute path), called with the model's kwargs and must return an
`nn.Module` that maps images to logits. Each failure is one `ArchsimError` line:
a module that cannot be imported (with Python's reason), a missing attribute, an
object that is not callable, a call that raises, a result that is not an
`nn.Module`. The module is imported from `sys.path` as it is (the current folder
is on it for `python -m archsim.cli`, and for the `archsim` script only when
PYTHONPATH says so).
"""

from __future__ import annotations

import importlib
import re

from torch import nn

from archsim.errors import ArchsimError, one_line

_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def is_callable_name(name: str) -> bool:
    """Whether `name` has the form package.module:callable."""
    return bool(_PATTERN.match(name))


def build_callable(name: str, **kwargs) -> nn.Module:
    """Import `package.module:callable`, call it with `kwargs`; the nn.Module it returns."""
    if not is_callable_name(name):
        raise ArchsimError(f"{name!r} is not of the form package.module:callable")
    module_name, attribute = name.split(":")
    try:
        obj = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - ImportError, or whatever the module raises while it is imported
        raise ArchsimError(f"cannot import {module_name!r} for model {name!r} ({type(e).__name__}: "
                           f"{one_line(e)[:200]})") from None
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise ArchsimError(f"model {name!r}: {module_name!r} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ArchsimError(f"model {name!r}: {attribute!r} is a {type(obj).__name__}, not a callable")
    try:
        model = obj(**kwargs)
    except Exception as e:  # noqa: BLE001 - the user's code may raise anything
        raise ArchsimError(f"model {name!r}: calling it raised {type(e).__name__}: {one_line(e)[:200]}") from None
    if not isinstance(model, nn.Module):
        raise ArchsimError(f"model {name!r} returned a {type(model).__name__}, not an nn.Module")
    return model

"""The precision and memory layout attacks and evaluations run in.

    prepared(model, precision="fp32", channels_last=False) -> a model with the same contract

- `precision` bf16 or fp16: each forward pass runs under `torch.autocast` on
  the input's device in that dtype (convolutions and matmuls in low precision,
  reductions and normalisations in float32 as autocast's op lists say), and the
  logits come back as float32. The loss, its gradient with respect to the input
  (a float32 tensor: the gradient flows back through autocast's casts) and the
  argmax of an evaluation are therefore all computed from float32 logits, and
  the adversarial images stay float32. fp32 runs the model as it is.
- `channels_last`: the model's parameters (an `nn.Module`'s) are converted to
  channels-last layout (in place, as `Module.to` does) and each input batch is made
  channels-last; the arithmetic is the same, only the summation order of the
  kernels may differ.

The precision is part of the run store's attack key (`archsim.store.keys`), so
results of different precisions never mix; the layout is not.
"""

from __future__ import annotations

import torch
from torch import nn

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Prepared(nn.Module):
    """`model` run under autocast in `dtype` (None: as it is), its input in channels-last layout or not."""

    def __init__(self, model: nn.Module, dtype: torch.dtype | None, channels_last: bool):
        super().__init__()
        self.model, self.dtype, self.channels_last = model, dtype, channels_last

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.dtype is None:
            return self.model(x)
        with torch.autocast(x.device.type, dtype=self.dtype):
            logits = self.model(x)
        return logits.float()


def prepared(model: nn.Module, precision: str = "fp32", channels_last: bool = False) -> nn.Module:
    """`model` for attacks and evaluations in `precision` and layout (module docstring)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32" and not channels_last:
        return model
    if channels_last and isinstance(model, nn.Module):
        model = model.to(memory_format=torch.channels_last)
    return Prepared(model, _DTYPES.get(precision), channels_last)

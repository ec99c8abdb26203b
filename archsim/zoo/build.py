"""From a run config to wrapped models and evaluation images.

`build_run(cfg)` loads the validation images (`data.validation`, drawn first, when given), the
evaluation (test) subset (`data.subset`, drawn from the rest; `split_indices`) and
creates every model: pretrained or from a checkpoint as the config says,
otherwise trained here when the config (or the model) has a `train` section.
Training uses only the images outside both, and trained weights are cached as safetensors
under `cache_dir/weights`, named by a hash of everything that determines them (model
spec without its label, training settings, data spec and the training image ids), so a
rerun loads instead of training, a renamed label finds its weights, and a damaged
file is trained again (`archsim.zoo.weights_cache`). The models to train are trained side by side on the CPU,
one process per core (`archsim.zoo.train_pool`). A cache folder archsim cannot write stops
the run, with one line, before the first model is trained; a disk that fills while the weights
are written is an OSError naming the file.

Every model is created and checked before any training: one forward pass on
two of the evaluation images must give logits with an output per class of the
data (`check_model`), so a model that cannot take the input size, or has too
few classes, stops the run with one line naming it.
`build_run(cfg, train=False)` trains nothing: a model with no cached weights
keeps its initialisation and is named in `Run.untrained` (`archsim sat --dry-run`
counts it as still to train).
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field

import torch

from archsim.config import ModelSpec, RunConfig
from archsim.errors import ArchsimError, one_line
from archsim.files import check_writable
from archsim.settings import TrainSettings
from archsim.zoo.data import Catalog, ImageSet, describe, select_indices
from archsim.zoo.models import create_model
from archsim.zoo.train_pool import TrainJob, train_and_cache
from archsim.zoo.weights_cache import cache_path, load_cached
from archsim.zoo.wrapper import PixelModel


@dataclass
class Run:
    models: dict[str, PixelModel]
    images: ImageSet  # the evaluation (test) images
    validation: ImageSet | None = None
    train_seconds: dict[str, float] = field(default_factory=dict)  # models trained by this call
    training: ImageSet | None = None  # the training images, when a model of the config is trained here
    # values derived from the models and images, computed once per run and shared by the measures
    # (archsim.similarity.run_outputs): {key: value}, the key naming everything the value depends on
    memo: dict = field(default_factory=dict, repr=False, compare=False)
    untrained: list[str] = field(default_factory=list)  # with train=False: models whose weights are not cached
    _validation_view: Run | None = field(default=None, repr=False, compare=False)

    def on_validation(self) -> Run:
        """The same models with the validation images as their evaluation images: what every choice is
        computed on (`archsim.similarity.compute.decision_similarities`), so no choice sees a test image.
        One view per run, with its own memo; ArchsimError when the run has no validation images."""
        if self.validation is None:
            raise ArchsimError("choices are made on validation images, disjoint from the test images, and this run "
                               "has none: add `data.validation: {how: balanced, n: ..., seed: ...}` to the config")
        if self._validation_view is None:
            self._validation_view = Run(self.models, self.validation, None, training=self.training)
        return self._validation_view


def build_run(cfg: RunConfig, *, progress: bool = True, train: bool = True, place: bool = True) -> Run:
    """The evaluation images and the models of `cfg`, trained (or loaded from cache) when needed;
    with `train=False` only loaded from cache (see the module docstring). The models end on the config's
    device, or in host memory with `place=False` (a run store executor places them when it needs them)."""
    catalog = describe(cfg.data)
    val_idx, eval_idx = split_indices(catalog, cfg.data)
    images = catalog.load(eval_idx)
    validation = catalog.load(val_idx) if val_idx else None
    device = cfg.torch_device()
    to_train = {s.label for s in cfg.models if s.training is not None}
    random_init = [s.label for s in cfg.models if not s.has_weights and s.training is None]
    if random_init:
        warnings.warn(f"{len(random_init)} model(s) have no weights (no pretrained, checkpoint or train "
                      f"section) and keep their random initialisation: {', '.join(random_init)}", stacklevel=2)
    train_set = _training_images(catalog, eval_idx + val_idx, cfg.train, cfg.seed) if to_train else None
    shape = tuple(images.images.shape[1:])
    models = {spec.label: wrap(spec, shape) for spec in cfg.models}  # every model is created before any training
    n_classes = int(max(images.labels.max(), -1 if train_set is None else train_set.labels.max())) + 1
    for label, model in models.items():
        check_model(label, model, images.images[:2], n_classes)
    jobs, untrained = {}, []
    for spec in cfg.models:
        if spec.label in to_train and not _load_cached(models[spec.label], spec, cfg, train_set):
            if train:
                jobs[spec.label] = _train_job(models[spec.label], spec, cfg, train_set)
            else:
                untrained.append(spec.label)
    seconds = {}
    if jobs:  # trained side by side on the CPU (archsim.zoo.train_pool)
        _check_cache(cfg)
        seconds = dict(zip(jobs, train_and_cache(list(jobs.values()), train_set.images, train_set.labels,
                                                 device=device, progress=progress)))
    for model in models.values():
        model.to(device if place else "cpu")
    return Run(models, images, validation, seconds, train_set, untrained=untrained)


def wrap(spec: ModelSpec, image_shape=None) -> PixelModel:
    """Create the spec's model (initialised from its seed) inside a PixelModel for images of `image_shape` (C, H, W;
    what a model that is not timm's takes, `archsim.zoo.wrapper`)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        net = create_model(spec.name, pretrained=spec.pretrained, checkpoint=spec.checkpoint, **spec.kwargs)
    return PixelModel(net, input_size=spec.input_size, mean=spec.mean, std=spec.std,
                      interpolation=spec.interpolation, img_size=spec.kwargs.get("img_size"), image_shape=image_shape)


def check_model(label: str, model: PixelModel, x: torch.Tensor, n_classes: int) -> None:
    """One forward pass on `x` gives (len(x), >= n_classes) logits; else ArchsimError naming the model."""
    try:
        with torch.no_grad():
            logits = model(x)
    except Exception as e:  # noqa: BLE001 - whatever the architecture raises, the input does not fit it
        raise ArchsimError(f"model {label!r} cannot take {tuple(x.shape[1:])} images resized to its input size "
                           f"{model.input_size} ({type(e).__name__}: {one_line(e)[:200]})") from None
    if logits.ndim != 2:
        raise ArchsimError(f"model {label!r} gives outputs of shape {tuple(logits.shape)}, not one logit per class")
    if logits.shape[1] < n_classes:
        raise ArchsimError(f"model {label!r} has {logits.shape[1]} outputs, but the data has {n_classes} classes; "
                           "set its kwargs.num_classes")


def split_indices(catalog: Catalog, data: dict) -> tuple[list[int], list[int]]:
    """(validation, evaluation) image indices: the validation images are drawn first, from the whole source
    (`data.validation`; none when absent), then the evaluation (test) images from the rest (`data.subset`;
    all of the rest when absent). So changing the test subset, its seed or size, never changes the
    validation images on which every choice is made."""
    selection = data.get("validation")
    val_idx = [] if selection is None else select_indices(catalog.labels, **selection)
    held_out = set(val_idx)
    pool = [i for i in range(len(catalog)) if i not in held_out]
    subset = data.get("subset")
    if subset is None:
        return val_idx, pool
    return val_idx, [pool[i] for i in select_indices(catalog.labels[pool], **subset)]


def _training_images(catalog: Catalog, held_out_idx: list[int], settings: TrainSettings | None,
                     seed: int) -> ImageSet:
    held_out = set(held_out_idx)
    pool = [i for i in range(len(catalog)) if i not in held_out]
    cap = settings.max_images if settings is not None else None
    if cap is not None and cap < len(pool):
        picked = select_indices(catalog.labels[pool], how="random", n=int(cap), seed=seed)
        pool = [pool[i] for i in picked]
    return catalog.load(pool)


def _check_cache(cfg: RunConfig) -> None:
    """A weights cache archsim cannot write stops the run before any training, not after."""
    folder = cache_path(cfg.cache_dir, "weights", {}).parent
    try:
        check_writable(folder)
    except OSError as e:
        raise ArchsimError(f"weights cache {folder}: cannot write there ({e.strerror or e}); set cache_dir "
                           "(or $ARCHSIM_CACHE) to a folder archsim can write") from None


def _train_job(model: PixelModel, spec: ModelSpec, cfg: RunConfig, train_set: ImageSet) -> TrainJob:
    """Train `model` with its spec's settings on every training image, cached under its `weights_key`."""
    key = weights_key(spec, cfg, train_set)
    return TrainJob(model, spec.training.classifier_kwargs(spec.seed), cache_path(cfg.cache_dir, "weights", key), key,
                    f"model {spec.label!r}")


def weights_key(spec: ModelSpec, cfg: RunConfig, train_set: ImageSet) -> dict:
    """All that determines a trained model's weights: its spec (not its label), training settings, data, images."""
    return {"model": {k: v for k, v in vars(spec).items() if k not in ("label", "checkpoint", "train", "training")},
            "train": spec.training.as_dict(),
            "data": {k: v for k, v in cfg.data.items() if k not in ("subset", "validation")},
            "train_ids": hashlib.sha256("\n".join(train_set.ids).encode()).hexdigest()}


def _load_cached(model: PixelModel, spec: ModelSpec, cfg: RunConfig, train_set: ImageSet) -> bool:
    """Load the model's cached trained weights; False when there are none (or they are damaged)."""
    key = weights_key(spec, cfg, train_set)
    return load_cached(model.model, cache_path(cfg.cache_dir, "weights", key), key, f"model {spec.label!r}")

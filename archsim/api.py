"""The Python API: what `archsim sat`, `similarity`, `ensemble` and `distill` do, on models and images in memory.

    compare(models, images, labels, measures=["sat"]) -> Comparison      (`archsim.comparison`)
    recommend_ensemble(models, images, labels, validation=(images, labels), size=3) -> EnsembleRecommendation
    rank_teachers(models, images, labels, student="a", validation=(images, labels)) -> TeacherRecommendation
    load_images("digits", n=5, validation=5, resolution=16) -> (test ImageSet, validation ImageSet or None)

`models` is a mapping {label: model} or a list of models, each one of
- an `nn.Module` mapping images to logits: a timm model gets timm's resize and
  mean/std inside (as on the command line), any other module takes the images as
  they come (`archsim.zoo.wrapper`); an `archsim.PixelModel` is used as it is;
- a string as `--models` takes it: a timm name (pretrained weights), "NAME=CHECKPOINT",
  "package.module:callable" (`archsim.zoo.model_entries`);
- a (name, checkpoint) pair: a timm architecture (or a callable) with the checkpoint's weights.
In a list, a model's label is its name (the class name for a module, numbered when repeated).

`images` are (N, C, H, W) floats in [0, 1] and `labels` int64 class indices; `validation` is another
(images, labels) pair, the images every choice is made on (required by the two decisions). Features for the
representation measures are caught by forward hooks at `options={"cka": {"layer": ...}}` (a module name),
by default pre_logits: timm's pre-logit features, or the input of any other module's last linear layer
(`archsim.similarity.activations`). The runs go through the same code as the commands, with a run store in
`out` (kept: a second call reuses every attack) or a temporary folder, so the numbers are those of the CLI on
the same weights and images. The decisions are the commands' objects (`analysis.decisions.recommendation`).
Like `archsim.PixelModel`, the calls put a module in eval mode with its parameters' gradients off, and move it to
`device` (auto: cuda when available, as on the command line).
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from analysis.decisions.recommendation import EnsembleRecommendation, TeacherRecommendation
from analysis.decisions.stages import check_pool, distill_stage, ensemble_stage
from archsim.comparison import Comparison
from archsim.config import DEFAULT_ATTACK, ModelSpec, RunConfig, parse_config
from archsim.errors import ArchsimError
from archsim.pipeline.sat_in_store import sat_in_store
from archsim.sat.engine import check_inputs
from archsim.sat.formula import DEFAULT_EPS_S
from archsim.settings import DistillSettings, EnsembleSettings
from archsim.similarity.compute import compute_measure, decision_similarities
from archsim.similarity.registry import measure_names, measure_options
from archsim.zoo.assemble import data_section
from archsim.zoo.build import Run, split_indices, wrap
from archsim.zoo.data import ImageSet, describe
from archsim.zoo.model_entries import entry_for, parse_entry
from archsim.zoo.predictions import predict_run
from archsim.zoo.wrapper import PixelModel

SAT_MEASURES = ("sat", "sat-adjusted")


def compare(models, images: torch.Tensor, labels: torch.Tensor, measures=("sat",), *, options: dict | None = None,
            attack: dict | None = None, seed: int = 0, eps_s: float = DEFAULT_EPS_S, batch_size: int = 64,
            device: str = "auto", out=None, progress: bool = False) -> Comparison:
    """Every measure of `measures` between the models on the images, with SAT's intervals, rates and controls; each
    sanity warning (near-chance accuracy, a weak attack, a fragile row) is also raised as a UserWarning."""
    cfg, run_ = _session(models, images, labels, None, attack=attack, seed=seed, eps_s=eps_s,
                         batch_size=batch_size, device=device, options=options)
    names = measure_names(list(measures), "measures")
    checked = {m: measure_options(cfg, m) for m in names}
    with _folder(out) as folder:
        sat = None
        if any(m in SAT_MEASURES for m in names):
            sat, _ = sat_in_store(folder, cfg, run_, progress=progress)
        results = {m: compute_measure(m, checked[m], cfg, run_, folder, progress) for m in names if m != "sat"}
    matrices = {m: sat.sat if m == "sat" else results[m].values for m in names}
    notes = [n for m, r in results.items() for n in r.labelled_notes(m)]
    said = [] if sat is None else (sat.sanity_warnings(run_.images.num_classes)
                                   + sat.fragility_warnings(cfg.noise_warning))
    for line in said:  # shown as Python warnings too, and kept in `warnings`
        warnings.warn(line, stacklevel=2)
    return Comparison(list(run_.models), matrices, sat, results, said, notes)


def recommend_ensemble(models, images, labels, *, validation, size: int = 3, measures=("sat",), draws: int = 10,
                       options: dict | None = None, attack: dict | None = None, seed: int = 0,
                       batch_size: int = 64, device: str = "auto", out=None,
                       progress: bool = False) -> EnsembleRecommendation:
    """`archsim ensemble`'s decision: members chosen on the validation images, scored on `images` against the `size`
    most accurate models and the best single model (`study` and the files land in `out` when given)."""
    cfg, run_ = _session(models, images, labels, validation, attack=attack, seed=seed, batch_size=batch_size,
                         device=device, options=options)
    settings = EnsembleSettings.from_section({"size": size, "draws": draws, "measures": list(measures)}, "ensemble")
    names = measure_names(settings.measures, "measures")
    checked = {m: measure_options(cfg, m) for m in names}
    check_pool(cfg, settings.size)
    with _folder(out) as folder:
        sims, _ = decision_similarities(folder, cfg, run_, names, checked, progress=progress)
        study, _ = ensemble_stage(folder, cfg, run_, predict_run(cfg, run_, progress=progress), sims, checked,
                                  settings)
    return study.recommendation


def rank_teachers(models, images, labels, *, student: str, validation, teachers: list[str] | None = None,
                  measures=("sat",), options: dict | None = None, attack: dict | None = None, seed: int = 0,
                  batch_size: int = 64, device: str = "auto", out=None, progress: bool = False) -> TeacherRecommendation:
    """`archsim distill`'s decision without training: the teachers ranked by similarity to the student on the
    validation images, the first measure deciding (`archsim distill --train` checks a ranking by training)."""
    cfg, run_ = _session(models, images, labels, validation, attack=attack, seed=seed, batch_size=batch_size,
                         device=device, options=options)
    labels_ = list(run_.models)
    teachers = [m for m in labels_ if m != student] if teachers is None else list(teachers)
    settings = DistillSettings.from_section({"student": student, "teachers": teachers}, "distill")
    for label in [student, *teachers]:
        if label not in labels_:
            raise ArchsimError(f"no model labelled {label!r}; labels: {', '.join(labels_)}")
    names = measure_names(list(measures), "measures")
    checked = {m: measure_options(cfg, m) for m in names}
    with _folder(out) as folder:
        sims, _ = decision_similarities(folder, cfg, run_, names, checked, progress=progress)
        outcome = distill_stage(folder, cfg, run_, sims, checked, settings, train=False, progress=progress)
    return outcome.recommendation


def load_images(data: str, *, n: int | None = None, validation: int | None = None, resolution: int | None = None,
                channels: int = 3) -> tuple[ImageSet, ImageSet | None]:
    """The images `--data`, `--n`, `--validation` and `--resolution` name: (test, validation) image sets, `n` and
    `validation` images per class (balanced, seed 0; validation drawn first), `channels` 1 for grey models."""
    spec = {**data_section(data), "channels": channels}
    if resolution is not None:
        spec["resolution"] = resolution
    for key, count in (("subset", n), ("validation", validation)):
        if count is not None:
            spec[key] = {"how": "balanced", "n": count, "seed": 0}
    catalog = describe(spec)
    val_idx, test_idx = split_indices(catalog, spec)
    return catalog.load(test_idx), (catalog.load(val_idx) if val_idx else None)


def _session(models, images, labels, validation, *, attack, seed, batch_size, device, options,
             eps_s: float = DEFAULT_EPS_S) -> tuple[RunConfig, Run]:
    """The run config and run of models and images in memory; inputs checked as `sat_matrix` checks them."""
    check_inputs(["models"], images, labels, eps_s, batch_size)
    image_set = _image_set(images, labels, "test")
    val_set = None
    if validation is not None:
        if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
            raise ArchsimError("validation must be an (images, labels) pair")
        check_inputs(["models"], *validation, eps_s, batch_size)
        val_set = _image_set(*validation, "validation")
    specs, wrapped = _models(models, tuple(images.shape[1:]))
    # the config's checks (attack, seed, eps_s, batch size, labels) on a stand-in; then the real models and a data
    # section that only says where the images come from and whether there are validation images
    cfg = parse_config({"models": [{"name": "memory", "label": s.label} for s in specs],
                        "data": {"source": "synthetic"}, "seed": seed, "batch_size": batch_size, "eps_s": eps_s,
                        "device": device, "similarity": dict(options or {}),
                        "attack": dict(attack) if attack is not None else dict(DEFAULT_ATTACK)})
    cfg.models = specs
    cfg.data = {"source": "memory"} if val_set is None else {"source": "memory", "validation": {"n": len(val_set)}}
    run_ = Run({label: m.to(cfg.torch_device()) for label, m in wrapped.items()}, image_set, val_set)
    return cfg, run_


def _models(models, image_shape) -> tuple[list[ModelSpec], dict[str, PixelModel]]:
    """ModelSpecs (for the store's keys) and wrapped models, by label."""
    items = list(models.items()) if isinstance(models, Mapping) else [(None, m) for m in models]
    if not items:
        raise ArchsimError("no models given")
    specs, wrapped, seen = [], {}, {}
    for label, model in items:
        if isinstance(model, nn.Module):
            net = model.model if isinstance(model, PixelModel) else model
            name = getattr(net, "pretrained_cfg", {}).get("architecture") or type(net).__name__
            spec = ModelSpec(name=name, label=label or name)
            pixel = model if isinstance(model, PixelModel) else PixelModel(model, img_size=_built_size(model),
                                                                           image_shape=image_shape)
        else:
            raw = parse_entry(model) if isinstance(model, str) else _pair_entry(model)
            spec = parse_config({"models": [{**raw, "label": label or raw["label"]}],
                                 "data": {"source": "synthetic"}}).models[0]
            pixel = wrap(spec, image_shape)
        if label is None and spec.label in seen:
            seen[spec.label] += 1
            spec.label = f"{spec.label}-{seen[spec.label]}"
        seen.setdefault(spec.label, 1)
        if spec.label in wrapped:
            raise ArchsimError(f"two models are labelled {spec.label!r}; pass a mapping {{label: model}}")
        specs.append(spec)
        wrapped[spec.label] = pixel
    return specs, wrapped


def _pair_entry(model) -> dict:
    if not (isinstance(model, tuple) and len(model) == 2 and all(isinstance(x, (str, Path)) for x in model)):
        raise ArchsimError("a model is an nn.Module, a string or a (name, checkpoint) pair; "
                           f"got {type(model).__name__}")
    return entry_for(str(model[0]), model[1])


def _built_size(net: nn.Module):
    """The image size a timm ViT-like model was built for (its patch embedding's img_size), else None."""
    return getattr(getattr(net, "patch_embed", None), "img_size", None)


def _image_set(images: torch.Tensor, labels: torch.Tensor, split: str) -> ImageSet:
    n_classes = int(labels.max()) + 1
    return ImageSet(images.cpu(), labels.cpu(), [f"{split}/{i}" for i in range(len(labels))], n_classes,
                    [str(c) for c in range(n_classes)])


@contextmanager
def _folder(out):
    """`out` (created), or a temporary folder deleted afterwards."""
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        yield Path(out)
        return
    with tempfile.TemporaryDirectory(prefix="archsim-") as tmp:
        yield Path(tmp)

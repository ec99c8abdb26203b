"""The pools the scorecard's tests score, and every measure's matrix on them, cached by content.

    architectures(cfg) -> {label: the first label of its architecture}
    untrained_pool(cfg, run_) -> (cfg, run_, {copy: source}) with one untrained copy per architecture added
    half_run(run_, idx) -> the run restricted to the evaluation images idx
    sat_matrices(sat) -> {"sat": SAT, "sat-adjusted": its pair term}, from a SATResult
    pool_matrices(folder, cfg, run_, names, options, progress) -> ({name: (labels, values)}, notes)

An untrained copy is the architecture's first model created afresh from UNTRAINED_SEED with no weights
loaded and no training, labelled `<label>_untrained`; the user trains nothing extra. The matrices of
a pool are written to `folder/<measure>.csv` with the sidecar of `archsim.similarity.compute.cached_measure`
(its models' weights, its images, the options and seed), so a rerun reads them back; SAT on the untrained
pool goes through the run store like every SAT, adding only the copies' attacks and evaluations. A measure
that fails on a pool is left out with its reason, not fatal (`archsim.similarity.compute.cached_similarities`).
`sat_matrices` are similarities (larger = more similar); `pool_matrices` gives each measure's own values,
which `archsim.similarity.registry.oriented` turns into similarities.
"""

from __future__ import annotations

import dataclasses

from archsim.errors import ArchsimError
from archsim.pipeline.sat_in_store import sat_in_store
from archsim.sat.effects import TooFewModels
from archsim.similarity.compute import cached_similarities
from archsim.similarity.sat_measure import sat_adjusted
from archsim.zoo.build import Run, wrap
from archsim.zoo.models import split_model_name_tag

UNTRAINED_SEED = 10_000
SAT_MEASURES = ("sat", "sat-adjusted")  # read from the run store's per-image outcomes, never recomputed here


def architectures(cfg) -> dict[str, str]:
    """{label: the first label of its architecture}: models of one timm architecture (pretrained tag dropped) with
    the same kwargs and input processing share one, whatever their seed, weights file or training settings."""
    first, out = {}, {}
    for s in cfg.models:
        key = repr((split_model_name_tag(s.name)[0], sorted(s.kwargs.items()), s.input_size, s.mean, s.std,
                    s.interpolation))
        out[s.label] = first.setdefault(key, s.label)
    return out


def untrained_pool(cfg, run_: Run):
    """(config, run, {untrained label: the trained label it copies}) with one untrained copy per architecture."""
    labels, firsts = {s.label for s in cfg.models}, set(architectures(cfg).values())
    specs = []
    for spec in (s for s in cfg.models if s.label in firsts):
        label = f"{spec.label}_untrained"
        if label in labels:
            raise ArchsimError(f"model label {label!r} is taken; the scorecard names its untrained copies so")
        specs.append(dataclasses.replace(spec, label=label, name=split_model_name_tag(spec.name)[0],
                                         seed=UNTRAINED_SEED, pretrained=False, checkpoint=None, train=None,
                                         training=None))
    device = cfg.torch_device()
    models = {**run_.models, **{s.label: wrap(s).to(device) for s in specs}}
    # the copies see the same images, so the activations memoised for the trained models stay valid
    return (dataclasses.replace(cfg, models=[*cfg.models, *specs]),
            dataclasses.replace(run_, models=models, train_seconds={}, untrained=[], _validation_view=None),
            {s.label: s.label.removesuffix("_untrained") for s in specs})


def half_run(run_: Run, idx) -> Run:
    """The run on the evaluation images `idx` only, with its own memo of activations."""
    return dataclasses.replace(run_, images=run_.images.subset(list(idx)), memo={}, train_seconds={},
                               _validation_view=None)


def sat_matrices(sat) -> dict:
    """SAT and sat-adjusted of a SATResult as the registered measures give them (a censored pair at the least
    similar measured value; `archsim.similarity.sat_measure`); no sat-adjusted for a pool too small for
    per-model effects."""
    out = {"sat": sat.sat_for_analyses}
    try:
        out["sat-adjusted"] = sat_adjusted(sat)[0]
    except TooFewModels:
        pass
    return out


def untrained_sat(out, cfg, run_, progress: bool) -> dict:
    """SAT and sat-adjusted of the untrained pool, through the run store in `out`."""
    return sat_matrices(sat_in_store(out, cfg, run_, progress=progress)[0])


def pool_matrices(folder, cfg, run_: Run, names, options: dict, progress: bool) -> tuple[dict, list[str]]:
    """({measure: (labels, values)}, notes) of the measures `names` (SAT's excluded) on the pool of `run_`,
    cached in `folder`; a measure that fails is left out with a note ("name: skipped: why")."""
    return cached_similarities(folder, cfg, run_, [n for n in names if n not in SAT_MEASURES], options,
                               progress=progress)

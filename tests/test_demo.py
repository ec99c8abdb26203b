"""`archsim demo` end to end on a tiny zoo (digits at 16 px), and the HTML report builder."""

import base64
import csv
import dataclasses
import io
import json
import re
import shutil
from contextlib import redirect_stdout
from html.parser import HTMLParser

import numpy as np
import pytest
import yaml

from analysis.report.render import (
    PNG_SIGNATURE,
    SECTIONS,
    Figure,
    ReportData,
    Section,
    Table,
    render_report,
)
from archsim.cli import main

CONFIG = {
    "seed": 0, "device": "cpu", "batch_size": 100, "eps_s": 0.01,
    "data": {"source": "digits", "resolution": 16, "subset": {"how": "balanced", "n": 10, "seed": 0},
             "validation": {"how": "balanced", "n": 5, "seed": 0}},
    "train": {"epochs": 3, "lr": 0.003, "batch_size": 64},
    "attack": {"backend": "native", "norm": "Linf", "eps": 0.15, "alpha": 0.04, "steps": 3},
    "models": [
        {"name": "resnet18", "label": "resnet_a", "input_size": 16,
         "kwargs": {"num_classes": 10, "channels": [16, 32, 64, 128]}},
        {"name": "resnet18", "label": "resnet_b", "input_size": 16, "seed": 1,
         "kwargs": {"num_classes": 10, "channels": [16, 32, 64, 128]}},
        {"name": "vit_tiny_patch16_224", "label": "vit_micro", "seed": 2,
         "kwargs": {"num_classes": 10, "img_size": 16, "patch_size": 4, "embed_dim": 48, "depth": 2, "num_heads": 2}},
        {"name": "mixer_s16_224", "label": "mixer_micro", "seed": 3,
         "kwargs": {"num_classes": 10, "img_size": 16, "patch_size": 4, "embed_dim": 48, "num_blocks": 2}},
    ],
}
NAMES = [m["label"] for m in CONFIG["models"]]
APPLICATIONS = {"ensemble": {"size": 2, "draws": 5},
                "distill": {"student": "resnet_a", "teachers": NAMES[1:], "seeds": 3, "epochs": 1}}
FIGURE_FOLDERS = ("analysis", "ensembles", "distill", "predictions")


def demo(*argv) -> tuple[int, str]:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        status = main(["demo", *argv, "--no-progress"])
    return status, buffer.getvalue()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The demo run twice on the same folder: (config path, out dir, first output, second output)."""
    folder = tmp_path_factory.mktemp("demo")
    cfg = folder / "demo.yaml"
    cfg.write_text(yaml.safe_dump({**CONFIG, "cache_dir": str(folder / "cache"), **APPLICATIONS}))
    out = folder / "out"
    first_status, first = demo("--config", str(cfg), "--out", str(out))
    second_status, second = demo("--config", str(cfg), "--out", str(out))
    assert (first_status, second_status) == (0, 0)
    return cfg, out, first, second


class Parsed(HTMLParser):
    def __init__(self):
        super().__init__()
        self.headings, self.images, self.open_tags, self._in = [], [], [], None

    def handle_starttag(self, tag, attrs):
        self.open_tags.append(tag)
        if tag in ("h1", "h2"):
            self._in = tag
            self.headings.append("")
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in:
            self.headings[-1] += data


def parse(html: str) -> Parsed:
    p = Parsed()
    p.feed(html)
    p.close()
    return p


def assert_self_contained(html: str) -> None:
    for bad in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert bad not in html, bad


def test_demo_writes_a_complete_self_contained_report(runs):
    _, out, first, _ = runs
    report = out / "report.html"
    assert f"report: {report.resolve()}" in first
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert_self_contained(html)
    page = parse(html)
    for key in ("summary", "zoo", "sat", "maps", "pairs", "importance", "comparison", "config"):
        assert SECTIONS[key] in page.headings, key
    assert "Ensembles" in page.headings and "Distillation" in page.headings
    assert "Which measure predicts what" in page.headings
    # the answers lead: the most similar pairs, the recommended ensemble and teacher, then the summary and controls
    assert page.headings[1:5] == ["The most similar pairs", "Recommended ensemble", "Recommended teacher",
                                 SECTIONS["summary"]]
    assert "Does choosing by a measure help? The decisions on sub-pools" in page.headings
    ensemble = json.loads((out / "ensembles" / "recommendation.json").read_text())
    assert f"Use {', '.join(ensemble['members'])}" in html and f"Verdict: {ensemble['verdict']}" in html
    teacher = json.loads((out / "distill" / "recommendation.json").read_text())
    assert teacher["trained"] and f"Verdict: {teacher['verdict']}" in html
    # every figure the stages wrote is embedded (the standalone dendrogram is part of the heatmap), as a PNG
    written = {p.name: p for folder in FIGURE_FOLDERS for p in (out / folder).glob("*.png")}
    written.pop("dendrogram.png")
    assert {"sat_heatmap.png", "mds.png", "tsne.png", "importance.png", "scatter_cka.png", "ensemble_accuracy.png",
            "ensemble_pair_gain.png", "distill_gain.png", "predictions.png", "scatter_procrustes.png",
            "scatter_yules-q.png"} <= set(written)
    assert sorted(img["alt"] for img in page.images) == sorted(written)
    for img in page.images:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        png = base64.b64decode(img["src"][len(prefix):], validate=True)
        assert png.startswith(PNG_SIGNATURE)
        assert png == written[img["alt"]].read_bytes()
    assert f"[report] {len(page.images)} figures" in first
    for name in NAMES:
        assert name in html
    # versions and seed, the config as text
    for what in ("archsim", "torch", "timm", "python", "seed", "eps: 0.15"):
        assert what in html


def test_demo_files_and_terminal_summary(runs):
    _, out, first, _ = runs
    for f in ("zoo.csv", "sat.csv", "pairs.csv", "transfer.csv", "clean_accuracy.csv", "cka.csv", "svcca.csv",
              "gradient.csv", "grassmann.csv", "cka.key.json", "analysis/clusters.csv", "analysis/features.csv",
              "analysis/importance.csv", "analysis/comparison.csv", "ensembles/ensembles.csv",
              "ensembles/ensemble_correlations.csv", "distill/distill_summary.csv", "distill/distill_runs.csv",
              "predictions/predictions.csv", "linear-predictivity_detail.csv", "disagreement.csv",
              "validation/sat.csv", "validation/cka.csv", "ensembles/recommendation.json",
              "distill/recommendation.json", "predictions/subpools.csv"):
        assert (out / f).is_file(), f
    assert "ran 4 attack and 16 evaluation units, 4 noise-control units; 0 reused" in first
    assert "[cka] computed" in first
    table = first[first.index("test acc  white-box  noise error  mean SAT to others  cluster"):]
    for name in NAMES:
        assert re.search(rf"^{name}\s+[01]\.\d{{3}}\s+[01]\.\d{{3}}\s+[01]\.\d{{3}}\s+-?\d+\.\d{{3}}\s+\d+$", table, re.M), name
    noise = {r["model"]: float(r["noise_error"]) for r in csv.DictReader(open(out / "clean_accuracy.csv"))}
    assert set(noise) == set(NAMES) and all(0 <= e <= 1 for e in noise.values())
    assert "stage" in table and "analysis" in table


def test_demo_rerun_computes_nothing(runs):
    _, out, first, second = runs
    assert "ran 0 attack and 0 evaluation units; 24 reused" in second
    assert "4 models: 0 trained, 4 loaded" in second
    for metric in ("cka", "svcca", "gradient", "grassmann"):
        assert f"[{metric}] reused" in second
    assert "computed" not in second.split("[report]")[0]
    assert "[report] 24 figures" in first and "[report] 24 figures" in second
    assert "[distillation] resnet_a from 3 teachers x 3 seeds" in second


def test_demo_changed_option_recomputes_only_that_measure(runs, tmp_path):
    cfg, out, _, _ = runs
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    raw = yaml.safe_load(cfg.read_text())
    raw["similarity"] = {"cka": {"debiased": True}}
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(raw))
    status, text = demo("--config", str(changed), "--out", str(copy), "--measures", "cka,grassmann")
    assert status == 0
    assert "[cka] computed" in text and "[grassmann] reused" in text
    assert "ran 0 attack and 0 evaluation units" in text


def test_a_new_version_of_a_measure_is_not_read_from_the_cache(runs, tmp_path, monkeypatch):
    from archsim.similarity import registry

    cfg, out, _, _ = runs
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    grassmann = registry.MEASURES["grassmann"]
    monkeypatch.setitem(registry.MEASURES, "grassmann", dataclasses.replace(grassmann, version=grassmann.version + 1))
    status, text = demo("--config", str(cfg), "--out", str(copy), "--measures", "cka,grassmann")
    assert status == 0
    assert "[grassmann] computed" in text and "[cka] reused" in text


def test_a_failing_measure_is_skipped_with_its_reason(runs, tmp_path, monkeypatch):
    from archsim.errors import ArchsimError
    from archsim.similarity import registry

    def broken(inputs, options):
        raise ArchsimError("no layer fits <this> zoo")

    monkeypatch.setitem(registry.MEASURES, "cka", dataclasses.replace(registry.MEASURES["cka"], compute=broken))
    cfg, out, _, _ = runs
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    (copy / "cka.key.json").unlink()
    status, text = demo("--config", str(cfg), "--out", str(copy), "--measures", "cka,gradient")
    assert status == 0
    assert "[cka] skipped: no layer fits <this> zoo" in text
    html = (copy / "report.html").read_text()
    assert "cka: skipped: ArchsimError: no layer fits &lt;this&gt; zoo" in html
    assert "SAT compared with gradient" in text


def test_demo_bad_input_is_one_clear_line(tmp_path, capsys, monkeypatch):
    import archsim.cli.demo as demo_command

    monkeypatch.setattr(demo_command, "default_config_path", lambda: tmp_path / "missing" / "demo.yaml")
    assert main(["demo", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "config file not found" in err and "pass --config FILE" in err
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(CONFIG))
    assert main(["demo", "--config", str(cfg), "--out", str(tmp_path / "o"), "--measures", "cka,nope"]) == 2
    assert "unknown measure 'nope'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()  # nothing trained or written


def test_default_config_is_the_repository_demo_config():
    from pathlib import Path

    import archsim
    from archsim.cli.demo import default_config_path

    assert default_config_path() == Path(archsim.__file__).resolve().parent.parent / "configs" / "demo.yaml"


# -- the report builder ----------------------------------------------------------------------------------------

def png() -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1])
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def test_report_escapes_every_text():
    evil = "<b>&"
    data = ReportData(title=f"t {evil}", summary={evil: evil}, config_text=f"label: '{evil}'\n",
                      versions={"archsim": "0"}, seed=1,
                      zoo=Table(["model", "acc"], [[evil, 0.5]]),
                      pairs=Table(["a", "b", "sat"], [[evil, "x", 1.0]]),
                      measure_notes=[f"cka: {evil}"], maps=[Figure(f"{evil}.png", png(), caption=evil)],
                      skipped={SECTIONS["importance"]: f"too few {evil}"})
    html = render_report(data)
    assert "<b>" not in html and "<b>&" not in html
    assert html.count("&lt;b&gt;&amp;") >= 8
    assert_self_contained(html)


def test_report_sections_follow_the_data():
    minimal = parse(render_report(ReportData(title="r", summary={"models": 3})))
    assert minimal.headings == ["r", SECTIONS["summary"], SECTIONS["config"]]
    assert minimal.images == []

    fig = Figure("sat_heatmap.png", png())
    full = ReportData(title="r", summary={"models": 3}, zoo=Table(["m"], [["a"]]), sat_figure=fig,
                      models=Table(["m"], [["a"]]), maps=[Figure("mds.png", png())],
                      pairs=Table(["a", "b"], [["a", "b"]]), importance=Table(["method"], [["x"]]),
                      importance_figures=[Figure("importance.png", png())],
                      comparisons=Table(["measure"], [["cka"]]), comparison_figures=[Figure("scatter_cka.png", png())],
                      extra=[Section("Ensembles", ["best pairs"], [Table(["members"], [["a+b"]])])])
    page = parse(render_report(full))
    assert page.headings == ["r"] + [SECTIONS[k] for k in ("summary", "zoo", "sat", "maps", "pairs", "importance",
                                                          "comparison")] + ["Ensembles", SECTIONS["config"]]
    assert [i["alt"] for i in page.images] == ["sat_heatmap.png", "mds.png", "importance.png", "scatter_cka.png"]

    skipped = parse(render_report(ReportData(title="r", summary={}, skipped={SECTIONS["importance"]: "too few"})))
    assert SECTIONS["importance"] in skipped.headings


def test_report_numbers_and_missing_values():
    html = render_report(ReportData(title="r", summary={}, pairs=Table(["a", "v", "n"], [["x", float("nan"), None],
                                                                                         ["y", 0.123456, 7]])))
    assert "&ndash;" in html and "0.1235" in html and "<td>7</td>" in html


def test_report_rejects_a_figure_that_is_not_png():
    with pytest.raises(ValueError, match="not a PNG"):
        render_report(ReportData(title="r", summary={}, maps=[Figure("x.png", b"GIF89a")]))


def test_clustered_heatmap_orders_by_the_dendrogram(tmp_path):
    from scipy.cluster.hierarchy import linkage
    from scipy.spatial.distance import squareform

    from analysis.matrix.plots import plot_clustered_heatmap

    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 6))
    s = (x + x.T) / 2
    d = s.max() - s
    np.fill_diagonal(d, 0)
    z = linkage(squareform(d, checks=False), "average")
    buffer = io.BytesIO()
    plot_clustered_heatmap(s, list("abcdef"), z, np.array([0, 0, 1, 1, 2, 2]), buffer)
    assert buffer.getvalue().startswith(PNG_SIGNATURE)
    path = plot_clustered_heatmap(s, list("abcdef"), z, np.array([0, 0, 1, 1, 2, 2]), tmp_path / "h.png")
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_the_demo_compares_a_distance_setting_with_sat_as_a_similarity(tmp_path):
    """grassmann with score: distance (1 - similarity) gets the same positive rank correlation with SAT."""
    from analysis.report.demo_analysis import analyse
    from archsim.config import parse_config
    from archsim.sat.result import SATResult

    names = ["a", "b", "c", "d", "e"]
    rng = np.random.default_rng(0)
    rates = rng.uniform(0.1, 0.9, size=(5, 5))
    adv = (rng.uniform(size=(5, 5, 200)) > rates[:, :, None]).astype(np.int8)  # 1 = still correct
    sat = SATResult(names, np.ones((5, 200), dtype=bool), adv, 0.01)
    similarity = np.exp(sat.sat / 5)
    similarity /= similarity.max()
    cfg = parse_config({"data": {"source": "digits"}, "models": [{"name": "resnet18", "label": n} for n in names]})
    r = {}
    for score, values in (("similarity", similarity), ("distance", 1 - similarity)):
        a = analyse(tmp_path / score, cfg, sat, {"grassmann": (names, values)}, [],
                    {"grassmann": {"score": score}})
        (measure, comparison), = a.comparisons
        r[score] = comparison.spearman
    assert r["similarity"] > 0.9 and r["distance"] == pytest.approx(r["similarity"])

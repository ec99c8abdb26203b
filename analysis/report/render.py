"""The self-contained HTML report of `archsim demo`: data in, one HTML string out.

`render_report(data)` is a pure function. Every figure is embedded as a
base64 PNG data URI, the CSS is inline, and nothing refers to another file or
to the network (no scripts, no links, no URLs), so the file can be mailed or
archived on its own. Every piece of text from the data (model labels, notes,
the config) goes through `html.escape`.

A section appears only when its data is given: `ReportData` fields left at
None (or empty) leave their section out, and a `skipped` entry for a section
shows the section with the reason instead of its content. `answers` holds
the sections that answer the user's questions (the most similar pairs, the
recommended ensemble and teacher), rendered first, right after the title; the
summary, the controls and the per-model tables come after them. `extra` holds
further sections (for example ensembles or distillation tables), rendered
before the run configuration.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from html import escape

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.88em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
td.text { text-align: left; }
tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.88em; color: #555; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { color: #555; font-size: 0.9em; }
.skipped { color: #a33; }
.scroll { max-height: 32em; overflow-y: auto; display: inline-block; }
"""


@dataclass
class Figure:
    """One embedded figure: PNG bytes, a name (the file it was written to) and a caption."""

    name: str
    png: bytes
    caption: str = ""


@dataclass
class Table:
    header: list[str]
    rows: list[list]
    caption: str = ""


@dataclass
class Section:
    """A free section: heading, paragraphs, tables and figures (used for `ReportData.extra`)."""

    heading: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass
class ReportData:
    title: str
    summary: dict[str, object]  # label -> value, shown as a two-column table
    config_text: str = ""  # the run config as YAML
    versions: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    zoo: Table | None = None
    sat_figure: Figure | None = None  # heatmap ordered by clustering, with its dendrogram
    models: Table | None = None  # per model: accuracy, white-box success, mean SAT, cluster
    cluster_figures: list[Figure] = field(default_factory=list)  # e.g. the Laplacian spectrum
    maps: list[Figure] = field(default_factory=list)  # 2-D maps of the models
    pairs: Table | None = None  # per pair: SAT, interval, both directions
    importance: Table | None = None  # fit statistics
    importance_figures: list[Figure] = field(default_factory=list)
    comparisons: Table | None = None  # SAT against each other measure
    comparison_figures: list[Figure] = field(default_factory=list)
    measure_notes: list[str] = field(default_factory=list)  # notes of the measures, skipped measures
    skipped: dict[str, str] = field(default_factory=dict)  # section heading -> why its content is missing
    extra: list[Section] = field(default_factory=list)
    answers: list[Section] = field(default_factory=list)  # what the user asked, first: right after the title


SECTIONS = {  # heading of each standard section
    "summary": "Summary",
    "zoo": "Model zoo",
    "sat": "SAT matrix and clustering",
    "maps": "Map of the models",
    "pairs": "Pairs and confidence intervals",
    "importance": "Component importance",
    "comparison": "SAT against other measures",
    "config": "Run configuration and versions",
}


def render_report(data: ReportData) -> str:
    """The report as one self-contained HTML document."""
    parts = [f"<h1>{escape(data.title)}</h1>", *(_free_section(s) for s in data.answers),
             _section(SECTIONS["summary"], _key_values(data.summary))]
    if data.zoo is not None:
        parts.append(_section(SECTIONS["zoo"], _table(data.zoo)))
    sat = [_figure(f) for f in ([data.sat_figure] if data.sat_figure else [])]
    sat += [_table(data.models)] if data.models is not None else []
    sat += [_figure(f) for f in data.cluster_figures]
    parts.append(_optional(SECTIONS["sat"], sat, data.skipped))
    parts.append(_optional(SECTIONS["maps"], [_figure(f) for f in data.maps], data.skipped))
    parts.append(_optional(SECTIONS["pairs"], [_table(data.pairs, scroll=True)] if data.pairs else [],
                           data.skipped))
    importance = ([_table(data.importance)] if data.importance else []) + [_figure(f) for f in
                                                                           data.importance_figures]
    parts.append(_optional(SECTIONS["importance"], importance, data.skipped))
    comparison = ([_table(data.comparisons)] if data.comparisons else []) + [_figure(f) for f in
                                                                             data.comparison_figures]
    if comparison or data.measure_notes:
        comparison += [_list(data.measure_notes)] if data.measure_notes else []
    parts.append(_optional(SECTIONS["comparison"], comparison, data.skipped))
    parts += [_free_section(s) for s in data.extra]
    config = _key_values({**data.versions, **({"seed": data.seed} if data.seed is not None else {})})
    if data.config_text:
        config += f"<pre>{escape(data.config_text)}</pre>"
    parts.append(_section(SECTIONS["config"], config))
    body = "\n".join(p for p in parts if p)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{escape(data.title)}</title>\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n")


def _free_section(s: Section) -> str:
    return _section(s.heading, "".join([*(f"<p>{escape(p)}</p>" for p in s.paragraphs),
                                        *(_table(t) for t in s.tables), *(_figure(f) for f in s.figures)]))


def _optional(heading: str, content: list[str], skipped: dict[str, str]) -> str:
    """The section with its content; the reason when skipped; nothing when neither."""
    if heading in skipped:
        content = [*content, f'<p class="skipped">{escape(skipped[heading])}</p>']
    return _section(heading, "".join(content)) if content else ""


def _section(heading: str, content: str) -> str:
    anchor = heading.lower().replace(" ", "-")
    return f'<section id="{escape(anchor)}">\n<h2>{escape(heading)}</h2>\n{content}\n</section>'


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"
    return escape(str(value))


def _table(t: Table, *, scroll: bool = False) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in t.header)
    rows = "\n".join("<tr>" + "".join(_td(v) for v in r) + "</tr>" for r in t.rows)
    caption = f"<caption>{escape(t.caption)}</caption>" if t.caption else ""
    thead = f"<thead><tr>{head}</tr></thead>\n" if t.header else ""
    table = f"<table>{caption}\n{thead}<tbody>\n{rows}\n</tbody></table>"
    return f'<div class="scroll">{table}</div>' if scroll else table


def _td(value) -> str:
    return f'<td class="text">{_cell(value)}</td>' if isinstance(value, str) else f"<td>{_cell(value)}</td>"


def _key_values(values: dict) -> str:
    return _table(Table([], [[str(k), v] for k, v in values.items()]))


def _figure(f: Figure) -> str:
    if not f.png.startswith(PNG_SIGNATURE):
        raise ValueError(f"figure {f.name!r} is not a PNG")
    uri = "data:image/png;base64," + base64.b64encode(f.png).decode("ascii")
    caption = f"<figcaption>{escape(f.caption)}</figcaption>" if f.caption else ""
    return f'<figure><img src="{uri}" alt="{escape(f.name)}">{caption}</figure>'


def _list(items: list[str]) -> str:
    return '<ul class="note">' + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"

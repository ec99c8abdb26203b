"""Aligned plain-text tables for the commands' terminal summaries.

    format_table(header, rows, align=None) -> str

Cells are strings (callers format their numbers). Columns are separated by two
spaces and padded to the widest of their header and cells; `align` holds one
character per column, "<" (left) or ">" (right), by default the first column
left and the others right. Trailing spaces are dropped.
"""

from __future__ import annotations


def format_table(header: list[str], rows: list[list[str]], align: str | None = None) -> str:
    """The header line, then one line per row, columns aligned as the module docstring says."""
    align = align or "<" + ">" * (len(header) - 1)
    if len(align) != len(header) or set(align) - {"<", ">"}:
        raise ValueError(f"align must give '<' or '>' for each of the {len(header)} columns, got {align!r}")
    bad = [r for r in rows if len(r) != len(header)]
    if bad:
        raise ValueError(f"a row has {len(bad[0])} cells for {len(header)} columns: {bad[0]}")
    widths = [max(len(c) for c in column) for column in zip(header, *rows)]
    return "\n".join("  ".join(f"{c:{a}{w}}" for c, a, w in zip(line, align, widths)).rstrip()
                     for line in [header, *rows])

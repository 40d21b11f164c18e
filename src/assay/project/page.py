"""Self-contained HTML pages (the data report, the model card): escaping, tables, inline SVG
plots from matplotlib, one stylesheet, and atomic writes. No scripts, no external links."""

from __future__ import annotations

import html
import io
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.figure import Figure

from assay.security.redaction import redact_text

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;
color:#1d2330;padding:0 1rem;line-height:1.4}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d6dae3;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.3rem .5rem;
border-bottom:1px solid #e7e9ef;vertical-align:top}th{background:#f4f5f8}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem}
.act{border:2px solid #c0392b;border-radius:6px;padding:.5rem 1rem;background:#fdf2f1}
.ok{border:2px solid #2e7d32;border-radius:6px;padding:.5rem 1rem;background:#f1f8f1}
.tag{display:inline-block;border-radius:3px;padding:0 .35rem;font-size:.8rem;color:#fff;background:#7f8c8d}
.leakage,.check-failed,.drift-failed,.blocking{background:#c0392b}.drift-warning,.check-warned,.warning{background:#d68910}
.plots{display:flex;flex-wrap:wrap;gap:1rem}.plot{flex:0 0 auto}.plot svg{max-width:100%;height:auto}
.muted{color:#6b7280}
"""



def escape(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def html_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table from escaped headers and already-rendered cells."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def plot_text(value: str, limit: int = 28) -> str:
    """Plain text for matplotlib (no mathtext), shortened."""
    short = value if len(value) <= limit else value[: limit - 1] + "…"
    return short.replace("$", r"\$")


def figure_svg(figure: Figure, salt: int) -> str:
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"assay-page-{salt}", "svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg") :]  # no XML prolog or DOCTYPE (it links to a DTD)
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.DOTALL)


def small_figure(height: float = 2.4) -> tuple[Figure, Any]:
    figure = Figure(figsize=(4.4, height), dpi=72)
    axes = figure.add_subplot()
    axes.tick_params(labelsize=7)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def write_atomic(path: Path, text: str) -> None:
    """Write a report page atomically, masking any secret resolved in this process."""
    text = redact_text(text)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temp, 0o644)  # a report is for reading and sharing; mkstemp makes it private
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise



__all__ = ["STYLE", "escape", "figure_svg", "html_table", "plot_text", "small_figure", "write_atomic"]

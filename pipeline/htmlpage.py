"""Rendering of the self-contained HTML reports: one file, plots embedded as PNG, readable offline and in MLflow.

What the pages say lives in `reports.py`; this module only turns sections (notes, tables, figures) into
one static page. Pure: data and figures in, HTML text out; the caller writes and logs it.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime

import jinja2
import markdown
import markupsafe
import pandas as pd

_ENV = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)


def markdown_html(text: str) -> str:
    """A Markdown document (a model card) as HTML: headings, tables, lists, emphasis, code.

    Raw HTML in the text is escaped first (names and notes in a card are data, never markup); its
    headings start at <h3>, below the section's <h2>.
    """
    source = html.escape(text, quote=False)
    body = markdown.markdown(source, extensions=["tables", "toc"], extension_configs={"toc": {"baselevel": 3}})
    return markupsafe.Markup(body)


_ENV.filters["markdown"] = markdown_html

_PAGE = _ENV.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 2px solid #ddd; padding-bottom: .2rem; margin-top: 2.2rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: .25rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #f4f4f4; }
img { max-width: 100%; margin: .4rem 0; border: 1px solid #eee; }
.meta { color: #666; font-size: .9rem; } .warn { color: #a40; } .scroll { overflow-x: auto; }
.card { background: #fafafa; border: 1px solid #e4e4e4; border-radius: 4px; padding: .2rem 1rem .6rem; }
.card h3 { margin: .6rem 0 .4rem; } .card p, .card li { font-size: .92rem; line-height: 1.4; }
.card td:not(:first-child), .card th:not(:first-child) { text-align: right; }
</style></head><body>
<h1>{{ title }}</h1>
<p class="meta">{{ subtitle }} &middot; generated {{ generated }}</p>
{% for s in sections %}
<section id="{{ s.anchor }}"><h2>{{ s.title }}</h2>
{% if s.markdown %}<div class="card">{{ s.markdown | markdown }}</div>{% endif %}
{% for p in s.notes %}<p{% if p.startswith('warning') %} class="warn"{% endif %}>{{ p }}</p>{% endfor %}
{% for caption, t in s.tables %}
{% if caption %}<h3>{{ caption }}</h3>{% endif %}<div class="scroll">{{ t | safe }}</div>
{% endfor %}
{% for alt, src in s.images %}<img alt="{{ alt }}" src="data:image/png;base64,{{ src }}">{% endfor %}
</section>
{% endfor %}
</body></html>
"""
)


@dataclass
class Section:
    """One titled part of a report."""

    title: str
    notes: list[str] = field(default_factory=list)
    tables: list[tuple[str, str]] = field(default_factory=list)
    images: list[tuple[str, str]] = field(default_factory=list)
    markdown: str = ""  # a Markdown document (a model card), rendered as HTML

    @property
    def anchor(self) -> str:  # noqa: D102
        return "".join(c if c.isalnum() else "-" for c in self.title.lower())

    def table(self, df: pd.DataFrame, caption: str = "", floats: int = 3) -> Section:
        """Add a table (escaped, numbers rounded)."""
        self.tables.append((caption, df.to_html(index=False, float_format=lambda v: f"{v:.{floats}f}", border=0)))
        return self

    def figure(self, fig, alt: str) -> Section:
        """Add a matplotlib figure as an embedded PNG."""
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
        self.images.append((alt, base64.b64encode(buf.getvalue()).decode("ascii")))
        return self


def render(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole page."""
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return _PAGE.render(title=title, subtitle=subtitle, sections=sections, generated=generated)


def metrics_table(by_model: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Model and baselines side by side on the validation snapshot."""
    cols = ["roc_auc", "pr_auc", "brier", "log_loss", "ece", "lift_top_decile", "capture_top_decile"]
    rows = [{"model": name} | {c: m.get(c) for c in cols if c in m} for name, m in by_model.items()]
    return pd.DataFrame(rows)


def data_report_table(report: dict) -> pd.DataFrame:
    """Rows in, dropped per rule, rows out, as two columns."""
    rows = [("rows in", report["rows_in"])]
    rows += [(f"dropped: {rule}", n) for rule, n in report["dropped"].items()]
    rows += [
        ("rows out", report["rows_out"]),
        ("return lines kept", report["return_lines"]),
        ("customers", report["customers"]),
        ("orders", report["orders"]),
        ("customers with one order", report.get("customers_one_order", "")),
        ("customers with negative net spend", report.get("customers_net_negative", "")),
        ("first timestamp", report["first_timestamp"]),
        ("last timestamp", report["last_timestamp"]),
    ]
    return pd.DataFrame(rows, columns=["step", "value"]).astype({"value": str})

"""HTML from Jinja2 templates with autoescape on: every provider string is text, never markup.

The pages are self-contained (one inline style sheet and an inline SVG chart, nothing
fetched), so they open from a file, a mail attachment or behind a strict CSP alike.
"""

from decimal import Decimal
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from runner.cost import money
from runner.ref import DEFAULT_KIND
from runner.reports.chart import chart
from runner.reports.summary import to_the_second
from runner.text import shown


def _money(value: float | None) -> str:
    return "?" if value is None else money(Decimal(str(value)))


def _kind_prefix(kind: str) -> str:
    return "" if kind == DEFAULT_KIND else f"{shown(kind)} "


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("runner.reports", "templates"),
        # Every template is HTML, whatever its name: escape in all of them.
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = _money
    env.filters["shown"] = shown
    env.filters["kind_prefix"] = _kind_prefix
    env.filters["when"] = lambda ts: shown(to_the_second(ts))
    return env


def render_report(report: dict[str, Any]) -> str:
    """The report's JSON document (runner.reports.summary) as one HTML file."""
    template = environment().get_template("report.html")
    return template.render(r=report, chart=chart(report["months"]))


def render_status(status: dict[str, Any], refresh_seconds: int) -> str:
    """The daemon's /api/status document as its HTML page."""
    template = environment().get_template("status.html")
    return template.render(s=status, chart=chart(status["savings"]), refresh=refresh_seconds)

"""The report as terminal text and as Markdown, from its JSON document."""

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from runner.cost import money
from runner.report import code_span
from runner.reports.summary import to_the_second
from runner.tables import render
from runner.text import shown


def _money(value: float | None) -> str:
    return "?" if value is None else money(Decimal(str(value)))


def _banner(r: dict[str, Any]) -> list[str]:
    audit = r["audit"]
    if audit["verified"]:
        return []
    return [
        f"AUDIT LOG DID NOT VERIFY: {shown(audit['name'])}: {shown(audit['message'])}."
        " The figures below cover only the records before the damage; do not take them"
        " as fact.",
        "",
    ]


def _headline(r: dict[str, Any]) -> list[str]:
    t = r["totals"]
    since, until = to_the_second(r["since"]), to_the_second(r["until"])
    period = (f"from {since} " if r["since"] else "") + f"until {until}"
    lines = [f"ftjanitor report: {shown(r['audit']['name'])}, {period}"]
    if r["audit"]["records"] == 0:
        lines.append("The audit log is empty: nothing has run yet.")
    unknown = f" (+ {t['unknown_cost']} deletes with unknown cost)" if t["unknown_cost"] else ""
    lines.append(
        f"{t['deleted']} deleted, {t['already_absent']} already absent, {t['failed']} failed,"
        f" {t['limit_trips']} limit trips, {len(r['pending'])} pending in grace;"
        f" monthly cost retired {_money(t['monthly_cost_retired'])}{unknown}"
    )
    return lines


def _pending_row(p: dict[str, Any]) -> list[str]:
    return [
        p["job"],
        p["provider"],
        p["kind"],
        p["model_id"],
        p["name"] or "-",
        p["deletable_after"],
    ]


def _sections(r: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) of every table; cells are plain strings, escaped later."""
    months = [
        [
            m["month"],
            str(m["deleted"]),
            str(m["failed"]),
            str(m["limit_trips"]),
            _money(m["monthly_cost_retired"]),
            _money(m["cumulative_monthly_cost_retired"]),
        ]
        for m in r["months"]
    ]
    failures = [
        [
            to_the_second(f["ts"]),
            f["job"],
            f["provider"],
            f["model_id"],
            f["name"] or "-",
            f["error"],
        ]
        for f in r["failures"]
    ]
    listed = len(r["failures"])
    failed_title = "Failed deletes" + (
        f" (the latest {listed} of {r['totals']['failed']})"
        if listed < r["totals"]["failed"]
        else ""
    )
    return [
        (
            "By month",
            ["MONTH", "DELETED", "FAILED", "LIMIT TRIPS", "RETIRED", "RETIRED SO FAR"],
            months,
        ),
        (
            "Deleted by provider and kind",
            ["PROVIDER", "KIND", "DELETED"],
            [[p["provider"], p["kind"], str(p["deleted"])] for p in r["by_provider_kind"]],
        ),
        (failed_title, ["TIME", "JOB", "PROVIDER", "ID", "NAME", "ERROR"], failures),
        (
            "Limit trips",
            ["TIME", "JOB", "MESSAGE"],
            [[to_the_second(t["ts"]), t["job"], t["message"]] for t in r["limit_trips"]],
        ),
        (
            "Pending in grace",
            ["JOB", "PROVIDER", "KIND", "ID", "NAME", "DELETABLE AFTER"],
            [_pending_row(p) for p in r["pending"]],
        ),
    ]


def render_text(r: dict[str, Any]) -> str:
    lines = _banner(r) + _headline(r)
    for title, headers, rows in _sections(r):
        lines += ["", f"{title}:", render(headers, rows) if rows else "  none"]
    return "\n".join(lines) + "\n"


def _markdown_table(headers: list[str], rows: list[list[str]], cell: Callable[[str], str]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


# Counts, amounts and months ("-" for none): nothing GitHub renders. Anything else, an ID
# or a ts that only looks numeric ("$1+1$" is math there, ":+1:" an emoji) is a code span.
_FIGURE = re.compile(r"-|\$?[0-9][0-9,.-]*")


def _markdown_cell(text: str) -> str:
    return text if _FIGURE.fullmatch(text) else code_span(text)


def render_markdown(r: dict[str, Any]) -> str:
    """Every string from the log but figures in a code span (runner.report.code_span):
    GitHub renders no mention, link or HTML from a provider's text."""
    banner = [f"> **{code_span(line)}**" for line in _banner(r)[:1]]
    head = _headline(r)
    lines = [*banner, "", f"## {code_span(head[0])}", "", *head[1:]]
    for title, headers, rows in _sections(r):
        lines += ["", f"### {title}", ""]
        lines.append(_markdown_table(headers, rows, _markdown_cell) if rows else "none")
    return "\n".join(lines).lstrip("\n") + "\n"

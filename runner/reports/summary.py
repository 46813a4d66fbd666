"""A ``History`` as the report's JSON document, the one source every format renders."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from runner.clock import parse_instant, rfc3339
from runner.cost import json_amount
from runner.reports.history import UNKNOWN_MONTH, History, Month, PendingMark

KIND = "ftjanitor.report"


@dataclass(frozen=True)
class Verified:
    """What reading the chain found: the figures cover only what it vouched for."""

    name: str
    ok: bool
    message: str


def to_the_second(ts: str | None) -> str:
    """A record's time to the second, for people (the JSON keeps it whole)."""
    if not ts:
        return "-"
    try:
        at = parse_instant(ts)
    except ValueError:
        return ts  # shown as it is (and escaped where it is shown)
    return at.isoformat(" ", "seconds")[:19] + "Z"  # strftime's %Y writes year 1 as "1"


# Months on the axis, at most: a longer span comes from a record's odd ``ts`` (year 1, year
# 9999), and then only the months with figures are listed rather than every one between.
MAX_FILLED_MONTHS = 1200


def _index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def month_series(months: dict[str, Month]) -> list[dict[str, Any]]:
    """Every month from the first to the last with a figure (empty ones too, so a chart's
    axis is time), each with the monthly cost retired so far. Keys are YYYY-MM or
    ``UNKNOWN_MONTH`` (runner.reports.history.month_of)."""
    names = sorted(m for m in months if m != UNKNOWN_MONTH)
    if names and _index(names[-1]) - _index(names[0]) < MAX_FILLED_MONTHS:
        first, last = _index(names[0]), _index(names[-1])
        names = [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(first, last + 1)]
    if UNKNOWN_MONTH in months:
        names.append(UNKNOWN_MONTH)
    rows, cumulative = [], Decimal(0)
    for name in names:
        figures = months.get(name, Month())
        cumulative += figures.retired
        rows.append(
            {
                "month": name,
                "deleted": figures.deleted,
                "failed": figures.failed,
                "limit_trips": figures.limit_trips,
                "monthly_cost_retired": json_amount(figures.retired),
                "cumulative_monthly_cost_retired": json_amount(cumulative),
            }
        )
    return rows


def pending_json(mark: PendingMark) -> dict[str, Any]:
    return {
        "job": mark.job,
        "provider": mark.provider,
        "kind": mark.kind,
        "model_id": mark.model_id,
        "name": mark.name,
        "deletable_after": mark.deletable_after,
    }


def report_json(
    history: History, verified: Verified, since: datetime | None, until: datetime
) -> dict[str, Any]:
    totals = history.totals
    return {
        "v": 1,
        "kind": KIND,
        "audit": {
            "name": verified.name,
            "verified": verified.ok,
            "message": verified.message,
            "records": history.records,
            "recovered_torn_lines": history.recovered,
        },
        "since": rfc3339(since) if since is not None else None,
        "until": rfc3339(until),
        "totals": {
            "deleted": totals.deleted,
            "already_absent": totals.already_absent,
            "failed": totals.failed,
            "limit_trips": totals.limit_trips,
            "monthly_cost_retired": json_amount(totals.retired),
            "unknown_cost": totals.unknown_cost,
        },
        "months": month_series(history.months),
        "by_provider_kind": [
            {"provider": provider, "kind": kind, "deleted": count}
            for (provider, kind), count in sorted(history.by_provider_kind.items())
        ],
        "failures": [
            {
                "ts": f.ts,
                "job": f.job,
                "provider": f.provider,
                "kind": f.kind,
                "model_id": f.model_id,
                "name": f.name,
                "error": f.error,
            }
            for f in history.failures
        ],
        "limit_trips": [
            {"ts": t.ts, "job": t.job, "message": t.message} for t in history.limit_trips
        ],
        "pending": [pending_json(m) for m in history.pending()],
    }

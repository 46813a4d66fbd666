"""``report`` and the status page against audit records that verify but carry values
ftjanitor itself never writes, against odd options, and against a log changed under the
daemon: figures stay sane, every format renders, nothing crashes."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.clock import parse_instant
from runner.commands.report import build, render
from runner.reports.summary import MAX_FILLED_MONTHS
from tests.audit_history import ChainWriter, history_path, report_job

FORMATS = ("text", "json", "markdown", "html")
START = datetime(2026, 1, 5, tzinfo=UTC)


def strict_json(text: str) -> Any:
    """JSON as the standard has it: no NaN, no Infinity."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def rendered(job: Path, since: str | None = None) -> dict[str, Any]:
    """The report's JSON document, after checking that every format renders from it."""
    report = build(str(job), since)
    for form in FORMATS:
        text = render(report, form)
        assert text, form
    strict_json(render(report, "json"))
    return report


def deleted_at(w: ChainWriter, ts: Any, model_id: str, result: str = "deleted") -> None:
    w.add(ts, "delete.outcome", "r1", job="nightly", provider="cohere", kind="model",
          model_id=model_id, result=result, error="boom" if result == "failed" else None)  # fmt: skip


ODD_AMOUNTS: list[Any] = [
    1e308, 1e308, "1e999999", -500, "NaN", "Infinity", "-0.5", [1], {"a": 1}, True, None, "x",
]  # fmt: skip


def test_odd_savings_are_unknown_costs_never_totals(tmp_path: Path) -> None:
    """An amount that is no cost ftjanitor writes (overflowing, negative, not a number,
    not a number's type) neither crashes a format, nor leaves Infinity in the JSON, nor
    moves the totals: its run's deletes count with an unknown cost."""
    job = report_job(tmp_path)
    with open(history_path(tmp_path), "wb") as handle:
        w = ChainWriter(handle)
        for n, amount in enumerate([2.5, *ODD_AMOUNTS]):
            at, run_id = START + timedelta(hours=n), f"r{n}"
            w.add(at, "run.start", run_id, job="nightly", dry_run=False, trigger="schedule")
            w.add(at, "run.end", run_id, job="nightly", dry_run=False, status="ok", deleted=3,
                  estimated_monthly_savings=amount, unknown_cost=0)  # fmt: skip
    report = rendered(job)
    assert report["totals"]["monthly_cost_retired"] == 2.5
    assert report["totals"]["unknown_cost"] == 3 * len(ODD_AMOUNTS)
    assert report["months"][0]["cumulative_monthly_cost_retired"] == 2.5


ODD_TIMES: list[Any] = [
    "abcd-efghijklmnopqrstuvwxyZ",  # as long as ftjanitor's ts, and no time at all
    "2026-13-01T00:00:00.000000Z",  # ftjanitor's shape, no such month
    "0001-01-01T00:00:00+00:00",
    "0001-01-01T00:00:00.000000Z",
    "9999-12-31T23:59:59.000000Z",
    "9999-12-31T23:59:59-05:00",  # year 10000 in UTC
    12345,
    None,
]


@pytest.mark.parametrize("since", [None, "30d"])
def test_odd_timestamps_count_and_do_not_stretch_the_months(
    tmp_path: Path, since: str | None
) -> None:
    """Each delete counts once, in its month or in "unknown"; a record in year 1 or 9999
    neither crashes the month axis nor fills it with ten thousand years of empty months."""
    job = report_job(tmp_path)
    with open(history_path(tmp_path), "wb") as handle:
        w = ChainWriter(handle)
        w.add(START, "run.start", "r1", job="nightly", dry_run=False, trigger="schedule")
        deleted_at(w, START, "normal")
        for n, ts in enumerate(ODD_TIMES):
            deleted_at(w, ts, f"odd-{n}")
        deleted_at(w, "0001-01-01T00:00:00Z", "failed-1", result="failed")
    report = rendered(job, since)
    months = {m["month"]: m["deleted"] for m in report["months"]}
    if since is None:  # the odd ones are counted, never hidden (an unreadable ts too)
        assert report["totals"]["deleted"] == 1 + len(ODD_TIMES)
        assert months == {"0001-01": 2, "2026-01": 1, "9999-12": 1, "unknown": 5}
        # the failure's time, its year in four digits
        assert "0001-01-01 00:00:00Z" in render(report, "text")
    assert len(report["months"]) <= MAX_FILLED_MONTHS


def test_a_short_gap_is_still_filled(tmp_path: Path) -> None:
    job = report_job(tmp_path)
    with open(history_path(tmp_path), "wb") as handle:
        w = ChainWriter(handle)
        w.add(START, "run.start", "r1", job="nightly", dry_run=False, trigger="schedule")
        deleted_at(w, "2025-11-03T00:00:00.000000Z", "a")
        deleted_at(w, "2026-02-03T00:00:00.000000Z", "b")
    names = [m["month"] for m in build(str(job), None)["months"]]
    assert names == ["2025-11", "2025-12", "2026-01", "2026-02"]


def test_an_instant_past_the_calendar_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_instant("9999-12-31T23:59:59-05:00")

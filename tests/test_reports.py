"""``ftjanitor report``: figures from the audit log, checked against ``audit export``."""

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from runner.clock import parse_instant, rfc3339
from runner.commands.report import build, render
from runner.simulator import Simulator
from runner.state import StateRef
from runner.state.open import open_audit_chain
from tests.audit_history import (
    ChainWriter,
    Delete,
    history_path,
    report_job,
    write_history,
)
from tests.helpers import NOW_ARG, cli, demo_job, run_now, write_job

NOW = datetime(2026, 7, 1, tzinfo=UTC)


def exported(capsys: pytest.CaptureFixture[str], job: Path) -> list[dict[str, Any]]:
    code, out, _ = cli(capsys, "audit", "export", "--job-file", str(job))
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def independent(records: list[dict[str, Any]], since: datetime | None = None) -> dict[str, Any]:
    """The report's figures, counted another way: every record of a dry run dropped by its
    run_id first, then plain counters over what is left."""
    dry = {r["run_id"] for r in records if r["event"] == "run.start" and r["dry_run"]}
    kept = [
        r
        for r in records
        if r["run_id"] not in dry and (since is None or parse_instant(r["ts"]) >= since)
    ]
    outcomes = [r for r in kept if r["event"] == "delete.outcome"]
    ends = [r for r in kept if r["event"] == "run.end"]
    deleted = Counter(r["ts"][:7] for r in outcomes if r["result"] == "deleted")
    retired: Counter[str] = Counter()
    for r in ends:
        retired[r["ts"][:7]] += Decimal(str(r.get("estimated_monthly_savings") or 0))
    return {
        "deleted": sum(deleted.values()),
        "failed": sum(1 for r in outcomes if r["result"] == "failed"),
        "already_absent": sum(1 for r in outcomes if r["result"] == "already_absent"),
        "limit_trips": sum(1 for r in ends if r["status"] == "aborted"),
        "by_month": dict(deleted),
        "retired_by_month": {m: float(v) for m, v in retired.items() if v},
        "retired": float(sum(retired.values())),
        "unknown_cost": sum(
            r.get("unknown_cost", r["deleted"] if "estimated_monthly_savings" not in r else 0)
            for r in ends
        ),
        "by_provider_kind": Counter(
            (r["provider"], r.get("kind", "model")) for r in outcomes if r["result"] == "deleted"
        ),
    }


def check_against(report: dict[str, Any], expected: dict[str, Any]) -> None:
    totals = report["totals"]
    for key in ("deleted", "failed", "already_absent", "limit_trips", "unknown_cost"):
        assert totals[key] == expected[key], key
    assert totals["monthly_cost_retired"] == pytest.approx(expected["retired"])
    months = {m["month"]: m for m in report["months"]}
    assert {m: r["deleted"] for m, r in months.items() if r["deleted"]} == expected["by_month"]
    assert {
        m: r["monthly_cost_retired"] for m, r in months.items() if r["monthly_cost_retired"]
    } == pytest.approx(expected["retired_by_month"])
    last = report["months"][-1]["cumulative_monthly_cost_retired"]
    assert last == pytest.approx(expected["retired"])
    assert {(p["provider"], p["kind"]): p["deleted"] for p in report["by_provider_kind"]} == dict(
        expected["by_provider_kind"]
    )


def test_totals_equal_what_audit_export_counts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_history(tmp_path)
    code, out, _ = cli(capsys, "report", "--job-file", str(job), "--format", "json")
    assert code == 0
    report = json.loads(out)
    expected = independent(exported(capsys, job))
    check_against(report, expected)
    assert report["totals"]["deleted"] == 36 and report["totals"]["limit_trips"] == 1
    assert len(report["months"]) == 14  # May 2025 to June 2026, empty June 2025 included
    assert [f["name"] for f in report["failures"]] == ["<script>x", "<script>x"]


def test_since_counts_back_from_the_wall_clock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_history(tmp_path)
    report = build(str(job), "90d", clock=lambda: NOW)
    since = NOW - timedelta(days=90)
    assert report["since"] == rfc3339(since) and report["until"] == rfc3339(NOW)
    check_against(report, independent(exported(capsys, job), since))
    assert report["months"][0]["month"] == "2026-04"


def test_every_format_says_the_same_totals(tmp_path: Path) -> None:
    report = build(str(write_history(tmp_path)), None)
    text = render(report, "text")
    assert "36 deleted, 8 already absent, 2 failed, 1 limit trips" in text
    assert "$11,710.80" in text and "2 deletes with unknown cost" in text
    markdown = render(report, "markdown")
    assert "| 2025-07 | 2 |" in markdown and "`<script>x`" in markdown


def test_html_shows_hostile_names_as_text(tmp_path: Path) -> None:
    report = build(str(write_history(tmp_path)), None)
    report["failures"][0]["name"] = '"><img src=x onerror=alert(1)>'
    report["failures"][1]["provider"] = "<script>alert(1)</script>"
    page = render(report, "html")

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: Counter[str] = Counter()
            self.text: list[str] = []
            self.links: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags[tag] += 1
            self.links += [v or "" for k, v in attrs if k in ("src", "href")]

        def handle_data(self, data: str) -> None:
            self.text.append(data)

    tags = Tags()
    tags.feed(page)
    assert tags.tags["script"] == 0 and tags.tags["img"] == 0 and tags.tags["link"] == 0
    assert tags.links == []  # nothing fetched from anywhere
    assert tags.tags["svg"] == 1 and tags.tags["rect"] > 10
    text = "".join(tags.text)
    assert '"><img src=x onerror=alert(1)>' in text and "<script>alert(1)</script>" in text


def test_an_empty_log_is_a_report_that_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = report_job(tmp_path)
    history_path(tmp_path).write_bytes(b"")
    code, out, err = cli(capsys, "report", "--job-file", str(job))
    assert code == 0 and err == ""
    assert "The audit log is empty" in out and "0 deleted" in out
    out_file = tmp_path / "r.html"
    code, _, _ = cli(
        capsys, "report", "--job-file", str(job), "--format", "html", "--out", str(out_file)
    )
    assert code == 0 and "The audit log is empty" in out_file.read_text()


def test_a_tampered_log_says_so_at_the_top_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_history(tmp_path)
    log = history_path(tmp_path)
    lines = log.read_bytes().splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if n > 40 and b'"result":"deleted"' in line)
    lines[at] = lines[at].replace(b'"result":"deleted"', b'"result":"failed"')
    log.write_bytes(b"".join(lines))
    code, out, err = cli(capsys, "report", "--job-file", str(job))
    assert code == 1
    assert out.startswith("AUDIT LOG DID NOT VERIFY") and f"seq {at + 1}" in out
    assert "TAMPERED" in err
    code, out, _ = cli(capsys, "report", "--job-file", str(job), "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["audit"]["verified"] is False
    assert report["audit"]["records"] == at  # only what came before the damage
    html = render(report, "html")
    assert html.index('id="unverified"') < html.index("<h1>")


def test_a_torn_tail_is_recovered_as_audit_verify_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_history(tmp_path)
    with open(history_path(tmp_path), "ab") as handle:
        handle.write(b'{"v":1,"seq":203,"ts":"2026-')  # a crash mid-write
    code, out, _ = cli(capsys, "report", "--job-file", str(job), "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["audit"]["verified"] is True
    assert report["audit"]["recovered_torn_lines"] == 1
    assert report["totals"]["deleted"] == 36
    code, out, _ = cli(capsys, "audit", "verify", "--job-file", str(job))
    assert code == 0 and "intact" in out


def test_pending_marks_and_their_names(tmp_path: Path) -> None:
    job = report_job(tmp_path)
    at = datetime(2026, 5, 1, tzinfo=UTC)
    with open(history_path(tmp_path), "wb") as handle:
        w = ChainWriter(handle)
        ref = {"provider": "cohere", "kind": "model"}
        w.add(at, "run.start", "r1", job="nightly", dry_run=False, trigger="manual")
        for n in range(3):
            w.add(at, "delete.marked", "r1", job="nightly", **ref, model_id=f"m{n}",
                  name=f"<b>m{n}</b>", reason="r", deletable_after="2026-05-08T00:00:00Z")  # fmt: skip
        w.add(at, "delete.unmarked", "r1", job="nightly", **ref, model_id="m1", reason="r")
        w.add(at, "run.end", "r1", job="nightly", dry_run=False, status="ok", deleted=0)
        w.run(at + timedelta(days=8), "nightly", [Delete("cohere", "m2")])
    report = build(str(job), None)
    assert [(p["model_id"], p["name"]) for p in report["pending"]] == [("m0", "<b>m0</b>")]
    assert report["pending"][0]["deletable_after"] == "2026-05-08T00:00:00Z"


def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = report_job(tmp_path)
    code, _, err = cli(capsys, "report", "--job-file", str(job))
    assert code == 2 and err.count("\n") == 1 and "no such audit log" in err
    history_path(tmp_path).write_bytes(b"")
    for args in (["--since", "ninety days"], ["--format", "pdf"], ["--out", str(tmp_path)]):
        code, out, err = cli(capsys, "report", "--job-file", str(job), *args)
        assert code == 2 and out == "" and err.count("\n") == 1, args


def test_a_log_in_postgresql(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    url: str = request.getfixturevalue("pg_fresh_url")
    # The job file names the database as a user writes it; libpq's PGOPTIONS picks the
    # test's own schema.
    monkeypatch.setenv("PGOPTIONS", f"-csearch_path={url.rsplit('%3D', 1)[1]}")
    at = [datetime(2026, 1, 15, tzinfo=UTC)]
    chain = open_audit_chain(StateRef(url=url), (), lambda: at[0])
    try:
        for month in (1, 2, 3):
            at[0] = datetime(2026, month, 15, tzinfo=UTC)
            chain.append("run.start", f"r{month}", {"job": "nightly", "dry_run": False})
            for n in range(month):
                fields = {"job": "nightly", "provider": "cohere", "kind": "model"}
                fields |= {"model_id": f"m{month}-{n}", "result": "deleted"}
                chain.append("delete.outcome", f"r{month}", fields)
            end = {"job": "nightly", "dry_run": False, "status": "ok", "deleted": month}
            end |= {"estimated_monthly_savings": 2.0 * month, "unknown_cost": 0}
            chain.append("run.end", f"r{month}", end)
    finally:
        chain.close()
    job = tmp_path / "job.yaml"
    job.write_text(
        report_job(tmp_path)
        .read_text()
        .replace("audit_log: audit.jsonl", "audit_log: state")
        .replace("state: state.sqlite3", f"state: '{url.partition('?')[0]}'")
    )
    report = build(str(job), None)
    assert report["audit"]["verified"] is True
    assert [(m["month"], m["deleted"]) for m in report["months"]] == [
        ("2026-01", 1),
        ("2026-02", 2),
        ("2026-03", 3),
    ]
    assert report["months"][-1]["cumulative_monthly_cost_retired"] == 12.0


def test_a_real_run_and_a_plan_after_it(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the audit sink itself writes: the run's deletes count, the plan's never."""
    job = write_job(tmp_path, demo_job(sim.url))
    assert run_now(job) == 0
    code, _, err = cli(capsys, "plan", job, "--now", NOW_ARG)
    assert code == 0, err
    code, out, err = cli(capsys, "report", "--job-file", job, "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    ends = [r for r in exported(capsys, Path(job)) if r["event"] == "run.end"]
    real = [r for r in ends if not r["dry_run"]]
    assert len(ends) == 2 and len(real) == 1
    totals = report["totals"]
    assert (totals["deleted"], totals["already_absent"], totals["failed"]) == (6, 1, 0)
    assert totals["monthly_cost_retired"] == real[0]["estimated_monthly_savings"]
    assert totals["unknown_cost"] == real[0]["unknown_cost"]
    assert {(p["provider"], p["deleted"]) for p in report["by_provider_kind"]} == {
        ("cohere", 4),
        ("bfl", 2),
    }
    [month] = report["months"]
    assert month["deleted"] == 6 and month["month"] == real[0]["ts"][:7]

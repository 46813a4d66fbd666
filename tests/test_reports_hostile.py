"""``report`` and the status page against audit records that verify but carry values
ftjanitor itself never writes, against odd options, and against a log changed under the
daemon: figures stay sane, every format renders, nothing crashes."""

import http.client
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import tests.statuspage
from runner.clock import parse_instant
from runner.commands.report import build, render
from runner.report import code_span
from runner.reports.follow import ChainSource, Follower
from runner.reports.history import MAX_TEXT
from runner.reports.summary import MAX_FILLED_MONTHS
from runner.rules import LIMIT_TRIPPED
from runner.state import StateRef
from runner.state.open import open_audit_chain
from runner.text import shown
from runner.triggers import build_trigger, next_fire_times
from tests.audit_history import ChainWriter, append_to, history_path, report_job, write_history
from tests.helpers import ROOT, cli
from tests.statuspage import Served

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


@pytest.mark.parametrize("odd", [-7, "3", 2.5, True, None, [3], 10**4299])
def test_odd_counts_never_take_from_the_totals(tmp_path: Path, odd: Any) -> None:
    job = report_job(tmp_path)
    with open(history_path(tmp_path), "wb") as handle:
        w = ChainWriter(handle)
        for n, (deleted, unknown) in enumerate([(4, 0), *[(odd, None)] * 12, (0, odd)]):
            at, run_id = START + timedelta(hours=n), f"r{n}"
            savings = {} if unknown is None else {"estimated_monthly_savings": 1.0}
            w.add(at, "run.start", run_id, job="nightly", dry_run=False, trigger="schedule")
            w.add(at, "run.end", run_id, job="nightly", dry_run=False, status="ok",
                  deleted=deleted, unknown_cost=unknown, **savings)  # fmt: skip
    assert rendered(job)["totals"]["unknown_cost"] == 0


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


def test_out_empty_and_a_log_that_is_a_folder_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = report_job(tmp_path)
    history_path(tmp_path).mkdir()
    code, out, err = cli(capsys, "report", "--job-file", str(job))
    assert code == 2 and out == "" and err.count("\n") == 1 and "not a regular file" in err
    history_path(tmp_path).rmdir()
    history_path(tmp_path).write_bytes(b"")
    code, out, err = cli(capsys, "report", "--job-file", str(job), "--out", "")
    assert code == 2 and out == "" and err.count("\n") == 1 and "--out" in err


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def audit_of(served: Served) -> dict[str, Any]:
    code, body = get(served.port, "/api/status")
    assert code == 200
    (audit,) = strict_json(body.decode())["audit"]
    assert isinstance(audit, dict)
    return audit


@pytest.mark.parametrize("how", ["truncated", "replaced"])
def test_a_log_cut_under_the_daemon_is_not_shown_intact(tmp_path: Path, how: str) -> None:
    """ftjanitor only appends: a log that shrank, or another file put in its place, no
    longer holds what the page read from it, and the page says so."""
    job = write_history(tmp_path)
    served = Served(job)
    try:
        assert audit_of(served)["ok"]
        log = history_path(tmp_path)
        lines = log.read_bytes().splitlines(keepends=True)
        if how == "truncated":
            log.write_bytes(b"".join(lines[: len(lines) // 2]))
        else:
            (tmp_path / "other").write_bytes(b"".join(lines))
            (tmp_path / "other").replace(log)
        audit = audit_of(served)
        assert not audit["ok"] and "truncated or replaced" in audit["message"]
        code, page = get(served.port, "/")
        assert code == 200 and b"truncated or replaced" in page
    finally:
        served.close()


def test_odd_records_on_the_status_page(tmp_path: Path) -> None:
    job = write_history(tmp_path)
    with append_to(history_path(tmp_path)) as w:
        w.add(START, "run.start", "r1", job="nightly", dry_run=False, trigger="schedule")
        for n, ts in enumerate(ODD_TIMES):
            deleted_at(w, ts, f"odd-{n}")
        w.add("0001-01-01T00:00:00Z", "run.end", "r1", job="nightly", dry_run=False,
              status="ok", deleted=9, estimated_monthly_savings=1e308)  # fmt: skip
    served = Served(job)
    try:
        code, body = get(served.port, "/api/status")
        assert code == 200
        savings = strict_json(body.decode())["savings"]
        assert len(savings) <= MAX_FILLED_MONTHS and savings[-1]["month"] == "unknown"
        assert get(served.port, "/")[0] == 200
    finally:
        served.close()


def test_a_clock_at_the_end_of_the_calendar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No fire time is left after year 9999: none, not an error that takes the page down."""
    end = datetime(9999, 12, 31, 23, tzinfo=UTC)
    served_job = write_history(tmp_path)
    monkeypatch.setattr(tests.statuspage, "NOW", end)
    served = Served(served_job)
    try:
        code, body = get(served.port, "/api/status")
        assert code == 200 and json.loads(body)["jobs"][0]["next_fire_time"] is None
        assert get(served.port, "/")[0] == 200
    finally:
        served.close()
    (item,) = served.daemon.scheduled()
    assert next_fire_times(build_trigger(item.spec, UTC), datetime.max.replace(tzinfo=UTC), 1) == []


@pytest.mark.parametrize("last", [b'{"seq": 99, "ts": "x\n', b"\n\n", b"[]\n"])
def test_a_log_whose_last_record_is_unreadable_is_reported_damaged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], last: bytes
) -> None:
    """The audit sink will not open such a log; the report reads it as it is and says
    where it broke, exit 1, in the file asked for, and leaves the log as it was."""
    job = write_history(tmp_path)
    log = history_path(tmp_path)
    log.write_bytes(log.read_bytes() + last)
    before = log.read_bytes()
    out = tmp_path / "report.html"
    code, _, err = cli(
        capsys, "report", "--job-file", str(job), "--format", "html", "--out", str(out)
    )
    assert code == 1 and err.count("\n") == 1 and "TAMPERED or damaged" in err
    assert 'id="unverified"' in out.read_text() and log.read_bytes() == before


@pytest.mark.parametrize("stdout", ["closed", "/dev/full"])
def test_a_stdout_that_takes_nothing_is_one_line(tmp_path: Path, stdout: str) -> None:
    job = write_history(tmp_path)
    args = [sys.executable, "-m", "runner", "report", "--job-file", str(job)]
    with open(os.devnull if stdout == "closed" else stdout, "wb") as sink:
        done = subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=ROOT,
            preexec_fn=(lambda: os.close(1)) if stdout == "closed" else None,
        )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "cannot write the report" in done.stderr


def nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def test_a_line_nested_too_deep_is_unreadable_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """JSON nested past what Python's parser goes is a damaged log everywhere it is read:
    ``audit verify``, the report, the status page."""
    job = write_history(tmp_path)
    log = history_path(tmp_path)
    with open(log, "ab") as handle:
        handle.write(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}\n")
    code, out, err = cli(capsys, "audit", "verify", str(log))
    assert code == 1 and "TAMPERED or damaged" in out + err
    code, out, err = cli(capsys, "report", "--job-file", str(job))
    assert code == 1 and out.startswith("AUDIT LOG DID NOT VERIFY") and err.count("\n") == 1
    served = Served(job)
    try:
        audit = audit_of(served)
        assert not audit["ok"] and audit["records"] > 0
    finally:
        served.close()


def test_fields_that_are_lists_or_objects_are_shown_as_a_mark(tmp_path: Path) -> None:
    """A record that verifies with a list (hundreds deep) or an object where ftjanitor
    writes text: counted as what it is, shown as "?", never its repr."""
    job = report_job(tmp_path)
    deep: dict[str, Any] = {f: nested(900) for f in ("job", "provider", "kind", "model_id")}
    with open(history_path(tmp_path), "wb") as handle:
        w = ChainWriter(handle)
        w.add(START, "run.start", "r1", job="nightly", dry_run=False, trigger=nested(900))
        w.add(START, "delete.outcome", "r1", **deep, result="failed", error={"x": [1]})
        w.add(START, "delete.marked", "r1", **deep, name=nested(900), deletable_after=[1])
    report = rendered(job)
    assert report["audit"]["verified"]
    (failure,) = report["failures"]
    assert (failure["job"], failure["model_id"], failure["error"]) == ("?", "?", "?")
    assert report["pending"][0]["deletable_after"] == "?"


def test_a_job_file_edited_under_the_daemon_shows_at_once(tmp_path: Path) -> None:
    """The page is kept until something it shows changes: the schedule's text and the log
    a job reads are among those, even when no fire time or log moved."""
    job = write_history(tmp_path)
    served = Served(job)
    try:
        assert audit_of(served)["ok"]
        job.write_text(job.read_text().replace("every 1d", "every 24h"))
        assert served.daemon.load()
        code, body = get(served.port, "/api/status")
        assert code == 200 and json.loads(body)["jobs"][0]["schedule"] == "every 24h"
        (tmp_path / "folder").mkdir()
        job.write_text(job.read_text().replace("audit_log: audit.jsonl", "audit_log: folder"))
        assert served.daemon.load()
        audit = audit_of(served)
        assert not audit["ok"] and audit["message"].startswith("cannot read")
    finally:
        served.close()


@pytest.mark.parametrize("odd", ["$1+1$", ":+1:", "1:+1:", "+1", "T0Z"])
def test_markdown_puts_what_only_looks_numeric_in_a_code_span(tmp_path: Path, odd: str) -> None:
    """GitHub renders "$1+1$" as math and ":+1:" as an emoji: an ID or a ts is a code span
    whatever its characters; only counts, amounts and months are left bare."""
    job = report_job(tmp_path)
    with open(history_path(tmp_path), "wb") as handle:
        w = ChainWriter(handle)
        w.add(START, "run.start", "r1", job="nightly", dry_run=False, trigger="schedule")
        deleted_at(w, odd, odd, result="failed")
    markdown = render(build(str(job), None), "markdown")
    (row,) = [line for line in markdown.splitlines() if "boom" in line]
    assert row.count(f"`{odd}`") == 2  # its time and its ID
    assert "| `unknown` | 0 | 1 | 0 | $0.00 | $0.00 |" in markdown  # figures bare


def test_a_request_the_server_cannot_read_is_answered_under_the_page_headers(
    tmp_path: Path,
) -> None:
    """http.server's own error answers (a path too long, too many headers) are plain text
    with the CSP and nosniff of every other answer, and echo nothing of the request."""
    served = Served(write_history(tmp_path))
    try:
        for path, headers in (("/<script>" + "a" * 70_000, 0), ("/api/status", 200)):
            conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
            try:
                conn.putrequest("GET", path)
                for n in range(headers):
                    conn.putheader(f"X-{n}", "y")
                conn.endheaders()
                answer = conn.getresponse()
                body = answer.read()
            finally:
                conn.close()
            assert answer.status in (414, 431) and b"<" not in body
            assert answer.getheader("Content-Type") == "text/plain; charset=utf-8"
            assert answer.getheader("X-Content-Type-Options") == "nosniff"
            assert "default-src 'none'" in (answer.getheader("Content-Security-Policy") or "")
    finally:
        served.close()


def test_long_strings_are_kept_short(tmp_path: Path) -> None:
    """Megabytes in a field (no text ftjanitor writes is that long) are kept to
    ``MAX_TEXT`` characters in what the report lists, so the lists stay small; a limit
    trip still counts by its message's end."""
    job = report_job(tmp_path)
    long = "<x>" * 1_000_000
    ref = {"job": "nightly", "provider": "cohere", "kind": "model", "model_id": long}
    with open(history_path(tmp_path), "wb") as handle:
        w = ChainWriter(handle)
        w.add(START, "run.start", "r1", job="nightly", dry_run=False, trigger="schedule")
        w.add(START, "delete.planned", "r1", **ref, name=long, reason="r")
        w.add(START, "delete.outcome", "r1", **ref, result="failed", error=long)
        w.add(START, "delete.marked", "r1", **ref | {"model_id": "m"}, name=long,
              deletable_after=long)  # fmt: skip
        w.add(START, "run.end", "r1", job="nightly", dry_run=False, status="aborted",
              message=long + LIMIT_TRIPPED)  # fmt: skip
    report = rendered(job)
    assert report["totals"]["limit_trips"] == 1
    listed = [*report["failures"], *report["limit_trips"], *report["pending"]]
    texts = [v for entry in listed for v in entry.values() if isinstance(v, str)]
    assert max(len(text) for text in texts) == MAX_TEXT and len(listed) == 3


@pytest.mark.parametrize("how", ["truncated", "rewritten"])
def test_a_chain_in_postgresql_cut_under_the_daemon(
    request: pytest.FixtureRequest, how: str
) -> None:
    """The same for a chain kept in PostgreSQL: rows read before are gone, or the tip no
    longer matches what was read."""
    import psycopg

    url: str = request.getfixturevalue("pg_fresh_url")
    chain = open_audit_chain(StateRef(url=url), (), lambda: START)
    reader = open_audit_chain(StateRef(url=url))
    try:
        for n in range(3):
            chain.append("run.start", f"r{n}", {"job": "nightly", "dry_run": False})
        follower = Follower(ChainSource(reader))
        follower.refresh()
        assert follower.health.ok and follower.history.records == 3
        with psycopg.connect(url, autocommit=True) as conn:
            if how == "truncated":
                row = conn.execute("SELECT line FROM ftjanitor_audit_log WHERE seq = 1").fetchone()
                assert row is not None
                first = json.loads(row[0])["hash"]
                conn.execute("DELETE FROM ftjanitor_audit_log WHERE seq > 1")
                conn.execute("UPDATE ftjanitor_audit_log_tip SET seq = 1, hash = %s", (first,))
            else:
                conn.execute("UPDATE ftjanitor_audit_log_tip SET hash = %s", ("0" * 64,))
        follower.refresh()
        assert not follower.health.ok and "truncated or replaced" in follower.health.message
    finally:
        chain.close()
        reader.close()


def test_a_fifo_in_the_logs_place_does_not_hang_the_page(tmp_path: Path) -> None:
    """Opening a FIFO waits for a writer; the page would wait with it, holding its lock
    against every later request."""
    job = write_history(tmp_path)
    served = Served(job)
    try:
        assert audit_of(served)["ok"]
        history_path(tmp_path).unlink()
        os.mkfifo(history_path(tmp_path))
        audit = audit_of(served)
        assert not audit["ok"] and "not a regular file" in audit["message"]
    finally:
        served.close()


HOSTILE = "<b>x</b>\n\x1b[31mred\u202egnp.exe\r\x00|`c`|[l](http://e.vil) @admin"


def test_hostile_text_in_every_field_stays_text_in_every_format(tmp_path: Path) -> None:
    """Control characters and bidi marks are escapes on a terminal and in Markdown (where
    every such string is a code span), markup is escaped in HTML, and JSON keeps them exact
    as escapes."""
    job = report_job(tmp_path)
    ref = {"job": HOSTILE, "provider": HOSTILE, "kind": HOSTILE, "model_id": HOSTILE}
    with open(history_path(tmp_path), "wb") as handle:
        w = ChainWriter(handle)
        w.add(START, "run.start", "r1", job=HOSTILE, dry_run=False, trigger=HOSTILE)
        w.add(START, "delete.planned", "r1", **ref, name=HOSTILE, reason=HOSTILE)
        w.add(START, "delete.outcome", "r1", **ref, result="failed", error=HOSTILE)
        w.add(START, "delete.marked", "r1", **ref, name=HOSTILE, deletable_after=HOSTILE)
        w.add(START, "run.end", "r1", job=HOSTILE, dry_run=False, status="aborted",
              message=HOSTILE + LIMIT_TRIPPED)  # fmt: skip
    report = rendered(job)
    assert report["failures"][0]["name"] == HOSTILE  # JSON: exact
    # ...and as text, nothing a terminal would act on: each such character is its escape.
    as_json = render(report, "json")
    assert all(line.isprintable() for line in as_json.splitlines())
    assert json.loads(as_json)["failures"][0]["name"] == HOSTILE
    for form in ("text", "markdown"):
        text = render(report, form)
        assert all(line.isprintable() for line in text.splitlines()), form
        assert "\\x1b[31mred\\u202egnp.exe\\r\\x00" in text
    markdown = render(report, "markdown")
    inner = shown(HOSTILE).replace("|", "\\|")  # each one in a code span, whole
    spans = [code_span(HOSTILE), code_span(HOSTILE + LIMIT_TRIPPED)]
    assert markdown.count(inner) == sum(markdown.count(span) for span in spans) > 5
    page = render(report, "html")
    assert "<b>x" not in page and "&lt;b&gt;x&lt;/b&gt;" in page

"""The daemon's status page (``/``) and ``/api/status``: what they show, how they are
served, and that a request reads only what the audit chain gained since the last one."""

import http.client
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.audit import AuditLog
from runner.reports.follow import ChainSource, FileSource, Follower
from runner.state import StateRef
from runner.state.open import open_audit_chain
from tests.audit_history import Delete, append_to, history_path, write_history
from tests.helpers import listening_port, start_ftjanitor
from tests.statuspage import Served, with_hostile_mark

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def request(port: int, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path)
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        conn.close()


def status_of(port: int) -> dict[str, Any]:
    code, _, body = request(port, "GET", "/api/status")
    assert code == 200
    result: dict[str, Any] = json.loads(body)
    return result


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    page = Served(with_hostile_mark(write_history(tmp_path)))
    yield page
    page.close()


def test_api_status_has_each_job_its_last_run_pending_marks_and_savings(served: Served) -> None:
    status = status_of(served.port)
    assert status["v"] == 1
    [job] = status["jobs"]
    assert job["job"] == "nightly" and job["schedule"] == "every 1d"
    assert job["next_fire_time"] == "2026-07-02T00:00:00.000000Z"
    assert job["last_run"] == {
        "run_id": "r-mark",
        "trigger": "schedule",
        "status": "ok",
        "started": "2026-06-20T00:00:00.000000Z",
        "ended": "2026-06-20T00:00:00.000000Z",
        "deleted": 0,
        "failed": 0,
    }
    assert [p["model_id"] for p in job["pending"]] == ["hostile-1"]
    assert job["pending"][0]["deletable_after"] == "2026-06-27T00:00:00.000000Z"
    savings = status["savings"]
    assert savings[-1]["cumulative_monthly_cost_retired"] == 11710.8
    assert sum(m["deleted"] for m in savings) == 36


def test_the_page_escapes_refreshes_by_meta_and_sends_its_headers(served: Served) -> None:
    code, headers, body = request(served.port, "GET", "/")
    page = body.decode()
    assert code == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert '<meta http-equiv="refresh" content="30">' in page
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;document.title=" in page
    assert 'class="job"' in page and "<svg" in page
    code, headers, _ = request(served.port, "GET", "/api/status")
    assert headers["Content-Type"] == "application/json" and headers["Content-Security-Policy"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
def test_every_method_but_get_and_head_is_405(served: Served, method: str) -> None:
    for path in ("/", "/api/status", "/metrics"):
        code, headers, _ = request(served.port, method, path)
        assert code == 405 and headers["Allow"] == "GET, HEAD", (method, path)


def test_head_answers_without_a_body(served: Served) -> None:
    code, headers, body = request(served.port, "HEAD", "/")
    assert code == 200 and body == b"" and int(headers["Content-Length"]) > 1000


def test_nothing_secret_is_shown(tmp_path: Path) -> None:
    job = write_history(tmp_path)
    text = job.read_text().replace(
        "audit_log:",
        "notify:\n  - {name: owners, url_env: HOOK_URL, events: [marked]}\naudit_log:",
    )
    job.write_text(text.replace("{base_url:", "{api_key_env: SECRET_KEY_VAR, base_url:"))
    served = Served(job)
    try:
        shown = request(served.port, "GET", "/")[2] + request(served.port, "GET", "/api/status")[2]
    finally:
        served.close()
    for secret in (b"HOOK_URL", b"SECRET_KEY_VAR", b"state.sqlite3", b"127.0.0.1:9"):
        assert secret not in shown


def test_a_request_reads_only_what_the_chain_gained(served: Served) -> None:
    first = status_of(served.port)
    follower = next(iter(served.board._followers.values()))
    read = follower.history.records
    assert status_of(served.port) == first and follower.history.records == read  # cached
    with append_to(history_path(Path(served.daemon.paths[0]).parent)) as w:
        w.run(datetime(2026, 6, 30, tzinfo=UTC), "nightly", [Delete("cohere", "late", monthly_cost=5.0)])  # fmt: skip
    after = status_of(served.port)
    assert follower.history.records == read + 5  # start, planned, intent, outcome, end
    assert after["jobs"][0]["last_run"]["deleted"] == 1
    assert after["savings"][-1]["cumulative_monthly_cost_retired"] == 11715.8


def test_a_follower_waits_for_a_line_being_written_and_flags_damage(tmp_path: Path) -> None:
    write_history(tmp_path)
    log = history_path(tmp_path)
    follower = Follower(FileSource(log))
    follower.refresh()
    assert follower.health.ok and follower.history.records == 202
    with open(log, "ab") as handle:
        handle.write(b'{"v":1,"seq":203')  # a writer mid-line: not damage, not yet a record
    follower.refresh()
    assert follower.health.ok and follower.history.records == 202
    with open(log, "ab") as handle:
        handle.write(b',"event":"run.start"}\n')  # ...ended as no record ftjanitor writes
    follower.refresh()
    assert not follower.health.ok and "damaged at seq 203" in follower.health.message
    assert follower.history.records == 202


def test_a_log_not_written_yet_has_no_records_and_one_gone_since_cannot_be_read(
    tmp_path: Path,
) -> None:
    job = write_history(tmp_path)
    log = history_path(tmp_path)
    written = log.read_bytes()
    log.unlink()  # a daemon started before its first run: nothing is wrong yet
    page = Served(job)
    try:
        assert status_of(page.port)["audit"] == [
            {"ok": True, "records": 0, "message": "no records yet"}
        ]
        log.write_bytes(written)
        assert status_of(page.port)["audit"][0]["records"] == 202
        log.unlink()  # gone after it was read: that is wrong
        [audit] = status_of(page.port)["audit"]
        assert not audit["ok"] and audit["message"].startswith("cannot read")
    finally:
        page.close()


def test_schedule_listen_serves_the_page(
    tmp_path: Path, reaper: list[subprocess.Popen[bytes]]
) -> None:
    job = write_history(tmp_path)
    log = tmp_path / "daemon.log"
    daemon = start_ftjanitor(
        ["schedule", str(job), "--listen", "127.0.0.1:0", "--log-format", "json"], log
    )
    reaper.append(daemon)
    port = listening_port(log, daemon)
    status = status_of(port)
    assert [j["job"] for j in status["jobs"]] == ["nightly"]
    assert status["jobs"][0]["last_run"]["status"] == "aborted"  # the limit trip came last
    next_fire = datetime.fromisoformat(status["jobs"][0]["next_fire_time"])
    assert timedelta(0) < next_fire - datetime.now(UTC) <= timedelta(days=1)
    code, headers, body = request(port, "GET", "/")
    assert code == 200 and b"nightly" in body and headers["Content-Security-Policy"] == CSP
    daemon.terminate()
    assert daemon.wait(30) == 0


def test_the_kubernetes_example_keeps_the_port_inside_the_cluster() -> None:
    folder = Path(__file__).resolve().parent.parent / "deploy" / "kubernetes"
    docs = [
        d for f in sorted(folder.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d
    ]
    services = [d for d in docs if d["kind"] == "Service"]
    assert services and all(s["spec"]["type"] == "ClusterIP" for s in services)
    assert not any(d["kind"] in ("Ingress", "Route", "Gateway") for d in docs)
    assert not any("nodePort" in p for s in services for p in s["spec"]["ports"])


def test_a_chain_in_postgresql_is_followed_by_seq(request: pytest.FixtureRequest) -> None:
    url: str = request.getfixturevalue("pg_fresh_url")
    at = [datetime(2026, 5, 1, tzinfo=UTC)]
    chain = open_audit_chain(StateRef(url=url), (), lambda: at[0])
    reader = open_audit_chain(StateRef(url=url))
    try:

        def one_run(n: int) -> None:
            chain.append("run.start", f"r{n}", {"job": "nightly", "dry_run": False})
            outcome = {"job": "nightly", "provider": "cohere", "kind": "model"}
            outcome |= {"model_id": f"m{n}", "result": "deleted"}
            chain.append("delete.outcome", f"r{n}", outcome)
            end = {"job": "nightly", "dry_run": False, "status": "ok", "deleted": 1}
            chain.append("run.end", f"r{n}", end | {"estimated_monthly_savings": 2.0})

        one_run(1)
        follower = Follower(ChainSource(reader))
        follower.refresh()
        assert follower.health.ok and follower.history.records == 3
        at[0] = datetime(2026, 6, 1, tzinfo=UTC)
        one_run(2)
        follower.refresh()
        assert follower.health.ok and follower.history.records == 6  # 3 more read, not 6
        assert follower.history.last_runs["nightly"].run_id == "r2"
        assert {m: f.deleted for m, f in follower.history.months.items()} == {
            "2026-05": 1,
            "2026-06": 1,
        }
    finally:
        chain.close()
        reader.close()


def test_a_file_chain_gives_its_lines_after_a_seq(tmp_path: Path) -> None:
    write_history(tmp_path)
    log = AuditLog(history_path(tmp_path))
    try:
        later = [json.loads(line)["seq"] for line in log.lines(after=200)]
        assert later == [201, 202] and len(list(log.lines())) == 202
    finally:
        log.close()

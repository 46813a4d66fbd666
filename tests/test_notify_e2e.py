"""Notifications end to end: a job file's ``notify:`` list, the CLI, the simulator, and real
HTTP receivers on 127.0.0.1 (one answering 200, one answering 500, one that never answers).

Every webhook URL carries a path and a query shaped like a Slack token: no part of it may
reach stdout, stderr, a log record, the audit log or the state.
"""

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import runner.notify
from runner.audit import read_records, verify
from runner.cli import main
from runner.clock import parse_instant
from runner.simulator import Accounts, Fault, Simulator, cohere_model
from tests import helpers
from tests.conftest import COHERE_KEY
from tests.helpers import TEST_PACE, job_yaml

pytestmark = pytest.mark.timeout(120)

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)  # in the past, whatever today is
NOW_ARG = "2024-03-01T12:00:00Z"
OLD = NOW - timedelta(days=90)
SECRETS = ("T0HOOK9/B0HOOK9/zz9SECRETzz9", "qq7TOKENqq7")
SECRET_BITS = ("zz9SECRETzz9", "qq7TOKENqq7", "T0HOOK9", "B0HOOK9")


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on the hanging receiver is expected


class Receiver:
    """A real webhook receiver in a thread: ok (200), fail (500) or hang (never answers)."""

    def __init__(self, behaviour: str):
        self.behaviour = behaviour
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the access log would print the secret path

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw)}
                )
                if receiver.behaviour == "hang":
                    receiver.release.wait(30)
                    self.close_connection = True
                    return
                status = 200 if receiver.behaviour == "ok" else 500
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"no")

        self.server = _Quiet(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}/services/{SECRETS[0]}?token={SECRETS[1]}"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests]

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    with (
        Receiver("ok") as ok_json,
        Receiver("ok") as ok_slack,
        Receiver("fail") as failing,
        Receiver("hang") as hanging,
    ):
        yield {"json": ok_json, "slack": ok_slack, "fail": failing, "hang": hanging}


@pytest.fixture(autouse=True)
def short_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine builds its Notifier with these: keep a dead receiver from costing 30 s."""
    monkeypatch.setattr(runner.notify, "TIMEOUT", 0.3)
    monkeypatch.setattr(runner.notify, "ATTEMPTS", 2)
    monkeypatch.setattr(runner.notify, "BACKOFF", 0.01)


def accounts() -> Accounts:
    acc = Accounts()
    for i in range(1, 5):  # sweep: exp-3's delete is refused
        acc.add_cohere(cohere_model(f"m-exp-{i}", f"exp-{i}", "STATUS_READY", OLD))
    for i in range(1, 3):  # slow: marked
        acc.add_cohere(cohere_model(f"m-tmp-{i}", f"tmp-{i}", "STATUS_READY", OLD))
    for i in range(1, 4):  # capped: over its max_deletions of 1
        acc.add_cohere(cohere_model(f"m-big-{i}", f"big-{i}", "STATUS_READY", OLD))
    acc.add_cohere(cohere_model("m-young", "exp-young", "STATUS_READY", NOW - timedelta(days=1)))
    acc.sort()
    return acc


@pytest.fixture
def nsim() -> Iterator[Simulator]:
    with Simulator(accounts(), cohere_key=COHERE_KEY) as server:
        yield server


ALL = "[marked, deleted, failed, limit]"
JOBS = """jobs:
  - name: sweep
    targets:
      - {provider: cohere, name: "exp-*", older_than: 30d}
  - name: slow
    grace: 7d
    targets:
      - {provider: cohere, name: "tmp-*", older_than: 30d}
  - name: capped
    max_deletions: 1
    targets:
      - {provider: cohere, name: "big-*", older_than: 30d}
"""


def write_job(tmp_path: Path, sim: Simulator, notify: str, jobs: str = JOBS) -> str:
    cohere = {"base_url": sim.url, "concurrency": 4, "requests_per_minute": TEST_PACE}
    top = f"notify:\n{notify}\n"
    return helpers.write_job(
        tmp_path, job_yaml({"cohere": cohere}, jobs.removeprefix("jobs:\n"), top)
    )


def hooks(monkeypatch: pytest.MonkeyPatch, receivers: dict[str, Receiver]) -> None:
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    for name, receiver in receivers.items():
        monkeypatch.setenv(f"HOOK_{name.upper()}", receiver.url)


def audit(tmp_path: Path) -> list[dict[str, Any]]:
    return list(read_records(tmp_path / "audit" / "ftjanitor.jsonl"))


def run_ids(records: list[dict[str, Any]]) -> dict[str, str]:
    return {r["job"]: r["run_id"] for r in records if r["event"] == "run.start"}


def refused(sim: Simulator) -> None:
    sim.faults = [
        Fault("status", method="DELETE", path="/v1/finetuning/finetuned-models/m-exp-3", status=400)
    ]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for bit in SECRET_BITS:
            assert bit not in text


def state_bytes(tmp_path: Path) -> str:
    return "".join(
        f.read_bytes().decode("latin-1") for f in (tmp_path / "state").iterdir() if f.is_file()
    )


def test_each_event_kind_is_one_post_per_run_with_the_right_body(
    tmp_path: Path,
    nsim: Simulator,
    receivers: dict[str, Receiver],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hooks(monkeypatch, receivers)
    notify = (
        f"  - {{name: ops, url_env: HOOK_JSON, format: json, events: {ALL}}}\n"
        f"  - {{name: chat, url_env: HOOK_SLACK, format: slack, events: {ALL}}}"
    )
    job = write_job(tmp_path, nsim, notify)
    refused(nsim)
    # exit 1: a delete failed (sweep) and a limit tripped (capped); the notices changed nothing.
    assert main(["run", job, "--yes", "--now", NOW_ARG]) == 1
    capsys.readouterr()
    assert sorted(m for _, m in nsim.deleted) == ["m-exp-1", "m-exp-2", "m-exp-4"]
    records = audit(tmp_path)
    ids = run_ids(records)
    reasons = {
        (r["run_id"], r["model_id"]): r["reason"]
        for r in records
        if r["event"] in ("delete.planned", "delete.marked")
    }
    limit_message = next(
        r["message"] for r in records if r["event"] == "run.end" and r["job"] == "capped"
    )

    def models(job_name: str, *model_ids: str) -> list[dict[str, Any]]:
        return [
            {
                "provider": "cohere",
                "kind": "model",
                "model_id": model_id,
                "name": model_id.removeprefix("m-"),
                "reason": reasons[(ids[job_name], model_id)],
            }
            for model_id in model_ids
        ]

    # json: exactly one POST per job run and event kind, nothing for kinds with nothing to say.
    posts = receivers["json"].requests
    assert sorted((p["body"]["job"], p["body"]["event"]) for p in posts) == [
        ("capped", "ftjanitor.limit"),
        ("slow", "ftjanitor.marked"),
        ("sweep", "ftjanitor.deleted"),
        ("sweep", "ftjanitor.failed"),
    ]
    by_event = {p["body"]["event"]: p for p in posts}
    deleted = by_event["ftjanitor.deleted"]["body"]
    assert {**deleted, "models": sorted(deleted["models"], key=lambda m: m["model_id"])} == {
        "event": "ftjanitor.deleted",
        "job": "sweep",
        "run_id": ids["sweep"],
        "count": 3,
        "models": models("sweep", "m-exp-1", "m-exp-2", "m-exp-4"),
        "truncated": False,
    }
    assert by_event["ftjanitor.failed"]["body"] == {
        "event": "ftjanitor.failed",
        "job": "sweep",
        "run_id": ids["sweep"],
        "count": 1,
        "models": models("sweep", "m-exp-3"),
        "truncated": False,
    }
    marked = by_event["ftjanitor.marked"]["body"]
    assert {**marked, "models": sorted(marked["models"], key=lambda m: m["model_id"])} == {
        "event": "ftjanitor.marked",
        "job": "slow",
        "run_id": ids["slow"],
        "count": 2,
        "models": models("slow", "m-tmp-1", "m-tmp-2"),
        "truncated": False,
    }
    assert by_event["ftjanitor.limit"]["body"] == {
        "event": "ftjanitor.limit",
        "job": "capped",
        "run_id": ids["capped"],
        "count": 1,
        "models": [],
        "truncated": False,
        "message": limit_message,
    }
    assert "over its max_deletions of 1" in limit_message
    for post in posts:
        kind = post["body"]["event"].removeprefix("ftjanitor.")
        headers = {k.lower(): v for k, v in post["headers"].items()}
        assert headers["content-type"] == "application/json"
        assert headers["idempotency-key"] == f"{post['body']['run_id']}:{kind}"

    # slack: the same four POSTs, each {"text": ...} naming the job, the count and the models.
    slack = receivers["slack"].bodies
    assert len(slack) == 4 and all(set(body) == {"text"} for body in slack)
    by_headline = {body["text"].splitlines()[0]: body["text"] for body in slack}
    assert set(by_headline) == {
        f"ftjanitor job sweep: 3 models deleted (run {ids['sweep']})",
        f"ftjanitor job sweep: 1 deletion failed (run {ids['sweep']})",
        f"ftjanitor job slow: 2 models marked for deletion (run {ids['slow']})",
        f"ftjanitor job capped: stopped by a safety limit, nothing deleted (run {ids['capped']})",
    }
    lines = {
        h.split(":", 1)[1].split("(run")[0].strip(): t.splitlines()[1:]
        for h, t in by_headline.items()
    }
    assert sorted(lines["3 models deleted"]) == [
        f"• cohere m-exp-{i} (exp-{i}) — {reasons[(ids['sweep'], f'm-exp-{i}')]}" for i in (1, 2, 4)
    ]
    assert lines["1 deletion failed"] == [
        f"• cohere m-exp-3 (exp-3) — {reasons[(ids['sweep'], 'm-exp-3')]}"
    ]
    assert lines["stopped by a safety limit, nothing deleted"] == [limit_message]
    marks = {r["model_id"]: r for r in records if r["event"] == "delete.marked"}
    for line in lines["2 models marked for deletion"]:
        model_id = line.split()[2]
        assert line.startswith(f"• cohere {model_id} ({model_id.removeprefix('m-')}) — ")
        after = line.rsplit("(deletable after ", 1)[1].rstrip(")")
        assert datetime.fromisoformat(after) == parse_instant(marks[model_id]["deletable_after"])
    assert sorted(marks) == ["m-tmp-1", "m-tmp-2"]

    # The audit says each delivery was sent: one notify.sent per POST, in the run it belongs to.
    sent = [r for r in records if r["event"].startswith("notify.")]
    assert {r["event"] for r in sent} == {"notify.sent"}
    assert sorted((r["notifier"], r["job"], r["kind"], r["count"]) for r in sent) == sorted(
        (name, job_name, kind, count)
        for name in ("ops", "chat")
        for job_name, kind, count in (
            ("sweep", "deleted", 3),
            ("sweep", "failed", 1),
            ("slow", "marked", 2),
            ("capped", "limit", 1),
        )
    )
    assert all(r["run_id"] == ids[r["job"]] for r in sent)
    assert verify(tmp_path / "audit" / "ftjanitor.jsonl").ok


def test_failing_and_hanging_receivers_leave_the_run_alone(
    tmp_path: Path,
    nsim: Simulator,
    receivers: dict[str, Receiver],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3 logs request paths: they must come out redacted
    hooks(monkeypatch, receivers)
    notify = (
        f"  - {{name: good, url_env: HOOK_JSON, events: {ALL}}}\n"
        f"  - {{name: broken, url_env: HOOK_FAIL, format: slack, events: {ALL}}}\n"
        f"  - {{name: silent, url_env: HOOK_HANG, format: json, events: {ALL}}}"
    )
    jobs = JOBS.split("  - name: capped")[0]  # sweep and slow: nothing fails, nothing trips
    job = write_job(tmp_path, nsim, notify, jobs)
    assert main(["run", job, "--yes", "--now", NOW_ARG]) == 0
    out, err = capsys.readouterr()
    assert sorted(m for _, m in nsim.deleted) == ["m-exp-1", "m-exp-2", "m-exp-3", "m-exp-4"]
    records = audit(tmp_path)
    assert [r["status"] for r in records if r["event"] == "run.end"] == ["ok", "ok"]
    deliveries = sorted(
        (r["notifier"], r["job"], r["kind"], r["event"])
        for r in records
        if r["event"].startswith("notify.")
    )
    assert deliveries == sorted(
        (name, job_name, kind, "notify.sent" if name == "good" else "notify.failed")
        for name in ("good", "broken", "silent")
        for job_name, kind in (("sweep", "deleted"), ("slow", "marked"))
    )
    errors = {
        (r["notifier"], r["job"]): r["error"] for r in records if r["event"] == "notify.failed"
    }
    assert errors[("broken", "sweep")] == "HTTP 500 after 2 attempts"
    assert (
        "timed out" in errors[("silent", "sweep")]
        or "no complete answer" in errors[("silent", "sweep")]
    )
    # The 500 receiver was retried (2 attempts) once per run; the silent one got its POSTs.
    assert len(receivers["fail"].requests) == 4
    assert {(b["job"], b["event"]) for b in receivers["json"].bodies} == {
        ("sweep", "ftjanitor.deleted"),
        ("slow", "ftjanitor.marked"),
    }
    assert receivers["hang"].requests and all(
        r["body"]["event"] in ("ftjanitor.deleted", "ftjanitor.marked")
        for r in receivers["hang"].requests
    )
    # The URL is a secret: not in the output, the logs, the audit or the state.
    audit_text = (tmp_path / "audit" / "ftjanitor.jsonl").read_text()
    assert "notify.failed" in audit_text
    assert_no_secret(out, err, caplog.text, audit_text, state_bytes(tmp_path))
    for receiver in receivers.values():
        assert receiver.url not in out + err + caplog.text + audit_text
    assert verify(tmp_path / "audit" / "ftjanitor.jsonl").ok


def test_a_failed_delete_still_exits_1_and_notifies(
    tmp_path: Path,
    nsim: Simulator,
    receivers: dict[str, Receiver],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hooks(monkeypatch, receivers)
    notify = f"  - {{name: broken, url_env: HOOK_FAIL, events: {ALL}}}"
    job = write_job(tmp_path, nsim, notify, JOBS.split("  - name: slow")[0])
    refused(nsim)
    assert main(["run", job, "--yes", "--now", NOW_ARG]) == 1  # the failed delete, nothing else
    out, err = capsys.readouterr()
    records = audit(tmp_path)
    assert [r["status"] for r in records if r["event"] == "run.end"] == ["partial"]
    failed = sorted(r["kind"] for r in records if r["event"] == "notify.failed")
    assert failed == ["deleted", "failed"]
    assert_no_secret(out, err, (tmp_path / "audit" / "ftjanitor.jsonl").read_text())


@pytest.mark.parametrize("command", [["plan"], ["run", "--dry-run"]], ids=["plan", "run --dry-run"])
def test_a_dry_run_notifies_nobody(
    tmp_path: Path,
    nsim: Simulator,
    receivers: dict[str, Receiver],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    hooks(monkeypatch, receivers)
    notify = "\n".join(
        f"  - {{name: n{name}, url_env: HOOK_{name.upper()}, events: {ALL}}}" for name in receivers
    )
    job = write_job(tmp_path, nsim, notify)
    refused(nsim)
    assert main([*command, job, "--now", NOW_ARG]) == 1  # capped's limit, as a run would
    out, err = capsys.readouterr()
    assert "would delete" in out
    assert all(r.requests == [] for r in receivers.values())
    assert nsim.mutations() == []
    assert [r for r in audit(tmp_path) if r["event"].startswith("notify.")] == []
    assert_no_secret(out, err)
    # Nobody is told, so the URLs are not even needed.
    for name in receivers:
        monkeypatch.delenv(f"HOOK_{name.upper()}")
    assert main([*command, job, "--now", NOW_ARG]) == 1
    assert "not set" not in capsys.readouterr().err
    assert all(r.requests == [] for r in receivers.values())

"""Webhook notifications against real HTTP receivers on 127.0.0.1.

Every receiver listens on a path shaped like a Slack webhook token: that path is the secret
that must never show up in a Notified error, a log record or anything printed.
"""

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema
import pytest

from runner.errors import ConfigError
from runner.events import (
    Counts,
    Event,
    Fanout,
    LimitTripped,
    Marked,
    ModelRef,
    Notified,
    Outcome,
    Planned,
    RunEnded,
    RunStarted,
)
from runner.jobfile.model import NotifyTarget
from runner.jobfile.schema import build_schema, notify_schema
from runner.jobfile.validate import notify_targets
from runner.notify import (
    Notifier,
    resolve_urls,
    slack_escape,
    url_secrets,
)
from runner.ref import ResourceRef
from tests.helpers import refused_port

pytestmark = pytest.mark.timeout(60)

SECRET_PATH = "/services/T000/B000/XXXXSECRET"
SECRET_BITS = ("XXXXSECRET", "/services/T000", "T000/B000")
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ALL_KINDS = ("marked", "deleted", "failed", "limit")


# --- receivers ----------------------------------------------------------------------------


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up mid-answer (the trickle, the hang) is expected


class Receiver:
    """A real HTTP server in a thread. ``behaviour`` decides each answer:
    ok (200), fail (500 always), flaky (500 once, then 200), hang (never answers),
    trickle (starts an answer and drips one byte at a time), redirect (302)."""

    def __init__(self, behaviour: str):
        self.behaviour = behaviour
        self.requests: list[dict[str, Any]] = []
        self.stop = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the server's own access log would print the secret path

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                receiver.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw)}
                )
                mode = receiver.behaviour
                if mode == "flaky":
                    mode = "fail" if len(receiver.requests) == 1 else "ok"
                if mode == "hang":
                    receiver.stop.wait(10)
                    self.close_connection = True
                    return
                if mode == "trickle":
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                    while not receiver.stop.wait(0.05):
                        self.wfile.write(b"a")
                        self.wfile.flush()
                    self.close_connection = True
                    return
                status = {"ok": 200, "fail": 500, "redirect": 302}[mode]
                answer = b"ok" if status == 200 else b"nope"
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere" + SECRET_PATH)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}?token=QQQQSECRET"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [request["body"] for request in self.requests]

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Callable[[str], Receiver]]:
    started: list[Receiver] = []

    def start(behaviour: str) -> Receiver:
        server = Receiver(behaviour).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__()


# --- helpers ------------------------------------------------------------------------------


def target(
    name: str = "hook", fmt: str = "json", events: tuple[str, ...] = ALL_KINDS
) -> NotifyTarget:
    return NotifyTarget(name=name, url_env="HOOK_URL", format=fmt, events=events)  # type: ignore[arg-type]


def model(i: int, name: str | None = "exp", conn: str = "cohere") -> ModelRef:
    return ModelRef(
        ResourceRef.on(conn, f"ft-{i:04d}"),
        None if name is None else f"{name}-{i}",
        "older than 30d",
    )


def started(run_id: str = "run-1", job: str = "nightly", dry_run: bool = False) -> RunStarted:
    return RunStarted(job, run_id, dry_run, "manual", "jobs/nightly.yaml", "0" * 64, NOW)


def ended(run_id: str = "run-1", job: str = "nightly", dry_run: bool = False) -> RunEnded:
    return RunEnded(job, run_id, dry_run, "ok", Counts())


def outcome(ref: ModelRef, result: str, run_id: str = "run-1", job: str = "nightly") -> Outcome:
    status = 200 if result == "deleted" else 500
    error = None if result == "deleted" else "HTTP 500: boom"
    return Outcome(job, run_id, ref, result, status, 1, error)


def marked(ref: ModelRef, run_id: str = "run-1") -> Marked:
    return Marked("nightly", run_id, ref, NOW + timedelta(days=7))


class Recorder:
    """The ``emit`` callback: what the notifier reports back to the event stream."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    @property
    def notified(self) -> list[Notified]:
        return [event for event in self.events if isinstance(event, Notified)]


def make(
    url: str,
    *targets: NotifyTarget,
    timeout: float = 2.0,
    attempts: int = 3,
    backoff: float = 0.0,
) -> tuple[Notifier, Recorder]:
    chosen = targets or (target(),)
    recorder = Recorder()
    notifier = Notifier(
        chosen,
        {t.name: url for t in chosen},
        emit=recorder,
        timeout=timeout,
        attempts=attempts,
        backoff=backoff,
    )
    return notifier, recorder


def play(notifier: Notifier, *events: Event, run_id: str = "run-1", dry_run: bool = False) -> None:
    notifier.emit(started(run_id, dry_run=dry_run))
    for event in events:
        notifier.emit(event)
    notifier.emit(ended(run_id, dry_run=dry_run))


def model_item(ref: ModelRef) -> dict[str, Any]:
    return {
        "provider": ref.ref.connection,
        "kind": "model",
        "model_id": ref.ref.id,
        "name": ref.name,
        "reason": ref.reason,
    }


# --- json bodies --------------------------------------------------------------------------


@pytest.mark.parametrize("result", ["deleted", "failed"])
def test_json_body_for_outcomes(receiver: Callable[[str], Receiver], result: str) -> None:
    server = receiver("ok")
    notifier, recorder = make(server.url, target(events=(result,)))
    refs = [model(1), model(2, name=None, conn="bfl-eu")]
    other = "failed" if result == "deleted" else "deleted"
    play(
        notifier,
        outcome(refs[0], result),
        outcome(model(3), other),
        outcome(model(4), "already_absent"),
        outcome(refs[1], result),
    )
    assert server.bodies == [
        {
            "event": f"ftjanitor.{result}",
            "job": "nightly",
            "run_id": "run-1",
            "count": 2,
            "models": [model_item(ref) for ref in refs],
            "truncated": False,
        }
    ]
    headers = server.requests[0]["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("ftjanitor/")
    assert headers["Idempotency-Key"] == f"run-1:{result}"
    assert server.requests[0]["path"] == SECRET_PATH + "?token=QQQQSECRET"
    assert recorder.notified == [Notified("nightly", "run-1", "hook", result, True, 2, None)]


def test_json_body_for_marked(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("ok")
    notifier, recorder = make(server.url, target(events=("marked",)))
    refs = [model(1), model(2)]
    play(notifier, *[marked(ref) for ref in refs], outcome(model(3), "deleted"))
    assert server.bodies == [
        {
            "event": "ftjanitor.marked",
            "job": "nightly",
            "run_id": "run-1",
            "count": 2,
            "models": [model_item(ref) for ref in refs],
            "truncated": False,
        }
    ]
    assert [n.kind for n in recorder.notified] == ["marked"]


def test_json_body_for_limit(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("ok")
    notifier, recorder = make(server.url, target(events=("limit",)))
    message = "would delete 80 models, more than max_deletions 50: nothing deleted"
    play(notifier, LimitTripped("nightly", "run-1", message))
    assert server.bodies == [
        {
            "event": "ftjanitor.limit",
            "job": "nightly",
            "run_id": "run-1",
            "count": 1,
            "models": [],
            "truncated": False,
            "message": message,
        }
    ]
    assert recorder.notified == [Notified("nightly", "run-1", "hook", "limit", True, 1, None)]


def test_json_truncates_at_100_but_counts_all(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("ok")
    notifier, recorder = make(server.url, target(events=("deleted",)))
    refs = [model(i) for i in range(150)]
    play(notifier, *[outcome(ref, "deleted") for ref in refs])
    (body,) = server.bodies
    assert body["count"] == 150
    assert body["truncated"] is True
    assert body["models"] == [model_item(ref) for ref in refs[:100]]
    assert recorder.notified[0].count == 150


def test_exactly_100_is_not_truncated(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("ok")
    notifier, _ = make(server.url, target(events=("failed",)))
    play(notifier, *[outcome(model(i), "failed") for i in range(100)])
    (body,) = server.bodies
    assert (body["count"], len(body["models"]), body["truncated"]) == (100, 100, False)


# --- slack bodies -------------------------------------------------------------------------


def test_slack_body_names_job_count_and_models(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("ok")
    notifier, _ = make(server.url, target(fmt="slack", events=("deleted",)))
    refs = [model(1), model(2, name=None)]
    play(notifier, *[outcome(ref, "deleted") for ref in refs])
    (body,) = server.bodies
    assert list(body) == ["text"]
    lines = body["text"].split("\n")
    assert lines == [
        "ftjanitor job nightly: 2 models deleted (run run-1)",
        "• cohere ft-0001 (exp-1) — older than 30d",
        "• cohere ft-0002 — older than 30d",
    ]


def test_slack_escapes_mentions_links_and_control_characters(
    receiver: Callable[[str], Receiver],
) -> None:
    server = receiver("ok")
    notifier, _ = make(server.url, target(fmt="slack", events=("failed",)))
    evil = ModelRef(
        ResourceRef.on("co<!channel>", "ft-1\x1b[31m"),
        "<@here> & <https://evil.example|click>\nftjanitor job prod: 0 models deleted\u2028x\x85y",
        "reason\r\x00",
    )
    play(notifier, outcome(evil, "failed"))
    text = server.bodies[0]["text"]
    lines = text.split("\n")
    assert len(lines) == 2  # the headline and one model line: no forged line
    assert lines[1] == (
        "• co&lt;!channel&gt; ft-1\\u001b[31m (&lt;@here&gt; &amp; "
        "&lt;https://evil.example|click&gt;\\u000aftjanitor job prod: 0 models deleted"
        "\\u2028x\\u0085y) — reason\\u000d\\u0000"
    )
    for raw in ("<", ">", "\x1b", "\r", "\x00", "\u2028", "\x85"):
        assert raw not in text


def test_slack_lists_20_models_then_and_n_more(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("ok")
    notifier, _ = make(server.url, target(fmt="slack", events=("marked",)))
    play(notifier, *[marked(model(i)) for i in range(150)])
    lines = server.bodies[0]["text"].split("\n")
    assert lines[0] == "ftjanitor job nightly: 150 models marked for deletion (run run-1)"
    assert len(lines) == 1 + 20 + 1
    assert (
        lines[1]
        == "• cohere ft-0000 (exp-0) — older than 30d (deletable after 2026-06-08T12:00:00+00:00)"
    )
    assert lines[-1] == "…and 130 more"


def test_slack_limit_says_why(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("ok")
    notifier, _ = make(server.url, target(fmt="slack", events=("limit",)))
    play(notifier, LimitTripped("nightly", "run-1", "would delete 80 > max_deletions 50"))
    assert server.bodies == [
        {
            "text": "ftjanitor job nightly: stopped by a safety limit, nothing deleted (run run-1)\n"
            "would delete 80 &gt; max_deletions 50"
        }
    ]


def test_slack_escape_is_total() -> None:
    assert slack_escape("a&b<c>d") == "a&amp;b&lt;c&gt;d"
    assert slack_escape("\x00\x1f\x7f\x9f") == "\\u0000\\u001f\\u007f\\u009f"
    assert slack_escape("\u202eevil") == "\\u202eevil"  # bidi override
    assert slack_escape("ü ñ 模型") == "ü ñ 模型"


# --- what is sent, how often --------------------------------------------------------------


def test_one_post_per_kind_per_run_however_many_events(
    receiver: Callable[[str], Receiver],
) -> None:
    server = receiver("ok")
    notifier, recorder = make(server.url)
    events: list[Event] = []
    for i in range(30):
        events += [marked(model(i)), outcome(model(100 + i), "deleted")]
    events += [outcome(model(200 + i), "failed") for i in range(10)]
    events += [Planned("nightly", "run-1", model(300))]
    events += [LimitTripped("nightly", "run-1", "too many")]
    play(notifier, *events)
    assert [body["event"] for body in server.bodies] == [f"ftjanitor.{k}" for k in ALL_KINDS]
    assert [body["count"] for body in server.bodies] == [30, 30, 10, 1]
    assert [(n.kind, n.ok, n.count) for n in recorder.notified] == [
        ("marked", True, 30),
        ("deleted", True, 30),
        ("failed", True, 10),
        ("limit", True, 1),
    ]


def test_unsubscribed_and_empty_kinds_are_not_sent(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("ok")
    notifier, recorder = make(server.url, target(events=("failed", "limit")))
    play(notifier, marked(model(1)), outcome(model(2), "deleted"), outcome(model(3), "failed"))
    assert [body["event"] for body in server.bodies] == ["ftjanitor.failed"]
    assert [n.kind for n in recorder.notified] == ["failed"]


def test_nothing_happened_nothing_sent(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("ok")
    notifier, recorder = make(server.url)
    play(notifier, Planned("nightly", "run-1", model(1)), outcome(model(2), "already_absent"))
    assert server.requests == []
    assert recorder.events == []


@pytest.mark.parametrize("how", ["run.start", "run.end"])
def test_dry_run_notifies_nobody(receiver: Callable[[str], Receiver], how: str) -> None:
    server = receiver("ok")
    notifier, recorder = make(server.url)
    events: list[Event] = [marked(model(1)), outcome(model(2), "deleted")]
    events.append(LimitTripped("nightly", "run-1", "too many"))
    if how == "run.start":  # RunStarted says dry run, even if RunEnded forgot to
        notifier.emit(started(dry_run=True))
        for event in events:
            notifier.emit(event)
        notifier.emit(ended(dry_run=False))
    else:
        play(notifier, *events, dry_run=True)
    assert server.requests == []
    assert recorder.events == []


def test_latest_outcome_per_model_wins(receiver: Callable[[str], Receiver]) -> None:
    """A transient failure retried into a deletion is reported as deleted only."""
    server = receiver("ok")
    notifier, _ = make(server.url, target(events=("deleted", "failed")))
    play(
        notifier,
        outcome(model(1), "failed"),
        outcome(model(2), "failed"),
        outcome(model(1), "deleted"),
    )
    assert [(body["event"], body["count"]) for body in server.bodies] == [
        ("ftjanitor.deleted", 1),
        ("ftjanitor.failed", 1),
    ]
    assert server.bodies[0]["models"][0]["model_id"] == "ft-0001"
    assert server.bodies[1]["models"][0]["model_id"] == "ft-0002"


def test_interleaved_runs_are_kept_apart(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("ok")
    notifier, _ = make(server.url, target(events=("deleted",)))
    notifier.emit(started("run-a", job="a"))
    notifier.emit(started("run-b", job="b"))
    notifier.emit(outcome(model(1), "deleted", run_id="run-a", job="a"))
    notifier.emit(outcome(model(2), "deleted", run_id="run-b", job="b"))
    notifier.emit(outcome(model(3), "deleted", run_id="run-b", job="b"))
    notifier.emit(ended("run-b", job="b"))
    notifier.emit(ended("run-a", job="a"))
    assert [(b["job"], b["run_id"], b["count"]) for b in server.bodies] == [
        ("b", "run-b", 2),
        ("a", "run-a", 1),
    ]


def test_every_target_gets_its_own_post(receiver: Callable[[str], Receiver]) -> None:
    ok, slack = receiver("ok"), receiver("ok")
    recorder = Recorder()
    targets = (target("ops", events=("deleted",)), target("chat", "slack", ("deleted", "failed")))
    notifier = Notifier(targets, {"ops": ok.url, "chat": slack.url}, emit=recorder)
    play(notifier, outcome(model(1), "deleted"), outcome(model(2), "failed"))
    assert [b["event"] for b in ok.bodies] == ["ftjanitor.deleted"]
    assert [list(b) for b in slack.bodies] == [["text"], ["text"]]
    assert [(n.notifier, n.kind) for n in recorder.notified] == [
        ("ops", "deleted"),
        ("chat", "deleted"),
        ("chat", "failed"),
    ]


def test_notified_flows_back_through_the_stream_without_looping(
    receiver: Callable[[str], Receiver],
) -> None:
    """Wired as the docs say: emit -> the Fanout that also feeds the notifier itself."""
    server = receiver("ok")
    seen: list[Event] = []

    class Audit:
        def emit(self, event: Event) -> None:
            seen.append(event)

    stream = Fanout([Audit()])
    notifier = Notifier([target(events=("deleted",))], {"hook": server.url}, emit=stream.emit)
    stream.extend([notifier])
    stream.emit(started())
    stream.emit(outcome(model(1), "deleted"))
    stream.emit(ended())
    assert [type(e).__name__ for e in seen] == ["RunStarted", "Outcome", "RunEnded", "Notified"]
    assert len(server.requests) == 1


# --- delivery results ---------------------------------------------------------------------


def test_500_is_retried_then_reported_failed(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("fail")
    notifier, recorder = make(server.url, target(events=("deleted",)), attempts=3)
    play(notifier, outcome(model(1), "deleted"))
    assert len(server.requests) == 3
    assert recorder.notified == [
        Notified("nightly", "run-1", "hook", "deleted", False, 1, "HTTP 500 after 3 attempts")
    ]


def test_a_500_then_200_is_sent(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("flaky")
    notifier, recorder = make(server.url, target(events=("deleted",)), backoff=0.01)
    play(notifier, outcome(model(1), "deleted"))
    assert len(server.requests) == 2
    assert server.bodies[0] == server.bodies[1]
    assert recorder.notified == [Notified("nightly", "run-1", "hook", "deleted", True, 1, None)]


def test_a_hanging_receiver_times_out_fast(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("hang")
    notifier, recorder = make(server.url, target(events=("deleted",)), timeout=0.3, attempts=2)
    began = time.monotonic()
    play(notifier, outcome(model(1), "deleted"))
    elapsed = time.monotonic() - began
    assert elapsed < notifier.max_seconds_per_post
    assert len(server.requests) == 2
    assert recorder.notified == [
        Notified("nightly", "run-1", "hook", "deleted", False, 1, "timed out after 2 attempts")
    ]


def test_a_dead_receiver_costs_one_post_per_run(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("hang")
    notifier, recorder = make(server.url, timeout=0.3, attempts=2)
    began = time.monotonic()
    play(notifier, outcome(model(1), "deleted"), outcome(model(2), "failed"))
    assert time.monotonic() - began < notifier.max_seconds_per_post
    assert len(server.requests) == 2  # the two attempts of the first kind only
    assert [(n.kind, n.ok, n.error) for n in recorder.notified] == [
        ("deleted", False, "timed out after 2 attempts"),
        ("failed", False, "not sent: timed out after 2 attempts earlier in this run"),
    ]


def test_a_trickling_receiver_is_cut_off_by_the_watchdog(
    receiver: Callable[[str], Receiver],
) -> None:
    """Each byte arrives within the read timeout, so only the overall bound stops it."""
    server = receiver("trickle")
    notifier, recorder = make(server.url, target(events=("deleted",)), timeout=0.3, attempts=1)
    began = time.monotonic()
    play(notifier, outcome(model(1), "deleted"))
    elapsed = time.monotonic() - began
    assert notifier.max_seconds_per_post <= elapsed < notifier.max_seconds_per_post + 1.0
    (notified,) = recorder.notified
    assert not notified.ok
    assert notified.error == f"no complete answer within {notifier.max_seconds_per_post:.1f}s"


def test_connection_refused(receiver: Callable[[str], Receiver]) -> None:
    with refused_port() as port:
        url = f"http://127.0.0.1:{port}{SECRET_PATH}"
        notifier, recorder = make(url, target(events=("deleted",)), attempts=2)
        play(notifier, outcome(model(1), "deleted"))
    assert [(n.ok, n.error) for n in recorder.notified] == [
        (False, "connection refused after 2 attempts")
    ]


def test_redirects_are_not_followed(receiver: Callable[[str], Receiver]) -> None:
    server = receiver("redirect")
    notifier, recorder = make(server.url, target(events=("deleted",)))
    play(notifier, outcome(model(1), "deleted"))
    assert len(server.requests) == 1
    assert [(n.ok, n.error) for n in recorder.notified] == [
        (False, "HTTP 302 after 1 attempt (redirects are not followed)")
    ]


def test_a_broken_session_never_escapes_emit() -> None:
    class Broken:
        def __init__(self) -> None:
            raise RuntimeError("https://hooks.example" + SECRET_PATH)

    recorder = Recorder()
    notifier = Notifier(
        [target(events=("deleted",))],
        {"hook": "https://hooks.example" + SECRET_PATH},
        emit=recorder,
        session_factory=Broken,  # type: ignore[arg-type]
    )
    play(notifier, outcome(model(1), "deleted"))
    assert [(n.ok, n.error) for n in recorder.notified] == [(False, "RuntimeError")]


def test_the_url_never_leaks(
    receiver: Callable[[str], Receiver],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every failure mode, with urllib3 logging at DEBUG: no error, record or output holds
    any part of the URL's path or query."""
    caplog.set_level(logging.DEBUG)
    servers = [receiver(mode) for mode in ("fail", "hang", "redirect", "flaky")]
    with refused_port() as port:
        refused = f"http://127.0.0.1:{port}{SECRET_PATH}?token=QQQQSECRET"
        urls = [server.url for server in servers] + [refused]
        targets = [target(f"t{i}", events=("deleted",)) for i in range(len(urls))]
        recorder = Recorder()
        notifier = Notifier(
            targets,
            {t.name: url for t, url in zip(targets, urls, strict=True)},
            emit=recorder,
            timeout=0.3,
            attempts=2,
            backoff=0.0,
        )
        play(notifier, outcome(model(1), "deleted"))
    print(recorder.events, repr(notifier))
    out, err = capsys.readouterr()
    errors = [n.error or "" for n in recorder.notified]
    assert [n.ok for n in recorder.notified] == [False, False, False, True, False]
    # urllib3 did log (its retries), and redacted: checked by its logger, not its wording.
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    for bit in (*SECRET_BITS, "QQQQSECRET"):
        for text in (*errors, out, err, caplog.text):
            assert bit not in text


# --- configuration ------------------------------------------------------------------------


def test_resolve_urls_accepts_https_and_loopback_http() -> None:
    targets = [
        NotifyTarget("slack", "SLACK_URL", "slack", ("deleted",)),
        NotifyTarget("local", "LOCAL_URL", "json", ("failed",)),
        NotifyTarget("v6", "V6_URL", "json", ("failed",)),
    ]
    env = {
        "SLACK_URL": "https://hooks.slack.com" + SECRET_PATH,
        "LOCAL_URL": "http://localhost:8080/hook",
        "V6_URL": "http://[::1]:9/x",
    }
    assert resolve_urls(targets, env) == {
        "slack": env["SLACK_URL"],
        "local": env["LOCAL_URL"],
        "v6": env["V6_URL"],
    }


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "notify hook: HOOK_URL is not set"),
        ("", "notify hook: HOOK_URL is not set"),
        (
            "https://hooks.example/x XXXXSECRET",
            "notify hook: HOOK_URL holds whitespace or control characters (value not shown)",
        ),
        (
            "https://hooks.example/XXXXSECRET\n",
            "notify hook: HOOK_URL holds whitespace or control characters (value not shown)",
        ),
        ("http://hooks.example" + SECRET_PATH, "is not an https URL"),
        ("http://127.0.0.2" + SECRET_PATH, "is not an https URL"),
        ("ftp://hooks.example" + SECRET_PATH, "is not an https URL"),
        ("XXXXSECRET", "is not an https URL"),
        ("https:///XXXXSECRET", "is not an https URL"),
        ("https://hooks.example:XXXXSECRET/x", "is not an https URL"),
        ("https://[XXXXSECRET/x", "is not an https URL"),
    ],
)
def test_resolve_urls_refuses_naming_the_variable_only(value: str | None, says: str) -> None:
    env = {} if value is None else {"HOOK_URL": value}
    with pytest.raises(ConfigError) as caught:
        resolve_urls([target()], env)
    message = str(caught.value)
    assert says in message
    assert "HOOK_URL" in message
    assert "\n" not in message
    assert caught.value.__cause__ is None
    for bit in (*SECRET_BITS, "hooks.example", "127.0.0.2"):
        assert bit not in message


def test_resolve_urls_refuses_a_name_used_twice() -> None:
    env = {"HOOK_URL": "https://hooks.example/x"}
    with pytest.raises(ConfigError, match="notify hook: the name is used twice"):
        resolve_urls([target(), target()], env)


def test_notifier_needs_a_url_for_every_target() -> None:
    with pytest.raises(ValueError, match="hook"):
        Notifier([target()], {}, emit=Recorder())


def test_url_secrets_cover_every_form_of_the_url() -> None:
    url = "https://user:pa55word@hooks.example/services/T000/B000/XXXXSECRET/é?token=QQQQSECRET"
    secrets = url_secrets(url)
    for piece in (url, "/services/T000/B000/XXXXSECRET/é", "XXXXSECRET", "QQQQSECRET", "pa55word"):
        assert piece in secrets
    assert "/services/T000/B000/XXXXSECRET/%C3%A9?token=QQQQSECRET" in secrets  # as sent
    assert "hooks.example" not in secrets  # the host is not the secret


def test_repr_never_shows_urls() -> None:
    notifier, _ = make("https://hooks.example" + SECRET_PATH)
    assert "XXXXSECRET" not in repr(notifier)


# The fragment as the job-file schema uses it, with the definitions it refers to.
NOTIFY = {"$defs": build_schema()["$defs"], **notify_schema()}


def _errors(document: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(NOTIFY)
    return [error.message for error in validator.iter_errors(document)]


def test_schema_fragment_is_a_valid_schema_and_accepts_examples() -> None:
    jsonschema.Draft202012Validator.check_schema(NOTIFY)
    good = [
        {"name": "ops-json", "url_env": "OPS_WEBHOOK_URL", "events": ["deleted", "failed"]},
        {
            "name": "team.slack",
            "url_env": "SLACK_WEBHOOK_URL",
            "format": "slack",
            "events": ["marked", "deleted", "failed", "limit"],
        },
    ]
    assert _errors(good) == []
    assert notify_targets(good) == (
        NotifyTarget("ops-json", "OPS_WEBHOOK_URL", "json", ("deleted", "failed")),
        NotifyTarget("team.slack", "SLACK_WEBHOOK_URL", "slack", tuple(ALL_KINDS)),
    )


@pytest.mark.parametrize(
    "item",
    [
        {"url_env": "X_URL", "events": ["deleted"]},  # no name
        {"name": "a", "events": ["deleted"]},  # no url_env
        {"name": "a", "url_env": "X_URL"},  # no events
        {"name": "a", "url_env": "X_URL", "events": []},
        {"name": "a", "url_env": "X_URL", "events": ["deleted", "deleted"]},
        {"name": "a", "url_env": "X_URL", "events": ["planned"]},
        {"name": "a", "url_env": "X_URL", "events": ["deleted"], "format": "xml"},
        {"name": "a", "url_env": "https://hooks.example/x", "events": ["deleted"]},
        {"name": "a", "url_env": "x_url", "events": ["deleted"]},
        {"name": "-a", "url_env": "X_URL", "events": ["deleted"]},
        {"name": "a", "url_env": "X_URL", "events": ["deleted"], "url": "https://x"},
    ],
)
def test_schema_fragment_refuses(item: dict[str, Any]) -> None:
    assert _errors([item]) != []


def test_schema_hides_url_env_values() -> None:
    url_env = notify_schema()["items"]["properties"]["url_env"]
    assert url_env["x-hide-value"] is True
    assert "x-error" in url_env
    assert notify_schema()["items"]["properties"]["format"]["default"] == "json"

"""The daemon as operators run it: a real ``ftjanitor schedule --listen`` process, probed and
scraped over real HTTP on 127.0.0.1, its metrics checked against what the simulator saw and
what the audit log says; and ``run --metrics-file`` for the textfile collector.

Every wait has a deadline; every test has a timeout.
"""

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner.audit import read_records, verify
from runner.clock import parse_instant
from runner.simulator import Fault, Simulator
from tests.conftest import BFL_KEY, COHERE_KEY, seed_accounts
from tests.helpers import demo_job, ftjanitor, listening_port, log_events, start_ftjanitor
from tests.waiting import wait_for

JOB = "ops-sweep"
# What the job selects from scripts/demo-seed.yaml on its first run: the failed model, the
# exp-* models older than 30 days but the protected one and the two newest exp-* (keep_latest),
# and two BFL IDs.
FIRST_RUN = {
    ("cohere", "sim-cohere-0008"),
    ("cohere", "sim-cohere-0002"),
    ("cohere", "sim-cohere-0003"),
    ("cohere", "sim-cohere-0004"),
    ("cohere", "sim-cohere-0005"),
    ("bfl", "scratch-lora-1"),
    ("bfl", "scratch-lora-2"),
}
LABELS = {"job", "status", "provider", "result", "le"}  # every label the metrics may carry

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


# -- helpers ---------------------------------------------------------------------------------


def http_get(port: int, path: str) -> tuple[int, str] | None:
    """(status, body) of GET http://127.0.0.1:PORT/PATH; None when nothing listens there."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return int(answer.status), answer.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()
    except (ConnectionRefusedError, ConnectionResetError):
        return None
    except urllib.error.URLError as error:
        if isinstance(error.reason, ConnectionRefusedError | ConnectionResetError):
            return None
        raise


def parse_metrics(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def scrape(port: int) -> tuple[Samples, str, float]:
    """The metrics, their text, and when the daemon answered by its own clock (its Date
    header, to the second): what a time in the metrics is compared with, never the test's
    clock."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        assert answer.status == 200
        text = answer.read().decode()
        answered = parsedate_to_datetime(answer.headers["Date"]).timestamp()
    return parse_metrics(text), text, answered


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def job_text(sim_url: str, schedule: str = "every 2s", concurrency: int = 2) -> str:
    """The demo job at the production pace, scheduled, with its records beside the file."""
    return demo_job(
        sim_url,
        name=JOB,
        top="audit_log: audit.jsonl\nstate: state.sqlite3\n",
        bfl_ids=("scratch-lora-1", "scratch-lora-2"),
        connection={"concurrency": concurrency},
        schedule=schedule,
    )


def every_model_string() -> set[str]:
    """Every ID and name the simulator holds: none may ever appear in a label."""
    accounts = seed_accounts()
    found = set(accounts.cohere) | set(accounts.bfl)
    found |= {str(m.get("name")) for m in accounts.cohere.values() if m.get("name")}
    return found


def expected_from_audit(records: list[dict[str, Any]]) -> Samples:
    """The counters the metrics must show, derived from the audit log alone."""
    runs: Counter[str] = Counter()
    deletions: Counter[tuple[str, str]] = Counter()
    for record in records:
        if record["event"] == "run.end" and not record.get("dry_run"):
            runs[record["status"]] += 1
        elif record["event"] == "run.skipped":
            runs["skipped"] += 1
        elif record["event"] == "delete.outcome":
            deletions[(record["provider"], record["result"])] += 1
        elif record["event"] == "delete.absent":
            deletions[(record["provider"], "already_absent")] += 1
    expected: Samples = {}
    for status, count in runs.items():
        key = frozenset({("job", JOB), ("status", status)})
        expected[("ftjanitor_runs_total", key)] = float(count)
    for (provider, result), count in deletions.items():
        key = frozenset({("job", JOB), ("provider", provider), ("result", result)})
        expected[("ftjanitor_deletions_total", key)] = float(count)
    return expected


def counters(samples: Samples) -> Samples:
    """The run and deletion counters, without the series declared at 0 and never moved."""
    wanted = ("ftjanitor_runs_total", "ftjanitor_deletions_total")
    return {k: v for k, v in samples.items() if k[0] in wanted and v}


def start_daemon(job: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """``schedule JOB --listen 127.0.0.1:0``: the process and the port it bound."""
    args = ["schedule", str(job), "--listen", "127.0.0.1:0", "--log-format", "json"]
    daemon = start_ftjanitor(args, log)
    return daemon, listening_port(log, daemon)


# -- the daemon --------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_daemon_probes_and_metrics_match_what_happened(
    tmp_path: Path, reaper: list[subprocess.Popen[bytes]]
) -> None:
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as sim:
        job = tmp_path / "ops.yaml"
        job.write_text(job_text(sim.url))
        log, audit = tmp_path / "daemon.log", tmp_path / "audit.jsonl"
        daemon, port = start_daemon(job, log)
        reaper.append(daemon)

        # /readyz answers 200 once the files are loaded and the job scheduled.
        ready = wait_for(
            lambda: daemon.poll() is None and http_get(port, "/readyz"),
            20,
            "/readyz to answer",
            every=0.05,
        )
        if ready[0] != 200:
            assert ready == (503, "not ready\n")
            wait_for(
                lambda: http_get(port, "/readyz") == (200, "ready\n"), 20, "/readyz 200", every=0.05
            )
        assert http_get(port, "/healthz") == (200, "ok\n")
        assert http_get(port, "/nothing-here") == (404, "not found\n")

        # At least two fire times, each a scheduled run recorded in the audit log.
        def runs_ended() -> int:
            if not audit.exists():
                return 0
            return sum(1 for r in read_records(audit) if r["event"] == "run.end")

        wait_for(lambda: runs_ended() >= 3, 30, "three scheduled runs to end", every=0.05)

        # The counters equal what the audit says happened, and the deletions what the
        # simulator saw. Compared when no run is between two events: poll until they agree.
        last: dict[str, Any] = {}

        def agree() -> bool:
            samples, text, answered = scrape(port)
            records = list(read_records(audit))
            last.update(samples=samples, text=text, records=records, deleted=list(sim.deleted))
            last.update(answered=answered)
            return counters(samples) == expected_from_audit(records)

        wait_for(
            agree,
            15,
            lambda: (
                "the metrics to match the audit log; last seen "
                f"{(counters(last['samples']), expected_from_audit(last['records']))}"
            ),
            every=0.1,
        )
        samples, text, records = last["samples"], last["text"], last["records"]
        deleted = last["deleted"]

        # What the simulator deleted: exactly the first run's plan, once each.
        assert len(deleted) == len(set(deleted)) and set(deleted) == FIRST_RUN
        by_provider = Counter(api for api, _ in deleted)
        for provider in ("cohere", "bfl"):
            assert value(
                samples, "ftjanitor_deletions_total", job=JOB, provider=provider, result="deleted"
            ) == float(by_provider[provider])
        ends = [r for r in records if r["event"] == "run.end"]
        starts = [r for r in records if r["event"] == "run.start"]
        assert len(ends) >= 3 and all(r["status"] == "ok" for r in ends)
        assert all(r["trigger"] == "schedule" and r["fire_time"] for r in starts)
        assert sum(r["deleted"] for r in ends) == len(deleted)
        assert ends[0]["deleted"] == len(FIRST_RUN)
        assert value(samples, "ftjanitor_runs_total", job=JOB, status="ok") == len(ends)
        for status in ("partial", "aborted", "skipped"):
            assert value(samples, "ftjanitor_runs_total", job=JOB, status=status) == 0.0
        # Later runs find the BFL IDs gone: already absent, as their run.end says.
        absent = sum(r["already_absent"] for r in ends)
        assert absent >= 2 * (len(ends) - 1)
        assert (
            value(
                samples,
                "ftjanitor_deletions_total",
                job=JOB,
                provider="bfl",
                result="already_absent",
            )
            == absent
        )
        # The gauges and the histogram follow the runs.
        assert value(samples, "ftjanitor_run_duration_seconds_count", job=JOB) == len(ends)
        assert value(samples, "ftjanitor_selected", job=JOB) == ends[-1]["planned"] == 0
        assert value(samples, "ftjanitor_pending", job=JOB) == 0.0
        assert value(samples, "ftjanitor_limit_tripped_total", job=JOB) == 0.0
        last_ok = parse_instant(ends[-1]["ts"]).timestamp()
        success = value(samples, "ftjanitor_last_success_timestamp_seconds", job=JOB)
        assert success is not None and abs(success - last_ok) < 1.0

        # The next run is set, on the 2-second grid anchored at 2000-01-01, after the last
        # fire time, and at most one interval after the daemon answered the scrape (its Date
        # header is whole seconds, hence the 1): the daemon's own clock, never the test's.
        next_run = value(samples, "ftjanitor_next_run_timestamp_seconds", job=JOB)
        assert next_run is not None and next_run % 2 == 0
        assert next_run > parse_instant(starts[-1]["fire_time"]).timestamp()
        assert next_run <= last["answered"] + 1 + 2

        # Bounded labels: only the documented label names, and no model ID or name anywhere.
        assert {k for _, labels in samples for k, _ in labels} <= LABELS
        values = {v for _, labels in samples for k, v in labels if k != "le"}
        assert values <= {JOB, "cohere", "bfl", "ok", "partial", "aborted", "skipped"} | {
            "deleted",
            "already_absent",
            "failed",
        }
        for model in every_model_string():
            assert model not in text

        # SIGTERM: exit 0 within a deadline; nothing answers on the port afterwards.
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0
        after = http_get(port, "/healthz")
        assert after is None or after[0] == 503
    events = [e["event"] for e in log_events(log)]
    assert events[-1] == "daemon.stopped" and "daemon.stopping" in events
    # A run in flight when the signal came finishes and is told before the daemon stops.
    between = events[events.index("daemon.stopping") + 1 : -1]
    assert all(e.startswith(("run.", "delete.")) for e in between), between
    assert not [e for e in log_events(log) if e.get("level") == "error"]
    assert verify(audit).ok


@pytest.mark.timeout(120)
def test_healthz_turns_503_while_sigterm_drains_a_run(
    tmp_path: Path, reaper: list[subprocess.Popen[bytes]]
) -> None:
    """From the signal on, the daemon is not healthy: /healthz says 503 while the delete in
    flight finishes, then the port closes and the process exits 0."""
    # A delete in flight for 3 s: the signal comes within a poll of its intent, so the
    # drain lasts long enough to be seen even on a loaded machine.
    slow = [Fault("delay", method="DELETE", seconds=3.0)]
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY, faults=slow) as sim:
        job = tmp_path / "ops.yaml"
        job.write_text(job_text(sim.url, concurrency=1))
        log, audit = tmp_path / "daemon.log", tmp_path / "audit.jsonl"
        daemon, port = start_daemon(job, log)
        reaper.append(daemon)
        wait_for(
            lambda: http_get(port, "/readyz") == (200, "ready\n"), 20, "/readyz 200", every=0.05
        )
        wait_for(
            lambda: audit.exists() and b'"delete.intent"' in audit.read_bytes(),
            30,
            "the first delete intent",
            every=0.05,
        )
        assert http_get(port, "/healthz") == (200, "ok\n")
        daemon.send_signal(signal.SIGTERM)
        wait_for(
            lambda: http_get(port, "/healthz") == (503, "unhealthy\n"),
            5,
            "/healthz 503",
            every=0.05,
        )
        assert daemon.poll() is None  # still draining the delete in flight
        assert http_get(port, "/metrics") is not None  # still scraped while draining
        assert daemon.wait(15) == 0
        assert http_get(port, "/healthz") is None
        records = list(read_records(audit))
    intents = [r["model_id"] for r in records if r["event"] == "delete.intent"]
    outcomes = [r["model_id"] for r in records if r["event"] == "delete.outcome"]
    assert intents and sorted(intents) == sorted(outcomes)  # the drain recorded everything
    assert [r["status"] for r in records if r["event"] == "run.end"] == ["aborted"]
    assert verify(audit).ok


# -- run --metrics-file ----------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_run_metrics_file_holds_the_runs_counts(tmp_path: Path) -> None:
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as sim:
        job = tmp_path / "ops.yaml"
        job.write_text(job_text(sim.url))
        out = tmp_path / "textfile" / "ftjanitor.prom"
        out.parent.mkdir()
        done = ftjanitor("run", str(job), "--yes", "--metrics-file", str(out), "--json")
        assert done.returncode == 0, done.stderr
        deleted = list(sim.deleted)
    report = json.loads(done.stdout)
    assert sorted(os.listdir(out.parent)) == ["ftjanitor.prom"]  # no temporary left behind
    assert out.stat().st_mode & 0o777 == 0o644
    text = out.read_text()
    samples = parse_metrics(text)
    assert set(deleted) == FIRST_RUN and len(deleted) == len(FIRST_RUN)
    assert report["jobs"][0]["end"]["deleted"] == len(deleted)
    assert value(samples, "ftjanitor_runs_total", job=JOB, status="ok") == 1.0
    for provider, count in Counter(api for api, _ in deleted).items():
        assert (
            value(
                samples, "ftjanitor_deletions_total", job=JOB, provider=provider, result="deleted"
            )
            == count
        )
    records = list(read_records(tmp_path / "audit.jsonl"))
    assert counters(samples) == expected_from_audit(records)
    assert value(samples, "ftjanitor_selected", job=JOB) == len(FIRST_RUN)
    assert value(samples, "ftjanitor_run_duration_seconds_count", job=JOB) == 1.0
    end = parse_instant(next(r for r in records if r["event"] == "run.end")["ts"]).timestamp()
    success = value(samples, "ftjanitor_last_success_timestamp_seconds", job=JOB)
    assert success is not None and abs(success - end) < 1.0
    # A run has no scheduler: no next run is claimed.
    assert not any(name == "ftjanitor_next_run_timestamp_seconds" for name, _ in samples)
    for model in every_model_string():
        assert model not in text


@pytest.mark.timeout(60)
def test_dry_run_metrics_file_counts_nothing(tmp_path: Path) -> None:
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as sim:
        job = tmp_path / "ops.yaml"
        job.write_text(job_text(sim.url))
        out = tmp_path / "ftjanitor.prom"
        done = ftjanitor("run", str(job), "--dry-run", "--metrics-file", str(out), "--job", JOB)
        assert done.returncode == 0, done.stderr
        assert sim.mutations() == []
    samples = parse_metrics(out.read_text())
    assert counters(samples) == {}  # a look, not a run
    # --job declared the series: they exist at 0, so a first increment is never lost.
    assert value(samples, "ftjanitor_runs_total", job=JOB, status="ok") == 0.0

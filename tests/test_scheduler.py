"""The daemon, driven deterministically: APScheduler's clock is ours, nothing waits for it."""

import io
import itertools
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import apscheduler.executors.base
import apscheduler.schedulers.base
import pytest
from apscheduler.executors.debug import DebugExecutor
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import BaseScheduler

from runner.audit import read_records, verify
from runner.cli import exit_code
from runner.cron import parse_schedule
from runner.engine import RunOptions, execute
from runner.jobfile.validate import load_job_file
from runner.logs import Log
from runner.scheduler import Daemon
from runner.simulator import Fault, Simulator
from runner.state.sqlite import SqliteState
from runner.triggers import build_trigger, next_fire_times
from tests.conftest import BFL_KEY, COHERE_KEY, FAST, seed_accounts
from tests.helpers import TEST_PACE, job_yaml, one_job, start_ftjanitor, write_job
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"COHERE_API_KEY": COHERE_KEY, "BFL_API_KEY": BFL_KEY, "OPENAI_API_KEY": "sk-test-openai"}


class Clock:
    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class ManualScheduler(BaseScheduler):
    """Processes due jobs only when the test says so."""

    def wakeup(self) -> None:
        pass

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    fake = Clock(datetime(2026, 3, 1, 2, 59, tzinfo=UTC))

    class FakeDatetime(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return fake.at.astimezone(tz) if tz else fake.at.replace(tzinfo=None)

    monkeypatch.setattr(apscheduler.schedulers.base, "datetime", FakeDatetime)
    monkeypatch.setattr(apscheduler.executors.base, "datetime", FakeDatetime)
    yield fake


def write(
    tmp_path: Path,
    schedule: str,
    url: str = "http://127.0.0.1:9",
    name: str = "job.yaml",
    grace: str = "10m",
) -> Path:
    path = tmp_path / name
    path.write_text(
        f"""version: 1
providers:
  cohere: {{base_url: "{url}", concurrency: 1, requests_per_minute: 600000}}
jobs:
  - name: sweep
    schedule: "{schedule}"
    misfire_grace_time: {grace}
    targets: [{{provider: cohere, status: [STATUS_FAILED]}}]
"""
    )
    return path


def daemon_with(
    tmp_path: Path, clock: Clock, schedule: str, executor: object
) -> tuple[Daemon, list[datetime], io.StringIO]:
    stream = io.StringIO()
    scheduler = ManualScheduler(timezone=UTC, executors={"default": executor})
    daemon = Daemon(
        [str(write(tmp_path, schedule))],
        Log("json", stream, clock),
        scheduler=scheduler,
        clock=clock,
    )
    fired: list[datetime] = []
    daemon._fire = lambda key, fire_time=None: fired.append(clock.at)  # type: ignore[method-assign]
    daemon.load()
    scheduler.start()
    return daemon, fired, stream


def test_utc_cron_ignores_dst_and_zoned_triggers_follow_it() -> None:
    # Europe switched to summer time on 2026-03-29: a UTC schedule stays 24 h apart.
    utc = next_fire_times(
        build_trigger(parse_schedule("0 3 * * *")), datetime(2026, 3, 27, tzinfo=UTC), 4
    )
    assert {b - a for a, b in itertools.pairwise(utc)} == {timedelta(hours=24)}
    berlin = next_fire_times(
        build_trigger(parse_schedule("0 3 * * *"), ZoneInfo("Europe/Berlin")),
        datetime(2026, 3, 27, tzinfo=UTC),
        4,
    )
    assert [t.astimezone(UTC).hour for t in berlin] == [2, 2, 1, 1]  # 03:00 local, CET then CEST
    every = next_fire_times(
        build_trigger(parse_schedule("every 6h")), datetime(2026, 3, 28, 23, 0, tzinfo=UTC), 3
    )
    assert [t.hour for t in every] == [0, 6, 12]


def test_coalesce_runs_a_late_job_once(tmp_path: Path, clock: Clock) -> None:
    daemon, fired, _ = daemon_with(tmp_path, clock, "every 1m", DebugExecutor())
    clock.at += timedelta(minutes=5, seconds=30)  # five fire times passed, all within grace
    daemon.scheduler._process_jobs()
    assert fired == [clock.at]
    clock.at += timedelta(seconds=30)
    daemon.scheduler._process_jobs()
    assert len(fired) == 2


def test_misfire_beyond_grace_is_logged_not_run(tmp_path: Path, clock: Clock) -> None:
    daemon, fired, stream = daemon_with(tmp_path, clock, "0 3 * * *", DebugExecutor())
    clock.at = datetime(2026, 3, 1, 3, 9, tzinfo=UTC)  # 9 min late: within 10m grace
    daemon.scheduler._process_jobs()
    assert len(fired) == 1
    clock.at = datetime(2026, 3, 2, 3, 25, tzinfo=UTC)  # 25 min late: missed
    daemon.scheduler._process_jobs()
    assert len(fired) == 1
    assert (
        '"event": "run.missed"' in stream.getvalue() and "2026-03-02T03:00:00" in stream.getvalue()
    )


def test_never_two_instances_at_once(tmp_path: Path, clock: Clock) -> None:
    import threading

    release = threading.Event()
    daemon, _, stream = daemon_with(tmp_path, clock, "every 1m", ThreadPoolExecutor(4))
    daemon._fire = lambda key, fire_time=None: release.wait(10)  # type: ignore[method-assign]
    daemon._register()
    clock.at += timedelta(minutes=1, seconds=1)
    daemon.scheduler._process_jobs()
    clock.at += timedelta(minutes=1)
    daemon.scheduler._process_jobs()  # the first run is still going
    release.set()
    daemon.scheduler.shutdown(wait=True)
    assert stream.getvalue().count('"event": "run.skipped"') == 1
    assert "the previous run is still going" in stream.getvalue()


def test_catch_up_after_downtime(tmp_path: Path, clock: Clock) -> None:
    clock.at = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
    daemon, _, stream = daemon_with(tmp_path, clock, "0 3 * * *", DebugExecutor())
    job_file = next(iter(daemon.files.values()))
    assert daemon.catch_up() == []  # no history: first run at the first fire time
    state = SqliteState(job_file.state.path)
    state.run_started("r1", "sweep", "schedule", False, datetime(2026, 3, 5, 3, 0, 5, tzinfo=UTC))
    assert daemon.catch_up() == []  # ran at today's 03:00: nothing missed
    state.run_started(
        "r0", "sweep", "schedule", True, datetime(2026, 3, 6, 3, 0, tzinfo=UTC)
    )  # a dry run does not count
    state.db.execute("DELETE FROM runs WHERE run_id = 'r1'")
    state.run_started("r2", "sweep", "schedule", False, datetime(2026, 3, 3, 3, 0, 5, tzinfo=UTC))
    state.close()
    assert daemon.catch_up() == [f"{job_file.path}::sweep"]  # down across Mar 4 and Mar 5
    catch_up = daemon.scheduler.get_job(f"{job_file.path}::sweep::catch-up")
    assert catch_up.next_run_time == clock.at  # a one-off beside the trigger
    regular = daemon.scheduler.get_job(f"{job_file.path}::sweep").next_run_time
    assert regular == datetime(2026, 3, 6, 3, 0, tzinfo=UTC)  # the phase never moves
    assert '"event": "run.catch_up"' in stream.getvalue()


def test_reload_keeps_the_previous_version_of_a_broken_file(tmp_path: Path, clock: Clock) -> None:
    daemon, _, stream = daemon_with(tmp_path, clock, "0 3 * * *", DebugExecutor())
    path = tmp_path / "job.yaml"
    path.write_text(path.read_text().replace('"0 3 * * *"', '"0 25 * * *"'))
    assert daemon.load() is False
    (job,) = daemon.scheduler.get_jobs()
    assert job.next_run_time.hour == 3  # previous configuration kept
    assert "hour: 25 is outside 0-23" in stream.getvalue()
    path.write_text(path.read_text().replace('"0 25 * * *"', '"30 4 * * *"'))
    assert daemon.load() is True
    (job,) = daemon.scheduler.get_jobs()
    assert (job.next_run_time.hour, job.next_run_time.minute) == (4, 30)


def test_lock_across_two_processes(tmp_path: Path, sim: Simulator) -> None:
    job_path = write(tmp_path, "0 3 * * *", sim.url)
    job_file = load_job_file(str(job_path))
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from runner.state.sqlite import SqliteState\n"
            f"with SqliteState(Path({str(job_file.state)!r})).job_lock('sweep'):\n"
            "    print('held', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    report = execute(job_file, RunOptions(dry_run=False, environ=KEYS, policy=FAST))
    assert exit_code(report) == 0 and report.outcomes[0].status == "skipped"
    assert f"pid {holder.pid} holds its lock" in report.outcomes[0].end.message
    assert sim.requests == []  # the loser did not even look
    assert [r["event"] for r in read_records(job_file.audit_log)] == ["run.skipped"]
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(10)
    with SqliteState(job_file.state.path).job_lock("sweep") as pid:
        assert pid is None  # released when the holder exited
    report = execute(job_file, RunOptions(dry_run=False, environ=KEYS, policy=FAST))
    assert report.outcomes[0].status == "ok" and sim.deleted == [("cohere", "sim-cohere-0008")]


def start_daemon(paths: list[Path], log: Path) -> subprocess.Popen[bytes]:
    return start_ftjanitor(["schedule", *map(str, paths), "--log-format", "json"], log, KEYS)


def test_daemon_end_to_end_every_1s_on_the_example(tmp_path: Path) -> None:
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as sim:
        text = (ROOT / "jobs" / "simulator-demo.yaml").read_text()
        job = tmp_path / "demo.yaml"
        job.write_text(
            text.replace("http://127.0.0.1:8765", sim.url)
            .replace("_API_KEY\n", "_API_KEY\n    requests_per_minute: 600000\n")
            .replace("every 6h", "every 1s")
            .replace("../.demo/", "")
        )
        log = tmp_path / "daemon.log"
        daemon = start_daemon([job], log)
        wait_for(lambda: log.read_text().count('"event": "run.end"') >= 2)
        good = job.read_text()
        job.write_text(good.replace("every 1s", "every 1 second"))  # now invalid
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: '"event": "config.reloaded"' in log.read_text())
        runs_before = log.read_text().count('"event": "run.end"')
        wait_for(lambda: log.read_text().count('"event": "run.end"') > runs_before)  # still running
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
    text = log.read_text()
    assert '"event": "daemon.stopped"' in text
    errors = [line for line in text.splitlines() if '"level": "error"' in line]
    assert len(errors) == 2, (
        errors
    )  # the broken file's one error, and the reload that kept the old one
    assert "is not a duration" in errors[0] and "keeping its previous version" in errors[0]
    assert '"all_valid": false' in errors[1]
    records = list(read_records(tmp_path / "audit.jsonl"))
    starts = [r for r in records if r["event"] == "run.start"]
    assert len(starts) >= 2 and all(r["trigger"] == "schedule" for r in starts)
    ends = [r for r in records if r["event"] == "run.end"]
    assert ends[0]["deleted"] == len(sim.deleted) > 0  # the first run deleted its plan...
    assert all(r["deleted"] == 0 and r["status"] == "ok" for r in ends[1:])  # ...later ones nothing
    assert verify(tmp_path / "audit.jsonl").ok


def test_sigterm_during_slow_deletes_stops_promptly_and_records_everything(tmp_path: Path) -> None:
    with Simulator(seed_accounts(), faults=[Fault("delay", method="DELETE", seconds=0.5)]) as sim:
        cohere = {"base_url": sim.url, "concurrency": 1, "requests_per_minute": TEST_PACE}
        slow = one_job("slow", ['{provider: cohere, name: "exp-*"}'], schedule="every 1s")
        path = Path(write_job(tmp_path, job_yaml({"cohere": cohere}, slow)))
        log = tmp_path / "daemon.log"
        daemon = start_daemon([path], log)
        audit = tmp_path / "audit" / "ftjanitor.jsonl"
        wait_for(lambda: audit.exists() and b"delete.outcome" in audit.read_bytes())
        started = time.monotonic()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(10) == 0
        assert time.monotonic() - started < 3  # one in-flight delete (0.5 s), not the rest
    records = list(read_records(audit))
    intents = [r["model_id"] for r in records if r["event"] == "delete.intent"]
    outcomes = [r["model_id"] for r in records if r["event"] == "delete.outcome"]
    assert intents and sorted(intents) == sorted(outcomes)  # nothing half-recorded
    end = [r for r in records if r["event"] == "run.end"][-1]
    assert end["status"] == "aborted" and end["skipped"] > 0
    assert len(sim.deleted) == len(outcomes) < 7
    assert verify(audit).ok

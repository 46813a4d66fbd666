"""``ftjanitor schedule``: a thin APScheduler shell around the same ``execute`` as ``run``.

Triggers carry crontab's meaning (runner.triggers); jobs coalesce, never overlap, and
tolerate minutes of lateness; a run missed while the daemon was down is caught up once
at start, judged from the state store's run history (not APScheduler's job store).
"""

import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from runner import events as ev
from runner.clock import Clock, rfc3339, system_clock
from runner.cron import CronSpec, EverySpec
from runner.engine import RunOptions, execute
from runner.errors import FtjanitorError
from runner.jobfile.diagnostics import JobFileError
from runner.jobfile.loader import job_files
from runner.jobfile.model import Job, JobFile
from runner.jobfile.validate import load_job_file
from runner.logs import Log
from runner.providers.base import RetryPolicy
from runner.ratelimit import Limiters
from runner.report import end_json
from runner.state.open import open_state
from runner.triggers import build_trigger, last_fire_time, next_fire_times

if TYPE_CHECKING:
    from runner.metrics import Metrics

# How often the main thread wakes while it waits for a signal. Python runs signal handlers
# in the main thread only; when the kernel hands SIGTERM to another thread (any thread may
# take a process-wide signal), a main thread asleep without a timeout never runs the
# handler, and the daemon would go on deleting until it was killed.
SIGNAL_CHECK_SECONDS = 0.25


@dataclass(frozen=True)
class Scheduled:
    job_file: JobFile
    job: Job
    spec: CronSpec | EverySpec  # the job's schedule: only a job with one is scheduled

    @property
    def key(self) -> str:
        return f"{self.job_file.path}::{self.job.name}"


class Daemon:
    def __init__(
        self,
        paths: list[str],
        log: Log,
        *,
        scheduler: BaseScheduler | None = None,
        clock: Clock = system_clock,
        environ: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
        sinks: list[ev.Sink] | None = None,
        metrics: "Metrics | None" = None,
    ):
        self.paths = paths
        self.log = log
        self.clock = clock
        self.environ = environ
        self.policy = policy
        self.scheduler = scheduler or BackgroundScheduler(timezone=UTC)
        self.stop = threading.Event()  # no new runs, no new deletes
        self.wake = threading.Event()
        self.reload_requested = False
        self.sinks = sinks or []
        self.metrics = metrics
        # Replaced whole on reload, never mutated: pool threads may be reading it.
        self.files: Mapping[str, JobFile] = {}  # path -> last valid version
        self.limiters = Limiters()  # one per key and host for the daemon's lifetime
        self.ready = threading.Event()  # files loaded, jobs scheduled: /readyz
        self.scheduler.add_listener(
            self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR
        )

    # -- configuration ---------------------------------------------------------------

    def load(self) -> bool:
        """(Re)read every job file; a broken one keeps its previous version. True if all
        files are valid."""
        ok = True
        found = job_files(self.paths)
        files: dict[str, JobFile] = {}
        for path in found:
            try:
                files[path] = load_job_file(path)
                for warning in files[path].warnings:
                    self.log.emit("config.warning", "warning", warning=warning)
            except JobFileError as exc:
                ok = False
                kept = "keeping its previous version" if path in self.files else "not scheduled"
                if path in self.files:
                    files[path] = self.files[path]
                for diagnostic in exc.diagnostics:
                    self.log.emit("config.invalid", "error", error=str(diagnostic), action=kept)
        ok = self._drop_duplicates(files) and ok
        self.files = files
        self._register()
        return ok

    def _drop_duplicates(self, files: dict[str, JobFile]) -> bool:
        """Two files with one job name and one state would take turns skipping each other
        on every tick: the first file keeps the job, the others lose it, said out loud."""
        owner: dict[tuple[str, str], str] = {}
        ok = True
        for path, job_file in list(files.items()):
            clashes = [j.name for j in job_file.jobs if (str(job_file.state), j.name) in owner]
            for name in clashes:
                ok = False
                self.log.emit(
                    "config.invalid",
                    "error",
                    error=f"{path}: job {name!r} is also defined in"
                    f" {owner[(str(job_file.state), name)]} with the same state",
                    action="not scheduled from this file",
                )
            if clashes:
                jobs = tuple(j for j in job_file.jobs if j.name not in clashes)
                files[path] = dataclasses.replace(job_file, jobs=jobs)
            for job in files[path].jobs:
                owner.setdefault((str(job_file.state), job.name), path)
        return ok

    def scheduled(self) -> list[Scheduled]:
        return [
            Scheduled(job_file, job, spec)
            for job_file in self.files.values()
            for job in job_file.jobs
            if (spec := job.schedule_spec) is not None
        ]

    def _register(self) -> None:
        wanted = {s.key: s for s in self.scheduled()}
        for existing in self.scheduler.get_jobs():
            if existing.id not in wanted:
                existing.remove()
        for key, item in wanted.items():
            self.scheduler.add_job(
                self._fire,
                trigger=build_trigger(item.spec, UTC),
                id=key,
                name=item.job.name,
                args=[key],
                coalesce=True,
                max_instances=1,
                misfire_grace_time=int(item.job.misfire_grace_time.total_seconds()),
                replace_existing=True,
            )
        self._publish_next_runs()

    def _publish_next_runs(self) -> None:
        """From the triggers themselves: asking the scheduler would need its lock, which a
        shutdown holds while it waits for this very run."""
        if self.metrics is None:
            return
        self.metrics.declare_jobs(s.job.name for s in self.scheduled())
        for item in self.scheduled():
            self.metrics.set_next_run(item.job.name, self.next_fire_time(item))

    def next_fire_time(self, item: Scheduled) -> datetime | None:
        """The job's next fire time after the clock's now (the metrics and the status page)."""
        upcoming = next_fire_times(build_trigger(item.spec, UTC), self.clock(), 1)
        return upcoming[0] if upcoming else None

    def healthy(self) -> bool:
        """/healthz: the scheduler runs and is not stopping."""
        return bool(self.scheduler.running) and not self.stop.is_set()

    def catch_up(self) -> list[str]:
        """Jobs whose fire time passed since their last run: run each once, now, as a
        one-off beside the job's trigger, so the trigger's phase never moves."""
        now = self.clock()
        due = []
        for item in self.scheduled():
            state = open_state(item.job_file.state)
            try:
                last = state.last_fire_time(item.job.name) or state.last_run(item.job.name)
            finally:
                state.close()
            if last is None:
                continue  # never ran: its first run is its first fire time, not now
            trigger = build_trigger(item.spec, UTC)
            missed = last_fire_time(trigger, now)
            if missed is not None and missed > last:
                due.append(item.key)
                self.log.emit(
                    "run.catch_up",
                    job=item.job.name,
                    missed=rfc3339(missed),
                    last_run=rfc3339(last),
                )
                self.scheduler.add_job(
                    self._fire,
                    trigger="date",
                    run_date=now,
                    id=f"{item.key}::catch-up",
                    name=item.job.name,
                    args=[item.key, missed],
                    replace_existing=True,
                    misfire_grace_time=None,
                )
        return due

    # -- running -----------------------------------------------------------------------

    def _fire(self, key: str, fire_time: datetime | None = None) -> None:
        item = next((s for s in self.scheduled() if s.key == key), None)
        if item is None or self.stop.is_set():
            return
        job = item.job.name
        if fire_time is None:
            trigger = build_trigger(item.spec, UTC)
            fire_time = last_fire_time(trigger, self.clock()) or self.clock()
        self._publish_next_runs()  # this fire time is taken: the next one is after it
        self.log.emit(
            "run.start", job=job, file=str(item.job_file.path), fire_time=rfc3339(fire_time)
        )
        options = RunOptions(
            dry_run=False,
            trigger="schedule",
            jobs=[job],
            stop=self.stop,
            environ=self.environ,
            policy=self.policy,
            clock=self.clock,
            fire_time=fire_time,
            limiters=self.limiters,
            sinks=list(self.sinks),
            claim_fire_time=True,
        )
        try:
            report = execute(item.job_file, options)
        except FtjanitorError as exc:
            self.log.emit("run.error", "error", job=job, error=str(exc))
            return
        finally:
            self._publish_next_runs()
        if report.late_failure is not None:
            self.log.emit("run.error", "error", job=job, error=report.late_failure)
        for outcome in report.outcomes:
            fields = end_json(outcome.end)
            status = fields.pop("status")
            fields.pop("job", None)
            level = "info" if status in ("ok", "skipped") else "warning"
            event = "run.skipped" if status == "skipped" else "run.end"
            self.log.emit(
                event,
                level,
                job=job,
                status=status,
                **{k: v for k, v in fields.items() if v is not None},
            )

    def _on_event(self, event: Any) -> None:
        job = self.scheduler.get_job(event.job_id)
        name = job.name if job else event.job_id
        if event.code == EVENT_JOB_MISSED and isinstance(event, JobExecutionEvent):
            self.log.emit(
                "run.missed", "warning", job=name, scheduled=rfc3339(event.scheduled_run_time)
            )
        elif event.code == EVENT_JOB_MAX_INSTANCES and isinstance(event, JobSubmissionEvent):
            self.log.emit(
                "run.skipped", "warning", job=name, reason="the previous run is still going"
            )
        elif event.code == EVENT_JOB_ERROR and isinstance(event, JobExecutionEvent):
            self.log.emit("run.error", "error", job=name, error=repr(event.exception))

    # -- lifecycle ---------------------------------------------------------------------

    def request_stop(self) -> None:
        self.stop.set()
        self.wake.set()

    def request_reload(self) -> None:
        self.reload_requested = True
        self.wake.set()

    def serve(self) -> None:
        """Block until stopped. Signal handlers only set flags; this thread acts on them."""
        self.scheduler.start()
        self.catch_up()
        self.ready.set()
        for item in self.scheduled():
            job = self.scheduler.get_job(item.key)
            self.log.emit(
                "job.scheduled",
                job=item.job.name,
                schedule=item.job.schedule,
                next=rfc3339(job.next_run_time) if job and job.next_run_time else None,
            )
        while not self.stop.is_set():
            self.wake.wait(SIGNAL_CHECK_SECONDS)
            self.wake.clear()
            if self.reload_requested and not self.stop.is_set():
                self.reload_requested = False
                ok = self.load()
                self.log.emit(
                    "config.reloaded",
                    "info" if ok else "error",
                    jobs=len(self.scheduled()),
                    all_valid=ok,
                )
        self.log.emit("daemon.stopping", reason="signal", waiting_for="runs in flight")
        self.scheduler.shutdown(wait=True)
        self.log.emit("daemon.stopped")

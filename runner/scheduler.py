"""``ftjanitor schedule``: a thin APScheduler shell around the same ``execute`` as ``run``.

Triggers carry crontab's meaning (runner.triggers); jobs coalesce, never overlap, and
tolerate minutes of lateness; a run missed while the daemon was down is caught up once
at start, judged from the state store's run history (not APScheduler's job store).
"""

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler

from runner.clock import Clock, rfc3339, system_clock
from runner.engine import RunOptions, execute
from runner.errors import CommandError
from runner.jobfile.diagnostics import JobFileError
from runner.jobfile.loader import job_files
from runner.jobfile.model import Job, JobFile
from runner.jobfile.validate import load_job_file
from runner.logs import Log
from runner.providers.base import ProviderError
from runner.providers.http import RetryPolicy
from runner.state import State
from runner.triggers import build_trigger, next_fire_times


@dataclass(frozen=True)
class Scheduled:
    job_file: JobFile
    job: Job

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
        self.files: dict[str, JobFile] = {}  # path -> last valid version
        self.scheduler.add_listener(
            self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR
        )

    # -- configuration ---------------------------------------------------------------

    def load(self) -> bool:
        """(Re)read every job file; a broken one keeps its previous version. True if all
        files are valid."""
        ok = True
        found = job_files(self.paths)
        for path in found:
            try:
                self.files[path] = load_job_file(path)
                for warning in self.files[path].warnings:
                    self.log.emit("config.warning", "warning", warning=warning)
            except JobFileError as exc:
                ok = False
                kept = "keeping its previous version" if path in self.files else "not scheduled"
                for diagnostic in exc.diagnostics:
                    self.log.emit("config.invalid", "error", error=str(diagnostic), action=kept)
        for gone in set(self.files) - set(found):
            del self.files[gone]
        self._register()
        return ok

    def scheduled(self) -> list[Scheduled]:
        return [
            Scheduled(job_file, job)
            for job_file in self.files.values()
            for job in job_file.jobs
            if job.schedule is not None
        ]

    def _register(self) -> None:
        wanted = {s.key: s for s in self.scheduled()}
        for existing in self.scheduler.get_jobs():
            if existing.id not in wanted:
                existing.remove()
        for key, item in wanted.items():
            self.scheduler.add_job(
                self._fire,
                trigger=build_trigger(item.job.schedule or "", UTC),
                id=key,
                name=item.job.name,
                args=[key],
                coalesce=True,
                max_instances=1,
                misfire_grace_time=int(item.job.misfire_grace_time.total_seconds()),
                replace_existing=True,
            )

    def catch_up(self) -> list[str]:
        """Jobs whose scheduled time passed since their last run: run each once, now."""
        now = self.clock()
        due = []
        for item in self.scheduled():
            state = State(item.job_file.state)
            try:
                last = state.last_run(item.job.name)
            finally:
                state.close()
            if last is None:
                continue  # never ran: its first run is its first fire time, not now
            after_last = next_fire_times(build_trigger(item.job.schedule or "", UTC), last, 1)
            missed = after_last[0] if after_last else None
            if missed is not None and missed <= now:
                due.append(item.key)
                self.log.emit(
                    "run.catch_up",
                    job=item.job.name,
                    missed=rfc3339(missed),
                    last_run=rfc3339(last),
                )
                self.scheduler.modify_job(item.key, next_run_time=now)
        return due

    # -- running -----------------------------------------------------------------------

    def _fire(self, key: str) -> None:
        item = next((s for s in self.scheduled() if s.key == key), None)
        if item is None or self.stop.is_set():
            return
        job = item.job.name
        self.log.emit("run.start", job=job, file=str(item.job_file.path))
        options = RunOptions(
            dry_run=False,
            trigger="schedule",
            jobs=[job],
            stop=self.stop,
            environ=self.environ,
            policy=self.policy,
            clock=self.clock,
        )
        try:
            report = execute(item.job_file, options)
        except (CommandError, ProviderError) as exc:
            self.log.emit("run.error", "error", job=job, error=str(exc))
            return
        for outcome in report.outcomes:
            end = outcome.end
            level = "info" if end["status"] in ("ok", "skipped") else "warning"
            event = "run.skipped" if end["status"] == "skipped" else "run.end"
            counts = {
                k: end[k]
                for k in ("planned", "deleted", "already_absent", "failed", "skipped")
                if k in end
            }
            self.log.emit(
                event,
                level,
                job=job,
                status=end["status"],
                **counts,
                **({"message": end["message"]} if end.get("message") else {}),
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
        for item in self.scheduled():
            job = self.scheduler.get_job(item.key)
            self.log.emit(
                "job.scheduled",
                job=item.job.name,
                schedule=item.job.schedule,
                next=rfc3339(job.next_run_time) if job and job.next_run_time else None,
            )
        while not self.stop.is_set():
            self.wake.wait()
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

"""The one execute path: inventory -> decisions -> limits -> deletes -> audit.

``plan`` is this with dry_run; ``run`` and the scheduler call it as it is. Everything
that mutates sits behind the single dry-run gate in ``_JobRunner.run``.
"""

import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runner.audit import AuditLog, orphan_intents
from runner.clock import Clock, rfc3339, system_clock
from runner.connections import connections_used, open_providers
from runner.deletion import delete_and_settle
from runner.errors import EXIT_FAILED, EXIT_INVALID, EXIT_OK, CommandError
from runner.inventory import take_inventory
from runner.jobfile.model import Job, JobFile
from runner.locks import job_lock
from runner.providers.base import DeleteResult, ModelRecord, Provider, ProviderError
from runner.providers.http import RetryPolicy
from runner.rules import Decision, JobPlan, plan_job
from runner.state import State


@dataclass
class RunOptions:
    dry_run: bool
    trigger: str = "manual"  # manual | schedule
    now: datetime | None = None  # pins the rules' clock (--now)
    jobs: list[str] | None = None  # None: every job in the file
    confirm: Callable[[list[JobPlan]], bool] | None = None  # asked before the first delete
    stop: threading.Event = field(default_factory=threading.Event)
    progress: Callable[[int, int], None] | None = None
    policy: RetryPolicy | None = None
    environ: Mapping[str, str] | None = None
    clock: Clock = system_clock


@dataclass
class JobOutcome:
    job: str
    run_id: str
    plan: JobPlan | None
    end: dict[str, Any]  # the run.end record, exactly as written to the audit log
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # provider, id, error

    @property
    def status(self) -> str:
        return str(self.end["status"])


@dataclass
class RunReport:
    now: datetime
    outcomes: list[JobOutcome]
    reconciled: list[dict[str, Any]]
    cancelled: bool = False
    auth_failed: bool = False

    @property
    def exit_code(self) -> int:
        if self.auth_failed and not any(o.end.get("deleted") for o in self.outcomes):
            return EXIT_INVALID  # rejected credentials are like missing ones
        fine = ("ok", "skipped")  # skipped: another process is running that job right now
        return EXIT_OK if all(o.status in fine for o in self.outcomes) else EXIT_FAILED


def select_jobs(job_file: JobFile, names: list[str] | None) -> list[Job]:
    if not names:
        return list(job_file.jobs)
    known = {job.name for job in job_file.jobs}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise CommandError(
            f"{job_file.path}: no job named {', '.join(map(repr, unknown))}"
            f" (jobs: {', '.join(sorted(known))})"
        )
    return [job for job in job_file.jobs if job.name in names]


def execute(job_file: JobFile, options: RunOptions) -> RunReport:
    jobs = select_jobs(job_file, options.jobs)
    connections = connections_used(job_file, [j.name for j in jobs])
    providers, secrets = open_providers(connections, options.environ, options.policy)
    state = State(job_file.state)
    audit = AuditLog(job_file.audit_log, secrets, options.clock)
    try:
        with ExitStack() as held:
            # Locks first: a plan is only made for a job nobody else is running.
            holders = (
                {}
                if options.dry_run
                else {
                    job.name: held.enter_context(job_lock(job_file.state, job.name)) for job in jobs
                }
            )
            busy = {name: pid for name, pid in holders.items() if pid is not None}
            return _execute_locked(job_file, options, jobs, busy, providers, state, audit)
    finally:
        audit.close()
        state.close()
        for provider in providers.values():
            provider.close()


def _execute_locked(
    job_file: JobFile,
    options: RunOptions,
    jobs: list[Job],
    busy: dict[str, int],
    providers: Mapping[str, Provider],
    state: State,
    audit: AuditLog,
) -> RunReport:
    now = options.now or options.clock()
    active = [job for job in jobs if job.name not in busy]
    # Only our own jobs' intents: holding a job's lock proves no live run owns them.
    reconciled = [] if options.dry_run else _reconcile(audit, providers, {j.name for j in active})
    inventories: dict[str, list[ModelRecord]] = {}
    errors: dict[str, ProviderError] = {}
    for connection in connections_used(job_file, [j.name for j in active]):
        need_ages = any(
            t.older_than is not None or t.keep_latest
            for j in active
            for t in j.targets
            if t.provider == connection.name
        )
        try:
            inventories[connection.name] = take_inventory(
                providers[connection.name], connection, state, now, need_ages
            )
        except ProviderError as exc:
            errors[connection.name] = exc
    plans = {
        job.name: plan_job(job, inventories, now)
        for job in active
        if not any(t.provider in errors for t in job.targets)
    }
    report = RunReport(now, [], reconciled)
    wants_deletes = any(p.deletes and not p.limit_message for p in plans.values())
    confirm = None if options.dry_run else options.confirm
    if confirm and wants_deletes and not confirm(list(plans.values())):
        report.cancelled = True
        return report
    runner = _JobRunner(job_file, options, providers, state, audit, now)
    for job in jobs:
        if job.name in busy:
            report.outcomes.append(runner.skip(job, busy[job.name]))
            continue
        failed = [errors[t.provider] for t in job.targets if t.provider in errors]
        report.outcomes.append(runner.run(job, plans.get(job.name), failed[0] if failed else None))
        report.auth_failed = report.auth_failed or any(e.auth for e in failed)
    return report


def _reconcile(
    audit: AuditLog, providers: Mapping[str, Provider], locked_jobs: set[str]
) -> list[dict[str, Any]]:
    """Intents left without an outcome (a crash): look, and record what is true now."""
    done = []
    for intent in orphan_intents(audit.path):
        if intent.get("job") not in locked_jobs:
            continue  # another job's: its own next run settles it
        provider = providers.get(str(intent.get("provider")))
        if provider is None:
            continue  # that connection is not part of this run; a later run settles it
        model_id = str(intent.get("model_id"))
        try:
            present = provider.exists(model_id)
        except (ProviderError, ValueError):
            continue
        done.append(
            audit.append(
                "delete.reconciled",
                None,
                {
                    "job": intent.get("job"),
                    "provider": intent.get("provider"),
                    "model_id": model_id,
                    "intent_run_id": intent.get("run_id"),
                    "intent_seq": intent.get("seq"),
                    "result": "present" if present else "deleted",
                },
                sync=True,
            )
        )
    return done


class _JobRunner:
    def __init__(
        self,
        job_file: JobFile,
        options: RunOptions,
        providers: Mapping[str, Provider],
        state: State,
        audit: AuditLog,
        now: datetime,
    ):
        self.job_file, self.options, self.providers = job_file, options, providers
        self.state, self.audit, self.now = state, audit, now
        self.deleted_this_run: set[tuple[str, str]] = set()

    def skip(self, job: Job, holder: int) -> JobOutcome:
        who = f"pid {holder}" if holder else "another process"
        end = self.audit.append(
            "run.skipped",
            None,
            {
                "job": job.name,
                "trigger": self.options.trigger,
                "status": "skipped",
                "message": f"already running ({who} holds its lock)",
            },
            sync=True,
        )
        return JobOutcome(job.name, "", None, end)

    def run(self, job: Job, plan: JobPlan | None, error: ProviderError | None) -> JobOutcome:
        run_id = uuid.uuid4().hex
        options = self.options
        self.state.run_started(run_id, job.name, options.trigger, options.dry_run, options.clock())
        self.audit.append(
            "run.start",
            run_id,
            {
                "job": job.name,
                "dry_run": options.dry_run,
                "trigger": options.trigger,
                "job_file": str(self.job_file.path),
                "job_file_sha256": self.job_file.sha256,
                "now": rfc3339(self.now),
            },
            sync=True,
        )
        counts = {"planned": 0, "deleted": 0, "already_absent": 0, "failed": 0, "skipped": 0}
        if plan is None or error is not None:
            return self._end(job, run_id, None, counts, "aborted", str(error))
        deletes = [
            d for d in plan.deletes if (d.connection, d.model_id) not in self.deleted_this_run
        ]
        counts["planned"] = len(deletes)
        counts["already_absent"] = sum(1 for d in plan.decisions if d.action == "absent")
        counts["skipped"] = sum(1 for d in plan.decisions if d.action == "skip")
        for decision in deletes:
            self.audit.append(
                "delete.planned",
                run_id,
                {
                    "job": job.name,
                    "provider": decision.connection,
                    "model_id": decision.model_id,
                    "name": decision.name,
                    "reason": decision.reason,
                },
            )
        if options.dry_run:
            return self._end(job, run_id, plan, counts, "ok", None)
        if plan.limit_message:
            return self._end(job, run_id, plan, counts, "aborted", plan.limit_message)
        failures = self._delete_all(job, run_id, deletes, counts)
        interrupted = options.stop.is_set() and counts["skipped"] > 0
        status = "aborted" if interrupted else "partial" if counts["failed"] else "ok"
        message = "interrupted: no new deletes were started" if interrupted else None
        outcome = self._end(job, run_id, plan, counts, status, message)
        outcome.failures = failures
        return outcome

    def _delete_all(
        self, job: Job, run_id: str, deletes: list[Decision], counts: dict[str, int]
    ) -> list[tuple[str, str, str]]:
        pools = {
            name: ThreadPoolExecutor(max_workers=self.job_file.connections[name].concurrency)
            for name in dict.fromkeys(d.connection for d in deletes)
        }
        failures: list[tuple[str, str, str]] = []
        try:
            futures: list[Future[tuple[Decision, DeleteResult | None]]] = [
                pools[d.connection].submit(self._delete_one, job, run_id, d) for d in deletes
            ]
            for done, future in enumerate(as_completed(futures), start=1):
                decision, result = future.result()
                if result is None:
                    counts["skipped"] += 1
                else:
                    counts[result.result] += 1
                    if result.result == "failed":
                        failures.append(
                            (decision.connection, decision.model_id, result.error or "")
                        )
                    else:
                        self.deleted_this_run.add((decision.connection, decision.model_id))
                if self.options.progress:
                    self.options.progress(done, len(deletes))
        finally:
            for pool in pools.values():
                pool.shutdown(wait=True)
        return failures

    def _delete_one(
        self, job: Job, run_id: str, decision: Decision
    ) -> tuple[Decision, DeleteResult | None]:
        if self.options.stop.is_set():
            return decision, None  # stopping: nothing new starts
        fields = {"job": job.name, "provider": decision.connection, "model_id": decision.model_id}
        self.audit.append("delete.intent", run_id, fields, sync=True)
        result = delete_and_settle(self.providers[decision.connection], decision.model_id)
        self.audit.append(
            "delete.outcome",
            run_id,
            {
                **fields,
                "result": result.result,
                "http_status": result.http_status,
                "attempts": result.attempts,
                "error": result.error,
            },
        )
        return decision, result

    def _end(
        self,
        job: Job,
        run_id: str,
        plan: JobPlan | None,
        counts: dict[str, int],
        status: str,
        message: str | None,
    ) -> JobOutcome:
        fields: dict[str, Any] = {
            "job": job.name,
            "dry_run": self.options.dry_run,
            **counts,
            "status": status,
        }
        if message:
            fields["message"] = message
        end = self.audit.append("run.end", run_id, fields, sync=True)
        self.state.run_ended(run_id, status, self.options.clock())
        return JobOutcome(job.name, run_id, plan, end)

"""The daemon's status page (``/``) and its JSON (``/api/status``).

Built from the run events as the audit sink recorded them, folded by the same ``History``
the report uses, so the page and the metrics never keep two bookkeepings: each job's last
run, its pending marks and the savings come from the chain, its schedule and next fire time
from the scheduler's own triggers. Each chain is followed (runner.reports.follow): a request
reads only what was appended since the last one, and the rendered answer is kept until a
chain's head or a next fire time moves.

Only job names, schedules, model IDs and names are shown: never keys, webhook URLs or the
state's location.
"""

import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.audit import AuditChain
from runner.clock import Clock, rfc3339, system_clock
from runner.errors import FtjanitorError
from runner.jobfile.model import JobFile
from runner.reports.follow import ChainSource, FileSource, Follower, Health
from runner.reports.history import Month, Run
from runner.reports.summary import month_series, pending_json
from runner.state.open import open_audit_chain
from runner.text import json_text

if TYPE_CHECKING:
    from runner.scheduler import Scheduled

REFRESH_SECONDS = 30
HTML = "text/html; charset=utf-8"
JSON = "application/json"


Answer = tuple[bytes, str]  # body, Content-Type


def _last_run(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "run_id": run.run_id,
        "trigger": run.trigger,
        "status": run.status,
        "started": run.started,
        "ended": run.ended,
        "deleted": run.deleted,
        "failed": run.failed,
    }


class StatusBoard:
    """Thread-safe: request threads share one lock, held while a chain is read."""

    def __init__(
        self,
        scheduled: Callable[[], list["Scheduled"]],
        next_fire_time: Callable[["Scheduled"], datetime | None],
        clock: Clock = system_clock,
    ):
        self._scheduled, self._next_fire_time, self._clock = scheduled, next_fire_time, clock
        self._lock = threading.Lock()
        self._followers: dict[str, Follower] = {}
        self._chains: list[AuditChain] = []  # opened here (a database's), closed here
        self._key: object = None
        self._answers: tuple[Answer, Answer] | None = None

    def page(self) -> Answer:
        return self._current()[0]

    def api(self) -> Answer:
        return self._current()[1]

    def warm(self) -> None:
        """Read the chains once now (at start, off the request path), so the first visitor
        does not wait for a long log; a failure here is met again, and shown, by a request."""
        try:
            self._current()
        except Exception:  # the page itself reports what went wrong, when asked
            return

    def close(self) -> None:
        with self._lock:
            for chain in self._chains:
                chain.close()
            self._chains.clear()
            self._followers.clear()

    def _follower(self, job_file: JobFile) -> Follower:
        key = f"file:{job_file.audit_log}" if job_file.audit_log else f"state:{job_file.state}"
        follower = self._followers.get(key)
        if follower is None:
            if job_file.audit_log is not None:
                follower = Follower(FileSource(Path(job_file.audit_log)))
            else:
                chain = open_audit_chain(job_file.state, (), self._clock)
                self._chains.append(chain)
                follower = Follower(ChainSource(chain))
            self._followers[key] = follower
        return follower

    def _refreshed(self, follower: Follower) -> object:
        try:
            return follower.refresh()
        except (OSError, FtjanitorError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            follower.health = Health(False, follower.history.records, f"cannot read: {reason}")
            return None

    def _current(self) -> tuple[Answer, Answer]:
        with self._lock:
            items = self._scheduled()
            followers: dict[int, Follower] = {}
            markers = []
            for item in items:
                follower = self._follower(item.job_file)
                if id(follower) not in followers:
                    followers[id(follower)] = follower
                    markers.append(self._refreshed(follower))
            fires = [self._next_fire_time(item) for item in items]
            # Everything the answer shows: what each job is now (a job file edited under
            # the daemon), which chain it reads, how far and how well that chain was read.
            key = (
                [
                    (item.key, item.job.schedule, id(self._follower(item.job_file)))
                    for item in items
                ],
                markers,
                [f.health for f in followers.values()],
                fires,
            )
            if self._answers is None or key != self._key:
                status = self._status(items, fires, list(followers.values()))
                self._answers = self._render(status)
                self._key = key
            return self._answers

    def _status(
        self, items: list["Scheduled"], fires: list[datetime | None], followers: list[Follower]
    ) -> dict[str, Any]:
        jobs = []
        for item, fire in zip(items, fires, strict=True):
            history = self._follower(item.job_file).history
            name = item.job.name
            jobs.append(
                {
                    "job": name,
                    "file": str(item.job_file.path),
                    "schedule": item.job.schedule,
                    "next_fire_time": rfc3339(fire) if fire is not None else None,
                    "last_run": _last_run(history.last_runs.get(name)),
                    "pending": [pending_json(m) for m in history.pending() if m.job == name],
                }
            )
        months: dict[str, Month] = {}
        for follower in followers:
            for month, figures in follower.history.months.items():
                total = months.setdefault(month, Month())
                total.deleted += figures.deleted
                total.retired += figures.retired
        savings = [
            {
                "month": m["month"],
                "deleted": m["deleted"],
                "monthly_cost_retired": m["monthly_cost_retired"],
                "cumulative_monthly_cost_retired": m["cumulative_monthly_cost_retired"],
            }
            for m in month_series(months)
        ]
        audit = [
            {"ok": f.health.ok, "records": f.health.records, "message": f.health.message}
            for f in followers
        ]
        return {"v": 1, "jobs": jobs, "savings": savings, "audit": audit}

    def _render(self, status: dict[str, Any]) -> tuple[Answer, Answer]:
        from runner.reports.html import render_status  # Jinja2 once the page is asked for

        page = render_status(status, REFRESH_SECONDS).encode("utf-8", "backslashreplace")
        api = json_text(status).encode()
        return (page, HTML), (api, JSON)

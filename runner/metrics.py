"""Prometheus metrics: one more subscriber of the run-event stream.

``Metrics`` is a :class:`runner.events.Sink`. The daemon serves it over HTTP
(:mod:`runner.health`); ``run --metrics-file`` writes it once as a textfile-collector file.

What is counted, and what is not:

* **Dry runs change no metric.** A dry run deletes nothing and is a look, not a run: it is
  counted neither in ``ftjanitor_runs_total`` nor in ``ftjanitor_deletions_total``, does not
  move ``selected``/``pending``/last success, observes no duration and trips no limit
  counter. Events of a dry run are recognised by ``RunStarted.dry_run`` (their ``run_id``)
  and by ``RunEnded.dry_run``.
* **An ``Absent`` event counts as a deletion with result ``already_absent``**, exactly as the
  run's own ``counts.already_absent`` does: an ``ids:`` entry the provider no longer lists
  is a model that is, as the job wants, gone. ``Outcome`` events count under their result.
* **``Reconciled`` is not counted**: it settles an intent of an earlier run (which was cut
  short) and is not part of any run's counts.
* ``RunSkipped`` counts in ``ftjanitor_runs_total{status="skipped"}`` and nowhere else.

Labels are bounded: ``job`` (a job name), ``provider`` (a connection name from the job file),
``status`` and ``result`` (fixed vocabularies; an unexpected value is exported as
``other``). A model ID or name never becomes a label.

Counters live in this process: they start at 0 when it starts, and a textfile holds one
invocation's figures. Rules about "the last success" should therefore use
``max_over_time`` (see the README).
"""

import copy
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from runner.clock import Clock, system_clock
from runner.errors import StorageError
from runner.events import (
    Absent,
    Event,
    LimitTripped,
    Outcome,
    RunEnded,
    RunSkipped,
    RunStarted,
)

# The text exposition format generate_latest() writes.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

RUN_STATUSES = ("ok", "partial", "aborted", "skipped")
DELETION_RESULTS = ("deleted", "already_absent", "failed")
OTHER = "other"

# Runs last from seconds (nothing to do) to hours (thousands of rate-limited deletes).
DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)

_MAX_OPEN_RUNS = 1024  # runs seen starting but not ending (a crash): forget the oldest


@dataclass(frozen=True)
class _OpenRun:
    dry_run: bool
    started: datetime  # the clock when RunStarted arrived: a fallback for the duration


class _WithoutCreated(Collector):
    """The source registry's families minus the ``_created`` samples prometheus_client adds to
    every counter and histogram child: they double the series and say nothing useful here.
    (``disable_created_metrics()`` would do it too, but for every registry in the process.)"""

    def __init__(self, source: CollectorRegistry):
        self._source = source

    def collect(self) -> Iterable[Metric]:
        for family in self._source.collect():
            trimmed = copy.copy(family)
            trimmed.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield trimmed


class Metrics:
    """The ftjanitor metrics in a registry of their own (never the global one).

    Thread-safe: ``emit`` may be called from any thread while ``render`` runs in another.
    """

    def __init__(self, clock: Clock = system_clock):
        self._clock = clock
        self._lock = threading.Lock()
        self._open_runs: dict[str, _OpenRun] = {}
        self._last_success: dict[str, float] = {}
        source = CollectorRegistry(auto_describe=True)
        self.runs = Counter(
            "ftjanitor_runs_total",
            "Runs by final status: ok, partial, aborted (run.end), or skipped. Dry runs excluded.",
            ["job", "status"],
            registry=source,
        )
        self.deletions = Counter(
            "ftjanitor_deletions_total",
            "Models by deletion result (deleted, already_absent, failed); "
            "provider is the connection name. Dry runs excluded.",
            ["job", "provider", "result"],
            registry=source,
        )
        self.selected = Gauge(
            "ftjanitor_selected",
            "Models the job's last run selected for deletion.",
            ["job"],
            registry=source,
        )
        self.pending = Gauge(
            "ftjanitor_pending",
            "Marks the job's last run left, not yet deleted: in grace, or due but held"
            " (a limit, a review, a failed delete).",
            ["job"],
            registry=source,
        )
        self.last_success = Gauge(
            "ftjanitor_last_success_timestamp_seconds",
            "End of the job's last ok run (Unix time); 0 if this process has seen none.",
            ["job"],
            registry=source,
        )
        self.next_run = Gauge(
            "ftjanitor_next_run_timestamp_seconds",
            "When the scheduler next runs the job (Unix time).",
            ["job"],
            registry=source,
        )
        self.duration = Histogram(
            "ftjanitor_run_duration_seconds",
            "Run duration, start to end. Dry runs excluded.",
            ["job"],
            buckets=DURATION_BUCKETS,
            registry=source,
        )
        self.limit_tripped = Counter(
            "ftjanitor_limit_tripped_total",
            "Runs a safety limit stopped before deleting. Dry runs excluded.",
            ["job"],
            registry=source,
        )
        self.savings = Gauge(
            "ftjanitor_estimated_monthly_savings_dollars",
            "What the deletes of the job's last run save a month, in dollars (known costs"
            " only). Dry runs excluded.",
            ["job"],
            registry=source,
        )
        self.retired = Counter(
            "ftjanitor_deleted_monthly_cost_dollars_total",
            "The monthly cost of every item deleted, in dollars (known costs only)."
            " Dry runs excluded.",
            ["job"],
            registry=source,
        )
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_WithoutCreated(source))

    # -- set-up by the daemon / the run command ------------------------------------------

    def declare_jobs(
        self, jobs: Iterable[str], *, connections: Mapping[str, Iterable[str]] | None = None
    ) -> None:
        """Create every job's series at 0 so they exist before its first run (a counter that
        appears at 1 loses that first increment to ``rate()``). ``connections`` (job -> the
        connection names its targets use) zero ``deletions_total`` too.

        ``next_run`` is not created: 0 would read as "overdue since 1970"; the daemon sets it.
        """
        connections = connections or {}
        for job in jobs:
            for status in RUN_STATUSES:
                self.runs.labels(job, status)
            for provider in connections.get(job, ()):
                for result in DELETION_RESULTS:
                    self.deletions.labels(job, provider, result)
            self.selected.labels(job)
            self.pending.labels(job)
            self.last_success.labels(job)
            self.duration.labels(job)
            self.limit_tripped.labels(job)
            self.savings.labels(job)
            self.retired.labels(job)

    def set_next_run(self, job: str, when: datetime | None) -> None:
        """The scheduler's next fire time for ``job``; None removes the series (no next run)."""
        if when is None:
            with suppress(KeyError):
                self.next_run.remove(job)
        else:
            self.next_run.labels(job).set(_seconds(when))

    def set_last_success(self, job: str, when: datetime) -> None:
        """Seed the last success (e.g. from a run history); never moves it backwards."""
        stamp = _seconds(when)
        with self._lock:
            if stamp <= self._last_success.get(job, float("-inf")):
                return
            self._last_success[job] = stamp
            self.last_success.labels(job).set(stamp)

    # -- the Sink ------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._run_started(event)
        elif isinstance(event, Outcome):
            if not self._is_dry(event.run_id):
                result = event.result if event.result in DELETION_RESULTS else OTHER
                self.deletions.labels(event.job, event.model.ref.connection, result).inc()
        elif isinstance(event, Absent):
            if not self._is_dry(event.run_id):
                self.deletions.labels(event.job, event.model.ref.connection, "already_absent").inc()
        elif isinstance(event, LimitTripped):
            if not self._is_dry(event.run_id):
                self.limit_tripped.labels(event.job).inc()
        elif isinstance(event, RunEnded):
            self._run_ended(event)
        elif isinstance(event, RunSkipped):
            self.runs.labels(event.job, "skipped").inc()
        # Planned, Marked, Unmarked, Intent, Waiting, Reconciled, Notified, Unrouted: nothing
        # to count.

    def _run_started(self, event: RunStarted) -> None:
        with self._lock:
            while len(self._open_runs) >= _MAX_OPEN_RUNS:
                del self._open_runs[next(iter(self._open_runs))]
            self._open_runs[event.run_id] = _OpenRun(event.dry_run, self._clock())

    def _is_dry(self, run_id: str) -> bool:
        """An event of a run whose start was not seen counts (better than losing it)."""
        with self._lock:
            run = self._open_runs.get(run_id)
        return run is not None and run.dry_run

    def _run_ended(self, event: RunEnded) -> None:
        with self._lock:
            run = self._open_runs.pop(event.run_id, None)
        if event.dry_run or (run is not None and run.dry_run):
            return
        ended = event.ended or self._clock()
        started = event.started or (run.started if run is not None else None)
        status = event.status if event.status in RUN_STATUSES else OTHER
        self.runs.labels(event.job, status).inc()
        self.selected.labels(event.job).set(event.counts.planned)
        self.pending.labels(event.job).set(event.counts.pending)
        saved = float(event.savings.amount)  # a metric is a float: rounded only here
        self.savings.labels(event.job).set(saved)
        self.retired.labels(event.job).inc(saved)
        if started is not None:
            self.duration.labels(event.job).observe(max(0.0, (ended - started).total_seconds()))
        if event.status == "ok":
            self.set_last_success(event.job, ended)

    # -- output --------------------------------------------------------------------------

    def render(self) -> bytes:
        """The Prometheus text exposition format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)

    def write_textfile(self, path: Path) -> None:
        """Write ``render()`` to ``path`` atomically, for node_exporter's textfile collector.

        A temporary file in the same directory (named ``.NAME.*.tmp``, so the collector, which
        reads ``*.prom``, ignores it) is written, flushed to disk and renamed over ``path``: a
        reader sees the old file or the new one, never a part. Mode 0644.
        """
        data = self.render()
        try:
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        except OSError as exc:
            raise _storage_error(path, exc) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o644)
            os.replace(temp, path)
        except OSError as exc:
            with suppress(OSError):
                os.unlink(temp)
            raise _storage_error(path, exc) from None


def _seconds(when: datetime) -> float:
    """Unix time; a naive datetime is taken as UTC (every clock here is UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _storage_error(path: Path, exc: OSError) -> StorageError:
    reason = exc.strerror or str(exc) or type(exc).__name__
    reason = " ".join(reason.split())
    return StorageError(f"{path}: cannot write metrics file: {reason}")

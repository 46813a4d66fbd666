"""One stream of run events. The audit log, the terminal output, notifications and
metrics are subscribers, so no outcome is ever reported differently in two places."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol, assert_never

from runner.cost import Savings
from runner.providers.base import DeleteOutcome
from runner.ref import ResourceRef
from runner.usage import LastUse


@dataclass
class Counts:
    planned: int = 0
    deleted: int = 0
    already_absent: int = 0
    failed: int = 0
    skipped: int = 0
    marked: int = 0
    pending: int = 0
    # Accepted deletes not yet proven gone when the run ended: only a run stopped while
    # waiting has any (their intents stay open for the next run to reconcile).
    waiting: int = 0

    def settled(self, outcome: DeleteOutcome) -> None:
        """Count one final delete outcome."""
        match outcome:
            case "deleted":
                self.deleted += 1
            case "already_absent":
                self.already_absent += 1
            case "failed":
                self.failed += 1
            case _:
                assert_never(outcome)


@dataclass(frozen=True)
class ModelRef:
    """The item an event is about (whatever its kind), with what a reader is told of it."""

    ref: ResourceRef
    name: str | None = None
    reason: str = ""
    owner: str | None = None  # its owner_tag's value: whose webhook hears of it (by_owner)
    monthly_cost: Decimal | None = None  # what an owner is told its deletes save


@dataclass(frozen=True)
class RunStarted:
    job: str
    run_id: str
    dry_run: bool
    trigger: str
    job_file: str
    job_file_sha256: str
    now: datetime
    fire_time: datetime | None = None
    plan_sha256: str | None = None


@dataclass(frozen=True)
class Planned:
    job: str
    run_id: str
    model: ModelRef
    usage: LastUse | None = None  # an unused_for selection: its source and last use seen


@dataclass(frozen=True)
class Marked:
    job: str
    run_id: str
    model: ModelRef
    deletable_after: datetime


@dataclass(frozen=True)
class Unmarked:
    job: str
    run_id: str
    model: ModelRef


@dataclass(frozen=True)
class Absent:
    """An ``ids:`` entry the provider does not list."""

    job: str
    run_id: str
    model: ModelRef


@dataclass(frozen=True)
class Intent:
    job: str
    run_id: str
    model: ModelRef


@dataclass(frozen=True)
class Waiting:
    """The provider accepted the delete to carry it out later: the item is polled until it
    is gone or ``within`` has passed, and its ``Outcome`` follows (none if the run stops)."""

    job: str
    run_id: str
    model: ModelRef
    http_status: int | None
    within: timedelta


@dataclass(frozen=True)
class Held:
    """A planned delete never sent: an item it waits for (a served model's deployment)
    was not deleted in this run. Its intent is never written; ``model.reason`` says why."""

    job: str
    run_id: str
    model: ModelRef


@dataclass(frozen=True)
class Outcome:
    job: str
    run_id: str
    model: ModelRef
    result: DeleteOutcome
    http_status: int | None
    attempts: int
    error: str | None
    transient: bool = False
    will_retry: bool = False  # a transient failure that gets a second pass: not final
    monthly_cost: Decimal | None = None  # what the item cost a month (None: unknown)


@dataclass(frozen=True)
class Reconciled:
    job: str
    ref: ResourceRef
    intent_run_id: str
    intent_seq: int
    result: Literal["deleted", "present"]


@dataclass(frozen=True)
class LimitTripped:
    job: str
    run_id: str
    message: str


@dataclass(frozen=True)
class Notified:
    job: str
    run_id: str
    notifier: str
    kind: str
    ok: bool
    count: int
    error: str | None = None


@dataclass(frozen=True)
class Unrouted:
    """Items a ``by_owner`` notification told no one about: their owner has no webhook
    of its own and there is no ``"*"``."""

    job: str
    run_id: str
    notifier: str
    count: int


@dataclass(frozen=True)
class RunEnded:
    job: str
    run_id: str
    dry_run: bool
    status: str  # ok | partial | aborted
    counts: Counts
    message: str | None = None
    started: datetime | None = None
    ended: datetime | None = None
    # What the deletes made save a month (a dry run: those it would make), and how many
    # of them had an unknown cost (left out of the sum).
    savings: Savings = field(default_factory=Savings)


@dataclass(frozen=True)
class RunSkipped:
    job: str
    trigger: str
    message: str
    fire_time: datetime | None = None


Event = (
    RunStarted
    | Planned
    | Marked
    | Unmarked
    | Absent
    | Intent
    | Waiting
    | Held
    | Outcome
    | Reconciled
    | LimitTripped
    | Notified
    | Unrouted
    | RunEnded
    | RunSkipped
)


class Sink(Protocol):
    def emit(self, event: Event) -> None: ...


@dataclass
class Fanout:
    """Delivers each event to every sink in order (the audit first: it must be durable
    before anything else hears of an intent)."""

    sinks: list[Sink] = field(default_factory=list)

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)

    def emit_many(self, events: Sequence[Event]) -> None:
        """Events in order, sink by sink: a sink that takes a group (one with an
        ``emit_many(events)``, as the audit has: one write, one fsync) hears them at once,
        the others one by one. Asked by attribute: an isinstance() against a runtime
        Protocol costs tens of microseconds, on every group of every run."""
        for sink in self.sinks:
            together: Callable[[Sequence[Event]], None] | None = getattr(sink, "emit_many", None)
            if together is not None:
                together(events)
            else:
                for event in events:
                    sink.emit(event)

    def emit_all(self, event: Event) -> None:
        """For what has already happened (an outcome, a run's end): every sink hears it
        even when one fails, so a broken audit store cannot hide a delete from the metrics
        and notifications; the first failure is raised afterwards."""
        failure: Exception | None = None
        for sink in self.sinks:
            try:
                sink.emit(event)
            except Exception as exc:  # raised again below, once every sink heard it
                failure = failure or exc
        if failure is not None:
            raise failure

    def extend(self, sinks: Iterable[Sink]) -> None:
        self.sinks.extend(sinks)

"""One pass over audit records, in order, into the figures reports and the status page show.

Memory stays flat whatever the log's length: totals and months are counters, names are kept
only for runs still open and marks still pending, and the lists a reader scrolls (failures,
limit trips) keep their latest ``KEEP_LISTED`` entries beside their full counts.

Records are read as the audit sink writes them, and defensively: a verified chain proves
who wrote a record in what order, not that its fields have the types ftjanitor gives them.
"""

import re
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from runner.clock import parse_instant
from runner.ref import DEFAULT_KIND
from runner.rules import LIMIT_TRIPPED

KEEP_LISTED = 1000  # failures and limit trips listed; more are counted, not listed
_MAX_OPEN_RUNS = 1024  # runs seen starting but not ending (a crash): forget the oldest
UNKNOWN_MONTH = "unknown"  # a record whose ts cannot be read: counted, never hidden
MAX_COUNT = 10**9  # deletes in one run, at most: more than any provider holds
MAX_TEXT = 1000  # characters kept of a field (ftjanitor writes none this long)
# Dollars a month: more than any bill, and far from what a Decimal sum or a float can hold.
MAX_AMOUNT = Decimal(10) ** 12

Item = tuple[str, str, str, str]  # job, provider (connection), kind, ID


@dataclass
class Month:
    deleted: int = 0
    failed: int = 0
    limit_trips: int = 0
    retired: Decimal = Decimal(0)


@dataclass
class Run:
    """A run as its records tell it (dry runs are never kept)."""

    run_id: str
    job: str
    trigger: str
    started: str
    status: str = "running"
    ended: str | None = None
    deleted: int = 0
    failed: int = 0
    names: dict[Item, str] = field(default_factory=dict)  # from delete.planned, while open


@dataclass(frozen=True)
class Failure:
    ts: str
    job: str
    provider: str
    kind: str
    model_id: str
    name: str | None
    error: str


@dataclass(frozen=True)
class LimitTrip:
    ts: str
    job: str
    message: str


@dataclass(frozen=True)
class PendingMark:
    job: str
    provider: str
    kind: str
    model_id: str
    name: str | None
    deletable_after: str


@dataclass
class Totals:
    deleted: int = 0
    already_absent: int = 0
    failed: int = 0
    limit_trips: int = 0
    retired: Decimal = Decimal(0)
    unknown_cost: int = 0


def _text(value: object) -> str:
    """A field as text: a number as its digits; a list or an object, which no text field
    of ftjanitor's holds, as "?" (its str() could be megabytes, or recurse too deep). At
    most ``MAX_TEXT`` characters are kept, so the lists kept stay small however long a
    record's strings."""
    if isinstance(value, str):
        text = value
    else:
        text = "" if value is None else str(value) if isinstance(value, int | float) else "?"
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _count(value: object) -> int:
    """A count as ftjanitor writes it (a whole number, 0 up to ``MAX_COUNT``); anything
    else 0, so no sum of them is negative or too long to print."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_COUNT:
        return value
    return 0


def _amount(value: object) -> Decimal | None:
    """Dollars a month as ftjanitor writes them (a JSON number, 0 up to ``MAX_AMOUNT``);
    anything else is an unknown cost, so one odd record can neither overflow the totals nor
    make them negative."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and 0 <= amount <= MAX_AMOUNT else None


# How ftjanitor writes a ts (UTC), checked as far as the month: read without parsing.
_UTC_MONTH = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])-[0-9]{2}T[0-9:.]{15}Z")


def month_of(ts: str) -> str:
    """The UTC month (YYYY-MM, the year in four digits) of a record's ``ts``, or
    ``UNKNOWN_MONTH``."""
    if _UTC_MONTH.fullmatch(ts):
        return ts[:7]
    try:
        at = parse_instant(ts)
    except ValueError:
        return UNKNOWN_MONTH
    return f"{at.year:04d}-{at.month:02d}"


def _item(record: dict[str, Any]) -> Item:
    return (
        _text(record.get("job")),
        _text(record.get("provider")),
        _text(record.get("kind") or DEFAULT_KIND),
        _text(record.get("model_id")),
    )


class History:
    """Feed it records with ``add``; read the figures from its attributes.

    ``since`` leaves older records out of the counts, but every record still moves what is
    *current* (open runs, pending marks, each job's last run): a mark made before ``since``
    and still pending is pending now.
    """

    def __init__(self, since: datetime | None = None):
        self.since = since
        self.records = 0
        self.totals = Totals()
        self.months: dict[str, Month] = {}
        self.by_provider_kind: Counter[tuple[str, str]] = Counter()
        self.failures: deque[Failure] = deque(maxlen=KEEP_LISTED)
        self.limit_trips: deque[LimitTrip] = deque(maxlen=KEEP_LISTED)
        self.last_runs: dict[str, Run] = {}  # job -> its latest run that was not a dry run
        self.marks: dict[Item, PendingMark] = {}
        self.recovered = 0  # torn lines the chain recorded as recovered
        self._open: dict[str, Run | None] = {}  # run_id -> the run (None: a dry run)

    def add(self, record: dict[str, Any]) -> None:
        self.records += 1
        event = record.get("event")
        ts = _text(record.get("ts"))
        run_id = _text(record.get("run_id"))
        if event == "run.start":
            self._started(record, ts, run_id)
        elif event == "delete.planned":
            if run := self._open.get(run_id):
                run.names[_item(record)] = _text(record.get("name")) or ""
        elif event == "delete.marked":
            item = _item(record)
            name = record.get("name")
            after = _text(record.get("deletable_after"))
            self.marks[item] = PendingMark(
                *item, _text(name) if isinstance(name, str) else None, after
            )
        elif event in ("delete.unmarked", "delete.absent"):
            self.marks.pop(_item(record), None)
            if event == "delete.absent" and self._counts(run_id, ts):
                self.totals.already_absent += 1
        elif event == "delete.outcome":
            self._outcome(record, ts, run_id)
        elif event == "delete.reconciled" and record.get("result") == "deleted":
            self.marks.pop(_item(record), None)
        elif event == "run.end":
            self._ended(record, ts, run_id)
        elif event == "audit.recovered":
            self.recovered += 1

    def _in_range(self, ts: str) -> bool:
        if self.since is None:
            return True
        try:
            return parse_instant(ts) >= self.since
        except ValueError:
            return True  # an unreadable time is counted, never hidden: it may be evidence

    def _counts(self, run_id: str, ts: str) -> bool:
        """A record of a real run within range (a run whose start was not seen counts)."""
        return (run_id not in self._open or self._open[run_id] is not None) and self._in_range(ts)

    def _month(self, ts: str) -> Month:
        return self.months.setdefault(month_of(ts), Month())

    def _started(self, record: dict[str, Any], ts: str, run_id: str) -> None:
        while len(self._open) >= _MAX_OPEN_RUNS:
            del self._open[next(iter(self._open))]
        if record.get("dry_run") is not False:
            self._open[run_id] = None  # a dry run (or one that does not say): never counted
            return
        job = _text(record.get("job"))
        run = Run(run_id, job, _text(record.get("trigger")), ts)
        self._open[run_id] = self.last_runs[job] = run

    def _outcome(self, record: dict[str, Any], ts: str, run_id: str) -> None:
        item = _item(record)
        result = record.get("result")
        run = self._open.get(run_id)
        if result != "failed":
            self.marks.pop(item, None)
        if run is not None and result == "deleted":
            run.deleted += 1
        elif run is not None and result == "failed":
            run.failed += 1
        if not self._counts(run_id, ts):
            return
        if result == "deleted":
            self.totals.deleted += 1
            self._month(ts).deleted += 1
            self.by_provider_kind[(item[1], item[2])] += 1
        elif result == "already_absent":
            self.totals.already_absent += 1
        elif result == "failed":
            self.totals.failed += 1
            self._month(ts).failed += 1
            name = run.names.get(item) if run is not None else None
            error = _text(record.get("error")) or f"http {_text(record.get('http_status'))}"
            self.failures.append(Failure(ts, *item, name, error))

    def _ended(self, record: dict[str, Any], ts: str, run_id: str) -> None:
        run = self._open.pop(run_id, None)
        if record.get("dry_run") is not False:
            return
        status = _text(record.get("status"))
        if run is not None:
            run.status, run.ended, run.names = status, ts, {}
        if not self._in_range(ts):
            return
        raw, message = record.get("message"), _text(record.get("message"))
        if status == "aborted" and isinstance(raw, str) and raw.endswith(LIMIT_TRIPPED):
            self.totals.limit_trips += 1
            self._month(ts).limit_trips += 1
            self.limit_trips.append(LimitTrip(ts, _text(record.get("job")), message))
        saved = _amount(record.get("estimated_monthly_savings"))
        if saved is None:  # a run from before costs were known: its deletes' cost is unknown
            self.totals.unknown_cost += _count(record.get("deleted"))
            return
        self.totals.retired += saved
        self.totals.unknown_cost += _count(record.get("unknown_cost"))
        self._month(ts).retired += saved

    def pending(self) -> list[PendingMark]:
        return sorted(self.marks.values(), key=lambda m: (m.deletable_after, m.job, m.model_id))

"""Audit histories spread over months, written as the audit sink would have written them:
chained with the canonical JSON (runner.chain.seal), each record at the ``ts`` asked for.
``--now`` moves the rules' clock, not the records' ``ts``, so a history over months is
written here rather than run."""

import itertools
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from runner.chain import GENESIS, dumps, seal
from runner.clock import rfc3339
from runner.rules import LIMIT_TRIPPED


@dataclass(frozen=True)
class Delete:
    provider: str
    model_id: str
    result: str = "deleted"  # deleted, already_absent, failed
    kind: str = "model"
    name: str | None = None
    monthly_cost: float | None = None


class ChainWriter:
    """Appends chained records to an open binary file."""

    def __init__(self, handle: BinaryIO, after: tuple[int, str] = (0, GENESIS), first_run: int = 1):
        """``after``: (seq, hash) of the file's last record, to go on with its chain."""
        self.handle = handle
        self.seq, self.prev = after
        self._ids = itertools.count(first_run)

    def add(self, at: Any, event: str, run_id: str | None, **fields: Any) -> dict[str, Any]:
        """``at`` not a datetime is the ``ts`` as it is: a record the sink would not write."""
        ts = rfc3339(at) if isinstance(at, datetime) else at
        record = seal(self.seq + 1, self.prev, ts, event, run_id, fields)
        self.handle.write((dumps(record) + "\n").encode())
        self.seq, self.prev = record["seq"], record["hash"]
        return record

    def run(
        self,
        at: datetime,
        job: str,
        deletes: Iterable[Delete] = (),
        *,
        dry_run: bool = False,
        limit: str | None = None,
        with_savings: bool = True,
        trigger: str = "schedule",
    ) -> str:
        """One run of ``job`` starting at ``at``, one record a second; its run_id."""
        run_id = f"run-{next(self._ids):06d}"
        tick = (at + timedelta(seconds=s) for s in itertools.count())
        self.add(next(tick), "run.start", run_id, job=job, dry_run=dry_run, trigger=trigger)
        counts = {"planned": 0, "deleted": 0, "already_absent": 0, "failed": 0, "skipped": 0}
        saved, unknown = 0.0, 0
        for d in [] if limit else deletes:
            ref = {"provider": d.provider, "kind": d.kind, "model_id": d.model_id}
            self.add(next(tick), "delete.planned", run_id, job=job, **ref, name=d.name, reason="r")
            counts["planned"] += 1
            if dry_run:
                continue
            self.add(next(tick), "delete.intent", run_id, job=job, **ref)
            error = "http 500: boom" if d.result == "failed" else None
            self.add(
                next(tick),
                "delete.outcome",
                run_id,
                job=job,
                **ref,
                result=d.result,
                http_status=500 if error else 200,
                attempts=1,
                error=error,
            )
            counts[d.result] += 1
            if d.result == "deleted":
                if d.monthly_cost is None:
                    unknown += 1
                else:
                    saved += d.monthly_cost
        status = "aborted" if limit else "partial" if counts["failed"] else "ok"
        end: dict[str, Any] = {"job": job, "dry_run": dry_run, **counts, "status": status}
        if with_savings:
            end |= {"estimated_monthly_savings": round(saved, 2), "unknown_cost": unknown}
        if limit:
            end["message"] = limit + LIMIT_TRIPPED
        self.add(next(tick), "run.end", run_id, **end)
        return run_id


def months_from(first: datetime, count: int) -> Iterator[datetime]:
    """The same day and time in ``count`` consecutive months (day at most 28)."""
    for n in range(count):
        year, month = divmod(first.month - 1 + n, 12)
        yield first.replace(year=first.year + year, month=month + 1)


def report_job(folder: Path, log: str = "audit.jsonl") -> Path:
    """A job file whose audit log and state are in ``folder`` (no keys needed to report)."""
    path = folder / "job.yaml"
    path.write_text(
        "version: 1\n"
        "providers:\n  cohere: {base_url: 'http://127.0.0.1:9'}\n"
        f"audit_log: {log}\nstate: state.sqlite3\n"
        "jobs:\n  - name: nightly\n    schedule: every 1d\n"
        "    targets:\n      - {provider: cohere, status: [STATUS_FAILED]}\n"
    )
    return path


def history_path(folder: Path) -> Path:
    return folder / "audit.jsonl"


@contextmanager
def append_to(log: Path, first_run: int = 1000) -> Iterator[ChainWriter]:
    """A writer that goes on with ``log``'s chain."""
    last = json.loads(log.read_bytes().splitlines()[-1])
    with open(log, "ab") as handle:
        yield ChainWriter(handle, (last["seq"], last["hash"]), first_run)


def write_history(folder: Path) -> Path:
    """A job file over a year-long history: deletes on two connections and two kinds,
    failures, a limit trip, a dry run (never counted) and a run from before costs were
    recorded (its deletes counted with an unknown cost). Its job file's path."""
    first = datetime.fromisoformat("2025-07-03T04:00:00+00:00")
    with open(history_path(folder), "wb") as handle:
        w = ChainWriter(handle)
        w.run(
            first - timedelta(days=40),
            "nightly",
            [Delete("cohere", "old-1"), Delete("cohere", "old-2")],
            with_savings=False,
        )
        for n, at in enumerate(months_from(first, 12)):
            deletes = [
                Delete("cohere", f"m{n}-{i}", name=f"exp {n}.{i}", monthly_cost=2.0)
                for i in range(n % 4 + 1)
            ]
            deletes.append(
                Delete("together", f"ep-{n}", kind="deployment", monthly_cost=2912.7)
                if n % 3 == 0
                else Delete("together", f"gone-{n}", result="already_absent")
            )
            if n % 5 == 2:
                deletes.append(Delete("cohere", f"bad-{n}", result="failed", name="<script>x"))
            w.run(at, "nightly", deletes)
            w.run(at + timedelta(hours=1), "nightly", [Delete("cohere", f"dry-{n}")], dry_run=True)
        w.run(first + timedelta(days=100), "nightly", [Delete("cohere", "x")], limit="over 50")
    return report_job(folder)

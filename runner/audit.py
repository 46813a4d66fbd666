"""The audit log: a hash-chained record of everything a run did (see runner.chain).

``AuditLog`` keeps the chain in a JSON Lines file, append-only; several processes keep one
chain because every append holds an exclusive file lock and first re-reads the tail.
``AuditSink`` turns run events into records, so the audit says exactly what happened.
The state remembers the last record each plan or run saw (the head anchor): a chain alone
cannot see its own tail cut off, the anchor can.
"""

import dataclasses
import fcntl
import hashlib
import itertools
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from runner import events as ev
from runner.chain import (
    GENESIS,
    MAX_LINE_BYTES,
    Appended,
    Verdict,
    dumps,
    loads,
    read_lines,
    record_hash,
    seal,
    verify_lines,
)
from runner.clock import Clock, rfc3339, system_clock
from runner.cost import json_amount
from runner.errors import StorageError
from runner.files import create_private
from runner.redaction import redact, secret_list

_TAIL_CHUNK = 65536


class AuditChain(Protocol):
    @property
    def name(self) -> str:
        """Names the chain in messages and keys its head anchor (never a password)."""
        ...

    @property
    def seq(self) -> int:
        """The last record's seq."""
        ...

    @property
    def prev(self) -> str:
        """The last record's hash."""
        ...

    @property
    def head(self) -> tuple[int, str]:
        """(seq, hash) of one and the same record, the last one, read at once: reading
        ``seq`` then ``prev`` may pair two records when another process appends between."""
        ...

    def append(
        self, event: str, run_id: str | None, fields: dict[str, Any], *, sync: bool = False
    ) -> dict[str, Any]: ...

    def append_many(
        self, entries: Sequence[Appended], *, sync: bool = False
    ) -> list[dict[str, Any]]:
        """The entries as consecutive records, written together (one lock, one write or
        transaction; with ``sync``, one fsync or synchronous commit for all of them)."""
        ...

    def lines(self, after: int = 0) -> Iterator[bytes]:
        """The stored lines, from the record after seq ``after`` on."""
        ...

    def line_at(self, seq: int) -> bytes | None:
        """The stored line of the record at ``seq``, as kept (None when there is none)."""
        ...

    def close(self) -> None: ...


class _TailTooLong(Exception):
    """The file ends in a line longer than any record: not ours to read whole."""


def _last_lines(fd: int) -> tuple[bytes | None, bytes]:
    """(last complete line or None, torn tail after it) read from the end of the file:
    backwards, until the newline before the last complete line (two newlines seen), in
    chunks joined once, so a long tail costs its length, not its length squared."""
    chunks: list[bytes] = []
    newlines = total = 0
    offset = os.fstat(fd).st_size
    while offset > 0 and newlines < 2:
        step = min(_TAIL_CHUNK, offset)
        offset -= step
        chunk = os.pread(fd, step, offset)
        chunks.append(chunk)
        newlines += chunk.count(b"\n")
        total += len(chunk)
        if newlines < 2 and total > 2 * MAX_LINE_BYTES:  # a record and a torn tail, at most
            raise _TailTooLong
    data = b"".join(reversed(chunks))
    if not data:
        return None, b""
    torn = b"" if data.endswith(b"\n") else data.rsplit(b"\n", 1)[-1]
    complete = data[: len(data) - len(torn)]
    if offset == 0 and not complete:
        return None, torn
    lines = complete.rstrip(b"\n").rsplit(b"\n", 1)
    return lines[-1], torn


def _whole_record(line: bytes, seq: int, prev: str) -> tuple[int, str] | None:
    try:
        record = loads(line)
        if (
            record["seq"] == seq + 1
            and record["prev"] == prev
            and record_hash(record) == record["hash"]
        ):
            return int(record["seq"]), str(record["hash"])
    except (ValueError, KeyError, TypeError):
        pass
    return None


def _storage_error(path: Path, exc: OSError) -> StorageError:
    reason = exc.strerror or type(exc).__name__
    return StorageError(f"{path}: cannot use as the audit log: {reason}")


class AuditLog:
    """The chain in a JSON Lines file."""

    def __init__(self, path: Path, secrets: Iterable[str] = (), clock: Clock = system_clock):
        self.path = path
        self.name = str(path)
        self.secrets = secret_list(secrets)
        self.clock = clock
        self._lock = threading.Lock()
        try:
            create_private(path)
            self.fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except OSError as exc:
            raise _storage_error(path, exc) from None
        self.seq, self.prev = 0, GENESIS
        self._size = -1  # file size after our last write; anything else means re-read
        # Group commit: records this object wrote, and how many of them an fsync covers.
        self._sync_lock = threading.Lock()
        self._written = self._synced = 0
        with self._lock, _flocked(self.fd):
            self._refresh()

    def _refresh(self) -> None:
        """Catch up with the file: last record's seq and hash; end and report a torn tail."""
        size = os.fstat(self.fd).st_size
        if size == self._size:
            return
        try:
            last, torn = _last_lines(self.fd)
        except _TailTooLong:
            raise StorageError(
                f"{self.path}: ends in a line longer than {MAX_LINE_BYTES} bytes, which"
                " ftjanitor never writes; run `ftjanitor audit verify` on it"
            ) from None
        self.seq, self.prev = 0, GENESIS
        if last is not None:
            try:
                record = loads(last)
                self.seq, self.prev = int(record["seq"]), str(record["hash"])
            except (ValueError, KeyError, TypeError):
                raise StorageError(
                    f"{self.path}: the last complete record is unreadable;"
                    " run `ftjanitor audit verify` on it"
                ) from None
        if torn and (whole := _whole_record(torn, self.seq, self.prev)):
            self._write_bytes(b"\n")  # only the newline was lost: the record stands
            self.seq, self.prev = whole
        elif torn:
            # A crash mid-write left half a line: end it, and say so in the chain.
            self._write_bytes(b"\n")
            fields = {
                "torn_bytes": len(torn) + 1,
                "torn_sha256": hashlib.sha256(torn + b"\n").hexdigest(),
            }
            self._write([("audit.recovered", None, fields)])
            os.fsync(self.fd)
        self._size = os.fstat(self.fd).st_size

    def _write_bytes(self, data: bytes) -> None:
        try:
            written = os.write(self.fd, data)
        except OSError as exc:
            raise _storage_error(self.path, exc) from None
        if written != len(data):  # one write per append, or an error
            raise StorageError(f"{self.path}: short write; the disk may be full")

    def _write(self, entries: Sequence[Appended]) -> list[dict[str, Any]]:
        """Seal the entries on the tail and write them in one write (under the locks)."""
        records: list[dict[str, Any]] = []
        seq, prev = self.seq, self.prev
        for event, run_id, fields in entries:
            clean = redact(fields, self.secrets)
            record = seal(seq + 1, prev, rfc3339(self.clock()), event, run_id, clean)
            records.append(record)
            seq, prev = record["seq"], record["hash"]
        data = "".join(dumps(record) + "\n" for record in records).encode()
        self._write_bytes(data)
        self.seq, self.prev = seq, prev
        self._written += len(records)
        # Under the flock nobody else appends, so the new size is known without a stat.
        self._size += len(data)
        return records

    def append(
        self, event: str, run_id: str | None, fields: dict[str, Any], *, sync: bool = False
    ) -> dict[str, Any]:
        return self.append_many([(event, run_id, fields)], sync=sync)[0]

    def append_many(
        self, entries: Sequence[Appended], *, sync: bool = False
    ) -> list[dict[str, Any]]:
        with self._lock, _flocked(self.fd):
            self._refresh()
            records = self._write(entries)
            mine = self._written
        if sync:
            self._sync_through(mine)
        return records

    def _sync_through(self, mine: int) -> None:
        """Return once this object's first ``mine`` records are on disk. An fsync covers
        every write that returned before it started, so threads waiting here together share
        one (group commit) instead of queueing one fsync each on the same file."""
        with self._sync_lock:
            if self._synced >= mine:
                return  # an fsync that started after our write covered it
            with self._lock:
                through = self._written  # all written (write returned) before this fsync
            try:
                os.fsync(self.fd)
            except OSError as exc:
                raise _storage_error(self.path, exc) from None
            self._synced = through

    @property
    def head(self) -> tuple[int, str]:
        """The last record this process wrote or read (both set together, under the lock)."""
        with self._lock:
            return self.seq, self.prev

    def lines(self, after: int = 0) -> Iterator[bytes]:
        """A file is read from its start: lines up to seq ``after`` are read and dropped
        (a reader that follows a file keeps its byte offset instead: runner.reports.follow)."""
        with open(self.path, "rb") as handle:
            lines = read_lines(handle)
            if after:
                lines = itertools.dropwhile(lambda line: not _is_seq(line, after), lines)
                next(lines, None)
            yield from lines

    def line_at(self, seq: int) -> bytes | None:
        """From the tail when it is the last record (the usual case: a long log is not read
        through), else by reading the file."""
        try:
            last, _ = _last_lines(self.fd)
        except _TailTooLong:
            return None  # no record of ours is that long
        for line in itertools.chain([last] if last else [], self.lines()):
            if _seq_of(line) == seq:
                return line
        return None

    def close(self) -> None:
        try:
            os.fsync(self.fd)
        finally:
            os.close(self.fd)


@contextmanager
def _flocked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def records_of(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The readable records, in order (verify first if you need to trust them)."""
    for line in lines:
        if len(line) > MAX_LINE_BYTES:
            continue  # cut by read_lines: never a whole record
        try:
            record = loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def _seq_of(line: bytes) -> object:
    try:
        record = loads(line)
    except ValueError:
        return None
    return record.get("seq") if isinstance(record, dict) else None


def _is_seq(line: bytes, seq: int) -> bool:
    return _seq_of(line) == seq


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as handle:
        yield from records_of(read_lines(handle))


def verify(path: Path) -> Verdict:
    with open(path, "rb") as handle:
        return verify_lines(read_lines(handle))


_ANCHORED = {
    "missing": "lacks that record",
    "different": "has a different record at that seq",
    "edited": "has an edited record at that seq (its hash no longer matches it)",
}


def _stored_problem(chain: AuditChain, seq: int, expected: str) -> str | None:
    """missing, different or edited: what is wrong with the record the chain keeps at
    ``seq``, which should hash to ``expected`` (None when nothing is)."""
    if seq == 0:  # before the first record: nothing is stored, the hash is fixed
        return None if expected == GENESIS else "different"
    line = chain.line_at(seq)
    try:
        record = loads(line) if line is not None else None
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return "missing"
    if record.get("hash") != expected:
        return "different"
    if record_hash(record) != expected:
        return "edited"
    return None


def head_problem(chain: AuditChain, anchor: tuple[int, str] | None) -> str | None:
    """Why the chain no longer holds the last record the state saw (None when it does).

    The anchored record, and the chain's last one when it grew since, are read back and
    their hashes recomputed: comparing only a stored ``hash`` would pass a record edited in
    place with that field left as it was."""
    if anchor is None:
        return None
    seq, expected = anchor
    last_seq, last_hash = chain.head
    if last_seq < seq:
        found = f"ends at seq {last_seq}"
    elif problem := _stored_problem(chain, seq, expected):
        found = _ANCHORED[problem]
    elif last_seq > seq and _stored_problem(chain, last_seq, last_hash):
        found = f"has a damaged last record (seq {last_seq}: edited, replaced or unreadable)"
    else:
        return None  # the anchored record, intact, whether or not the chain grew since
    return (
        f"{chain.name}: the audit log {found}, but the state remembers seq {seq}"
        f" (hash {expected[:16]}): records were removed or replaced. If you restored or"
        " moved it on purpose, check it with `ftjanitor audit verify --job-file JOBFILE`"
        " and accept its current end with `ftjanitor audit verify --job-file JOBFILE"
        " --reanchor`; nothing was sent"
    )


def _model(model: ev.ModelRef) -> dict[str, Any]:
    return dict(model.ref.fields())


class AuditSink:
    """Run events -> audit records. Intents are fsynced before the delete is sent."""

    def __init__(self, chain: AuditChain):
        self.chain = chain

    def emit(self, event: ev.Event) -> None:
        if (entry := _entry(event)) is not None:
            (name, run_id, fields), sync = entry
            self.chain.append(name, run_id, fields, sync=sync)

    def emit_many(self, events: Sequence[ev.Event]) -> None:
        """Events heard together (a group of intents) are one append: one write, and one
        fsync when any of them must be durable before the run goes on."""
        entries = [entry for entry in map(_entry, events) if entry is not None]
        if entries:
            self.chain.append_many([e for e, _ in entries], sync=any(s for _, s in entries))


def _entry(event: ev.Event) -> tuple[Appended, bool] | None:
    """The record an event is kept as, and whether it must be on disk before the run
    goes on (None: not recorded)."""
    match event:
        case ev.RunStarted():
            fields: dict[str, Any] = {
                "job": event.job,
                "dry_run": event.dry_run,
                "trigger": event.trigger,
                "job_file": event.job_file,
                "job_file_sha256": event.job_file_sha256,
                "now": rfc3339(event.now),
            }
            if event.fire_time is not None:
                fields["fire_time"] = rfc3339(event.fire_time)
            if event.plan_sha256 is not None:
                fields["plan_sha256"] = event.plan_sha256
            return ("run.start", event.run_id, fields), True
        case ev.Planned(job=job, run_id=run_id, model=m, usage=usage):
            fields = {"job": job, **_model(m), "name": m.name, "reason": m.reason}
            if usage is not None:  # what the unused_for selection rested on
                fields.update(usage.fields())
            return ("delete.planned", run_id, fields), False
        case ev.Marked(job=job, run_id=run_id, model=m):
            fields = {
                "job": job,
                **_model(m),
                "name": m.name,
                "reason": m.reason,
                "deletable_after": rfc3339(event.deletable_after),
            }
            return ("delete.marked", run_id, fields), False
        case ev.Unmarked(job=job, run_id=run_id, model=m):
            fields = {"job": job, **_model(m), "reason": m.reason}
            return ("delete.unmarked", run_id, fields), False
        case ev.Absent(job=job, run_id=run_id, model=m):
            fields = {"job": job, **_model(m), "reason": m.reason}
            return ("delete.absent", run_id, fields), False
        case ev.Intent(job=job, run_id=run_id, model=m):
            return ("delete.intent", run_id, {"job": job, **_model(m)}), True
        case ev.Waiting(job=job, run_id=run_id, model=m):
            fields = {
                "job": job,
                **_model(m),
                "http_status": event.http_status,
                "within_seconds": int(event.within.total_seconds()),
            }
            return ("delete.waiting", run_id, fields), False
        case ev.Held(job=job, run_id=run_id, model=m):
            fields = {"job": job, **_model(m), "reason": m.reason}
            return ("delete.skipped", run_id, fields), False
        case ev.Outcome(job=job, run_id=run_id, model=m):
            fields = {
                "job": job,
                **_model(m),
                "result": event.result,
                "http_status": event.http_status,
                "attempts": event.attempts,
                "error": event.error,
            }
            if event.result == "deleted" and event.monthly_cost is not None:
                fields["monthly_cost"] = json_amount(event.monthly_cost)  # what it saves
            return ("delete.outcome", run_id, fields), False
        case ev.Reconciled():
            fields = {
                "job": event.job,
                **event.ref.fields(),
                "intent_run_id": event.intent_run_id,
                "result": event.result,
            }
            return ("delete.reconciled", None, fields), True
        case ev.Notified():
            fields = {
                "job": event.job,
                "notifier": event.notifier,
                "kind": event.kind,
                "count": event.count,
            }
            if event.error:
                fields["error"] = event.error
            name = "notify.sent" if event.ok else "notify.failed"
            return (name, event.run_id, fields), False
        case ev.Unrouted():
            fields = {"job": event.job, "notifier": event.notifier, "count": event.count}
            return ("notify.unrouted", event.run_id, fields), False
        case ev.RunEnded():
            fields = {
                "job": event.job,
                "dry_run": event.dry_run,
                **dataclasses.asdict(event.counts),
                "status": event.status,
                # What the deletes made save a month (cents; unknown costs counted apart).
                "estimated_monthly_savings": json_amount(event.savings.amount),
                "unknown_cost": event.savings.unknown,
            }
            if event.message:
                fields["message"] = event.message
            return ("run.end", event.run_id, fields), True
        case ev.RunSkipped():
            fields = {
                "job": event.job,
                "trigger": event.trigger,
                "status": "skipped",
                "message": event.message,
            }
            if event.fire_time is not None:
                fields["fire_time"] = rfc3339(event.fire_time)
            return ("run.skipped", None, fields), True
        case ev.LimitTripped():
            return None  # run.end carries the limit's message and status aborted

"""The audit log: hash-chained JSON Lines, append-only, one writer per file.

Each record's ``hash`` is the SHA-256 of its canonical JSON without ``hash``; ``prev``
chains it to the record before (64 zeros for the first). Anyone can recheck it::

    prev = "0" * 64
    for line in open(path, "rb"):
        record = json.loads(line); claimed = record.pop("hash")
        body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert record["prev"] == prev and hashlib.sha256(body.encode()).hexdigest() == claimed
        prev = claimed
"""

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.clock import Clock, rfc3339, system_clock
from runner.errors import EXIT_FAILED, CommandError
from runner.files import create_private
from runner.redaction import redact, secret_list

VERSION = 1
GENESIS = "0" * 64
_TAIL_CHUNK = 65536


class AuditError(CommandError):
    """The log cannot be continued safely: exit 1, and nothing was deleted."""

    def __init__(self, message: str):
        super().__init__(message, EXIT_FAILED)


def _dumps(value: dict[str, Any]) -> str:
    """DESIGN.md's canonical JSON; the log's lines are written in it too."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(record: dict[str, Any]) -> bytes:
    return _dumps({k: v for k, v in record.items() if k != "hash"}).encode()


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def _last_lines(fd: int) -> tuple[bytes | None, bytes]:
    """(last complete line or None, torn tail after it) read from the end of the file."""
    size = os.fstat(fd).st_size
    data = b""
    offset = size
    while offset > 0:
        step = min(_TAIL_CHUNK, offset)
        offset -= step
        data = os.pread(fd, step, offset) + data
        body = data[:-1] if data.endswith(b"\n") else data
        if b"\n" in body or offset == 0:
            break
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
        record = json.loads(line)
        if (
            record["seq"] == seq + 1
            and record["prev"] == prev
            and record_hash(record) == record["hash"]
        ):
            return int(record["seq"]), str(record["hash"])
    except (ValueError, KeyError, TypeError):
        pass
    return None


class AuditLog:
    """Appends records. Each append holds an exclusive file lock and first re-reads the
    tail if another process wrote since, so writers in several processes keep one chain."""

    def __init__(self, path: Path, secrets: Iterable[str] = (), clock: Clock = system_clock):
        self.path = path
        self.secrets = secret_list(secrets)
        self.clock = clock
        self._lock = threading.Lock()
        create_private(path)
        self.fd = os.open(path, os.O_RDWR | os.O_APPEND)
        self.seq, self.prev = 0, GENESIS
        self._size = -1  # file size after our last write; anything else means re-read
        with self._lock, _flocked(self.fd):
            self._refresh()

    def _refresh(self) -> None:
        """Catch up with the file: last record's seq and hash; end and report a torn tail."""
        size = os.fstat(self.fd).st_size
        if size == self._size:
            return
        last, torn = _last_lines(self.fd)
        self.seq, self.prev = 0, GENESIS
        if last is not None:
            try:
                record = json.loads(last)
                self.seq, self.prev = int(record["seq"]), str(record["hash"])
            except (ValueError, KeyError, TypeError):
                raise AuditError(
                    f"{self.path}: the last complete record is unreadable;"
                    " run `ftjanitor audit verify`"
                ) from None
        if torn and (whole := _whole_record(torn, self.seq, self.prev)):
            os.write(self.fd, b"\n")  # only the newline was lost: the record stands
            self.seq, self.prev = whole
        elif torn:
            # A crash mid-write left half a line: end it, and say so in the chain.
            os.write(self.fd, b"\n")
            fields = {
                "torn_bytes": len(torn) + 1,
                "torn_sha256": hashlib.sha256(torn + b"\n").hexdigest(),
            }
            self._write("audit.recovered", None, fields)
            os.fsync(self.fd)
        self._size = os.fstat(self.fd).st_size

    def _write(self, event: str, run_id: str | None, fields: dict[str, Any]) -> dict[str, Any]:
        record: dict[str, Any] = {
            "v": VERSION,
            "seq": self.seq + 1,
            "ts": rfc3339(self.clock()),
            "event": event,
            "run_id": run_id,
            "prev": self.prev,
            **redact(fields, self.secrets),
        }
        record["hash"] = record_hash(record)
        data = (_dumps(record) + "\n").encode()
        if os.write(self.fd, data) != len(data):  # one write per record, or an error
            raise AuditError(f"{self.path}: short write; the disk may be full")
        self.seq, self.prev = record["seq"], record["hash"]
        return record

    def append(
        self, event: str, run_id: str | None, fields: dict[str, Any], *, sync: bool = False
    ) -> dict[str, Any]:
        with self._lock, _flocked(self.fd):
            self._refresh()
            record = self._write(event, run_id, fields)
            self._size = os.fstat(self.fd).st_size
        if sync:
            os.fsync(self.fd)
        return record

    def close(self) -> None:
        os.fsync(self.fd)
        os.close(self.fd)


@contextmanager
def _flocked(fd: int) -> Iterator[None]:
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The readable records, in order (verify first if you need to trust them)."""
    with open(path, "rb") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


@dataclass
class Verdict:
    ok: bool
    records: int
    message: str
    bad_seq: int | None = None


def verify(path: Path) -> Verdict:
    """Walk the chain; a torn line is accepted only right before its audit.recovered."""
    prev, seq, count = GENESIS, 0, 0
    pending_torn: tuple[bytes, int] | None = None

    def broken(line_number: int, problem: str) -> Verdict:
        return Verdict(False, count, f"line {line_number}: {problem}", seq + 1)

    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.endswith(b"\n"):
                return broken(
                    number,
                    "torn last line (a crash mid-write?); the next run records audit.recovered",
                )
            try:
                record = json.loads(line)
                if not isinstance(record, dict):
                    raise ValueError
                claimed = record["hash"]
            except (ValueError, KeyError):
                if pending_torn is not None:
                    return broken(number, "second unreadable line in a row")
                pending_torn = (line, number)
                continue
            if record.get("seq") != seq + 1:
                return broken(number, f"seq {record.get('seq')} where {seq + 1} was due")
            if record.get("prev") != prev:
                return broken(number, f"prev does not match the hash of seq {seq}")
            if record_hash(record) != claimed:
                return broken(number, "hash does not match the record (edited?)")
            if pending_torn is not None:
                torn, torn_line = pending_torn
                fits = (
                    record.get("event") == "audit.recovered"
                    and record.get("torn_bytes") == len(torn)
                    and record.get("torn_sha256") == hashlib.sha256(torn).hexdigest()
                )
                if not fits:
                    return broken(torn_line, "unreadable line not followed by its audit.recovered")
                pending_torn = None
            prev, seq, count = claimed, seq + 1, count + 1
    if pending_torn is not None:
        return broken(pending_torn[1], "unreadable line at the end")
    return Verdict(True, count, f"intact: {count} records, last seq {seq}, last hash {prev[:16]}")


def orphan_intents(path: Path) -> list[dict[str, Any]]:
    """delete.intent records with neither an outcome nor a reconciliation after them."""
    if not path.exists():
        return []
    open_intents: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    for record in read_records(path):
        event = record.get("event")
        key = (record.get("run_id"), record.get("provider"), record.get("model_id"))
        if event == "delete.intent":
            open_intents[key] = record
        elif event == "delete.outcome":
            open_intents.pop(key, None)
        elif event == "delete.reconciled":
            key = (record.get("intent_run_id"), record.get("provider"), record.get("model_id"))
            open_intents.pop(key, None)
    return list(open_intents.values())

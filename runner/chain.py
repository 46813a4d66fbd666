"""The audit chain's arithmetic, shared by every place a chain is kept (file, database).

Each record's ``hash`` is the SHA-256 of its canonical JSON without ``hash``; ``prev``
chains it to the record before (64 zeros for the first). Anyone can recheck it::

    prev = "0" * 64
    for line in open(path, "rb"):
        record = json.loads(line); claimed = record.pop("hash")
        body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert record["prev"] == prev and hashlib.sha256(body.encode()).hexdigest() == claimed
        prev = claimed
"""

import hashlib
import json
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

VERSION = 1
GENESIS = "0" * 64
# A bound on memory, not a format rule: far above any record ftjanitor writes (a provider's
# whole answer is at most 16 MiB), so only a line that was never a record is refused.
MAX_LINE_BYTES = 64 * 1024 * 1024
RESERVED = frozenset({"v", "seq", "ts", "event", "run_id", "prev", "hash"})
# What a writer hands a chain to append: (event, run_id, fields).
Appended = tuple[str, str | None, dict[str, Any]]


def dumps(value: dict[str, Any]) -> str:
    """The canonical JSON; the log's lines are written in it too."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def loads(line: bytes | str) -> Any:
    """A line's JSON, or ValueError: a line nested deeper than Python's parser goes is as
    unreadable as any other, not a RecursionError that ends the reader."""
    try:
        return json.loads(line)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


def canonical(record: dict[str, Any]) -> bytes:
    return dumps({k: v for k, v in record.items() if k != "hash"}).encode()


def record_hash(record: dict[str, Any]) -> str:
    """ValueError for a record nested too deep to write out again (one read from a hostile
    line a little shallower than ``loads`` refuses)."""
    try:
        return hashlib.sha256(canonical(record)).hexdigest()
    except RecursionError:
        raise ValueError("JSON nested too deep") from None


def seal(
    seq: int, prev: str, ts: str, event: str, run_id: str | None, fields: dict[str, Any]
) -> dict[str, Any]:
    """A complete record (``hash`` included). ``fields`` are already redacted and may not
    use a key the chain itself sets: that would be a programming error, not data."""
    clash = RESERVED.intersection(fields)
    if clash:
        raise ValueError(f"audit fields may not set {sorted(clash)}")
    record: dict[str, Any] = {
        "v": VERSION,
        "seq": seq,
        "ts": ts,
        "event": event,
        "run_id": run_id,
        "prev": prev,
        **fields,
    }
    record["hash"] = record_hash(record)
    return record


@dataclass
class Verdict:
    ok: bool
    records: int
    message: str
    bad_seq: int | None = None
    last_seq: int = 0
    last_hash: str = GENESIS


def read_lines(handle: IO[bytes]) -> Iterator[bytes]:
    """A log's lines, each read at most ``MAX_LINE_BYTES + 1`` at a time: a longer line is
    yielded cut (``checked_entries`` refuses it) and the rest of it skipped in chunks, so a
    hostile multi-gigabyte line never sits in memory."""
    while line := handle.readline(MAX_LINE_BYTES + 1):
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
        yield line


Entry = tuple[bytes, dict[str, Any] | None]  # a line, and its record (None: a torn line)


def checked_entries(
    lines: Iterable[bytes], after: tuple[int, str] = (0, GENESIS)
) -> Generator[Entry, None, Verdict]:
    """Walk the chain, yielding each line once it is known good, with the record read from
    it (so a reader parses each line once), and return the verdict. A torn line is accepted
    only right before its audit.recovered, so it is yielded with that record; nothing from
    the first bad line on is yielded. ``after`` (seq, hash) of a record already checked
    continues the walk from there (``lines`` start right after it)."""
    (seq, prev), count = after, 0
    pending_torn: tuple[bytes, int] | None = None

    def broken(line_number: int, problem: str) -> Verdict:
        return Verdict(False, count, f"line {line_number}: {problem}", seq + 1, seq, prev)

    for number, line in enumerate(lines, start=1):
        if len(line) > MAX_LINE_BYTES:
            return broken(number, f"a line longer than {MAX_LINE_BYTES} bytes: not a record")
        if not line.endswith(b"\n"):
            return broken(
                number, "torn last line (a crash mid-write?); the next run records audit.recovered"
            )
        try:
            record = loads(line)
            if not isinstance(record, dict):
                raise ValueError
            claimed = record["hash"]
        except (ValueError, KeyError):
            if pending_torn is not None:
                return broken(number, "second unreadable line in a row")
            pending_torn = (line, number)
            continue
        if record.get("seq") != seq + 1:
            return broken(number, f"seq {record.get('seq')!r} where {seq + 1} was due")
        if record.get("prev") != prev:
            return broken(number, f"prev does not match the hash of seq {seq}")
        try:
            if record_hash(record) != claimed:
                return broken(number, "hash does not match the record (edited?)")
        except ValueError:
            return broken(number, "nested too deep for its hash to be checked")
        if pending_torn is not None:
            torn, torn_line = pending_torn
            fits = (
                record.get("event") == "audit.recovered"
                and record.get("torn_bytes") == len(torn)
                and record.get("torn_sha256") == hashlib.sha256(torn).hexdigest()
            )
            if not fits:
                return broken(torn_line, "unreadable line not followed by its audit.recovered")
            yield torn, None
            pending_torn = None
        yield line, record
        prev, seq, count = claimed, seq + 1, count + 1
    if pending_torn is not None:
        return broken(pending_torn[1], "unreadable line at the end")
    return Verdict(
        True, count, f"intact: {count} records, last seq {seq}, last hash {prev[:16]}", None,
        seq, prev,
    )  # fmt: skip


class Checked:
    """The chain's lines, each yielded once it is known good; ``verdict`` holds the
    outcome once the walk has ended (a reader shows or exports only what it vouches for)."""

    def __init__(self, lines: Iterable[bytes], after: tuple[int, str] = (0, GENESIS)) -> None:
        self._lines, self._after = lines, after
        self.verdict = Verdict(False, 0, "not read")

    def __iter__(self) -> Iterator[bytes]:
        for line, _ in self.entries():
            yield line

    def entries(self) -> Iterator[Entry]:
        """Each good line with its record (None for a torn line accepted with its
        audit.recovered)."""
        self.verdict = yield from checked_entries(self._lines, self._after)


def verify_lines(lines: Iterable[bytes]) -> Verdict:
    checked = Checked(lines)
    for _ in checked:
        pass
    return checked.verdict

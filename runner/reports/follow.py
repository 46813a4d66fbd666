"""Keep a ``History`` of one audit chain current, reading only what was appended since.

The daemon's status page asks on every request; the chain is read through once, then only
its new records, each checked against the last one already checked. A file is followed by
its byte offset (its size says whether anything was added: no read at all when not); a
chain in PostgreSQL by its tip row and the records after the last seq seen.
"""

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from runner.audit import AuditChain
from runner.chain import GENESIS, Checked, read_lines
from runner.errors import StorageError
from runner.reports.history import History


@dataclass(frozen=True)
class Health:
    ok: bool
    records: int
    message: str


class _Position:
    """Where the walk stands: the last record checked, and the byte just after it."""

    def __init__(self) -> None:
        self.seq, self.hash, self.offset = 0, GENESIS, 0


class Replaced(Exception):
    """The chain no longer holds the records already read from it: it was truncated or
    replaced (ftjanitor only ever appends to an audit chain)."""


class FileSource:
    def __init__(self, path: Path):
        self.path = path
        self._inode: int | None = None  # of the file the records read so far came from

    def marker(self) -> object:
        """Changes whenever a record is appended (or the file is replaced)."""
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return info.st_ino, info.st_size

    def lines(self, at: _Position) -> Iterator[bytes]:
        """Complete lines after ``at.offset``: a line still being written is left for the
        next look, so a reader never mistakes a write in progress for a torn tail. A log
        not written yet (no run has started) has no lines; one that is gone after records
        were read from it cannot be read."""
        if not at.offset and not os.path.lexists(self.path):
            return
        # Not blocking: a FIFO put in the log's place would hold the open, and the page's
        # lock, until a writer came.
        with open(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise StorageError(f"{self.path} is not a regular file")
            if at.offset and (info.st_ino != self._inode or info.st_size < at.offset):
                raise Replaced
            self._inode = info.st_ino
            handle.seek(at.offset)
            for line in read_lines(handle):
                if not line.endswith(b"\n"):
                    return
                yield line


class ChainSource:
    def __init__(self, chain: AuditChain):
        self.chain = chain

    def marker(self) -> object:
        return self.chain.head

    def lines(self, at: _Position) -> Iterator[bytes]:
        seq, last = self.chain.head
        if seq < at.seq or (seq == at.seq and last != at.hash):
            raise Replaced  # rows read before are gone, or were rewritten
        return self.chain.lines(after=at.seq)


class Follower:
    """Not thread-safe: its owner serialises ``refresh``."""

    def __init__(self, source: FileSource | ChainSource):
        self.source = source
        self.history = History()
        self.health = Health(True, 0, "not read yet")
        self._at = _Position()
        self._seen: object = ()  # no marker is a tuple of nothing: the first look reads

    def refresh(self) -> object:
        """Fold what was appended since the last look; the marker it is current to."""
        marker = self.source.marker()
        if marker == self._seen:
            return marker
        at = self._at
        try:
            checked = Checked(self.source.lines(at), (at.seq, at.hash))
            for line, record in checked.entries():
                at.offset += len(line)  # a torn line and its audit.recovered: both, or neither
                if record is not None:
                    self.history.add(record)
        except Replaced:
            # What was read stays shown, as read; never as what the file holds now.
            self.health = Health(
                False,
                self.history.records,
                f"truncated or replaced after {at.seq} records were read from it",
            )
            return marker
        verdict = checked.verdict
        at.seq, at.hash = verdict.last_seq, verdict.last_hash
        records = self.history.records
        if verdict.ok and not records:
            self.health = Health(True, 0, "no records yet")
            self._seen = marker
        elif verdict.ok:
            self.health = Health(True, records, f"intact: {records} records, last seq {at.seq}")
            self._seen = marker
        else:
            # Shown, and looked at again next time (from the last good record): a torn line
            # is followed by its audit.recovered a moment later.
            self.health = Health(False, records, f"damaged at seq {at.seq + 1}: {verdict.message}")
        return marker

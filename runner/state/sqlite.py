"""The state in one SQLite file (WAL) with per-job flock files next to it.

Every ``sqlite3.Error`` and ``OSError`` is turned into a one-line ``StorageError`` that names
the file here, at the boundary. A file that is not an ftjanitor state is refused, never
rebuilt: it may be the only copy of someone's run history, or not ours at all.
"""

import fcntl
import hashlib
import json
import os
import re
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from runner.accounts import is_key
from runner.clock import parse_instant, rfc3339, system_clock
from runner.errors import StorageError
from runner.files import create_private
from runner.ref import DEFAULT_KIND, ResourceRef
from runner.state import Mark, OpenIntent

SCHEMA_VERSION = 4
BUSY_SECONDS = 30.0  # how long a statement waits for another process's write to end
_CHUNK = 500  # bound parameters per statement stay far below SQLite's limit

# Each step takes the schema from version N-1 to N, inside one transaction.
_MIGRATIONS: dict[int, str] = {
    # 0.1: first sightings and run history (created as such by ftjanitor 0.1)
    1: """
        CREATE TABLE IF NOT EXISTS sightings (
            connection TEXT NOT NULL,
            model_id TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            PRIMARY KEY (connection, model_id)
        );
        CREATE TABLE IF NOT EXISTS runs (
            run_id TEXT PRIMARY KEY,
            job TEXT NOT NULL,
            trigger TEXT NOT NULL,
            dry_run INTEGER NOT NULL,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            status TEXT
        );
        CREATE INDEX IF NOT EXISTS runs_by_job ON runs (job, started_at);
    """,
    # 0.2: fire times, grace marks, open intents, audit head anchors
    2: """
        ALTER TABLE runs ADD COLUMN fire_time TEXT;
        CREATE TABLE fire_times (
            job TEXT NOT NULL,
            fire_time TEXT NOT NULL,
            PRIMARY KEY (job, fire_time)
        );
        CREATE TABLE marks (
            job TEXT NOT NULL,
            connection TEXT NOT NULL,
            model_id TEXT NOT NULL,
            marked_at TEXT NOT NULL,
            deletable_after TEXT NOT NULL,
            PRIMARY KEY (job, connection, model_id)
        );
        CREATE TABLE intents (
            run_id TEXT NOT NULL,
            connection TEXT NOT NULL,
            model_id TEXT NOT NULL,
            job TEXT NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (run_id, connection, model_id)
        );
        CREATE INDEX intents_by_job ON intents (job);
        CREATE TABLE audit_heads (
            log TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL
        );
    """,
    # 0.3: sightings, marks and intents are keyed by kind too (what 0.2 wrote is a model).
    # SQLite cannot change a primary key in place: each table is rebuilt and copied.
    3: """
        CREATE TABLE sightings_3 (
            connection TEXT NOT NULL,
            kind TEXT NOT NULL,
            model_id TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            PRIMARY KEY (connection, kind, model_id)
        );
        INSERT INTO sightings_3 SELECT connection, 'model', model_id, first_seen FROM sightings;
        DROP TABLE sightings;
        ALTER TABLE sightings_3 RENAME TO sightings;
        CREATE TABLE marks_3 (
            job TEXT NOT NULL,
            connection TEXT NOT NULL,
            kind TEXT NOT NULL,
            model_id TEXT NOT NULL,
            marked_at TEXT NOT NULL,
            deletable_after TEXT NOT NULL,
            PRIMARY KEY (job, connection, kind, model_id)
        );
        INSERT INTO marks_3
            SELECT job, connection, 'model', model_id, marked_at, deletable_after FROM marks;
        DROP TABLE marks;
        ALTER TABLE marks_3 RENAME TO marks;
        CREATE TABLE intents_3 (
            run_id TEXT NOT NULL,
            connection TEXT NOT NULL,
            kind TEXT NOT NULL,
            model_id TEXT NOT NULL,
            job TEXT NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (run_id, connection, kind, model_id)
        );
        INSERT INTO intents_3 SELECT run_id, connection, 'model', model_id, job, seq FROM intents;
        DROP TABLE intents;
        ALTER TABLE intents_3 RENAME TO intents;
        CREATE INDEX intents_by_job ON intents (job);
    """,
    # 0.3 fleets: the ``connection`` columns hold each account's stable key (runner.accounts);
    # rows written before hold a connection name until a job file naming it adopts them.
    # Each key's latest connection name, to show rows no job file names any more.
    4: """
        CREATE TABLE accounts (
            account TEXT PRIMARY KEY,
            connection TEXT NOT NULL
        );
    """,
}
# The tables whose ``connection`` column is an account key.
_KEYED = ("sightings", "marks", "intents")
_OURS = {
    "schema_version",
    "sightings",
    "runs",
    "fire_times",
    "marks",
    "intents",
    "audit_heads",
    "accounts",
}
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def lock_path(state: Path, job: str) -> Path:
    """``<state>.locks/<job>.lock``; a job name unfit for a file name is hashed."""
    name = job if _SAFE_NAME.fullmatch(job) else hashlib.sha256(job.encode()).hexdigest()[:32]
    return state.parent / f"{state.name}.locks" / f"{name}.lock"


def _os_problem(path: Path, error: OSError) -> str:
    if isinstance(error, IsADirectoryError) and error.filename in (str(path), None):
        return f"{path}: is a directory; point state: at a file"
    if isinstance(error, NotADirectoryError | FileExistsError):
        return f"{path}: cannot create it: a parent of it is a file, not a folder"
    if isinstance(error, PermissionError):
        return f"{path}: cannot open it: permission denied"
    reason = error.strerror or type(error).__name__
    return f"{path}: cannot open it: {reason}"


def _db_problem(path: Path, error: sqlite3.Error) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    if "not a database" in text:
        return (
            f"{path}: not an ftjanitor state database (file is not a database);"
            " move it away or point state: elsewhere"
        )
    if "readonly" in text or "read-only" in text:
        return f"{path}: cannot write to it ({text})"
    if "locked" in text or "busy" in text:
        return f"{path}: busy: another process held it too long ({text})"
    return f"{path}: state database error: {text}"


class SqliteState:
    """StateStore on one SQLite file. One connection, used by a few threads under a lock."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        try:
            if path.is_dir():
                raise IsADirectoryError(21, "Is a directory", str(path))
            create_private(path)
            self.db = sqlite3.connect(
                path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False
            )
        except OSError as error:
            raise StorageError(_os_problem(path, error)) from None
        except sqlite3.Error as error:
            raise StorageError(_db_problem(path, error)) from None
        try:
            with self._guard():
                self._wal()
                self.db.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
        except BaseException:
            self.db.close()
            raise

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """One thread at a time, and errors as one line naming the file."""
        with self._lock:
            try:
                yield
            except sqlite3.Error as error:
                if self.db.in_transaction:
                    self.db.rollback()
                raise StorageError(_db_problem(self.path, error)) from None
            except OSError as error:
                raise StorageError(_os_problem(self.path, error)) from None

    def _wal(self) -> None:
        """Switch to WAL. SQLite answers 'locked' at once, without waiting, when another
        process opens a new file at the same moment: wait for it here, within bounds."""
        deadline = time.monotonic() + BUSY_SECONDS
        while True:
            try:
                self.db.execute("PRAGMA journal_mode=WAL").fetchall()
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
            time.sleep(0.01)

    def _version(self) -> int:
        tables = {
            name
            for (name,) in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if "schema_version" in tables:
            (version,) = self.db.execute("SELECT max(version) FROM schema_version").fetchone()
            return int(version or 0)
        foreign = tables - _OURS
        if foreign:
            raise StorageError(
                f"{self.path}: an SQLite database but not an ftjanitor state (it has tables"
                f" {', '.join(sorted(foreign)[:5])}); move it away or point state: elsewhere"
            )
        return 1 if tables else 0  # 0.1 wrote sightings and runs and no version table

    def _migrate(self) -> None:
        if self._version() == SCHEMA_VERSION:
            return
        self.db.execute("BEGIN IMMEDIATE")  # one migrating process; the others wait
        try:
            version = self._version()
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"{self.path}: written by a newer ftjanitor (state schema version"
                    f" {version}; this one knows up to {SCHEMA_VERSION})"
                )
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS schema_version"
                " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            if version == 1:  # a 0.1 file: its tables were version 1 all along
                self._applied(1)
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[step].split(";"):
                    if statement.strip():
                        self.db.execute(statement)
                self._applied(step)
            self.db.execute("COMMIT")
        except BaseException:
            if self.db.in_transaction:
                self.db.rollback()
            raise

    def _applied(self, version: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO schema_version VALUES (?, ?)",
            (version, rfc3339(system_clock())),
        )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken up front, so two writers never deadlock upgrading."""
        with self._guard():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.rollback()
                raise
            self.db.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        with self._guard():
            return self.db.execute(sql, tuple(params)).fetchall()

    def close(self) -> None:
        with self._lock:
            self.db.close()

    # account keys

    def adopt(self, keys: Mapping[str, str]) -> dict[str, str]:
        with self._write() as db:
            for name, key in keys.items():
                if key == name:
                    continue
                for table in _KEYED:
                    # A row the key already has wins over the same row under the name.
                    db.execute(
                        f"UPDATE OR IGNORE {table} SET connection = ? WHERE connection = ?",
                        (key, name),
                    )
                    db.execute(f"DELETE FROM {table} WHERE connection = ?", (name,))
                if not is_key(name):
                    db.execute("INSERT OR REPLACE INTO accounts VALUES (?, ?)", (key, name))
            return dict(db.execute("SELECT account, connection FROM accounts").fetchall())

    # first sightings

    def sight(
        self, connection: str, model_ids: Iterable[str], at: datetime, kind: str = DEFAULT_KIND
    ) -> dict[str, datetime]:
        ids = list(dict.fromkeys(model_ids))
        stamp = rfc3339(at)
        with self._write() as db:
            db.executemany(
                "INSERT OR IGNORE INTO sightings (connection, kind, model_id, first_seen)"
                " VALUES (?, ?, ?, ?)",
                ((connection, kind, model_id, stamp) for model_id in ids),
            )
            rows = db.execute(
                "SELECT model_id, first_seen FROM sightings WHERE connection = ? AND kind = ?"
                " AND model_id IN (SELECT value FROM json_each(?))",
                (connection, kind, json.dumps(ids)),
            ).fetchall()
        return {model_id: parse_instant(seen) for model_id, seen in rows}

    # run history and fire times

    def run_started(
        self,
        run_id: str,
        job: str,
        trigger: str,
        dry_run: bool,
        at: datetime,
        fire_time: datetime | None = None,
    ) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO runs (run_id, job, trigger, dry_run, started_at, fire_time)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    job,
                    trigger,
                    int(dry_run),
                    rfc3339(at),
                    rfc3339(fire_time) if fire_time else None,
                ),
            )

    def run_ended(self, run_id: str, status: str, at: datetime) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE runs SET ended_at = ?, status = ? WHERE run_id = ?",
                (rfc3339(at), status, run_id),
            )

    def last_run(self, job: str) -> datetime | None:
        ((value,),) = self._query(
            "SELECT max(started_at) FROM runs WHERE job = ? AND dry_run = 0", (job,)
        )
        return parse_instant(value) if value else None

    def last_fire_time(self, job: str) -> datetime | None:
        ((value,),) = self._query("SELECT max(fire_time) FROM fire_times WHERE job = ?", (job,))
        return parse_instant(value) if value else None

    def claim_fire_time(self, job: str, fire_time: datetime) -> bool:
        with self._write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO fire_times (job, fire_time) VALUES (?, ?)",
                (job, rfc3339(fire_time)),
            )
            return cursor.rowcount == 1

    # grace marks

    def marks(self, job: str) -> dict[ResourceRef, Mark]:
        rows = self._query(
            "SELECT connection, kind, model_id, marked_at, deletable_after FROM marks"
            " WHERE job = ?",
            (job,),
        )
        marks = (
            Mark(
                ResourceRef.on(connection, model_id, kind), parse_instant(at), parse_instant(after)
            )
            for connection, kind, model_id, at, after in rows
        )
        return {mark.ref: mark for mark in marks}

    def mark(self, job: str, mark: Mark) -> None:
        ref = mark.ref
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO marks"
                " (job, connection, kind, model_id, marked_at, deletable_after)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    job,
                    ref.account,
                    ref.kind,
                    ref.id,
                    rfc3339(mark.marked_at),
                    rfc3339(mark.deletable_after),
                ),
            )

    def unmark(self, job: str, ref: ResourceRef) -> None:
        with self._write() as db:
            db.execute(
                "DELETE FROM marks WHERE job = ? AND connection = ? AND kind = ? AND model_id = ?",
                (job, ref.account, ref.kind, ref.id),
            )

    # open delete intents

    def intent_opened(self, intent: OpenIntent) -> None:
        self.intents_recorded([intent], [])

    def intent_closed(self, run_id: str, ref: ResourceRef) -> None:
        self.intents_recorded([], [(run_id, ref)])

    def intents_recorded(
        self, opened: Sequence[OpenIntent], closed: Sequence[tuple[str, ResourceRef]]
    ) -> None:
        with self._write() as db:
            db.executemany(
                "DELETE FROM intents"
                " WHERE run_id = ? AND connection = ? AND kind = ? AND model_id = ?",
                ((run_id, ref.account, ref.kind, ref.id) for run_id, ref in closed),
            )
            db.executemany(
                "INSERT OR REPLACE INTO intents (run_id, connection, kind, model_id, job, seq)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                ((i.run_id, i.ref.account, i.ref.kind, i.ref.id, i.job, i.seq) for i in opened),
            )

    def open_intents(self, jobs: Collection[str]) -> list[OpenIntent]:
        names = sorted(set(jobs))
        found: list[OpenIntent] = []
        for start in range(0, len(names), _CHUNK):
            chunk = names[start : start + _CHUNK]
            rows = self._query(
                "SELECT job, connection, kind, model_id, run_id, seq FROM intents"
                f" WHERE job IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found.extend(
                OpenIntent(job, ResourceRef.on(connection, model_id, kind), run_id, seq)
                for job, connection, kind, model_id, run_id, seq in rows
            )
        return sorted(found, key=lambda intent: (intent.seq, intent.job))

    # per-job locks

    @contextmanager
    def job_lock(self, job: str) -> Iterator[int | None]:
        """Yields None when acquired, else the pid written by the holder (0 if unknown).

        flock locks belong to an open file description, so a second open of the same file,
        in this process or another, is refused while the first holds it; the kernel drops
        the lock when the holder dies.
        """
        path = lock_path(self.path, job)
        try:
            create_private(path)
            fd = os.open(path, os.O_RDWR)
        except OSError as error:
            raise StorageError(f"{path}: cannot open the job lock: {error.strerror}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                yield int(holder) if holder.isdigit() else 0
                return
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            try:
                yield None
            finally:
                os.ftruncate(fd, 0)
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # audit head anchors

    def audit_head(self, log: str) -> tuple[int, str] | None:
        rows = self._query("SELECT seq, hash FROM audit_heads WHERE log = ?", (log,))
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def set_audit_head(self, log: str, seq: int, record_hash: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO audit_heads (log, seq, hash) VALUES (?, ?, ?)",
                (log, seq, record_hash),
            )

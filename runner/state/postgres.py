"""The state (and optionally the audit chain) in a PostgreSQL database, shared by hosts.

ftjanitor creates and migrates its own tables (all named ``ftjanitor_*``, version in
``ftjanitor_schema_version``). Job locks are session advisory locks, each on a connection
of its own, so the server releases them when the holding process dies. Every
``psycopg.Error`` becomes a one-line ``StorageError`` naming ``postgresql://user@host:port/db``;
the URL never holds a password (libpq reads ``PGPASSWORD`` or ``.pgpass``).

Import this module only when a postgresql:// state is configured: it needs psycopg 3
(the ``ftjanitor[postgres]`` extra); ``runner.state.open`` does so.
"""

import contextlib
import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from runner.accounts import is_key
from runner.chain import GENESIS, Appended, dumps, seal
from runner.clock import Clock, rfc3339, system_clock
from runner.errors import StorageError
from runner.redaction import redact, secret_list
from runner.ref import DEFAULT_KIND, ResourceRef
from runner.state import Mark, OpenIntent
from runner.state.pgurl import check_url, display

Connection = psycopg.Connection[TupleRow]

SCHEMA_VERSION = 3
CONNECT_TIMEOUT = 10  # seconds; libpq's own bound on each connection attempt
IDLE_CHECK_SECONDS = 30.0  # a connection idle longer is checked before use
_PAGE = 1000  # audit lines read per query

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE ftjanitor_sightings (
            connection text NOT NULL,
            model_id text NOT NULL,
            first_seen timestamptz NOT NULL,
            PRIMARY KEY (connection, model_id)
        )""",
        """CREATE TABLE ftjanitor_runs (
            run_id text PRIMARY KEY,
            job text NOT NULL,
            trigger text NOT NULL,
            dry_run boolean NOT NULL,
            started_at timestamptz NOT NULL,
            ended_at timestamptz,
            status text,
            fire_time timestamptz
        )""",
        "CREATE INDEX ftjanitor_runs_by_job ON ftjanitor_runs (job, started_at)",
        """CREATE TABLE ftjanitor_fire_times (
            job text NOT NULL,
            fire_time timestamptz NOT NULL,
            claimed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (job, fire_time)
        )""",
        """CREATE TABLE ftjanitor_marks (
            job text NOT NULL,
            connection text NOT NULL,
            model_id text NOT NULL,
            marked_at timestamptz NOT NULL,
            deletable_after timestamptz NOT NULL,
            PRIMARY KEY (job, connection, model_id)
        )""",
        """CREATE TABLE ftjanitor_intents (
            run_id text NOT NULL,
            connection text NOT NULL,
            model_id text NOT NULL,
            job text NOT NULL,
            seq bigint NOT NULL,
            PRIMARY KEY (run_id, connection, model_id)
        )""",
        "CREATE INDEX ftjanitor_intents_by_job ON ftjanitor_intents (job)",
        """CREATE TABLE ftjanitor_audit_heads (
            log text PRIMARY KEY,
            seq bigint NOT NULL,
            hash text NOT NULL
        )""",
        # audit_log: state -- each record as its exact canonical line, and the chain's tip
        """CREATE TABLE ftjanitor_audit_log (
            seq bigint PRIMARY KEY,
            line text NOT NULL
        )""",
        """CREATE TABLE ftjanitor_audit_log_tip (
            one boolean PRIMARY KEY DEFAULT true CHECK (one),
            seq bigint NOT NULL,
            hash text NOT NULL
        )""",
        f"INSERT INTO ftjanitor_audit_log_tip (seq, hash) VALUES (0, '{GENESIS}')",
    ),
    # 0.3: sightings, marks and intents are keyed by kind too; what 0.2 wrote is a model.
    # The default only fills the rows already there: every writer names the kind.
    2: tuple(
        statement
        for table, key in (
            ("ftjanitor_sightings", "connection, kind, model_id"),
            ("ftjanitor_marks", "job, connection, kind, model_id"),
            ("ftjanitor_intents", "run_id, connection, kind, model_id"),
        )
        for statement in (
            f"ALTER TABLE {table} ADD COLUMN kind text NOT NULL DEFAULT 'model'",
            f"ALTER TABLE {table} ALTER COLUMN kind DROP DEFAULT",
            f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY ({key})",
        )
    ),
    # 0.3 fleets: the ``connection`` columns hold each account's stable key (runner.accounts);
    # rows written before hold a connection name until a job file naming it adopts them.
    # Each key's latest connection name, to show rows no job file names any more.
    3: (
        """CREATE TABLE ftjanitor_accounts (
            account text PRIMARY KEY,
            connection text NOT NULL
        )""",
    ),
}
# The tables whose ``connection`` column is an account key, with the rest of their key.
_KEYED = {
    "ftjanitor_sightings": ("kind", "model_id"),
    "ftjanitor_marks": ("job", "kind", "model_id"),
    "ftjanitor_intents": ("run_id", "kind", "model_id"),
}


def advisory_key(name: str) -> int:
    """A signed 64-bit key for pg_advisory_lock(bigint), the same on every host."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


_MIGRATION_KEY = advisory_key("ftjanitor-migrate")


def _one_line(error: psycopg.Error) -> str:
    """libpq's message, first line, without its 'connection to server at ...' preamble
    (the caller names the server) and without any password that libpq was given."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    text = re.sub(r"^(connection failed: )?connection to server (at|on) .*? failed: ", "", text)
    text = re.sub(r"^(FATAL|ERROR):\s*", "", text)
    text = " ".join(text.split())
    password = os.environ.get("PGPASSWORD", "")
    return str(redact(text, secret_list([password]))) if password else text


def connect(url: str, application_name: str) -> Connection:
    """An autocommit connection, or StorageError naming the server and libpq's reason."""
    check_url(url)
    try:
        return psycopg.connect(
            url,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            application_name=application_name[:63],
        )
    except psycopg.Error as error:
        raise StorageError(f"{display(url)}: cannot connect: {_one_line(error)}") from None


class _Link:
    """One connection used by a few threads under a lock, reopened after it breaks."""

    def __init__(self, url: str, purpose: str):
        self.url = url
        self.name = display(url)
        self.purpose = purpose
        self._lock = threading.Lock()
        self._conn: Connection | None = None
        self._used = time.monotonic()

    def _live(self) -> Connection:
        """The connection, reopened if it broke; after a long idle spell (a daemon between
        fire times) it is checked first, since a firewall or a failover may have dropped it
        and the next statement may be one that must not be retried (a claim, an append)."""
        conn = self._conn
        if conn is not None and not (conn.closed or conn.broken):
            if time.monotonic() - self._used < IDLE_CHECK_SECONDS:
                return conn
            try:
                conn.execute("SELECT 1")
                return conn
            except psycopg.Error:
                pass
        if conn is not None:
            conn.close()
        self._conn = connect(self.url, f"ftjanitor {self.purpose} pid={os.getpid()}")
        return self._conn

    @contextmanager
    def session(self) -> Iterator[Connection]:
        with self._lock:
            try:
                yield self._live()
            except psycopg.Error as error:
                raise StorageError(f"{self.name}: {_one_line(error)}") from None
            finally:
                self._used = time.monotonic()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.session() as conn, conn.transaction():
            yield conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def ensure_schema(link: _Link) -> None:
    """Create or migrate ftjanitor's tables; refuse a schema from a newer ftjanitor."""
    with link.session() as conn:
        if _schema_version(conn) == SCHEMA_VERSION:
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_KEY,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS ftjanitor_schema_version"
                " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            version = _schema_version(conn)
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"{link.name}: written by a newer ftjanitor (state schema version"
                    f" {version}; this one knows up to {SCHEMA_VERSION})"
                )
            for step in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _MIGRATIONS[step]:
                    conn.execute(statement)
                conn.execute("INSERT INTO ftjanitor_schema_version (version) VALUES (%s)", (step,))


def _schema_version(conn: Connection) -> int:
    row = conn.execute("SELECT to_regclass('ftjanitor_schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    row = conn.execute("SELECT max(version) FROM ftjanitor_schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _holder_pid(application_name: str | None) -> int:
    found = re.search(r"\bpid=(\d+)", application_name or "")
    return int(found.group(1)) if found else 0


class PostgresState:
    """StateStore on PostgreSQL. Thread-safe: one connection under a lock, plus one
    connection per job lock held."""

    def __init__(self, url: str):
        self.url = url
        self.name = display(url)
        self._link = _Link(url, "state")
        # Job -> the session holding its lock: an intent is written only while it lives.
        self._held: dict[str, Connection] = {}
        try:
            ensure_schema(self._link)
        except BaseException:
            self._link.close()
            raise

    def close(self) -> None:
        self._link.close()

    # account keys

    def adopt(self, keys: Mapping[str, str]) -> dict[str, str]:
        with self._link.transaction() as conn:
            for name, key in sorted(keys.items()):
                if key == name:
                    continue
                for table, rest in _KEYED.items():
                    # A row the key already has wins over the same row under the name.
                    same = " AND ".join(f"o.{c} = t.{c}" for c in rest)
                    conn.execute(
                        f"UPDATE {table} AS t SET connection = %s WHERE t.connection = %s"
                        f" AND NOT EXISTS (SELECT 1 FROM {table} AS o"
                        f" WHERE o.connection = %s AND {same})",
                        (key, name, key),
                    )
                    conn.execute(f"DELETE FROM {table} WHERE connection = %s", (name,))
                if not is_key(name):
                    conn.execute(
                        "INSERT INTO ftjanitor_accounts (account, connection) VALUES (%s, %s)"
                        " ON CONFLICT (account) DO UPDATE SET connection = EXCLUDED.connection",
                        (key, name),
                    )
            rows = conn.execute("SELECT account, connection FROM ftjanitor_accounts").fetchall()
        return {account: connection for account, connection in rows}

    # first sightings

    def sight(
        self, connection: str, model_ids: Iterable[str], at: datetime, kind: str = DEFAULT_KIND
    ) -> dict[str, datetime]:
        ids = sorted(set(model_ids))  # one insertion order for all writers: no deadlocks
        with self._link.transaction() as conn:
            conn.execute(
                "INSERT INTO ftjanitor_sightings (connection, kind, model_id, first_seen)"
                " SELECT %s, %s, id, %s FROM unnest(%s::text[]) AS id ON CONFLICT DO NOTHING",
                (connection, kind, at, ids),
            )
            rows = conn.execute(
                "SELECT model_id, first_seen FROM ftjanitor_sightings"
                " WHERE connection = %s AND kind = %s AND model_id = ANY(%s::text[])",
                (connection, kind, ids),
            ).fetchall()
        return {model_id: seen.astimezone(UTC) for model_id, seen in rows}

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
        with self._link.session() as conn:
            conn.execute(
                "INSERT INTO ftjanitor_runs (run_id, job, trigger, dry_run, started_at, fire_time)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (run_id, job, trigger, dry_run, at, fire_time),
            )

    def run_ended(self, run_id: str, status: str, at: datetime) -> None:
        with self._link.session() as conn:
            conn.execute(
                "UPDATE ftjanitor_runs SET ended_at = %s, status = %s WHERE run_id = %s",
                (at, status, run_id),
            )

    def _one_time(self, sql: str, job: str) -> datetime | None:
        with self._link.session() as conn:
            row = conn.execute(sql, (job,)).fetchone()
        return _utc(row[0]) if row else None

    def last_run(self, job: str) -> datetime | None:
        return self._one_time(
            "SELECT max(started_at) FROM ftjanitor_runs WHERE job = %s AND NOT dry_run", job
        )

    def last_fire_time(self, job: str) -> datetime | None:
        return self._one_time("SELECT max(fire_time) FROM ftjanitor_fire_times WHERE job = %s", job)

    def claim_fire_time(self, job: str, fire_time: datetime) -> bool:
        with self._link.session() as conn:
            cursor = conn.execute(
                "INSERT INTO ftjanitor_fire_times (job, fire_time) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                (job, fire_time),
            )
            return cursor.rowcount == 1

    # grace marks

    def marks(self, job: str) -> dict[ResourceRef, Mark]:
        with self._link.session() as conn:
            rows = conn.execute(
                "SELECT connection, kind, model_id, marked_at, deletable_after"
                " FROM ftjanitor_marks WHERE job = %s",
                (job,),
            ).fetchall()
        marks = (
            Mark(
                ResourceRef.on(connection, model_id, kind),
                at.astimezone(UTC),
                after.astimezone(UTC),
            )
            for connection, kind, model_id, at, after in rows
        )
        return {mark.ref: mark for mark in marks}

    def mark(self, job: str, mark: Mark) -> None:
        ref = mark.ref
        with self._link.session() as conn:
            conn.execute(
                "INSERT INTO ftjanitor_marks"
                " (job, connection, kind, model_id, marked_at, deletable_after)"
                " VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (job, connection, kind, model_id) DO UPDATE"
                " SET marked_at = EXCLUDED.marked_at, deletable_after = EXCLUDED.deletable_after",
                (job, ref.account, ref.kind, ref.id, mark.marked_at, mark.deletable_after),
            )

    def unmark(self, job: str, ref: ResourceRef) -> None:
        with self._link.session() as conn:
            conn.execute(
                "DELETE FROM ftjanitor_marks"
                " WHERE job = %s AND connection = %s AND kind = %s AND model_id = %s",
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
        for job in sorted({intent.job for intent in opened}):
            self._lock_alive(job)
        with self._link.transaction() as conn, conn.cursor() as cursor:
            if closed:
                cursor.executemany(
                    "DELETE FROM ftjanitor_intents"
                    " WHERE run_id = %s AND connection = %s AND kind = %s AND model_id = %s",
                    [(run_id, ref.account, ref.kind, ref.id) for run_id, ref in closed],
                )
            if opened:
                cursor.executemany(
                    "INSERT INTO ftjanitor_intents"
                    " (run_id, connection, kind, model_id, job, seq)"
                    " VALUES (%s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (run_id, connection, kind, model_id) DO UPDATE"
                    " SET job = EXCLUDED.job, seq = EXCLUDED.seq",
                    [(i.run_id, i.ref.account, i.ref.kind, i.ref.id, i.job, i.seq) for i in opened],
                )

    def open_intents(self, jobs: Collection[str]) -> list[OpenIntent]:
        with self._link.session() as conn:
            rows = conn.execute(
                "SELECT job, connection, kind, model_id, run_id, seq FROM ftjanitor_intents"
                " WHERE job = ANY(%s::text[]) ORDER BY seq, job",
                (sorted(set(jobs)),),
            ).fetchall()
        return [
            OpenIntent(job, ResourceRef.on(connection, model_id, kind), run_id, seq)
            for job, connection, kind, model_id, run_id, seq in rows
        ]

    # per-job locks

    @contextmanager
    def job_lock(self, job: str) -> Iterator[int | None]:
        """Yields None when acquired, else the holder's pid (0 when it cannot be seen).

        The lock lives in a session of its own: closing it releases the lock, and so does
        the server when the process holding it dies. The holder's pid is read from the
        application_name of the session holding the lock (pid=N), as pg_stat_activity
        shows it to this role.
        """
        key = advisory_key("ftjanitor-job:" + job)
        host = socket.gethostname()
        conn = connect(self.url, f"ftjanitor lock pid={os.getpid()} host={host}")
        try:
            try:
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
                holder = None if row and row[0] else self._holder(conn, key)
            except psycopg.Error as error:
                raise StorageError(f"{self.name}: job lock {job!r}: {_one_line(error)}") from None
            if holder is None:
                self._held[job] = conn
            try:
                yield holder
            finally:
                self._held.pop(job, None)
                if holder is None:
                    # Released before we return: closing alone lets the server drop the
                    # lock a moment later, and a run right after ours would find it held.
                    with contextlib.suppress(psycopg.Error):
                        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        finally:
            conn.close()  # ends the session, and with it the lock if still held

    def _lock_alive(self, job: str) -> None:
        """Before each group of intents: the session holding the job's lock still lives.
        A server restart or a killed session ends the lock silently, and another process
        could then run the same job; no delete is started once that may be so."""
        conn = self._held.get(job)
        if conn is None:
            return  # no lock taken here (plan, tests of the store alone)
        try:
            conn.execute("SELECT 1")
        except psycopg.Error as error:
            raise StorageError(
                f"{self.name}: the lock on job {job!r} was lost with its session"
                f" ({_one_line(error)}); no delete is started without it"
            ) from None

    @staticmethod
    def _holder(conn: Connection, key: int) -> int:
        unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
        row = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND l.classid::int8 = %s AND l.objid::int8 = %s",
            (unsigned >> 32, unsigned & 0xFFFF_FFFF),
        ).fetchone()
        return _holder_pid(row[0]) if row else 0

    # audit head anchors

    def audit_head(self, log: str) -> tuple[int, str] | None:
        with self._link.session() as conn:
            row = conn.execute(
                "SELECT seq, hash FROM ftjanitor_audit_heads WHERE log = %s", (log,)
            ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def set_audit_head(self, log: str, seq: int, record_hash: str) -> None:
        with self._link.session() as conn:
            conn.execute(
                "INSERT INTO ftjanitor_audit_heads (log, seq, hash) VALUES (%s, %s, %s)"
                " ON CONFLICT (log) DO UPDATE SET seq = EXCLUDED.seq, hash = EXCLUDED.hash",
                (log, seq, record_hash),
            )


class PostgresAuditLog:
    """The audit chain in the state database (``audit_log: state``).

    Each record is stored as its exact canonical JSON line, keyed by seq. An append locks
    the chain's tip row (``SELECT ... FOR UPDATE``), so appends from any number of
    processes and hosts form one chain; ``sync=True`` commits with synchronous_commit on,
    other appends with it off (still in order: a later synced commit flushes them too).
    """

    def __init__(self, url: str, secrets: Iterable[str] = (), clock: Clock = system_clock):
        self.url = url
        self.name = display(url) + "#audit"
        self.secrets = secret_list(secrets)
        self.clock = clock
        self._link = _Link(url, "audit")
        try:
            ensure_schema(self._link)
        except BaseException:
            self._link.close()
            raise

    def append(
        self, event: str, run_id: str | None, fields: dict[str, Any], *, sync: bool = False
    ) -> dict[str, Any]:
        return self.append_many([(event, run_id, fields)], sync=sync)[0]

    def append_many(
        self, entries: Sequence[Appended], *, sync: bool = False
    ) -> list[dict[str, Any]]:
        """One transaction, the tip locked once: a group is one commit."""
        clean = [(event, run_id, redact(fields, self.secrets)) for event, run_id, fields in entries]
        records: list[dict[str, Any]] = []
        with self._link.transaction() as conn:
            row = conn.execute(
                "SELECT seq, hash, set_config('synchronous_commit', %s, true)"
                " FROM ftjanitor_audit_log_tip FOR UPDATE",
                ("on" if sync else "off",),
            ).fetchone()
            if row is None:
                raise StorageError(f"{self.name}: the chain's tip row is missing (edited?)")
            seq, prev = int(row[0]), str(row[1])
            for event, run_id, fields in clean:
                record = seal(seq + 1, prev, rfc3339(self.clock()), event, run_id, fields)
                records.append(record)
                seq, prev = record["seq"], record["hash"]
            if records:
                with conn.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO ftjanitor_audit_log (seq, line) VALUES (%s, %s)",
                        [(r["seq"], dumps(r)) for r in records],
                    )
                conn.execute("UPDATE ftjanitor_audit_log_tip SET seq = %s, hash = %s", (seq, prev))
        return records

    def _tip(self) -> tuple[int, str]:
        with self._link.session() as conn:
            row = conn.execute("SELECT seq, hash FROM ftjanitor_audit_log_tip").fetchone()
        if row is None:
            raise StorageError(f"{self.name}: the chain's tip row is missing (edited?)")
        return int(row[0]), str(row[1])

    @property
    def head(self) -> tuple[int, str]:
        """The last record's seq and hash, from one read of the tip."""
        return self._tip()

    @property
    def seq(self) -> int:
        """The last record's seq, as the database holds it now."""
        return self._tip()[0]

    @property
    def prev(self) -> str:
        """The last record's hash, as the database holds it now."""
        return self._tip()[1]

    def lines(self, after: int = 0) -> Iterator[bytes]:
        """Each record's canonical JSON and a newline, in seq order, a page at a time,
        from the record after seq ``after`` on."""
        while True:
            with self._link.session() as conn:
                rows = conn.execute(
                    "SELECT seq, line FROM ftjanitor_audit_log WHERE seq > %s"
                    " ORDER BY seq LIMIT %s",
                    (after, _PAGE),
                ).fetchall()
            for _, line in rows:
                yield line.encode() + b"\n"
            if len(rows) < _PAGE:
                return
            after = int(rows[-1][0])

    def line_at(self, seq: int) -> bytes | None:
        with self._link.session() as conn:
            row = conn.execute(
                "SELECT line FROM ftjanitor_audit_log WHERE seq = %s", (seq,)
            ).fetchone()
        return None if row is None else str(row[0]).encode()

    def close(self) -> None:
        self._link.close()

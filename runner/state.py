"""The runner's own memory (SQLite, WAL): first sightings and run history.

First sightings give ages to providers that report no creation time (BFL); run history
lets the scheduler catch up after downtime.
"""

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from runner.clock import parse_instant, rfc3339
from runner.files import create_private

_SCHEMA = """
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
"""


class State:
    def __init__(self, path: Path):
        create_private(path)
        # One connection per thread that needs it; the engine uses it from one thread.
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def sight(
        self, connection: str, model_ids: Iterable[str], now: datetime
    ) -> dict[str, datetime]:
        """Record first sightings at ``now``; return first_seen for every ID given."""
        ids = list(model_ids)
        stamp = rfc3339(now)
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR IGNORE INTO sightings VALUES (?, ?, ?)",
                ((connection, model_id, stamp) for model_id in ids),
            )
        wanted = set(ids)
        rows = self.db.execute(
            "SELECT model_id, first_seen FROM sightings WHERE connection = ?", (connection,)
        )
        return {mid: parse_instant(seen) for mid, seen in rows if mid in wanted}

    def run_started(self, run_id: str, job: str, trigger: str, dry_run: bool, at: datetime) -> None:
        self.db.execute(
            "INSERT INTO runs (run_id, job, trigger, dry_run, started_at) VALUES (?, ?, ?, ?, ?)",
            (run_id, job, trigger, int(dry_run), rfc3339(at)),
        )

    def run_ended(self, run_id: str, status: str, at: datetime) -> None:
        self.db.execute(
            "UPDATE runs SET ended_at = ?, status = ? WHERE run_id = ?",
            (rfc3339(at), status, run_id),
        )

    def last_run(self, job: str) -> datetime | None:
        """When the job last started a real (not dry) run, by any trigger."""
        query = "SELECT max(started_at) FROM runs WHERE job = ? AND dry_run = 0"
        (value,) = self.db.execute(query, (job,)).fetchone()
        return parse_instant(value) if value else None

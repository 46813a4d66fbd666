"""The runner's own memory behind one small interface.

SQLite with file locks on one machine (the default), PostgreSQL with advisory locks
when CronJob pods and daemons on several machines share it. Everything a later run
decides from lives here: first sightings, run history and fire times, grace marks,
open delete intents, job locks and the audit head anchor.
"""

from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from runner.ref import DEFAULT_KIND, ResourceRef


@dataclass(frozen=True)
class StateRef:
    """Where the state lives: a SQLite file or a PostgreSQL URL (no password)."""

    path: Path | None = None
    url: str | None = None

    def __str__(self) -> str:
        return self.url if self.url is not None else str(self.path)


@dataclass(frozen=True)
class Mark:
    ref: ResourceRef
    marked_at: datetime
    deletable_after: datetime


@dataclass(frozen=True)
class OpenIntent:
    job: str
    ref: ResourceRef
    run_id: str
    seq: int  # the audit record of the intent


class StateStore(Protocol):
    def close(self) -> None: ...

    # account keys (runner.accounts): refs are stored under ``ref.account``
    def adopt(self, keys: Mapping[str, str]) -> dict[str, str]:
        """Move what was stored under each connection name in ``keys`` (name -> account
        key) to its key, and remember the name; every known key's latest name. A former
        account key in place of a name (``runner.accounts.is_key``) moves its rows alike,
        but is no name to remember."""
        ...

    # first sightings: ages for providers that report no creation time
    def sight(
        self, connection: str, model_ids: Iterable[str], at: datetime, kind: str = DEFAULT_KIND
    ) -> dict[str, datetime]:
        """Record first sightings at ``at`` (never earlier ones); first_seen of every ID
        of that kind on that connection."""
        ...

    # run history and fire times
    def run_started(
        self,
        run_id: str,
        job: str,
        trigger: str,
        dry_run: bool,
        at: datetime,
        fire_time: datetime | None = None,
    ) -> None: ...

    def run_ended(self, run_id: str, status: str, at: datetime) -> None: ...

    def last_run(self, job: str) -> datetime | None:
        """When the job last started a real (not dry) run."""
        ...

    def last_fire_time(self, job: str) -> datetime | None:
        """The latest fire time any daemon claimed for the job."""
        ...

    def claim_fire_time(self, job: str, fire_time: datetime) -> bool:
        """True for the first claimant of this fire time, across processes and hosts."""
        ...

    # grace marks
    def marks(self, job: str) -> dict[ResourceRef, Mark]: ...

    def mark(self, job: str, mark: Mark) -> None: ...

    def unmark(self, job: str, ref: ResourceRef) -> None: ...

    # delete intents without an outcome yet (indexed: reconciling is O(open intents))
    def intent_opened(self, intent: OpenIntent) -> None: ...

    def intent_closed(self, run_id: str, ref: ResourceRef) -> None: ...

    def intents_recorded(
        self, opened: Sequence[OpenIntent], closed: Sequence[tuple[str, ResourceRef]]
    ) -> None:
        """Close ``closed`` (run_id, ref) and then open ``opened``, in one transaction:
        a group of deletes costs one commit (runner.intents). Closes go first, so a
        retry's intent that reuses its key is never closed by its earlier attempt's."""
        ...

    def open_intents(self, jobs: Collection[str]) -> list[OpenIntent]: ...

    # per-job locks; yields None when acquired, else the holder's pid (0 when unknown)
    def job_lock(self, job: str) -> AbstractContextManager[int | None]: ...

    # the audit head anchor: the last record each plan/run saw, per audit log
    def audit_head(self, log: str) -> tuple[int, str] | None: ...

    def set_audit_head(self, log: str, seq: int, record_hash: str) -> None: ...

"""The state as one job file's run sees it: items stored under their account's stable key
(runner.accounts), shown under the connection names of this file.

A run names items by connection (``ResourceRef.on``); the store keeps them by
``ResourceRef.account``. This view sets the key on the way in and the file's name on the
way out, so a renamed connection finds its marks and intents, and a key no connection of
this file has is shown under the name it last had.

What a connection's state may still be stored under moves to its key when the view opens:
its bare name (written before keys existed) and, once it has an ``account:`` name, the
key it had without one (the README's advice is to give ``account:``, then rename).
"""

import dataclasses
from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime

from runner.jobfile.model import Connection
from runner.ref import DEFAULT_KIND, ResourceRef
from runner.state import Mark, OpenIntent, StateStore


class AccountKeyed:
    """A ``StateStore`` over ``store`` for the file's ``connections``; opening it moves
    rows stored under a connection's name (written before keys existed) to its key."""

    def __init__(self, store: StateStore, connections: Iterable[Connection]):
        self.store = store
        connections = list(connections)
        self._key = {c.name: c.key for c in connections}
        # A former key holds its connection's name, or is what its account fields reach:
        # a valid file gives no two connections one (runner.jobfile.validate).
        former = {c.former_account: c.key for c in connections if c.former_account}
        adopted = store.adopt({**former, **self._key})
        self._name = {**adopted, **{k: n for n, k in self._key.items()}}

    def _stored(self, ref: ResourceRef) -> ResourceRef:
        return dataclasses.replace(ref, account=self._key.get(ref.connection, ref.account))

    def _shown(self, ref: ResourceRef) -> ResourceRef:
        return ResourceRef.on(self._name.get(ref.account, ref.account), ref.id, ref.kind)

    # what is kept by account

    def adopt(self, keys: Mapping[str, str]) -> dict[str, str]:
        return self.store.adopt(keys)

    def sight(
        self, connection: str, model_ids: Iterable[str], at: datetime, kind: str = DEFAULT_KIND
    ) -> dict[str, datetime]:
        # Callers name the connection by its key already (``Connection.key``).
        return self.store.sight(connection, model_ids, at, kind)

    def marks(self, job: str) -> dict[ResourceRef, Mark]:
        shown = (
            dataclasses.replace(m, ref=self._shown(m.ref)) for m in self.store.marks(job).values()
        )
        return {mark.ref: mark for mark in shown}

    def mark(self, job: str, mark: Mark) -> None:
        self.store.mark(job, dataclasses.replace(mark, ref=self._stored(mark.ref)))

    def unmark(self, job: str, ref: ResourceRef) -> None:
        self.store.unmark(job, self._stored(ref))

    def intent_opened(self, intent: OpenIntent) -> None:
        self.store.intent_opened(dataclasses.replace(intent, ref=self._stored(intent.ref)))

    def intent_closed(self, run_id: str, ref: ResourceRef) -> None:
        self.store.intent_closed(run_id, self._stored(ref))

    def intents_recorded(
        self, opened: Sequence[OpenIntent], closed: Sequence[tuple[str, ResourceRef]]
    ) -> None:
        self.store.intents_recorded(
            [dataclasses.replace(i, ref=self._stored(i.ref)) for i in opened],
            [(run_id, self._stored(ref)) for run_id, ref in closed],
        )

    def open_intents(self, jobs: Collection[str]) -> list[OpenIntent]:
        return [
            dataclasses.replace(i, ref=self._shown(i.ref)) for i in self.store.open_intents(jobs)
        ]

    # the rest is the job's or the log's, not an account's

    def close(self) -> None:
        self.store.close()

    def run_started(
        self,
        run_id: str,
        job: str,
        trigger: str,
        dry_run: bool,
        at: datetime,
        fire_time: datetime | None = None,
    ) -> None:
        self.store.run_started(run_id, job, trigger, dry_run, at, fire_time)

    def run_ended(self, run_id: str, status: str, at: datetime) -> None:
        self.store.run_ended(run_id, status, at)

    def last_run(self, job: str) -> datetime | None:
        return self.store.last_run(job)

    def last_fire_time(self, job: str) -> datetime | None:
        return self.store.last_fire_time(job)

    def claim_fire_time(self, job: str, fire_time: datetime) -> bool:
        return self.store.claim_fire_time(job, fire_time)

    def job_lock(self, job: str) -> AbstractContextManager[int | None]:
        return self.store.job_lock(job)

    def audit_head(self, log: str) -> tuple[int, str] | None:
        return self.store.audit_head(log)

    def set_audit_head(self, log: str, seq: int, record_hash: str) -> None:
        self.store.set_audit_head(log, seq, record_hash)

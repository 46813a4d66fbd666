"""Selection: pure functions from (job, inventory, now) to one decision per model.

Order, as DESIGN.md fixes it: rules pick matches (ANDed inside a target, targets ORed),
protected models are set aside first, keep_latest keeps the newest of the rest, and
max_deletions turns the whole job into a no-op when exceeded.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Literal

from runner.durations import format_age
from runner.jobfile.model import Job, Target
from runner.providers.base import ModelRecord, unsafe_id_reason

DELETED = "STATUS_DELETED"
IN_PROGRESS = frozenset({"STATUS_FINETUNING", "STATUS_QUEUED", "STATUS_DEPLOYING_API"})

Action = Literal["delete", "keep", "skip", "absent", "nomatch"]
# When several targets decide about one model: protection beats everything, then a
# delete (targets are ORed), then the other reasons to keep or skip.
_RANK = {"protected": 0, "delete": 1, "skip": 2, "absent": 3, "keep": 4, "nomatch": 5}


@dataclass(frozen=True, slots=True)
class Decision:
    connection: str
    model_id: str
    name: str | None
    status: str | None
    age: timedelta | None
    age_basis: str  # created | first seen | unknown
    action: Action
    reason: str
    target: int | None  # which target of the job decided (None: no target matched)
    protected: bool = False


@dataclass
class JobPlan:
    job: Job
    decisions: list[Decision]
    limit_message: str | None = None  # set when max_deletions stopped the job
    notes: list[str] = field(default_factory=list)

    @property
    def deletes(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == "delete"]


def age_of(record: ModelRecord, now: datetime) -> tuple[timedelta | None, str]:
    if record.created_at is not None:
        return now - record.created_at, "created"
    if record.first_seen is not None:
        return now - record.first_seen, "first seen"
    return None, "unknown"


def age_text(record: ModelRecord, now: datetime) -> str:
    age, basis = age_of(record, now)
    if age is None:
        return "-"
    return format_age(age) + (" (first seen)" if basis == "first seen" else "")


def _decision(
    connection: str,
    record: ModelRecord,
    now: datetime,
    action: Action,
    reason: str,
    target: int | None,
    protected: bool = False,
) -> Decision:
    age, basis = age_of(record, now)
    return Decision(
        connection,
        record.id,
        record.name,
        record.status,
        age,
        basis,
        action,
        reason,
        target,
        protected,
    )


def _unusable(record: ModelRecord) -> str | None:
    if record.problem:
        return record.problem
    reason = unsafe_id_reason(record.id)
    return f"unsafe ID from provider: {reason}" if reason else None


def _filters(target: Target, record: ModelRecord, now: datetime) -> tuple[bool, str, bool]:
    """(matched, reason, too_young). The reason explains a match or the first miss."""
    status = record.status
    if status == DELETED:
        return False, "already deleted (STATUS_DELETED)", False
    why: list[str] = []
    if target.status:
        if status not in target.status:
            return False, f"status {status} not in {list(target.status)}", False
        why.append(f"status {status}")
    elif status in IN_PROGRESS:
        return False, f"{status}: in progress (name it in status: to select it)", False
    if target.name is not None:
        if not fnmatchcase(record.name or "", target.name):
            return False, f"name {record.name!r} does not match {target.name!r}", False
        why.append(f"name matches {target.name!r}")
    if target.older_than is not None:
        age, basis = age_of(record, now)
        if age is None:
            return False, "no creation time, so no age", False
        since = record.created_at if basis == "created" else record.first_seen
        assert since is not None
        told = f"{basis} {since:%Y-%m-%d}, {format_age(age)} old"
        if age <= target.older_than:
            return False, f"too young: {told}, not over {target.older_than_text}", True
        why.insert(0, f"older_than {target.older_than_text}: {told}")
    if target.match_all and not why:
        why.append("match_all")
    return True, "; ".join(why), False


def _protected(target: Target, record: ModelRecord) -> bool:
    return record.id in target.protect or (
        record.name is not None and record.name in target.protect
    )


def _newest_first(record: ModelRecord, now: datetime) -> tuple[timedelta, str]:
    age, _ = age_of(record, now)
    return (age if age is not None else timedelta.max, record.id)


def _target_decisions(
    index: int,
    target: Target,
    job_protect: Sequence[Target],
    usable: Sequence[ModelRecord],
    by_id: Mapping[str, ModelRecord],
    now: datetime,
) -> list[Decision]:
    conn = target.provider
    out: list[Decision] = []

    def protected(record: ModelRecord) -> bool:
        return any(_protected(t, record) for t in job_protect)

    for model_id in target.ids:
        record = by_id.get(model_id)
        if record is None:
            gone = ModelRecord(id=model_id)
            out.append(
                _decision(conn, gone, now, "absent", "listed by ID, not found at provider", index)
            )
        elif record.status == DELETED:
            out.append(
                _decision(
                    conn, record, now, "absent", "listed by ID, already STATUS_DELETED", index
                )
            )
        elif protected(record):
            out.append(_decision(conn, record, now, "keep", "protected", index, protected=True))
        else:
            out.append(_decision(conn, record, now, "delete", "listed by ID", index))
    if not target.has_rules:
        return out
    matches: list[tuple[ModelRecord, str]] = []
    for record in usable:
        matched, reason, too_young = _filters(target, record, now)
        if matched:
            matches.append((record, reason))
        elif too_young:
            out.append(_decision(conn, record, now, "keep", reason, index))
        else:
            out.append(_decision(conn, record, now, "nomatch", reason, None))
    kept = 0
    for record, reason in sorted(matches, key=lambda m: _newest_first(m[0], now)):
        if protected(record):
            out.append(_decision(conn, record, now, "keep", "protected", index, protected=True))
        elif target.keep_latest and kept < target.keep_latest:
            kept += 1
            why = f"kept: among the {target.keep_latest} newest matches ({reason})"
            out.append(_decision(conn, record, now, "keep", why, index))
        else:
            out.append(_decision(conn, record, now, "delete", reason, index))
    return out


def _rank(decision: Decision) -> int:
    return _RANK["protected"] if decision.protected else _RANK[decision.action]


def plan_job(job: Job, inventories: Mapping[str, Sequence[ModelRecord]], now: datetime) -> JobPlan:
    """Every model of every connection the job uses gets exactly one decision."""
    best: dict[tuple[str, str], Decision] = {}
    for connection in dict.fromkeys(t.provider for t in job.targets):
        records = inventories[connection]
        usable = []  # checked once here, not again by every target
        for record in records:
            if reason := _unusable(record):
                key = (connection, record.id or f"#{id(record)}")
                best[key] = _decision(connection, record, now, "skip", reason, None)
            else:
                usable.append(record)
        by_id = {r.id: r for r in records}
        same_connection = [t for t in job.targets if t.provider == connection]
        for index, target in enumerate(job.targets):
            if target.provider != connection:
                continue
            for decision in _target_decisions(index, target, same_connection, usable, by_id, now):
                key = (connection, decision.model_id)
                current = best.get(key)
                if current is None or _rank(decision) < _rank(current):
                    best[key] = decision
    plan = JobPlan(job, list(best.values()))
    count = len(plan.deletes)
    if count > job.max_deletions:
        plan.limit_message = (
            f"job {job.name!r} would delete {count} models, over its max_deletions of"
            f" {job.max_deletions}: nothing deleted (raise max_deletions or narrow the rules)"
        )
        plan.decisions = [
            _limit(d, count, job.max_deletions) if d.action == "delete" else d
            for d in plan.decisions
        ]
    plan.notes.extend(_first_sighting_notes(job, inventories, now))
    return plan


def _limit(decision: Decision, count: int, limit: int) -> Decision:
    reason = f"limit: {count} selected > max_deletions {limit} ({decision.reason})"
    return dataclasses.replace(decision, action="keep", reason=reason)


def _first_sighting_notes(
    job: Job, inventories: Mapping[str, Sequence[ModelRecord]], now: datetime
) -> list[str]:
    notes = []
    for connection in dict.fromkeys(t.provider for t in job.targets if t.older_than is not None):
        fresh = [
            r
            for r in inventories[connection]
            if r.created_at is None and r.first_seen is not None and r.first_seen >= now
        ]
        if fresh:
            notes.append(
                f"{connection}: {len(fresh)} models seen for the first time; this provider"
                " reports no creation time, so their age counts from now and age rules"
                " select none of them yet"
            )
    return notes

"""Selection: pure functions from (job, inventory, now, marks) to one decision per model.

Order, as the README fixes it: rules pick matches (ANDed inside a target, targets ORed),
protected models are set aside first, keep_latest keeps the newest of the rest, then what
ties kinds together (commitments, what a deployment serves, protection along that chain)
blocks or adds deletes, grace turns a selection into a mark until its time has come, and
the limits (max_deletions, max_deletions_percent) block the whole job when what it would
delete now exceeds them.
"""

import dataclasses
import sys
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from runner.connections import Listed
from runner.cost import PriceOverride, monthly_cost
from runner.durations import format_age
from runner.jobfile.model import Job, Target
from runner.providers.base import KindSpec, ModelRecord
from runner.ref import DEFAULT_KIND, ResourceRef
from runner.state import Mark
from runner.usage import USAGE_UNKNOWN, LastUse, Seen, Unknown, Usage

# What the run read of each listing's usage (runner.usage): per item, or why it could not.
UsageReads = Mapping[Listed, Mapping[ResourceRef, Seen] | Unknown]

# What a limit puts before the reason of each delete it holds back; the summary counts
# these apart from items blocked for their own reasons (a commitment, a deployment).
LIMITED = "blocked by the limit"
# How a tripped limit's message ends (in run.end too): reports count limit trips by it.
# How a limit's message ends (the report recognises a tripped limit by it, in logs of
# every version).
LIMIT_TRIPPED = " (raise the limit or narrow the rules)"
Action = Literal["delete", "mark", "pending", "blocked", "keep", "skip", "absent", "nomatch"]
# When several targets decide about one model: protection beats everything, then a
# delete (targets are ORed), then the other reasons to keep or skip.
_RANK = {"protected": 0, "delete": 1, "skip": 2, "absent": 3, "keep": 4, "nomatch": 5}


@dataclass(frozen=True, slots=True)
class Decision:
    ref: ResourceRef  # what is decided about: two kinds with one ID are two decisions
    name: str | None
    status: str | None
    age: timedelta | None
    age_basis: str  # created | first seen | unknown
    action: Action
    reason: str
    target: int | None  # which target of the job decided (None: no target matched)
    protected: bool = False
    deletable_after: datetime | None = None  # grace: when a marked model may go
    monthly_cost: Decimal | None = None  # what it costs a month (runner.cost); None: unknown
    cost_basis: str = ""  # how that cost was reached, for people
    # What must be gone before this is sent (a model's deployments, with_deployments):
    # the engine deletes those first and skips this unless each of them was deleted.
    after: tuple[ResourceRef, ...] = ()
    # An unused_for selection: the source that read its use and what it saw (audit, plan).
    usage: LastUse | None = None
    owner: str | None = None  # its owner_tag's value (None: none, or tags not known)


@dataclass(frozen=True)
class UsageReviewed:
    """What a reviewed plan (``run --plan``) recorded of the use behind its unused_for
    selections: the last use each read saw, and when the plan was made. A fresh read that
    saw a later use means the item was used since the review."""

    last_uses: Mapping[ResourceRef, LastUse]
    made: datetime


@dataclass
class JobPlan:
    job: Job
    decisions: list[Decision]
    limit_message: str | None = None  # set when a limit blocks the job or some connections
    # The connections a limit blocked (each deletes nothing); the others go on.
    tripped: list[str] = field(default_factory=list)
    unmarks: list[Mark] = field(default_factory=list)  # marked, no longer selected
    # Marks whose date the job's longer grace moved later: a real run records the new date
    # (and tells it), so a grace shortened again can never bring it forward.
    postponed: list[Mark] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    drift: list[Decision] = field(default_factory=list)  # differs from the reviewed plan
    # Connections whose usage could not be read for an unused_for rule: the job is partial.
    unread: list[str] = field(default_factory=list)

    def having(self, *actions: Action) -> list[Decision]:
        return [d for d in self.decisions if d.action in actions]

    @property
    def deletes(self) -> list[Decision]:
        return self.having("delete")

    def marks(self) -> list[tuple[Decision, datetime]]:
        """Models to mark now, with when each may go (grace sets the two together)."""
        return [
            (d, d.deletable_after)
            for d in self.decisions
            if d.action == "mark" and d.deletable_after is not None
        ]


def age_of(record: ModelRecord, now: datetime) -> tuple[timedelta | None, str]:
    if record.created_at is not None:
        return now - record.created_at, "created"
    if record.first_seen is not None:
        return max(now - record.first_seen, timedelta(0)), "first seen"
    return None, "unknown"


def age_text(record: ModelRecord, now: datetime) -> str:
    age, basis = age_of(record, now)
    if age is None:
        return "-"
    return format_age(age) + (" (first seen)" if basis == "first seen" else "")


def _decision(
    where: Listed,
    record: ModelRecord,
    now: datetime,
    action: Action,
    reason: str,
    target: int | None,
    protected: bool = False,
    usage: LastUse | None = None,
) -> Decision:
    age, basis = age_of(record, now)
    # Reasons and cost bases repeat across thousands of items ("status X not in [...]"):
    # one copy of each keeps a plan of 100,000 items about 17 MiB smaller.
    reason = sys.intern(reason)
    return Decision(
        ResourceRef.on(where[0], record.id, where[1]), record.name, record.status, age, basis,
        action, reason, target, protected, monthly_cost=record.monthly_cost,
        cost_basis=record.cost_basis or "unknown: not listed", usage=usage,
    )  # fmt: skip


def priced(
    records: Sequence[ModelRecord], spec: KindSpec, prices: Sequence[PriceOverride]
) -> list[ModelRecord]:
    """The records with their monthly cost, before any rule reads them (min_monthly_cost).
    A record priced already is kept as it is: the engine prices each listing once, as it
    is read, so that a plan never holds two copies of every record."""
    out = []
    for record in records:
        if record.cost_basis:
            out.append(record)
            continue
        cost, basis = monthly_cost(record, spec.type, spec.kind, spec.price, prices, spec.prices_by)
        out.append(dataclasses.replace(record, monthly_cost=cost, cost_basis=sys.intern(basis)))
    return out


def _unusable(spec: KindSpec, record: ModelRecord) -> str | None:
    if record.problem:
        return record.problem
    if record.lifecycle == "unknown":
        return f"unknown status {str(record.status)[:60]!r} (not a {spec.type} status we know)"
    reason = spec.id_rule(record.id)
    return f"unsafe ID from provider: {reason}" if reason else None


def _filters(target: Target, record: ModelRecord, now: datetime) -> tuple[bool, str, Action]:
    """(matched, reason, what a miss is). The reason explains a match or the first miss;
    a miss is kept when only its age missed, skipped when a rule could not judge it."""
    if record.lifecycle == "deleted":
        return False, f"already deleted ({record.status})", "nomatch"
    if record.lifecycle == "in_progress" and not any(
        s.selects_in_progress for s in target.selectors
    ):
        busy = f"{record.status}: in progress (name it in status: to select it)"
        return False, busy, "nomatch"
    why: list[str] = []
    for selector in target.selectors:
        if selector.exempts:
            continue  # protect_tags: it keeps, and the planner asks it that apart
        verdict = selector.select(record, now)
        if not verdict.matched:
            miss: Action = "skip" if verdict.unknown else "keep" if verdict.too_young else "nomatch"
            return False, verdict.reason, miss
        if selector.leads:
            why.insert(0, verdict.reason)
        else:
            why.append(verdict.reason)
    if target.match_all and not why:
        why.append("match_all")
    return True, "; ".join(why), "nomatch"


def _protected(target: Target, record: ModelRecord) -> str | None:
    """Why ``target`` keeps ``record`` whatever selects it (None: it does not): named in
    its protect:, or exempted by one of its rules (protect_tags)."""
    if record.id in target.protect or (record.name is not None and record.name in target.protect):
        return "protected"
    return next(filter(None, (s.protects(record) for s in target.selectors if s.exempts)), None)


def _newest_first(record: ModelRecord, now: datetime) -> tuple[timedelta, str]:
    age, _ = age_of(record, now)
    return (age if age is not None else timedelta.max, record.id)


def _target_decisions(
    index: int,
    target: Target,
    job_protect: Sequence[Target],
    usable: Sequence[ModelRecord],
    by_id: Mapping[str, ModelRecord],
    unusable: Mapping[str, str],
    now: datetime,
    source: str | None,
) -> list[Decision]:
    """``source``: the kind's usage source, which an unused_for selection names."""
    conn = (target.connection, target.kind)
    out: list[Decision] = []

    def protected(record: ModelRecord) -> str | None:
        return next(filter(None, (_protected(t, record) for t in job_protect)), None)

    for model_id in target.ids:
        record = by_id.get(model_id)
        if record is not None and (problem := unusable.get(model_id)):
            # Naming a model never overrides why it can't be deleted (an unsafe ID, an
            # item the provider module refuses, such as a base model).
            out.append(_decision(conn, record, now, "skip", problem, index))
        elif record is None:
            gone = ModelRecord(id=model_id)
            out.append(
                _decision(conn, gone, now, "absent", "listed by ID, not found at provider", index)
            )
        elif record.lifecycle == "deleted":
            reason = f"listed by ID, already deleted ({record.status})"
            out.append(_decision(conn, record, now, "absent", reason, index))
        elif exempt := protected(record):
            out.append(_decision(conn, record, now, "keep", exempt, index, protected=True))
        else:
            out.append(_decision(conn, record, now, "delete", "listed by ID", index))
    if not target.has_rules:
        return out
    matches: list[tuple[ModelRecord, str]] = []
    for record in usable:
        matched, reason, miss = _filters(target, record, now)
        if matched:
            matches.append((record, reason))
        else:
            out.append(
                _decision(conn, record, now, miss, reason, None if miss == "nomatch" else index)
            )
    kept = 0
    for record, reason in sorted(matches, key=lambda m: _newest_first(m[0], now)):
        if exempt := protected(record):
            out.append(_decision(conn, record, now, "keep", exempt, index, protected=True))
        elif target.keep_latest and kept < target.keep_latest:
            kept += 1
            why = f"kept: among the {target.keep_latest} newest matches ({reason})"
            out.append(_decision(conn, record, now, "keep", why, index))
        else:
            seen = record.usage if target.unused_for is not None else None  # matched: a Seen
            last = LastUse(source, seen.last_used) if source and isinstance(seen, Seen) else None
            out.append(_decision(conn, record, now, "delete", reason, index, usage=last))
    return out


def _rank(decision: Decision) -> int:
    return _RANK["protected"] if decision.protected else _RANK[decision.action]


def _order(job: Job, decision: Decision) -> tuple[int, bool]:
    """Which of two targets' decisions about one item stands: the better rank, then the
    one whose target deletes a served model with its deployments."""
    target = job.targets[decision.target] if decision.target is not None else None
    return _rank(decision), not (target is not None and target.with_deployments)


def _priced_listings(
    job: Job,
    inventories: Mapping[Listed, Sequence[ModelRecord]],
    specs: Mapping[Listed, KindSpec],
    prices: Sequence[PriceOverride],
) -> dict[Listed, list[ModelRecord]]:
    """The listings the job's targets read, priced: their own kinds' and, on a model
    target's connection, those of the kinds hosting models (listed for it by the engine)."""
    own = list(dict.fromkeys((t.connection, t.kind) for t in job.targets))
    models = {c for c, k in own if k == DEFAULT_KIND}
    hosting = [k for k in inventories if k[0] in models and k in specs and specs[k].serves_models]
    return {k: priced(inventories[k], specs[k], prices) for k in dict.fromkeys(own + hosting)}


def plan_job(
    job: Job,
    inventories: Mapping[Listed, Sequence[ModelRecord]],
    specs: Mapping[Listed, KindSpec],
    now: datetime,
    *,
    marks: Mapping[ResourceRef, Mark] | None = None,
    wall_now: datetime | None = None,
    reviewed: Collection[ResourceRef] | None = None,
    prices: Sequence[PriceOverride] = (),
    usage: UsageReads | None = None,
    reviewed_usage: UsageReviewed | None = None,
    owner_tag: str | None = None,
) -> JobPlan:
    """Every item of every (connection, kind) the job uses gets exactly one decision.

    ``inventories`` and ``specs`` are keyed by (connection name, kind): a target is planned
    against its own kind's listing and facts. ``marks`` are the job's grace marks and
    ``wall_now`` the wall clock that grace runs on (never ``--now``); ``reviewed`` (from
    ``run --plan``) narrows deletes to the models a person reviewed; ``prices`` (the job
    file's) override the specs' price facts; ``usage`` is what the run read of each
    listing's usage (records keep their own ``usage`` where it has no entry);
    ``reviewed_usage`` is what the reviewed plan recorded of its unused_for selections;
    ``owner_tag`` names the tag each decision's ``owner`` is read from.
    """
    best: dict[ResourceRef | tuple[str, int], Decision] = {}
    usable_count: dict[Listed, int] = {}
    records = _priced_listings(job, inventories, specs, prices)
    for listed, read in (usage or {}).items():
        if listed in records:
            records[listed] = _with_usage(listed, records[listed], read)
    for listed in dict.fromkeys((t.connection, t.kind) for t in job.targets):
        connection = listed[0]
        usable = []  # checked once here, not again by every target
        unusable: dict[str, str] = {}
        for record in records[listed]:
            if reason := _unusable(specs[listed], record):
                decision = _decision(listed, record, now, "skip", reason, None)
                # Items without an ID are each their own skip line.
                best[decision.ref if record.id else (connection, id(record))] = decision
                unusable[record.id] = reason
            else:
                usable.append(record)
        by_id = {r.id: r for r in records[listed]}
        same_listing = [t for t in job.targets if (t.connection, t.kind) == listed]
        for index, target in enumerate(job.targets):
            if (target.connection, target.kind) != listed:
                continue
            decisions = _target_decisions(
                index, target, same_listing, usable, by_id, unusable, now, specs[listed].usage
            )
            for decision in decisions:
                current = best.get(decision.ref)
                if current is None or _order(job, decision) < _order(job, current):
                    best[decision.ref] = decision
        for record in usable:  # only ids: targets here: what none of them named
            if ResourceRef.on(connection, record.id, listed[1]) in best:
                continue  # decided by a target (a Decision each would be built for nothing)
            reason = next(filter(None, (_protected(t, record) for t in same_listing)), "")
            decision = _decision(
                listed, record, now, "keep" if reason else "nomatch",
                reason or "not named in ids", None, protected=bool(reason),
            )  # fmt: skip
            best.setdefault(decision.ref, decision)
    for listed, listing in records.items():
        # The base of max_deletions_percent: items that are there. A deleted model the
        # provider still lists (Cohere's STATUS_DELETED) must not dilute it.
        usable_count[listed] = sum(
            1 for r in listing if not _unusable(specs[listed], r) and r.lifecycle != "deleted"
        )
    # Before grace, review and limits, so that they apply to every item it plans. A
    # commitment is the provider's, on the real calendar: a --now past its end must not
    # release it, so it holds while either clock is before its end.
    committed_at = min(now, wall_now or now)
    _apply_dependencies(best, job, records, specs, now, committed_at)
    plan = JobPlan(job, list(best.values()))
    if owner_tag is not None:
        plan.decisions = _owned(plan.decisions, records, owner_tag)
    plan.unread = _unread(job, usage or {}, plan.decisions)
    plan.notes.extend(plan.unread)
    if job.grace is not None:
        _apply_grace(plan, job.grace, marks or {}, wall_now or now)
    if reviewed is not None:
        # After grace: a review covers what goes now. A mark deletes nothing, and a model
        # the rules still select stays marked even when it is not in the reviewed plan.
        used = {ResourceRef.on(c, r.id, k): r.usage for (c, k), rs in records.items() for r in rs}
        _apply_review(plan, reviewed, now, reviewed_usage, used)
    _hold_unaccompanied(plan)
    _apply_limits(plan, usable_count)
    plan.notes.extend(_first_sighting_notes(job, inventories, now))
    plan.notes.extend(_unlisted_served(records, specs))
    return plan


def _owned(
    decisions: Sequence[Decision], records: Mapping[Listed, Sequence[ModelRecord]], tag: str
) -> list[Decision]:
    """The decisions with the owner each item's ``tag`` names (unknown tags: none)."""
    owners = {
        ResourceRef.on(c, r.id, k): r.tags.get(tag)
        for (c, k), listing in records.items()
        for r in listing
        if r.id and isinstance(r.tags, Mapping)
    }
    return [dataclasses.replace(d, owner=owners.get(d.ref)) for d in decisions]


def _with_usage(
    listed: Listed, records: Sequence[ModelRecord], read: Mapping[ResourceRef, Seen] | Unknown
) -> list[ModelRecord]:
    """The records with what the usage read saw of each; an item it did not answer for is
    unknown, never unused."""
    missing = Unknown("the usage read did not answer for it")
    return [
        dataclasses.replace(
            r,
            usage=read if isinstance(read, Unknown)
            else read.get(ResourceRef.on(listed[0], r.id, listed[1]), missing),
        )
        for r in records
    ]  # fmt: skip


def _unread(job: Job, usage: UsageReads, decisions: Sequence[Decision]) -> list[str]:
    """Why the job's unused_for rules could not be judged, per connection and kind: a read
    that failed, or items a read could not vouch for (a window longer than the source
    keeps, an item it did not answer for), each skipped as ``usage unknown``. Either way
    the job is partial: a doubt about use is never a clean run."""
    wanted = dict.fromkeys((t.connection, t.kind) for t in job.targets if t.unused_for is not None)
    notes = {
        listed: f"{listed[0]}: usage unknown: {read.why}; nothing there is selected by unused_for"
        for listed in wanted
        if isinstance(read := usage.get(listed), Unknown)
    }
    doubted: dict[Listed, list[Decision]] = {}
    for d in decisions:
        listed = (d.ref.connection, d.ref.kind)
        if d.action == "skip" and d.reason.startswith(USAGE_UNKNOWN) and listed not in notes:
            doubted.setdefault(listed, []).append(d)
    for listed, skipped in doubted.items():
        count = f"{len(skipped)} item{'s' if len(skipped) > 1 else ''}"
        notes[listed] = f"{listed[0]}: {skipped[0].reason}; {count} kept so"
    return list(notes.values())


def _apply_dependencies(
    best: dict[Any, Decision],
    job: Job,
    records: Mapping[Listed, Sequence[ModelRecord]],
    specs: Mapping[Listed, KindSpec],
    now: datetime,
    committed_at: datetime,
) -> None:
    """What ties kinds together, on the decisions about to be planned (``now``: the rules'
    clock, which ages are told by; ``committed_at``: the clock commitments are judged by):
    a committed item is never deleted; a deployment serving a protected model is kept; a
    model a deployment serves is blocked, or with ``with_deployments`` planned after its
    deployments."""
    chain = _Chain(job, records, specs, committed_at)
    for ref, d in list(best.items()):
        if d.action != "delete":
            continue
        record = chain.record(d.ref)
        if (why := _committed(record, committed_at)) is not None:
            best[ref] = dataclasses.replace(d, action="blocked", reason=why)
        elif (kept := chain.protection((d.ref.connection, d.ref.kind), record)) is not None:
            best[ref] = dataclasses.replace(d, action="keep", reason=kept, protected=True)
    for ref, d in list(best.items()):
        hosts = chain.hosts(d.ref) if d.action == "delete" else []
        if not hosts:
            continue
        target = job.targets[d.target] if d.target is not None else None
        if target is None or not target.with_deployments:
            names = [_named(h) for _, h in hosts]
            shown = ", ".join(names[:3]) + (f" +{len(names) - 3} more" if len(names) > 3 else "")
            best[ref] = dataclasses.replace(
                d, action="blocked", reason=f"served by deployment {shown}"
            )
            continue
        # All of its deployments go, or none of them: a model that stays keeps its hosting.
        held = next(filter(None, (chain.holds(listed, host) for listed, host in hosts)), None)
        if held is not None:
            best[ref] = dataclasses.replace(d, action=held[0], reason=held[1])
            continue
        refs = []
        for listed, host in hosts:
            refs.append(host_ref := ResourceRef.on(listed[0], host.id, listed[1]))
            if (current := best.get(host_ref)) is None or current.action != "delete":
                why = f"hosts {d.ref.id} (with_deployments)"
                best[host_ref] = _decision(listed, host, now, "delete", why, d.target)
        best[ref] = dataclasses.replace(d, after=tuple(refs))


def _named(host: ModelRecord) -> str:
    """A deployment as a reason names it; one listed without a readable ID still blocks
    what it serves (its record says why it has none)."""
    return host.id or "(no readable ID)"


def _committed(record: ModelRecord, now: datetime) -> str | None:
    """'committed until DATE' while a commitment (a Bedrock PT's) holds at ``now``."""
    if record.committed_until is None or record.committed_until <= now:
        return None
    return f"committed until {record.committed_until:%Y-%m-%d}"


class _Chain:
    """The job's listings seen across kinds: who hosts whom, and what is protected."""

    def __init__(
        self,
        job: Job,
        records: Mapping[Listed, Sequence[ModelRecord]],
        specs: Mapping[Listed, KindSpec],
        now: datetime,
    ):
        self.job, self.specs, self.now = job, specs, now
        self.records = records
        # Per listing, its records by ID: built when first asked for (only deletes are),
        # so a plan of 100,000 items that deletes none builds none.
        self._by_id: dict[Listed, dict[str, ModelRecord]] = {}
        self.served_by: dict[tuple[str, str], list[tuple[Listed, ModelRecord]]] = {}
        for listed, listing in records.items():
            if specs[listed].serves_models:
                for host in listing:
                    if host.lifecycle == "deleted":
                        continue  # gone already: it serves nothing
                    for model_id in dict.fromkeys(host.serves):
                        self.served_by.setdefault((listed[0], model_id), []).append((listed, host))
        self.protected_models = {
            (c, r.id)
            for (c, k), rs in records.items()
            if k == DEFAULT_KIND
            for r in rs
            if any(_protected(t, r) for t in job.targets if (t.connection, t.kind) == (c, k))
        }

    def record(self, ref: ResourceRef) -> ModelRecord:
        listed = (ref.connection, ref.kind)
        if listed not in self._by_id:
            self._by_id[listed] = {r.id: r for r in self.records.get(listed, ()) if r.id}
        return self._by_id[listed].get(ref.id) or ModelRecord(id=ref.id)

    def hosts(self, ref: ResourceRef) -> list[tuple[Listed, ModelRecord]]:
        """The listed deployments serving a model (none for another kind)."""
        if ref.kind != DEFAULT_KIND:
            return []
        return self.served_by.get((ref.connection, ref.id), [])

    def protection(self, listed: Listed, host: ModelRecord) -> str | None:
        """Why an item of a hosting kind is protected: named in a protect: of its kind, or
        serving a model that is (None: it is not, or its kind hosts nothing)."""
        if not self.specs[listed].serves_models:
            return None
        same = [t for t in self.job.targets if (t.connection, t.kind) == listed]
        if kept := next(filter(None, (_protected(t, host) for t in same)), None):
            return kept
        if self.specs[listed].tags is not None:  # a kind without tags has none to match
            guards = (
                g for t in self.job.targets if t.connection == listed[0] for g in t.host_guards
            )
            if kept := next(filter(None, (g.protects(host) for g in guards)), None):
                return kept
        for model_id in host.serves:
            if (listed[0], model_id) in self.protected_models:
                return f"serves protected model {model_id}"
        return None

    def holds(self, listed: Listed, host: ModelRecord) -> tuple[Action, str] | None:
        """Why a deployment a model waits for cannot go now, and so neither can the model."""
        name = f"its deployment {_named(host)}"
        if (kept := self.protection(listed, host)) is not None:
            return "keep", f"{name} is protected" + ("" if kept == "protected" else f" ({kept})")
        if (committed := _committed(host, self.now)) is not None:
            return "blocked", f"{name} is {committed}"
        if problem := _unusable(self.specs[listed], host):
            return "blocked", f"{name} cannot be deleted: {problem}"
        if host.lifecycle == "in_progress":
            return "blocked", f"{name} is {host.status} (in progress)"
        return None


def _hold_unaccompanied(plan: JobPlan) -> None:
    """A model due now whose deployment grace or a review holds back is not deleted now
    either (the run would skip it): the plan says so, and its mark, if any, stays."""
    if not any(d.after for d in plan.decisions):
        return  # nothing waits on anything (no with_deployments): no index to build
    actions = {d.ref: d.action for d in plan.decisions}
    for i, d in enumerate(plan.decisions):
        held = [ref for ref in d.after if actions.get(ref) != "delete"]
        if d.action == "delete" and held:
            why = f"its deployment {held[0].id} is not deleted now ({actions.get(held[0])})"
            plan.decisions[i] = dataclasses.replace(d, action="blocked", reason=why)


def _unlisted_served(
    records: Mapping[Listed, Sequence[ModelRecord]], specs: Mapping[Listed, KindSpec]
) -> list[str]:
    """Deployments serving a model the connection's model listing lacks (shared in, gone):
    nothing of ours to block or delete, so they are told, not silently passed over."""
    notes = []
    for (connection, kind), listing in records.items():
        models = records.get((connection, DEFAULT_KIND))
        if models is None or not specs[connection, kind].serves_models:
            continue
        ids = {m.id for m in models}
        for host in listing:
            for served in (s for s in host.serves if s not in ids):
                notes.append(
                    f"{connection}: {kind} {_named(host)} serves {served}, which is not among"
                    f" the {DEFAULT_KIND}s it lists (shared in, or gone)"
                )
    return notes


def _apply_review(
    plan: JobPlan,
    reviewed: Collection[ResourceRef],
    now: datetime,
    recorded: UsageReviewed | None,
    used: Mapping[ResourceRef, Usage | None],
) -> None:
    """Delete only what is in the reviewed plan, still selected now and, when the review
    rested on its use, not used since (``used``: what this run read); report the rest."""
    for i, d in enumerate(plan.decisions):
        if d.action == "delete" and d.ref not in reviewed:
            plan.decisions[i] = dataclasses.replace(
                d, action="keep", reason=f"not in the reviewed plan ({d.reason})"
            )
            plan.drift.append(plan.decisions[i])
    decided = {d.ref: i for i, d in enumerate(plan.decisions)}
    said = _recheck_use(plan, reviewed, decided, recorded, used)
    for ref in sorted(reviewed):
        index = decided.get(ref)
        if index is None:
            gone = ModelRecord(id=ref.id)
            why = "in the reviewed plan, no longer listed"
            plan.decisions.append(
                _decision((ref.connection, ref.kind), gone, now, "absent", why, None)
            )
        elif (current := plan.decisions[index]).action != "delete":
            why = said.get(ref) or f"no longer selected: {current.reason}"
            plan.drift.append(dataclasses.replace(current, reason=f"in the reviewed plan, {why}"))


def _recheck_use(
    plan: JobPlan,
    reviewed: Collection[ResourceRef],
    decided: Mapping[ResourceRef, int],
    recorded: UsageReviewed | None,
    used: Mapping[ResourceRef, Usage | None],
) -> dict[ResourceRef, str]:
    """Never a delete that this run's read says is in use, or cannot vouch for: each such
    reviewed delete is skipped, with the deployments planned only to let it go. Returns
    what to tell of each reviewed item whose use changed."""
    said: dict[ResourceRef, str] = {}
    for ref in reviewed:
        index = decided.get(ref)
        if index is None:
            continue
        d = plan.decisions[index]
        since = _since_review(d, recorded, used.get(ref))
        if isinstance(since, str):
            said[ref] = since
        if d.action != "delete" or since is None:
            continue
        why = USAGE_UNKNOWN + since.why if isinstance(since, Unknown) else since
        said[ref] = why
        plan.decisions[index] = dataclasses.replace(d, action="skip", reason=why)
        for host in d.after:
            h = decided.get(host)
            # Planned by with_deployments for this model (its target), not selected itself.
            if h is not None and (plan.decisions[h].action, plan.decisions[h].target) == (
                "delete",
                d.target,
            ):
                said[host] = f"its model {d.ref.id} is kept: {why}"
                plan.decisions[h] = dataclasses.replace(
                    plan.decisions[h], action="skip", reason=said[host]
                )
        # Unread, the job is partial; a connection whose whole read failed is told already.
        if isinstance(since, Unknown) and not any(
            u.startswith(f"{ref.connection}: ") for u in plan.unread
        ):
            note = f"{ref.connection}: {why}; its reviewed unused_for deletes are kept"
            plan.unread.append(note)
            plan.notes.append(note)
    return said


def _since_review(
    d: Decision, recorded: UsageReviewed | None, fresh: Usage | None
) -> Unknown | str | None:
    """Why a reviewed item whose selection rests on its use may not go now: this run
    cannot read its use (``Unknown``), or saw a use later than the plan saw (or, for a
    plan that recorded none, than the plan's making). None: neither, or not about use."""
    seen = recorded.last_uses.get(d.ref) if recorded is not None else None
    if seen is None and d.usage is None:
        return None
    if not isinstance(fresh, Seen):
        return fresh if isinstance(fresh, Unknown) else Unknown("not read")
    last = fresh.last_used
    if last is None:
        return None
    if seen is not None and recorded is not None:
        # No plan saw a use after it was made: a later last_used (an unsigned plan edited,
        # a clock gone wrong) is held to its making, so it can never hide a use since.
        bar = None if seen.last_used is None else min(seen.last_used, recorded.made)
        if bar is not None and last <= bar:
            return None
    elif recorded is None or last <= recorded.made:
        return None
    saw = f"{seen.last_used:%Y-%m-%d}" if seen is not None and seen.last_used else "no use"
    return f"used since the plan: last used {last:%Y-%m-%d} (the plan saw {saw})"


def _apply_grace(
    plan: JobPlan, grace: timedelta, marks: Mapping[ResourceRef, Mark], wall_now: datetime
) -> None:
    """Selected models are marked first and deleted only once their grace has passed."""
    selected = set()
    for i, d in enumerate(plan.decisions):
        if d.action != "delete":
            continue
        selected.add(d.ref)
        mark = marks.get(d.ref)
        if mark is None:
            after = wall_now + grace
            plan.decisions[i] = dataclasses.replace(
                d, action="mark", deletable_after=after,
                reason=f"{d.reason}; grace {format_age(grace)}: marked now",
            )  # fmt: skip
            continue
        after = deletable_after(mark, grace)
        if after <= wall_now:
            plan.decisions[i] = dataclasses.replace(
                d, deletable_after=after, reason=f"{d.reason}; grace over since {_minute(after)}"
            )
            continue
        reason = f"{d.reason}; marked, deletable after {_minute(after)}"
        if after > mark.deletable_after:
            reason += f" (grace is now {format_age(grace)})"
            plan.postponed.append(dataclasses.replace(mark, deletable_after=after))
        plan.decisions[i] = dataclasses.replace(
            d, action="pending", deletable_after=after, reason=reason
        )
    plan.unmarks = [m for key, m in marks.items() if key not in selected]


def deletable_after(mark: Mark, grace: timedelta) -> datetime:
    """When a marked model may go: the later of the date recorded with its mark and its
    mark time plus the job's grace now. A grace lengthened in the job file protects models
    already marked; one shortened never brings forward a date owners were told."""
    return max(mark.deletable_after, mark.marked_at + grace)


def _minute(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M}Z"


def _counted(decisions: Sequence[Decision]) -> str:
    """'7 models', or '3 deployments and 4 models' when a limit counts several kinds."""
    kinds = Counter(d.ref.kind for d in decisions)
    return " and ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in sorted(kinds.items()))


def _apply_limits(plan: JobPlan, usable_count: Mapping[Listed, int]) -> None:
    """Limits count per connection: a connection over one deletes nothing, the job's
    other connections go on, and ``limit_message`` names each tripped connection (a
    job on one connection reads as it did before fleets)."""
    job = plan.job
    deletes = plan.deletes
    connections = list(dict.fromkeys(t.connection for t in job.targets))
    fleet = len(connections) > 1
    problems: list[str] = []
    tripped: set[str] = set()
    for connection in connections:
        here = [d for d in deletes if d.ref.connection == connection]
        where = f" on {connection}" if fleet else ""
        if len(here) > job.max_deletions:
            tripped.add(connection)
            problems.append(
                f"job {job.name!r} would delete {_counted(here)}{where}, over its"
                f" max_deletions of {job.max_deletions}"
            )
        if job.max_deletions_percent is None:
            continue
        for (listed_on, kind), listed in usable_count.items():
            if listed_on != connection:
                continue
            count = sum(1 for d in here if d.ref.kind == kind)
            if count * 100 > job.max_deletions_percent * listed:
                tripped.add(connection)
                problems.append(
                    f"job {job.name!r} would delete {count} of {listed} {kind}s on {connection},"
                    f" over its max_deletions_percent of {job.max_deletions_percent}%"
                )
    if not problems:
        return
    held = (
        f"nothing deleted on {', '.join(c for c in connections if c in tripped)}, the job's"
        " other connections go on"
        if len(tripped) < len(connections)
        else "nothing deleted"
    )
    plan.limit_message = "; ".join(problems) + f": {held}{LIMIT_TRIPPED}"
    plan.tripped = [c for c in connections if c in tripped]
    plan.decisions = [
        dataclasses.replace(d, action="blocked", reason=f"{LIMITED} ({d.reason})")
        if d.action == "delete" and d.ref.connection in tripped
        else d
        for d in plan.decisions
    ]


def _first_sighting_notes(
    job: Job, inventories: Mapping[Listed, Sequence[ModelRecord]], now: datetime
) -> list[str]:
    notes = []
    for listed in dict.fromkeys((t.connection, t.kind) for t in job.targets if t.needs_ages):
        connection, kind = listed
        fresh = sum(
            1
            for r in inventories[listed]
            if r.created_at is None and r.first_seen is not None and r.first_seen >= now
        )
        if fresh:
            notes.append(
                f"{connection}: {fresh} {kind}s seen for the first time; this provider"
                " reports no creation time, so their age counts from now and age rules"
                " select none of them yet"
            )
    return notes

"""The one execute path: inventory -> decisions -> limits -> (grace) -> deletes, as events.

``plan`` builds a ``PlanSet`` from listers only; ``apply`` is the single gate behind which
anything mutates, and only it builds deleters. ``plan`` (the command) stops after
recording the plan; ``run`` and the scheduler apply it. Everything a run tells the world
(audit, terminal, notifications, metrics) hears it from one stream of events.
"""

import dataclasses
import os
import random
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from runner import events as ev
from runner.audit import AuditSink, head_problem
from runner.clock import Clock, system_clock
from runner.connections import Listed, connections_used, kinds_used, listings_of, open_listers
from runner.cost import PriceOverride, savings
from runner.credentials import resolve_keys, resolve_usage_keys
from runner.deletion import delete_and_settle
from runner.errors import ConfigError, ProviderError, StorageError
from runner.intents import IntentGroups
from runner.inventory import take_inventory
from runner.jobfile.model import Connection, Job, JobFile
from runner.notify import Notifier, resolve_owner_urls, resolve_urls, url_secrets
from runner.providers import REGISTRY
from runner.providers.base import (
    ConnectOptions,
    DeleteOutcome,
    Deleter,
    DeleteResult,
    Lister,
    ModelRecord,
    RetryPolicy,
)
from runner.ratelimit import Limiters
from runner.ref import ResourceRef
from runner.rules import Decision, JobPlan, UsageReviewed, plan_job, priced
from runner.state import Mark, OpenIntent, StateStore
from runner.storage import open_storage
from runner.usage import REGISTRY as USAGE
from runner.usage import Seen, Unknown, UsageUnknown
from runner.waiting import Waits

SECOND_PASS_PAUSE = 2.0  # seconds before transient failures are tried once more


@dataclass
class RunOptions:
    dry_run: bool
    trigger: str = "manual"  # manual | schedule
    now: datetime | None = None  # pins the rules' clock (--now)
    jobs: list[str] | None = None  # None: every job in the file
    confirm: Callable[["PlanSet"], bool] | None = None  # asked before the first delete
    stop: threading.Event = field(default_factory=threading.Event)
    policy: RetryPolicy | None = None  # None: the production default
    environ: Mapping[str, str] | None = None
    clock: Clock = system_clock  # the wall clock: sightings, grace, timestamps
    fire_time: datetime | None = None
    limiters: Limiters = field(default_factory=Limiters)
    notice: Callable[[str], None] | None = None
    sinks: list[ev.Sink] = field(default_factory=list)  # more subscribers (terminal, metrics)
    reviewed: Mapping[str, Collection[ResourceRef]] | None = None  # run --plan
    reviewed_usage: Mapping[str, UsageReviewed] | None = None  # its unused_for selections
    plan_sha256: str | None = None
    second_pass_pause: float = SECOND_PASS_PAUSE
    claim_fire_time: bool = False  # a daemon: each fire time runs once across daemons
    waits: Waits = field(default_factory=Waits)  # accepted deletes: the timer, a deadline


@dataclass
class PlanSet:
    """What a run would do: one plan per job it can run, made from listings only."""

    job_file: JobFile
    now: datetime
    plans: dict[str, JobPlan]
    errors: dict[str, ProviderError] = field(default_factory=dict)  # job -> why no plan
    busy: dict[str, str] = field(default_factory=dict)  # job -> why another process has it


@dataclass
class JobOutcome:
    job: str
    run_id: str
    plan: JobPlan | None
    end: ev.RunEnded | ev.RunSkipped
    failures: list[ev.Outcome] = field(default_factory=list)
    absent: list[ev.ModelRef] = field(default_factory=list)
    storage_error: StorageError | None = None  # the state or audit store failed mid-job
    unrouted: int = 0  # items a by_owner notification had no webhook for

    @property
    def status(self) -> str:
        return self.end.status if isinstance(self.end, ev.RunEnded) else "skipped"


@dataclass
class RunReport:
    planset: PlanSet
    outcomes: list[JobOutcome]
    reconciled: list[ev.Reconciled]
    cancelled: bool = False
    # Set before the first delete request leaves: from then on the exit code is 0 or 1.
    sent: threading.Event = field(default_factory=threading.Event)
    # What failed after deletes were sent (a store, an output file): exit 1, never 2.
    late_failure: str | None = None

    @property
    def now(self) -> datetime:
        return self.planset.now

    @property
    def auth_failed(self) -> bool:
        return any(e.auth for e in self.planset.errors.values())


def select_jobs(job_file: JobFile, names: list[str] | None) -> list[Job]:
    if not names:
        return list(job_file.jobs)
    known = {job.name for job in job_file.jobs}
    unknown = [n for n in dict.fromkeys(names) if n not in known]
    if unknown:
        raise ConfigError(
            f"{job_file.path}: no job named {', '.join(map(repr, unknown))}"
            f" (jobs: {', '.join(sorted(known))})"
        )
    return [job for job in job_file.jobs if job.name in names]


def execute(job_file: JobFile, options: RunOptions) -> RunReport:
    """Plan, and unless this is a dry run, confirm and apply. Every resource is opened
    inside one ExitStack, in order, so a failure at any step closes what came before."""
    jobs = select_jobs(job_file, options.jobs)
    # Keys first: a missing or malformed one stops the run before anything is opened.
    environ = os.environ if options.environ is None else options.environ
    keys = resolve_keys(connections_used(job_file, [j.name for j in jobs]), environ)
    usage_keys = resolve_usage_keys(job_file, jobs, environ)
    secrets = [k for k in (*keys.values(), *usage_keys.values()) if k]
    urls = {} if options.dry_run else resolve_urls(job_file.notify, environ)
    owner_urls = {} if options.dry_run else resolve_owner_urls(job_file.notify, environ)
    every_url = [*urls.values(), *(u for routes in owner_urls.values() for u in routes.values())]
    secrets += [part for url in every_url for part in url_secrets(url)]
    report: RunReport | None = None
    try:
        with ExitStack() as stack:
            state, chain = open_storage(job_file, secrets, options.clock, stack)
            unrouted = _Unrouted()
            fanout = ev.Fanout([AuditSink(chain), *options.sinks, unrouted])
            if every_url:  # a dry run notifies nobody
                notifier = Notifier(job_file.notify, urls, emit=fanout.emit, owner_urls=owner_urls)
                fanout.extend([notifier])
            # The anchor is checked before anything is sent, and moved when we are done.
            if problem := head_problem(chain, state.audit_head(chain.name)):
                raise StorageError(problem)
            stack.callback(lambda: state.set_audit_head(chain.name, *chain.head))
            # Locks first: a plan is only made for a job nobody else is running.
            busy: dict[str, str] = {}
            if not options.dry_run:
                for job in jobs:
                    holder = stack.enter_context(state.job_lock(job.name))
                    if holder is not None:
                        who = f"pid {holder}" if holder else "another process"
                        busy[job.name] = f"already running ({who} holds its lock)"
                    elif (
                        options.claim_fire_time
                        and options.fire_time is not None
                        and not state.claim_fire_time(job.name, options.fire_time)
                    ):
                        busy[job.name] = "this fire time already ran (another daemon ran it)"
            active = [job for job in jobs if job.name not in busy]
            connect = ConnectOptions(
                options.limiters,
                options.policy,
                options.notice,
                usage_keys=usage_keys,
                environ=environ,
            )
            names = [j.name for j in active]
            listers = open_listers(
                connections_used(job_file, names), kinds_used(job_file, names), connect, keys, stack
            )
            reconciled = [] if options.dry_run else _reconcile(state, listers, active, fanout)
            planset = plan(job_file, active, listers, state, options)
            planset.busy = busy
            report = RunReport(planset, [], reconciled)
            confirm = None if options.dry_run else options.confirm
            if confirm and _wants_deletes(planset) and not confirm(planset):
                report.cancelled = True
                return report
            deleters = {} if options.dry_run else _deleters(planset, listers, stack, job_file)
            for job in jobs:
                if job.name in busy:
                    report.outcomes.append(_skip(job, busy[job.name], fanout, options))
                    continue
                outcome = apply(planset, job, deleters, state, fanout, options, report.sent)
                outcome.unrouted = unrouted.by_run.get(outcome.run_id, 0)
                report.outcomes.append(outcome)
                if outcome.storage_error is not None:
                    raise outcome.storage_error  # no later job starts on a broken store
            return report
    except StorageError as exc:
        # Before any delete left, a broken store is like a broken path: exit 2. After,
        # some deletes happened: say so (exit 1), and that the next run settles the rest.
        if report is None or not report.sent.is_set():
            raise
        report.late_failure = (
            f"deletes were sent, then the state or audit store failed: {exc}; no delete was"
            " started after that, and the next run reconciles those whose outcome was not"
            " recorded"
        )
        return report


def plan(
    job_file: JobFile,
    jobs: list[Job],
    listers: Mapping[Listed, Lister],
    state: StateStore,
    options: RunOptions,
) -> PlanSet:
    """Inventory every kind the jobs use on each connection, then decide per job.

    Sends the providers only reads. Its one write is to the state: the first sighting of
    each model at a provider without creation times (ages count from it), in dry runs too.
    """
    wall_now = options.clock()
    now = options.now or wall_now
    inventories: dict[Listed, list[ModelRecord]] = {}
    failures: dict[Listed, ProviderError] = {}
    usage: dict[Listed, Mapping[ResourceRef, Seen] | Unknown] = {}
    names = [j.name for j in jobs]
    windows = _usage_windows(jobs)
    pending: list[Future[_Read]] = []
    # Connections are independent, so up to parallel_connections of them are read at once
    # (a listing mostly waits on the network), each within its own concurrency and rate;
    # outcomes are collected in the job file's order.
    with ThreadPoolExecutor(job_file.parallel_connections, thread_name_prefix="list") as pool:
        for connection, kinds in _each_kind(job_file, names):
            kind_targets = {
                kind: [
                    t
                    for j in jobs
                    for t in j.targets
                    if (t.connection, t.kind) == (connection.name, kind)
                ]
                for kind in kinds
            }
            need_ages = {kind: any(t.needs_ages for t in ts) for kind, ts in kind_targets.items()}
            # Tags cost a read per item at some types: only for a rule that reads them, or
            # for owners a real run's notifications are routed to.
            owners = not options.dry_run and job_file.routes_by_owner
            # A with_deployments target's protect_tags keep the deployments it reaches too.
            guarded = any(
                t.host_guards for j in jobs for t in j.targets if t.connection == connection.name
            )
            hosting = REGISTRY[connection.type].hosting_kinds()
            need_tags = {
                kind: owners or any(t.needs_tags for t in ts) or (guarded and kind in hosting)
                for kind, ts in kind_targets.items()
            }
            # The lister is asked for in the pool: a connection still connecting holds up
            # its own reads only.
            reads = Needs(need_ages, need_tags, windows, job_file.prices)
            pending.append(
                pool.submit(_read_connection, listers, connection, reads, state, wall_now, now)
            )
        for future in pending:
            read = future.result()
            inventories.update(read.inventories)
            failures.update(read.failures)
            usage.update(read.usage)
    specs = {
        key: REGISTRY[job_file.connections[key[0]].type].kinds[key[1]]
        for key in (*inventories, *failures)
    }
    planset = PlanSet(job_file, now, {})
    for job in jobs:
        # A model target fails with its hosting kinds' listing too: never "not served".
        failed: dict[str, ProviderError] = {}
        for t in job.targets:
            for key in listings_of(job_file, t):
                if key in failures:
                    failed.setdefault(t.connection, failures[key])
        # A connection that could not be read is left out, and the job's other
        # connections go on; its marks stay as they are (nothing there was judged).
        # Rejected credentials still stop the job: like missing ones, they are the
        # file's to fix before anything is sent (exit 2).
        usable = tuple(t for t in job.targets if t.connection not in failed)
        if not usable or any(e.auth for e in failed.values()):
            planset.errors[job.name] = min(failed.values(), key=lambda e: not e.auth)
            continue
        marks = state.marks(job.name) if job.grace is not None else None
        if marks is not None and failed:
            marks = {ref: m for ref, m in marks.items() if ref.connection not in failed}
        plan = planset.plans[job.name] = plan_job(
            dataclasses.replace(job, targets=usable) if failed else job,
            inventories,
            specs,
            now,
            marks=marks,
            wall_now=wall_now,
            reviewed=None if options.reviewed is None else options.reviewed.get(job.name, ()),
            prices=job_file.prices,
            usage=usage,
            reviewed_usage=(options.reviewed_usage or {}).get(job.name),
            owner_tag=job_file.owner_tag,
        )
        unread = [
            f"{name}: not read, so nothing there was judged ({e})" for name, e in failed.items()
        ]
        plan.unread[:0] = unread
        plan.notes[:0] = unread
    return planset


@dataclass(frozen=True)
class Needs:
    """What a connection's reads must get, per kind: ages, tags; and per listing an
    unused_for rule reads, how far back its use must be read."""

    ages: Mapping[str, bool]
    tags: Mapping[str, bool]
    windows: Mapping[Listed, timedelta]
    prices: Sequence[PriceOverride]  # the job file's: each listing is priced as it is read


@dataclass
class _Read:
    """What was read of one connection: its listings (or why not) and its usage reads."""

    inventories: dict[Listed, list[ModelRecord]] = field(default_factory=dict)
    failures: dict[Listed, ProviderError] = field(default_factory=dict)
    usage: dict[Listed, Mapping[ResourceRef, Seen] | Unknown] = field(default_factory=dict)


def _usage_windows(jobs: list[Job]) -> dict[Listed, timedelta]:
    """How far back each listing an unused_for rule reads must be read: its longest rule."""
    longest: dict[Listed, timedelta] = {}
    # ``is not None``: unused_for 0d is a rule too (a timedelta of 0 is falsy).
    for target in (t for j in jobs for t in j.targets if t.unused_for is not None):
        key = (target.connection, target.kind)
        longest[key] = max(longest.get(key, target.unused_for), target.unused_for)
    return longest


def _read_connection(
    listers: Mapping[Listed, Lister],
    connection: Connection,
    needs: Needs,
    state: StateStore,
    wall_now: datetime,
    now: datetime,
) -> _Read:
    """One connection's listings (its kinds at once), then each usage read an unused_for
    rule needs there, once, as far back as its longest rule. A read that fails is
    ``Unknown``: the planner keeps everything there, never taking it for "unused". So is
    a window no read can cover: one that ends after the wall clock (--now in the future:
    use still to come cannot be read), or starts before the calendar does."""
    read = _Read()
    keys = [(connection.name, kind) for kind in needs.ages]

    def listing(key: Listed) -> list[ModelRecord]:
        # The lister inside: a connect that failed fails this listing, as a listing does.
        lister = listers[key]
        return take_inventory(
            lister, connection, state, wall_now, needs.ages[key[1]], needs.tags[key[1]]
        )

    with ThreadPoolExecutor(len(keys), thread_name_prefix="kind") as pool:
        listings = {key: pool.submit(listing, key) for key in keys}
    for key, listed in listings.items():
        try:
            spec = REGISTRY[connection.type].kinds[key[1]]
            read.inventories[key] = priced(listed.result(), spec, needs.prices)
        except ProviderError as exc:
            read.failures[key] = exc
    for key in keys:
        name = REGISTRY[connection.type].kinds[key[1]].usage
        if key not in needs.windows or key not in read.inventories or name is None:
            continue  # no rule reads it, not listed (the job has no plan), or refused
        if now > wall_now:
            why = f"the rules' clock ({now:%Y-%m-%d}) is after today: later use cannot be read"
            read.usage[key] = Unknown(f"{name}: {why}")
            continue
        records = read.inventories[key]
        items = [(ResourceRef.on(key[0], r.id, key[1]), r) for r in records if r.id]
        try:
            read.usage[key] = USAGE[name].read(listers[key], items, now - needs.windows[key], now)
        except OverflowError:
            read.usage[key] = Unknown(f"{name}: the window starts before the year 1")
        except (UsageUnknown, ProviderError) as exc:
            read.usage[key] = Unknown(f"{name}: {exc}")
    return read


def _each_kind(job_file: JobFile, jobs: list[str]) -> list[tuple[Connection, list[str]]]:
    kinds = kinds_used(job_file, jobs)
    return [(c, kinds[c.name]) for c in connections_used(job_file, jobs)]


def _wants_deletes(planset: PlanSet) -> bool:
    return any(p.deletes for p in planset.plans.values())


def _deleters(
    planset: PlanSet, listers: Mapping[Listed, Lister], stack: ExitStack, job_file: JobFile
) -> dict[Listed, Deleter]:
    """The only place deleters are built: after the plan, for a real run, one for each
    (connection, kind) with something to delete, from that kind's own lister."""
    keys = {(d.ref.connection, d.ref.kind) for p in planset.plans.values() for d in p.deletes}
    out = {}
    for key in sorted(keys):
        name, kind = key
        spec = REGISTRY[job_file.connections[name].type].kinds[kind]
        out[key] = spec.deleter(listers[key])
        closer = getattr(out[key], "close", None)
        if closer is not None:
            stack.callback(closer)
    return out


def _reconcile(
    state: StateStore,
    listers: Mapping[Listed, Lister],
    jobs: list[Job],
    fanout: ev.Fanout,
) -> list[ev.Reconciled]:
    """Intents left without an outcome (a crash): look, and record what is true now.

    Only our own jobs' intents: holding a job's lock proves no live run owns them."""
    done = []
    for intent in state.open_intents([j.name for j in jobs]):
        ref = intent.ref
        # Each kind is looked up among its own kind's items (another kind's listing would
        # not show it, and absent there it would read as deleted); a kind this run does not
        # list is settled by a later run.
        lister = listers.get((ref.connection, ref.kind))
        if lister is None:
            continue
        try:
            present = lister.exists(ref.id)
        except (ProviderError, ValueError):
            continue
        event = ev.Reconciled(
            intent.job, ref, intent.run_id, intent.seq, "present" if present else "deleted"
        )
        fanout.emit(event)
        state.intent_closed(intent.run_id, ref)
        done.append(event)
    return done


class _Unrouted:
    """A run-event subscriber: how many items each run's ``by_owner`` notifications told
    no one about (the Notifier says so once the run has ended), for its summary."""

    def __init__(self) -> None:
        self.by_run: dict[str, int] = {}

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.Unrouted):
            self.by_run[event.run_id] = self.by_run.get(event.run_id, 0) + event.count


def _skip(job: Job, why: str, fanout: ev.Fanout, options: RunOptions) -> JobOutcome:
    event = ev.RunSkipped(job.name, options.trigger, why, options.fire_time)
    fanout.emit(event)
    return JobOutcome(job.name, "", None, event)


def _ref(d: Decision) -> ev.ModelRef:
    return ev.ModelRef(d.ref, d.name, d.reason, d.owner, d.monthly_cost)


def apply(
    planset: PlanSet,
    job: Job,
    deleters: Mapping[Listed, Deleter],
    state: StateStore,
    fanout: ev.Fanout,
    options: RunOptions,
    sent: threading.Event,
) -> JobOutcome:
    """Record the job's plan and, in a real run, carry it out. The one gate is here.

    A state or audit failure after the job started ends it ``aborted`` with the error in
    ``storage_error``: no delete starts after it, and those in flight are recorded as far
    as the stores allow. ``sent`` is set before the first delete request leaves."""
    run_id = uuid.uuid4().hex
    started = options.clock()
    state.run_started(
        run_id, job.name, options.trigger, options.dry_run, started, options.fire_time
    )
    fanout.emit(
        ev.RunStarted(
            job.name,
            run_id,
            options.dry_run,
            options.trigger,
            str(planset.job_file.path),
            planset.job_file.sha256,
            planset.now,
            options.fire_time,
            options.plan_sha256,
        )
    )
    concurrency = {n: c.concurrency for n, c in planset.job_file.connections.items()}
    run = _JobRun(
        job, run_id, planset.plans.get(job.name), fanout, options, started, concurrency, sent,
        planset.job_file.parallel_connections,
    )  # fmt: skip
    with run.recording():
        error = planset.errors.get(job.name)
        plan = run.plan
        if plan is None or error is not None:
            if job.grace is not None:  # every mark stays: all of them are still pending
                run.counts.pending = len(state.marks(job.name))
            return run.end(state, "aborted", str(error))
        run.announce(plan)
        limited = plan.limit_message
        if limited:
            fanout.emit(ev.LimitTripped(job.name, run_id, limited))
            if set(plan.tripped) >= {t.connection for t in plan.job.targets}:
                return run.end(state, "aborted", limited)
            # Only some connections are held: the others go on, and the job ends aborted.
        unread = "; ".join(plan.unread) or None  # a job that could not judge all is partial
        if options.dry_run:
            status = "aborted" if limited else "partial" if unread else "ok"
            return run.end(state, status, "; ".join(filter(None, (limited, unread))) or None)
        run.grace(plan, state)
        job_file = planset.job_file
        run.delete_all(plan, deleters, state, _hosting(job_file), _accepts_later(job_file))
    if run.broken is not None:
        return run.end(
            state,
            "aborted",
            f"stopped: the state or audit store failed ({run.broken}); no delete was started"
            " after that, and the next run reconciles the deletes in flight",
        )
    interrupted = options.stop.is_set() and run.counts.skipped + run.counts.waiting > 0
    status = (
        "aborted" if interrupted or limited else "partial" if run.counts.failed or unread else "ok"
    )
    message = "interrupted: no new deletes were started" if interrupted else unread
    if limited:
        message = "; ".join(filter(None, (limited, message)))
    if message and run.counts.waiting:
        message += (
            f"; {run.counts.waiting} accepted delete(s) not yet proven gone, which the next"
            " run reconciles"
        )
    return run.end(state, status, message)


class _JobRun:
    def __init__(
        self,
        job: Job,
        run_id: str,
        plan: JobPlan | None,
        fanout: ev.Fanout,
        options: RunOptions,
        started: datetime,
        concurrency: Mapping[str, int],
        sent: threading.Event,
        parallel: int,
    ):
        self.job, self.run_id, self.plan = job, run_id, plan
        self.fanout, self.options, self.started = fanout, options, started
        self.concurrency = concurrency
        self.parallel = parallel  # connections deleted on at once
        self.sent = sent
        self.counts = ev.Counts()
        self.saved: list[Decimal | None] = []  # the monthly cost of each delete made
        self.results: dict[ResourceRef, DeleteOutcome] = {}  # each final delete outcome
        # The kinds whose deletes may be carried out later, and within how long.
        self.accepts_later: Mapping[Listed, timedelta] = {}
        self.outcome = JobOutcome(
            job.name, run_id, plan, ev.RunEnded(job.name, run_id, False, "", self.counts)
        )
        self._lock = threading.Lock()
        # Set by the first storage failure; every worker looks at it before sending.
        self.halt = threading.Event()
        self.broken: StorageError | None = None

    def broke(self, error: StorageError) -> None:
        """A state or audit write failed: no delete starts from now on."""
        with self._lock:
            self.broken = self.broken or error
        self.halt.set()

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Around a state or audit write: its failure stops the job's deletes, and the
        job goes on only to finish and record what is already in flight."""
        try:
            yield
        except StorageError as exc:
            self.broke(exc)

    def _stopping(self) -> bool:
        return self.options.stop.is_set() or self.halt.is_set()

    def announce(self, plan: JobPlan) -> None:
        """Told together, in the plan's order: thousands of planned deletes are one audit
        append, not one each."""
        name, run_id = self.job.name, self.run_id
        told: list[ev.Event] = []
        for d in plan.decisions:
            if d.action == "delete":
                self.counts.planned += 1
                if self.options.dry_run:  # what a dry run would save: its planned deletes
                    self.saved.append(d.monthly_cost)
                told.append(ev.Planned(name, run_id, _ref(d), d.usage))
            elif d.action == "absent":
                self.counts.already_absent += 1
                self.outcome.absent.append(_ref(d))
                told.append(ev.Absent(name, run_id, _ref(d)))
            elif d.action == "skip":
                self.counts.skipped += 1
            if d.action not in ("delete", "mark") and _holds_mark(d):
                self.counts.pending += 1  # in grace, or due and held (a limit, a review)
        self.fanout.emit_many(told)

    def grace(self, plan: JobPlan, state: StateStore) -> None:
        """Marks and unmarks: a real run's only writes besides deletes."""
        now = self.options.clock()
        for d, after in plan.marks():
            state.mark(self.job.name, Mark(d.ref, now, after))
            self.counts.marked += 1
            self.counts.pending += 1
            self.fanout.emit(ev.Marked(self.job.name, self.run_id, _ref(d), after))
        decided = {d.ref: d for d in plan.decisions}
        for mark in plan.postponed:
            # The same mark with the later date its longer grace gives: recorded and told
            # like a mark, so that date is the one every later run keeps to.
            state.mark(self.job.name, mark)
            self.counts.marked += 1
            ref = _ref(decided[mark.ref])
            self.fanout.emit(ev.Marked(self.job.name, self.run_id, ref, mark.deletable_after))
        for mark in plan.unmarks:
            state.unmark(self.job.name, mark.ref)
            ref = ev.ModelRef(mark.ref, None, "no longer selected")
            self.fanout.emit(ev.Unmarked(self.job.name, self.run_id, ref))

    def delete_all(
        self,
        plan: JobPlan,
        deleters: Mapping[Listed, Deleter],
        state: StateStore,
        hosting: Collection[Listed],
        accepts_later: Mapping[Listed, timedelta],
    ) -> None:
        """In two stages: the items of ``hosting`` kinds (deployments) first, then the
        rest, each sent only once everything it waits for (``after``) is gone.
        ``accepts_later``: the kinds whose deletes may be carried out later."""
        self.accepts_later = accepts_later
        stages: tuple[list[Decision], list[Decision]] = ([], [])
        for d in plan.deletes:
            stages[(d.ref.connection, d.ref.kind) not in hosting].append(d)
        intents = IntentGroups(state, self.fanout)
        for stage in stages:
            self._stage([d for d in stage if self._ready(d)], deleters, state, intents)

    def _ready(self, d: Decision) -> bool:
        """Whether what ``d`` waits for is gone; if not, it is skipped, and told why."""
        gone = ("deleted", "already_absent")
        missing = [ref for ref in d.after if self.results.get(ref) not in gone]
        if not missing:
            return True
        with self._lock:
            self.counts.skipped += 1
            self.counts.pending += _holds_mark(d)
        why = f"its deployment {missing[0].id} was not deleted"
        with self.recording():
            self.fanout.emit(ev.Held(self.job.name, self.run_id, ev.ModelRef(d.ref, d.name, why)))
        return False

    def _stage(
        self,
        decisions: list[Decision],
        deleters: Mapping[Listed, Deleter],
        state: StateStore,
        intents: IntentGroups,
    ) -> None:
        retry = self._pass(decisions, deleters, state, intents, final=False)
        if (
            retry
            and not self.halt.is_set()
            and not self.options.stop.wait(
                self.options.second_pass_pause * random.uniform(0.5, 1.0)
            )
        ):
            self._pass(list(retry), deleters, state, intents, final=True)
        else:  # stopping: the first failures are final
            for d, event in retry.items():
                self._count_final(d, event)

    def _pass(
        self,
        decisions: list[Decision],
        deleters: Mapping[Listed, Deleter],
        state: StateStore,
        intents: IntentGroups,
        *,
        final: bool,
    ) -> dict[Decision, ev.Outcome]:
        """Deletes on per-connection pools bounded by each connection's concurrency, on
        at most ``parallel`` connections at once (the next starts when one is done);
        returns the transient failures held back for a second pass."""
        queued: dict[str, list[Decision]] = {}
        for d in decisions:
            queued.setdefault(d.ref.connection, []).append(d)
        waiting = sorted(queued)
        pools: dict[str, ThreadPoolExecutor] = {}
        left: dict[str, int] = {}
        running: dict[Future[ev.Outcome | ev.Waiting | None], Decision] = {}

        def start(name: str) -> None:
            pool = pools[name] = ThreadPoolExecutor(self.concurrency[name])
            left[name] = len(queued[name])
            for d in queued[name]:
                deleter = deleters[d.ref.connection, d.ref.kind]
                running[pool.submit(self._delete_one, d, deleter, intents)] = d

        held: dict[Decision, ev.Outcome] = {}
        try:
            while waiting and len(pools) < self.parallel:
                start(waiting.pop(0))
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:  # recorded as each one settles
                    d = running.pop(future)
                    self._record(d, future.result(), state, intents, held, final=final)
                    left[d.ref.connection] -= 1
                    if not left[d.ref.connection]:
                        pools.pop(d.ref.connection).shutdown()
                        if waiting:
                            start(waiting.pop(0))
        finally:
            for pool in pools.values():
                pool.shutdown(wait=True)
        return held

    def _record(
        self,
        d: Decision,
        event: ev.Outcome | ev.Waiting | None,
        state: StateStore,
        intents: IntentGroups,
        held: dict[Decision, ev.Outcome],
        *,
        final: bool,
    ) -> None:
        """One delete's result, counted and told (a transient failure is held in ``held``
        for the second pass)."""
        with self.recording():  # a failure: the others in flight still finish
            if event is None:
                with self._lock:
                    self.counts.skipped += 1
                    self.counts.pending += _holds_mark(d)
            elif isinstance(event, ev.Waiting):
                # Stopped while waiting: no outcome yet, and its intent stays open.
                with self._lock:
                    self.counts.waiting += 1
                    self.counts.pending += _holds_mark(d)
            elif (
                event.result == "failed"
                and event.transient
                and not final
                and not self.halt.is_set()
            ):
                # Recorded as it happened, then tried once more after the others.
                held[d] = event
                self.fanout.emit(dataclasses.replace(event, will_retry=True))
                intents.close(self.run_id, d.ref)
            else:
                self._settle(d, event, state, intents)

    def _delete_one(
        self, d: Decision, deleter: Deleter, intents: IntentGroups
    ) -> ev.Outcome | ev.Waiting | None:
        """One delete, never without a durable intent: the state's (a crash after it is
        reconciled from the state index) and the audit's, written with the intents of the
        deletes starting with it (runner.intents). ``None``: not sent; ``Waiting``:
        accepted, and the run stopped before a lookup proved it gone."""
        if self._stopping():
            return None  # stopping: nothing new starts
        ref = _ref(d)
        with self.recording():
            intent = OpenIntent(self.job.name, d.ref, self.run_id, 0)
            intents.open(intent, ev.Intent(self.job.name, self.run_id, ref))
        if self.halt.is_set():
            # This intent failed, or another worker's store did meanwhile: not sent (an
            # intent that was written is settled by the next run's lookup). A signal that
            # came meanwhile does not hold it back: its intent is written, so it is in flight.
            return None
        self.sent.set()
        result = delete_and_settle(
            deleter,
            d.ref.id,
            stop=self.options.stop,
            waits=self.options.waits,
            on_accepted=lambda accepted: self._waiting(ref, accepted),
            accepts_later=self.accepts_later.get((d.ref.connection, d.ref.kind)),
        )
        if result.accepted is not None:
            return self._waiting_event(ref, result)
        return ev.Outcome(
            self.job.name,
            self.run_id,
            ref,
            result.result,
            result.http_status,
            result.attempts,
            result.error,
            result.transient,
            monthly_cost=d.monthly_cost,
        )

    def _waiting_event(self, ref: ev.ModelRef, accepted: DeleteResult) -> ev.Waiting:
        within = self.options.waits.deadline(accepted)
        return ev.Waiting(self.job.name, self.run_id, ref, accepted.http_status, within)

    def _waiting(self, ref: ev.ModelRef, accepted: DeleteResult) -> None:
        """Told before the wait starts, so the audit shows the item waiting, not deleted."""
        with self.recording():
            self.fanout.emit(self._waiting_event(ref, accepted))

    def _settle(
        self, d: Decision, event: ev.Outcome, state: StateStore, intents: IntentGroups
    ) -> None:
        """Counted first (it happened), then told, then the state's records closed (the
        intent with the next group)."""
        self._count_final(d, event)
        self.fanout.emit_all(event)
        intents.close(self.run_id, d.ref)
        if self.job.grace is not None and event.result != "failed":
            state.unmark(self.job.name, d.ref)

    def _count_final(self, d: Decision, event: ev.Outcome) -> None:
        with self._lock:
            self.counts.settled(event.result)
            self.results[d.ref] = event.result
            if event.result == "deleted":
                self.saved.append(d.monthly_cost)
            if event.result == "failed":
                self.outcome.failures.append(event)
                self.counts.pending += _holds_mark(d)  # its mark stays for the next run

    def end(self, state: StateStore, status: str, message: str | None) -> JobOutcome:
        """Told to every subscriber and recorded; a store failing here is kept in the
        outcome (``storage_error``), not raised, so what the job did is still reported."""
        ended = self.options.clock()
        event = ev.RunEnded(
            self.job.name,
            self.run_id,
            self.options.dry_run,
            status,
            self.counts,
            message,
            self.started,
            ended,
            savings(self.saved),
        )
        self.outcome.end = event
        # Deletes on several connections settle interleaved; the summary lists them per
        # connection, in the job's order (each connection's in the order they settled).
        order = {
            name: i for i, name in enumerate(dict.fromkeys(t.connection for t in self.job.targets))
        }
        self.outcome.failures.sort(key=lambda f: order.get(f.model.ref.connection, len(order)))
        with self.recording():
            self.fanout.emit_all(event)
        with self.recording():
            state.run_ended(self.run_id, status, ended)
        self.outcome.storage_error = self.broken
        return self.outcome


def _hosting(job_file: JobFile) -> set[Listed]:
    """The (connection, kind) pairs whose items host models: they are deleted first."""
    return {
        (name, kind)
        for name, connection in job_file.connections.items()
        for kind in REGISTRY[connection.type].hosting_kinds()
    }


def _accepts_later(job_file: JobFile) -> dict[Listed, timedelta]:
    """The (connection, kind) pairs whose deletes may be accepted to carry out later, with
    each kind's deadline (a lost answer to one is never sent again: runner.deletion)."""
    return {
        (name, kind): spec.delete_answer.accepted.within
        for name, connection in job_file.connections.items()
        for kind, spec in REGISTRY[connection.type].kinds.items()
        if spec.delete_answer.accepted is not None
    }


def _holds_mark(d: Decision) -> bool:
    """A model its grace mark still holds: marked (now or before) and not deleted yet."""
    return d.deletable_after is not None

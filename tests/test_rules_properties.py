"""Property tests of the pure rules (runner.rules.plan_job): random inventories in
Cohere's vocabulary against random targets, checked against invariants and against an
oracle written independently of the rules module. The example counts are printed at the
end of the session (tests/conftest.py's terminal summary)."""

from collections import Counter
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runner.engine import RunOptions, execute
from runner.jobfile.model import Job, Target
from runner.jobfile.validate import load_job_file
from runner.providers.base import ModelRecord, unsafe_id_reason
from runner.providers.cohere import MODEL as COHERE
from runner.rules import Decision, JobPlan, plan_job
from runner.simulator import Accounts, Simulator, cohere_model
from tests.conftest import COHERE_KEY, FAST, PROPERTY_TALLY

NOW = datetime(2026, 6, 1, tzinfo=UTC)
CONN = "cohere"
SPECS = {(CONN, "model"): COHERE}
SAFE_IDS = [f"m-{i:02d}" for i in range(30)]
UNSAFE_IDS = ["has space", "a/b", "x..y"]  # listed by a hostile provider: never deletable
NAMES = ["exp-a", "exp-b", "exp-old", "prod-chat", "support-v1", "", None]
PATTERNS = ["exp-*", "*", "prod-*", "*-v1", "exp-?", "[ep]*"]
STATUSES = [*COHERE.statuses, "STATUS_SOMETHING_NEW", None]
REMOVING = ("delete", "blocked", "mark", "pending")  # anything on the way to deletion
EXAMPLES = 400
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def inventories(draw: st.DrawFn) -> list[ModelRecord]:
    ids = draw(st.lists(st.sampled_from(SAFE_IDS + UNSAFE_IDS), max_size=20, unique=True))
    records = []
    for model_id in ids:
        # Half ready (the deletable kind), half anything Cohere (or a future API) says.
        status = draw(st.just("STATUS_READY") | st.sampled_from(STATUSES))
        days = draw(st.none() | st.integers(0, 90))  # few distinct ages: ties are common
        records.append(
            ModelRecord(
                id=model_id,
                name=draw(st.sampled_from(NAMES)),
                status=status,
                lifecycle=COHERE.lifecycle(status),
                created_at=None if days is None else NOW - timedelta(days=days, hours=1),
                problem=draw(st.sampled_from([None] * 9 + ["unreadable created_at 'x'"])),
            )
        )
    return records


@st.composite
def targets(draw: st.DrawFn) -> Target:
    protect = tuple(
        draw(st.lists(st.sampled_from(SAFE_IDS + [n for n in NAMES if n]), max_size=3, unique=True))
    )
    if draw(st.booleans()) and draw(st.booleans()):  # a quarter of targets name IDs
        named = draw(st.lists(st.sampled_from([*SAFE_IDS, "gone-1", "gone-2"]), min_size=1, max_size=6, unique=True))  # fmt: skip
        return Target(CONN, ids=tuple(named), protect=protect)
    older = draw(st.none() | st.integers(0, 60))
    status = tuple(draw(st.lists(st.sampled_from(COHERE.statuses), max_size=3, unique=True)))
    name = draw(st.none() | st.sampled_from(PATTERNS))
    match_all = draw(st.booleans())
    if older is None and not status and name is None:
        match_all = True  # a target needs a rule or match_all
    return Target(
        CONN,
        older_than=None if older is None else timedelta(days=older),
        older_than_text=None if older is None else f"{older}d",
        status=status,
        name=name,
        keep_latest=draw(st.none() | st.integers(1, 4)),
        protect=protect,
        match_all=match_all,
    )


@st.composite
def jobs(draw: st.DrawFn) -> Job:
    return Job(
        "j",
        tuple(draw(st.lists(targets(), min_size=1, max_size=3))),
        max_deletions=draw(st.integers(0, 12)),
        max_deletions_percent=draw(st.none() | st.integers(1, 100)),
    )


def usable(record: ModelRecord) -> bool:
    return (
        record.problem is None
        and unsafe_id_reason(record.id) is None
        and record.lifecycle != "unknown"  # a status word Cohere's list lacks
    )


def protected(job: Job, record: ModelRecord) -> bool:
    return any(
        record.id in t.protect or (record.name is not None and record.name in t.protect)
        for t in job.targets
    )


def matches(target: Target, record: ModelRecord) -> bool:
    """The oracle: what a rules target selects, from the README's words."""
    if not usable(record) or record.lifecycle == "deleted":
        return False
    if target.status and record.status not in target.status:
        return False
    if not target.status and record.lifecycle == "in_progress":
        return False
    if target.name is not None and not fnmatchcase(record.name or "", target.name):
        return False
    if target.older_than is None:
        return True
    return record.created_at is not None and NOW - record.created_at > target.older_than


def newest_first(records: list[ModelRecord]) -> list[ModelRecord]:
    return sorted(
        records,
        key=lambda r: (NOW - r.created_at if r.created_at else timedelta.max, r.id),
    )


def plan(job: Job, records: list[ModelRecord]) -> JobPlan:
    return plan_job(job, {(CONN, "model"): records}, SPECS, NOW)


def unlimited(job: Job) -> Job:
    return Job(job.name, job.targets, max_deletions=10**9)


def by_id(plan: JobPlan) -> dict[str, Decision]:
    return {d.ref.id: d for d in plan.decisions}


@PROPERTY
@given(job=jobs(), records=inventories())
def test_every_model_gets_exactly_one_decision(job: Job, records: list[ModelRecord]) -> None:
    decisions = plan(job, records).decisions
    listed = Counter(r.id for r in records)
    decided = Counter(d.ref.id for d in decisions)
    for model_id in listed:
        assert decided[model_id] == 1, model_id
    named = {i for t in job.targets for i in t.ids}
    for d in decisions:
        if d.ref.id not in listed:
            assert d.ref.id in named and d.action == "absent", d
    PROPERTY_TALLY["rules: one decision each"] += 1
    PROPERTY_TALLY["rules: decisions checked"] += len(decisions)


@PROPERTY
@given(job=jobs(), records=inventories())
def test_a_protected_model_is_never_deleted(job: Job, records: list[ModelRecord]) -> None:
    decisions = by_id(plan(job, records))
    for record in records:
        if protected(job, record):
            assert decisions[record.id].action not in REMOVING, decisions[record.id]
            PROPERTY_TALLY["rules: protected models seen"] += 1
    PROPERTY_TALLY["rules: protected never deleted"] += 1


@PROPERTY
@given(job=jobs(), records=inventories())
def test_deletes_stay_within_the_limits_or_none_happen(
    job: Job, records: list[ModelRecord]
) -> None:
    limited = plan(job, records)
    would = {d.ref.id for d in plan(unlimited(job), records).deletes}
    listed = sum(1 for r in records if usable(r))
    over = len(would) > job.max_deletions or (
        job.max_deletions_percent is not None and len(would) * 100 > job.max_deletions_percent * listed
    )  # fmt: skip
    assert len(limited.deletes) <= job.max_deletions
    if over:
        assert limited.deletes == [] and limited.limit_message is not None
        assert {d.ref.id for d in limited.having("blocked")} == would
        assert limited.limit_message.endswith(
            "nothing deleted (raise the limit or narrow the rules)"
        )
        PROPERTY_TALLY["rules: limit tripped"] += 1
    else:
        assert {d.ref.id for d in limited.deletes} == would
        assert limited.limit_message is None and limited.having("blocked") == []
    PROPERTY_TALLY["rules: within limits"] += 1


@PROPERTY
@given(job=jobs(), records=inventories())
def test_keep_latest_keeps_the_newest_matches_of_each_target(
    job: Job, records: list[ModelRecord]
) -> None:
    decisions = by_id(plan(unlimited(job), records))
    for index, target in enumerate(job.targets):
        if not target.keep_latest or target.ids:
            continue
        candidates = [r for r in records if matches(target, r) and not protected(job, r)]
        for record in newest_first(candidates)[: target.keep_latest]:
            d = decisions[record.id]
            # Another target may still select it (targets are ORed); this one never does.
            assert not (d.action == "delete" and d.target == index), d
            PROPERTY_TALLY["rules: newest kept"] += 1
    PROPERTY_TALLY["rules: keep_latest"] += 1


@PROPERTY
@given(target=targets(), records=inventories())
def test_a_single_target_selects_exactly_what_the_oracle_does(
    target: Target, records: list[ModelRecord]
) -> None:
    job = Job("j", (target,), max_deletions=10**9)
    deletes = {d.ref.id for d in plan(job, records).deletes}
    if target.ids:
        listed = {r.id: r for r in records}
        expected = {
            i
            for i in target.ids
            if i in listed
            and usable(listed[i])
            and listed[i].lifecycle != "deleted"
            and not protected(job, listed[i])
        }
    else:
        candidates = [r for r in records if matches(target, r) and not protected(job, r)]
        expected = {r.id for r in newest_first(candidates)[target.keep_latest or 0 :]}
    assert deletes == expected
    PROPERTY_TALLY["rules: oracle agreed"] += 1
    PROPERTY_TALLY["rules: oracle deletes"] += len(deletes)


@PROPERTY
@given(job=jobs(), records=inventories())
def test_in_progress_and_deleted_are_never_selected_without_a_status_rule(
    job: Job, records: list[ModelRecord]
) -> None:
    decisions = by_id(plan(unlimited(job), records))
    named = {i for t in job.targets for i in t.ids}
    for record in records:
        d = decisions[record.id]
        if record.lifecycle == "deleted":
            assert d.action not in REMOVING, d  # not even by ID
        elif record.lifecycle == "in_progress" and record.id not in named:
            chosen = any(record.status in t.status for t in job.targets)
            assert d.action not in REMOVING or chosen, d
        else:
            continue
        PROPERTY_TALLY["rules: in-progress or deleted seen"] += 1
    PROPERTY_TALLY["rules: lifecycle"] += 1


# -- a dry run sends nothing, whatever the job ----------------------------------------------


@pytest.fixture(scope="module")
def account() -> Any:
    accounts = Accounts()
    for i, model_id in enumerate(SAFE_IDS):
        status = STATUSES[i % len(COHERE.statuses)] or "STATUS_READY"
        name = NAMES[i % 5]
        accounts.add_cohere(
            cohere_model(model_id, str(name), str(status), NOW - timedelta(days=i * 3))
        )
    with Simulator(accounts, cohere_key=COHERE_KEY) as sim:
        yield sim


def job_yaml(url: str, job: Job) -> str:
    def target(t: Target) -> dict[str, Any]:
        out: dict[str, Any] = {"provider": CONN}
        if t.ids:
            out["ids"] = list(t.ids)
        if t.older_than_text:
            out["older_than"] = t.older_than_text
        if t.status:
            out["status"] = list(t.status)
        if t.name is not None:
            out["name"] = t.name
        if t.keep_latest:
            out["keep_latest"] = t.keep_latest
        if t.match_all:
            out["match_all"] = True
        if t.protect:
            out["protect"] = list(t.protect)
        return out

    data: dict[str, Any] = {
        "version": 1,
        "providers": {CONN: {"base_url": url, "requests_per_minute": 600000}},
        "jobs": [
            {
                "name": job.name,
                "max_deletions": job.max_deletions,
                "targets": [target(t) for t in job.targets],
            }
        ],
    }
    return yaml.safe_dump(data)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(job=jobs())
def test_a_dry_run_sends_nothing_mutating(job: Job, account: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(job_yaml(account.url, job))
    report = execute(
        load_job_file(str(path)),
        RunOptions(dry_run=True, now=NOW, environ={"COHERE_API_KEY": COHERE_KEY}, policy=FAST),
    )
    assert report.outcomes and account.mutations() == [] and account.deleted == []
    PROPERTY_TALLY["rules: dry runs sent nothing"] += 1
    PROPERTY_TALLY["rules: dry-run planned deletes"] += sum(
        len(o.plan.deletes) for o in report.outcomes if o.plan is not None
    )

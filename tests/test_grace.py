"""Grace periods through the real engine against the simulator.

Grace runs on the wall clock, whatever ``--now`` says: every run here gets an injected wall
clock (``RunOptions.clock``) and a pinned rules' clock (``RunOptions.now``), so no test
sleeps and none depends on today's date. The wall clock is deliberately years away from
``--now``, so a mix-up of the two shows.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner import planfile
from runner.audit import read_records, verify
from runner.cli import exit_code, main
from runner.clock import rfc3339
from runner.engine import RunOptions, RunReport, execute
from runner.events import RunEnded
from runner.jobfile.validate import load_job_file
from runner.ref import ResourceRef
from runner.report import render_outcome, render_plan, report_json
from runner.simulator import Accounts, Simulator, cohere_model
from runner.state import Mark
from runner.state.open import open_state
from tests import helpers
from tests.conftest import COHERE_KEY, FAST
from tests.helpers import TEST_PACE, job_yaml, one_job

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # the rules' clock (--now)
WALL = datetime(2031, 3, 14, 9, 26, 53, tzinfo=UTC)  # the injected wall clock, run 1
GRACE = timedelta(days=7)
KEYS = {"COHERE_API_KEY": COHERE_KEY}
SELECTED = {"m-old-1", "m-old-2", "m-old-3", "m-old-4"}


class FakeClock:
    """A wall clock that moves only when a test moves it."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def accounts() -> Accounts:
    acc = Accounts()
    for i in range(1, 5):  # selected: exp-*, 90 days old by --now
        acc.add_cohere(
            cohere_model(f"m-old-{i}", f"exp-{i}", "STATUS_READY", NOW - timedelta(days=90))
        )
    acc.add_cohere(cohere_model("m-young", "exp-young", "STATUS_READY", NOW - timedelta(days=2)))
    acc.add_cohere(cohere_model("m-prod", "prod-chat", "STATUS_READY", NOW - timedelta(days=400)))
    acc.sort()
    return acc


@pytest.fixture
def gsim() -> Any:
    with Simulator(accounts(), cohere_key=COHERE_KEY) as server:
        yield server


def write_job(
    tmp_path: Path, sim: Simulator, *, rule: str = "older_than: 30d", limit: int = 50
) -> str:
    cohere = {"base_url": sim.url, "concurrency": 4, "requests_per_minute": TEST_PACE}
    job = one_job(
        "graceful",
        [f'{{provider: cohere, name: "exp-*", {rule}}}'],
        grace="7d",
        max_deletions=limit,
    )
    return helpers.write_job(tmp_path, job_yaml({"cohere": cohere}, job))


def run(job: str, wall: datetime, *, dry_run: bool = False, now: datetime = NOW) -> RunReport:
    return execute(
        load_job_file(job),
        RunOptions(dry_run=dry_run, clock=FakeClock(wall), now=now, environ=KEYS, policy=FAST),
    )


def records(tmp_path: Path) -> list[dict[str, Any]]:
    return list(read_records(tmp_path / "audit" / "ftjanitor.jsonl"))


def of_run(tmp_path: Path, report: RunReport, event: str) -> list[dict[str, Any]]:
    run_id = report.outcomes[0].run_id
    return [r for r in records(tmp_path) if r["run_id"] == run_id and r["event"] == event]


def marks(job: str) -> dict[str, Mark]:
    state = open_state(load_job_file(job).state)
    try:
        return {ref.id: m for ref, m in state.marks("graceful").items()}
    finally:
        state.close()


def end(report: RunReport) -> RunEnded:
    (outcome,) = report.outcomes
    assert isinstance(outcome.end, RunEnded)
    return outcome.end


def actions(report: RunReport) -> dict[str, str]:
    plan = report.outcomes[0].plan
    assert plan is not None
    return {d.ref.id: d.action for d in plan.decisions if d.action not in ("nomatch",)}


def test_mark_wait_delete_over_three_runs(tmp_path: Path, gsim: Simulator) -> None:
    job = write_job(tmp_path, gsim)
    # Run 1 at T: everything selected is marked, nothing is deleted, nothing mutating sent.
    first = run(job, WALL)
    assert exit_code(first) == 0 and gsim.mutations() == [] and gsim.deleted == []
    after = WALL + GRACE
    marked = of_run(tmp_path, first, "delete.marked")
    assert {r["model_id"] for r in marked} == SELECTED
    assert {r["deletable_after"] for r in marked} == {rfc3339(after)}
    assert all(r["job"] == "graceful" and r["provider"] == "cohere" and r["name"] for r in marked)
    counts = end(first).counts
    assert (counts.marked, counts.pending, counts.planned, counts.deleted) == (4, 4, 0, 0)
    assert end(first).status == "ok"
    kept = marks(job)
    assert set(kept) == SELECTED
    assert {(m.marked_at, m.deletable_after) for m in kept.values()} == {(WALL, after)}
    assert "marked 4, pending 4" in render_outcome(first.outcomes[0])

    # A plan a day later shows them pending, with the date; it changes nothing.
    look = run(job, WALL + timedelta(days=1), dry_run=True)
    plan = look.outcomes[0].plan
    assert plan is not None
    pending = {d.ref.id: d for d in plan.decisions if d.action == "pending"}
    assert set(pending) == SELECTED
    assert {d.deletable_after for d in pending.values()} == {after}
    table = render_plan(plan)
    assert f"deletable after {after:%Y-%m-%d %H:%M}Z" in table
    assert "0 to delete, 0 to mark, 4 pending" in table
    assert all(line.split()[4] == "pending" for line in table.splitlines() if "m-old-" in line), (
        table
    )
    as_json = report_json(look)["jobs"][0]["decisions"]
    assert {d["id"]: d["deletable_after"] for d in as_json if d["decision"] == "pending"} == {
        m: rfc3339(after) for m in SELECTED
    }
    assert marks(job) == kept and gsim.mutations() == []

    # Run 2 at T+3d: still pending; no new marks, the old ones untouched.
    second = run(job, WALL + timedelta(days=3))
    assert exit_code(second) == 0 and gsim.deleted == [] and gsim.mutations() == []
    assert actions(second) == {**dict.fromkeys(SELECTED, "pending"), "m-young": "keep"}
    assert of_run(tmp_path, second, "delete.marked") == []
    assert of_run(tmp_path, second, "delete.unmarked") == []
    assert (end(second).counts.pending, end(second).counts.deleted) == (4, 0)
    assert marks(job) == kept

    # Run 3 just after T+7d: exactly the marked models that are still selected go.
    third = run(job, after + timedelta(seconds=1))
    assert exit_code(third) == 0
    assert sorted(gsim.deleted) == sorted(("cohere", m) for m in SELECTED)
    assert sorted(gsim.accounts.cohere) == ["m-prod", "m-young"]
    assert (end(third).counts.deleted, end(third).counts.pending) == (4, 0)
    assert {r["model_id"] for r in of_run(tmp_path, third, "delete.outcome")} == SELECTED
    assert marks(job) == {}  # deleted models leave no mark behind
    assert verify(tmp_path / "audit" / "ftjanitor.jsonl").ok


def test_deletable_at_exactly_deletable_after_not_a_second_before(
    tmp_path: Path, gsim: Simulator
) -> None:
    job = write_job(tmp_path, gsim)
    run(job, WALL)
    early = run(job, WALL + GRACE - timedelta(seconds=1))
    assert gsim.deleted == [] and end(early).counts.pending == 4
    on_time = run(job, WALL + GRACE)  # "a run at or after deletable_after"
    assert exit_code(on_time) == 0 and len(gsim.deleted) == 4


def test_third_run_deletes_only_what_is_still_selected(tmp_path: Path, gsim: Simulator) -> None:
    job = write_job(tmp_path, gsim)
    run(job, WALL)
    # Between the runs: one marked model is renamed out of the glob, one is deleted
    # elsewhere, and a new model becomes selectable.
    gsim.accounts.cohere["m-old-2"]["name"] = "keep-me"
    del gsim.accounts.cohere["m-old-3"]
    gsim.accounts.add_cohere(
        cohere_model("m-new", "exp-new", "STATUS_READY", NOW - timedelta(days=60))
    )
    at = WALL + GRACE + timedelta(seconds=1)
    third = run(job, at)
    assert exit_code(third) == 0
    assert sorted(gsim.deleted) == [("cohere", "m-old-1"), ("cohere", "m-old-4")]
    unmarked = of_run(tmp_path, third, "delete.unmarked")
    assert sorted(r["model_id"] for r in unmarked) == ["m-old-2", "m-old-3"]
    assert all(r["reason"] == "no longer selected" for r in unmarked)
    (new,) = of_run(tmp_path, third, "delete.marked")  # newly selected: grace starts now
    assert (new["model_id"], new["deletable_after"]) == ("m-new", rfc3339(at + GRACE))
    assert set(marks(job)) == {"m-new"}
    intents = {r["model_id"] for r in of_run(tmp_path, third, "delete.intent")}
    assert intents == {"m-old-1", "m-old-4"}
    counts = end(third).counts
    assert (counts.deleted, counts.marked, counts.pending) == (2, 1, 1)


def test_unmarked_model_is_never_deleted_and_a_return_starts_grace_again(
    tmp_path: Path, gsim: Simulator
) -> None:
    job = write_job(tmp_path, gsim)
    run(job, WALL)
    gsim.accounts.cohere["m-old-1"]["name"] = "renamed-1"  # no longer matches exp-*
    second = run(job, WALL + timedelta(days=2))
    (unmarked,) = of_run(tmp_path, second, "delete.unmarked")
    assert (unmarked["model_id"], unmarked["job"], unmarked["provider"]) == (
        "m-old-1",
        "graceful",
        "cohere",
    )
    assert "m-old-1" not in marks(job) and gsim.mutations() == []
    # Long after the first grace ran out: the others go, the unmarked one stays.
    later = WALL + timedelta(days=30)
    third = run(job, later)
    assert sorted(gsim.deleted) == [("cohere", m) for m in sorted(SELECTED - {"m-old-1"})]
    assert "m-old-1" in gsim.accounts.cohere and of_run(tmp_path, third, "delete.marked") == []
    # Selected again, it is marked afresh: its old mark gives it no head start.
    gsim.accounts.cohere["m-old-1"]["name"] = "exp-1"
    fourth = run(job, later + timedelta(days=1))
    (again,) = of_run(tmp_path, fourth, "delete.marked")
    assert again["deletable_after"] == rfc3339(later + timedelta(days=1) + GRACE)
    assert ("cohere", "m-old-1") not in gsim.deleted
    assert verify(tmp_path / "audit" / "ftjanitor.jsonl").ok


def test_a_dry_run_marks_nothing(
    tmp_path: Path,
    gsim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    job = write_job(tmp_path, gsim)
    # Through the engine with the injected clock: the plan says "mark", the state stays empty.
    look = run(job, WALL, dry_run=True)
    assert exit_code(look) == 0
    assert actions(look) == {**dict.fromkeys(SELECTED, "mark"), "m-young": "keep"}
    plan = look.outcomes[0].plan
    assert plan is not None and {d.deletable_after for d in plan.having("mark")} == {WALL + GRACE}
    assert "0 to delete, 4 to mark, 0 pending" in render_plan(plan)
    # Through the CLI (the real wall clock): plan and run --dry-run mark nothing either.
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    assert main(["plan", job, "--now", "2026-06-01T12:00:00Z"]) == 0
    assert main(["run", job, "--dry-run", "--now", "2026-06-01T12:00:00Z"]) == 0
    assert "4 to mark" in capsys.readouterr().out
    assert marks(job) == {}
    assert [
        r
        for r in records(tmp_path)
        if r["event"].startswith("delete.") and r["event"] != "delete.planned"
    ] == []
    assert gsim.mutations() == [] and gsim.deleted == []
    # So a real run afterwards still starts the grace from its own wall clock.
    real = run(job, WALL + timedelta(days=5))
    assert {r["deletable_after"] for r in of_run(tmp_path, real, "delete.marked")} == {
        rfc3339(WALL + timedelta(days=5) + GRACE)
    }


@pytest.mark.parametrize(
    "now",
    [datetime(2001, 1, 1, tzinfo=UTC), datetime(2090, 1, 1, tzinfo=UTC)],
    ids=["now far in the past", "now far in the future"],
)
def test_now_never_moves_grace(tmp_path: Path, gsim: Simulator, now: datetime) -> None:
    # A name-only rule, so the same models are selected whatever --now says.
    job = write_job(tmp_path, gsim, rule="status: [STATUS_READY]")
    selected = SELECTED | {"m-young"}
    first = run(job, WALL, now=now)
    marked = of_run(tmp_path, first, "delete.marked")
    assert {r["model_id"] for r in marked} == selected
    assert {r["deletable_after"] for r in marked} == {rfc3339(WALL + GRACE)}  # not now + 7d
    assert {(m.marked_at, m.deletable_after) for m in marks(job).values()} == {(WALL, WALL + GRACE)}
    start = next(r for r in records(tmp_path) if r["event"] == "run.start")
    assert start["now"] == rfc3339(now)  # the rules did run on --now
    # A later run whose --now lies far beyond the grace still waits for the wall clock.
    for pinned in (now, datetime(2100, 1, 1, tzinfo=UTC), datetime(1990, 1, 1, tzinfo=UTC)):
        wait = run(job, WALL + timedelta(days=6, hours=23), now=pinned)
        assert gsim.deleted == [] and end(wait).counts.pending == len(selected), pinned
    done = run(job, WALL + GRACE, now=now)
    assert exit_code(done) == 0 and {m for _, m in gsim.deleted} == selected


def test_max_deletions_counts_only_what_goes_now(tmp_path: Path, gsim: Simulator) -> None:
    job = write_job(tmp_path, gsim, limit=2)
    # Four selected, limit 2: marking is not deleting, so nothing trips.
    first = run(job, WALL)
    assert exit_code(first) == 0 and end(first).counts.marked == 4
    assert first.outcomes[0].plan is not None and first.outcomes[0].plan.limit_message is None
    # While they are pending nothing would be deleted now: still within the limit.
    assert exit_code(run(job, WALL + timedelta(days=1))) == 0
    # When their grace is over, four would go at once: over the limit, nothing deleted,
    # and the marks are kept for a run with a raised limit.
    due = run(job, WALL + GRACE)
    assert exit_code(due) == 1 and gsim.mutations() == []
    assert end(due).status == "aborted"
    assert "would delete 4 models, over its max_deletions of 2" in (end(due).message or "")
    assert actions(due) == {**dict.fromkeys(SELECTED, "blocked"), "m-young": "keep"}
    assert set(marks(job)) == SELECTED
    # Two due, three newly marked: only the two count against a limit of 2.
    for model_id in ("m-old-3", "m-old-4"):
        del gsim.accounts.cohere[model_id]
    for i in range(3):
        gsim.accounts.add_cohere(
            cohere_model(f"m-more-{i}", f"exp-more-{i}", "STATUS_READY", NOW - timedelta(days=50))
        )
    mixed = run(job, WALL + GRACE + timedelta(hours=1))
    assert exit_code(mixed) == 0, end(mixed)
    assert sorted(gsim.deleted) == [("cohere", "m-old-1"), ("cohere", "m-old-2")]
    counts = end(mixed).counts
    assert (counts.deleted, counts.marked, counts.pending) == (2, 3, 3)
    assert set(marks(job)) == {"m-more-0", "m-more-1", "m-more-2"}


def review(job: str, wall: datetime, tmp_path: Path) -> tuple[Any, datetime]:
    """``plan --out`` at wall time ``wall`` and the checks of ``run --plan``: the reviewed
    deletes, through the real plan file."""
    job_file = load_job_file(job)
    look = run(job, wall, dry_run=True)
    plans = [o.plan for o in look.outcomes if o.plan is not None]
    body = planfile.build(job_file, plans, NOW, wall, timedelta(hours=24))
    path = tmp_path / "plan.json"
    planfile.write(path, body)
    return planfile.load(path, job_file, wall), wall


def apply_reviewed(job: str, reviewed: Any, wall: datetime) -> RunReport:
    options = RunOptions(
        dry_run=False,
        clock=FakeClock(wall),
        now=NOW,
        environ=KEYS,
        policy=FAST,
        reviewed=reviewed.deletes,
        plan_sha256=reviewed.sha256,
    )
    return execute(load_job_file(job), options)


def test_reviewed_plans_keep_marks_and_delete_only_reviewed_due_models(
    tmp_path: Path, gsim: Simulator
) -> None:
    job = write_job(tmp_path, gsim)
    run(job, WALL)  # marks m-old-1..4, due at WALL + 7d
    kept = marks(job)
    gsim.accounts.add_cohere(
        cohere_model("m-new", "exp-new", "STATUS_READY", NOW - timedelta(days=60))
    )
    # Reviewed while they are pending: the plan deletes nothing. Applying it marks the new
    # model (marking deletes nothing) and keeps the pending marks: still selected.
    reviewed, at = review(job, WALL + timedelta(days=3), tmp_path)
    assert reviewed.deletes == {"graceful": set()}
    applied = apply_reviewed(job, reviewed, at + timedelta(hours=1))
    assert exit_code(applied) == 0 and gsim.mutations() == []
    assert of_run(tmp_path, applied, "delete.unmarked") == []
    (new,) = of_run(tmp_path, applied, "delete.marked")
    assert new["model_id"] == "m-new"
    assert {k: v for k, v in marks(job).items() if k != "m-new"} == kept
    new_due = marks(job)["m-new"].deletable_after
    assert new_due == at + timedelta(hours=1) + GRACE
    # Reviewed after the first grace ran out: exactly those four are in the plan and go.
    reviewed, at = review(job, WALL + GRACE + timedelta(seconds=1), tmp_path)
    assert reviewed.deletes == {"graceful": {ResourceRef.on("cohere", m) for m in SELECTED}}
    applied = apply_reviewed(job, reviewed, at + timedelta(hours=1))
    assert exit_code(applied) == 0
    assert sorted(gsim.deleted) == sorted(("cohere", m) for m in SELECTED)
    assert set(marks(job)) == {"m-new"}
    # m-new's grace runs out between review and apply: not reviewed, so not deleted, and
    # still marked for the next reviewed plan.
    reviewed, at = review(job, new_due - timedelta(hours=1), tmp_path)
    assert reviewed.deletes == {"graceful": set()}
    applied = apply_reviewed(job, reviewed, new_due + timedelta(hours=1))
    assert exit_code(applied) == 0 and len(gsim.deleted) == len(SELECTED)
    assert of_run(tmp_path, applied, "delete.unmarked") == []
    assert set(marks(job)) == {"m-new"}
    plan = applied.outcomes[0].plan
    assert plan is not None
    assert [(d.ref.id, d.action) for d in plan.drift] == [("m-new", "keep")]
    assert "not in the reviewed plan" in plan.drift[0].reason
    reviewed, at = review(job, new_due + timedelta(hours=2), tmp_path)
    assert reviewed.deletes == {"graceful": {ResourceRef.on("cohere", "m-new")}}
    assert exit_code(apply_reviewed(job, reviewed, at + timedelta(minutes=5))) == 0
    assert ("cohere", "m-new") in gsim.deleted and marks(job) == {}

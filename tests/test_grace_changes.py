"""A job file's `grace:` changed between runs: the later date always wins.

A mark is deletable at the later of its recorded `deletable_after` and its mark time plus
the job's current grace. So lengthening grace protects models already marked (the plan,
the audit's `delete.marked` and the `marked` notification all give the new date, and the
state keeps it), and shortening it never brings forward a date owners were told.

Through the real engine against the simulator, with the injected wall clock of
tests/test_grace.py, on a SQLite state and on a PostgreSQL one.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.clock import rfc3339
from runner.engine import RunOptions, RunReport, execute
from runner.jobfile.validate import load_job_file
from runner.ref import ResourceRef
from runner.report import render_plan, report_json
from runner.rules import deletable_after
from runner.simulator import Simulator
from runner.state import Mark
from runner.state.open import open_state
from tests.conftest import COHERE_KEY, FAST
from tests.test_grace import NOW, SELECTED, WALL, FakeClock, accounts, actions, end, of_run
from tests.test_notify_e2e import Receiver

pytestmark = pytest.mark.timeout(120)

SHORT = timedelta(seconds=8)
LONG = timedelta(days=30)


@pytest.fixture
def gsim() -> Iterator[Simulator]:
    with Simulator(accounts(), cohere_key=COHERE_KEY) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
def state_line(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The job file's `state:` value; PostgreSQL as a user writes it (no query string),
    with this test's own schema chosen through libpq's PGOPTIONS."""
    if request.param == "sqlite":
        return str(tmp_path / "state" / "ftjanitor.sqlite3")
    fresh = request.getfixturevalue("pg_fresh_url")
    base, _, _ = fresh.partition("?")
    monkeypatch.setenv("PGOPTIONS", f"-csearch_path={fresh.rsplit('%3D', 1)[1]}")
    return base


class Job:
    """One job file, rewritten between runs with another `grace:`."""

    def __init__(self, tmp_path: Path, sim: Simulator, state: str, hook: str | None = None):
        self.path = tmp_path / "job.yaml"
        self.sim, self.state, self.hook = sim, state, hook
        self.environ = {"COHERE_API_KEY": COHERE_KEY, **({"HOOK": hook} if hook else {})}

    def write(self, grace: str) -> None:
        notify = (
            "notify:\n  - {name: owners, url_env: HOOK, format: slack, events: [marked]}\n"
            if self.hook
            else ""
        )
        self.path.write_text(
            f"""version: 1
state: "{self.state}"
audit_log: audit/ftjanitor.jsonl
providers:
  cohere: {{base_url: "{self.sim.url}", concurrency: 4, requests_per_minute: 600000}}
{notify}jobs:
  - name: graceful
    grace: {grace}
    targets:
      - {{provider: cohere, name: "exp-*", older_than: 30d}}
"""
        )

    def run(self, wall: datetime, *, dry_run: bool = False) -> RunReport:
        options = RunOptions(
            dry_run=dry_run, clock=FakeClock(wall), now=NOW, environ=self.environ, policy=FAST
        )
        return execute(load_job_file(str(self.path)), options)

    def marks(self) -> dict[str, Mark]:
        state = open_state(load_job_file(str(self.path)).state)
        try:
            return {ref.id: m for ref, m in state.marks("graceful").items()}
        finally:
            state.close()


def pending_dates(report: RunReport) -> dict[str, str]:
    (entry,) = report_json(report)["jobs"]
    return {
        d["id"]: d["deletable_after"] for d in entry["decisions"] if d["decision"] in ("pending",)
    }


def test_lengthened_grace_protects_marked_models_and_shortening_never_brings_them_forward(
    tmp_path: Path, gsim: Simulator, state_line: str
) -> None:
    job = Job(tmp_path, gsim, state_line)
    job.write("8s")
    first = job.run(WALL)
    assert {m.deletable_after for m in job.marks().values()} == {WALL + SHORT}
    assert end(first).counts.marked == 4

    # The owner lengthens grace to 30d. Long past the 8 s, nothing may go before WALL+30d.
    job.write("30d")
    later = WALL + timedelta(minutes=1)
    look = job.run(later, dry_run=True)
    assert pending_dates(look) == dict.fromkeys(SELECTED, rfc3339(WALL + LONG))
    plan = look.outcomes[0].plan
    assert plan is not None
    assert f"deletable after {WALL + LONG:%Y-%m-%d %H:%M}Z" in render_plan(plan)
    assert "grace is now 30d" in render_plan(plan)
    assert {m.deletable_after for m in job.marks().values()} == {WALL + SHORT}  # a look

    second = job.run(later)
    assert gsim.mutations() == [] and gsim.deleted == []
    assert actions(second) == {**dict.fromkeys(SELECTED, "pending"), "m-young": "keep"}
    assert (end(second).counts.pending, end(second).counts.deleted) == (4, 0)
    # The new date is recorded and told, like a mark: the audit has it...
    told = of_run(tmp_path, second, "delete.marked")
    assert {r["model_id"]: r["deletable_after"] for r in told} == dict.fromkeys(
        SELECTED, rfc3339(WALL + LONG)
    )
    # ...and the state keeps it, with the original mark time.
    assert {(m.marked_at, m.deletable_after) for m in job.marks().values()} == {(WALL, WALL + LONG)}

    # Shortened again: the date owners were told stands.
    job.write("8s")
    third = job.run(later + timedelta(minutes=1))
    assert gsim.deleted == [] and end(third).counts.pending == 4
    assert of_run(tmp_path, third, "delete.marked") == []  # nothing new to tell
    assert pending_dates(third) == dict.fromkeys(SELECTED, rfc3339(WALL + LONG))

    assert job.run(WALL + LONG - timedelta(seconds=1)).outcomes and gsim.deleted == []
    done = job.run(WALL + LONG)
    assert sorted(m for _, m in gsim.deleted) == sorted(SELECTED)
    assert end(done).counts.deleted == 4 and job.marks() == {}


def test_a_grace_lengthened_after_its_end_still_deletes_once_the_longer_one_is_over(
    tmp_path: Path, gsim: Simulator
) -> None:
    job = Job(tmp_path, gsim, str(tmp_path / "state" / "ftjanitor.sqlite3"))
    job.write("8s")
    job.run(WALL)
    job.write("7d")
    job.run(WALL + timedelta(days=6, hours=23))  # in the new grace: kept
    assert gsim.deleted == []
    done = job.run(WALL + timedelta(days=7))
    assert sorted(m for _, m in gsim.deleted) == sorted(SELECTED)
    (entry,) = report_json(done)["jobs"]
    reasons = {d["id"]: d["reason"] for d in entry["decisions"] if d["id"] in SELECTED}
    assert all(
        f"grace over since {WALL + timedelta(days=7):%Y-%m-%d %H:%M}Z" in r
        for r in reasons.values()
    )


def test_the_marked_notification_gives_the_later_date(tmp_path: Path, gsim: Simulator) -> None:
    with Receiver("ok") as hook:
        job = Job(tmp_path, gsim, str(tmp_path / "state" / "ftjanitor.sqlite3"), hook.url)
        job.write("8s")
        job.run(WALL)
        job.write("30d")
        job.run(WALL + timedelta(minutes=1))
        texts: list[Any] = [body["text"] for body in hook.bodies]
    assert len(texts) == 2
    first, second = texts
    assert "4 models marked for deletion" in second
    for model in SELECTED:
        (line,) = [x for x in second.splitlines() if f" {model} " in x]
        assert f"(deletable after {(WALL + LONG).isoformat()})" in line
        (old,) = [x for x in first.splitlines() if f" {model} " in x]
        assert f"(deletable after {(WALL + SHORT).isoformat()})" in old


moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(WALL.tzinfo)
)
graces = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400))


@given(marked=moments, first=graces, second=graces, third=graces)
def test_deletable_after_never_comes_forward_whatever_the_graces(
    marked: datetime, first: timedelta, second: timedelta, third: timedelta
) -> None:
    """A run records the date a grace gives when it is later; no later grace, longer or
    shorter, ever makes a mark deletable before a date once recorded."""
    mark = Mark(ResourceRef.on("c", "m"), marked, marked + first)
    told = [mark.deletable_after]
    for grace in (second, third):
        after = deletable_after(mark, grace)
        assert after >= max(told) and after >= marked + grace
        mark = Mark(ResourceRef.on("c", "m"), marked, after)  # what a real run records
        told.append(after)

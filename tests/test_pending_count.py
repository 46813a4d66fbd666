"""`pending` (run.end's figure and `ftjanitor_pending{job}`) counts the marks a run leaves:
models in grace, or due but held — by a limit, a failed delete, an interrupted run, a
listing that failed. Whatever stopped a run, the figure equals the marks still in state.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from runner.cli import exit_code
from runner.engine import RunOptions, RunReport, execute
from runner.jobfile.validate import load_job_file
from runner.metrics import Metrics
from runner.simulator import Fault, Simulator, cohere_model
from runner.simulator.cohere import PREFIX
from tests.conftest import COHERE_KEY, FAST
from tests.test_daemon_ops import parse_metrics, value
from tests.test_grace import (
    GRACE,
    KEYS,
    NOW,
    SELECTED,
    WALL,
    FakeClock,
    accounts,
    end,
    of_run,
    write_job,
)
from tests.test_grace import marks as marks_of

pytestmark = pytest.mark.timeout(120)
DUE = WALL + GRACE


@pytest.fixture
def gsim() -> Iterator[Simulator]:
    with Simulator(accounts(), cohere_key=COHERE_KEY) as server:
        yield server


def run(job: str, wall: datetime, metrics: Metrics | None = None, stop: bool = False) -> RunReport:
    options = RunOptions(
        dry_run=False,
        clock=FakeClock(wall),
        now=NOW,
        environ=KEYS,
        policy=FAST,
        sinks=[metrics] if metrics else [],
        second_pass_pause=0.0,
    )
    if stop:
        options.stop.set()
    return execute(load_job_file(job), options)


def reported(tmp_path: Path, report: RunReport, metrics: Metrics) -> tuple[int, int, float | None]:
    """pending as run.end counts it, as the audit records it, and as the metric says."""
    (record,) = of_run(tmp_path, report, "run.end")
    gauge = value(parse_metrics(metrics.render().decode()), "ftjanitor_pending", job="graceful")
    return end(report).counts.pending, record["pending"], gauge


def test_due_marks_held_by_a_limit_are_pending(tmp_path: Path, gsim: Simulator) -> None:
    job = write_job(tmp_path, gsim, limit=2)
    run(job, WALL)  # four marked: marking is not deleting, no limit trips
    metrics = Metrics()
    held = run(job, DUE, metrics)
    assert exit_code(held) == 1 and end(held).status == "aborted" and gsim.deleted == []
    assert len(marks_of(job)) == 4
    assert reported(tmp_path, held, metrics) == (4, 4, 4.0)


def test_in_grace_and_held_add_up(tmp_path: Path, gsim: Simulator) -> None:
    job = write_job(tmp_path, gsim, limit=1)
    run(job, WALL)  # m-old-1..4 marked
    gsim.accounts.add_cohere(
        cohere_model("m-new", "exp-new", "STATUS_READY", NOW - timedelta(days=60))
    )
    run(job, WALL + timedelta(days=1))  # m-new marked a day later
    metrics = Metrics()
    held = run(job, DUE, metrics)  # four due (over the limit of 1), m-new still in grace
    assert gsim.deleted == [] and len(marks_of(job)) == 5
    assert reported(tmp_path, held, metrics) == (5, 5, 5.0)


def test_a_failed_delete_leaves_its_mark_pending(tmp_path: Path, gsim: Simulator) -> None:
    job = write_job(tmp_path, gsim)
    run(job, WALL)
    gsim.faults = [Fault("status", method="DELETE", path=f"{PREFIX}/m-old-1", status=400)]
    metrics = Metrics()
    partial = run(job, DUE, metrics)
    assert exit_code(partial) == 1 and end(partial).counts.failed == 1
    assert sorted(m for _, m in gsim.deleted) == sorted(SELECTED - {"m-old-1"})
    assert set(marks_of(job)) == {"m-old-1"}
    assert reported(tmp_path, partial, metrics) == (1, 1, 1.0)


def test_an_interrupted_run_leaves_its_marks_pending(tmp_path: Path, gsim: Simulator) -> None:
    job = write_job(tmp_path, gsim)
    run(job, WALL)
    metrics = Metrics()
    stopped = run(job, DUE, metrics, stop=True)  # SIGTERM before the first delete
    assert end(stopped).status == "aborted" and gsim.deleted == []
    assert reported(tmp_path, stopped, metrics) == (4, 4, 4.0)


def test_a_failed_listing_leaves_every_mark_pending(tmp_path: Path, gsim: Simulator) -> None:
    job = write_job(tmp_path, gsim)
    run(job, WALL)
    gsim.faults = [Fault("status", method="GET", path=PREFIX, status=400)]
    metrics = Metrics()
    failed = run(job, DUE, metrics)
    assert end(failed).status == "aborted" and gsim.mutations() == []
    assert reported(tmp_path, failed, metrics) == (4, 4, 4.0)


def test_a_run_that_deletes_every_due_mark_leaves_none_pending(
    tmp_path: Path, gsim: Simulator
) -> None:
    job = write_job(tmp_path, gsim)
    run(job, WALL)
    metrics = Metrics()
    done = run(job, DUE, metrics)
    assert len(gsim.deleted) == 4 and marks_of(job) == {}
    assert reported(tmp_path, done, metrics) == (0, 0, 0.0)

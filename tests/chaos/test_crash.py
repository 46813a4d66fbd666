"""SIGKILL a real `ftjanitor run` at given moments, then run again: nothing deleted twice
or without a recorded intent, orphans reconciled, torn tails tolerated, state intact."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runner.audit import read_records
from runner.cli import exit_code
from runner.engine import RunOptions, execute
from runner.jobfile.validate import load_job_file
from runner.simulator import Simulator
from tests.chaos.conftest import TALLY
from tests.chaos.helpers import check_promises, job_text
from tests.chaos.test_chaos import KEYS, NOW, PLANNED, accounts
from tests.conftest import FAST
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]


def count_in_log(path: Path, event: str) -> int:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0
    return data.count(f'"event":"{event}"'.encode())


def listing_requests(sim: Simulator) -> int:
    return sum(1 for r in list(sim.requests) if r.method == "GET" and r.status != 0)


# Where the run is killed: right after the k-th time something happened, found by polling
# the audit log or the simulator's request log (never after a random sleep).
CRASH_POINTS: dict[str, tuple[str, int]] = {
    "mid-listing (2nd page)": ("listing", 2),
    "after run.start": ("run.start", 1),
    "after the 1st intent": ("delete.intent", 1),
    "after the 2nd intent": ("delete.intent", 2),
    "after the 5th intent": ("delete.intent", 5),
    "after the 9th intent": ("delete.intent", 9),
    "after the 3rd outcome": ("delete.outcome", 3),
    "after the 14th intent": ("delete.intent", 14),
    "after the 12th outcome": ("delete.outcome", 12),
    "after the 20th intent": ("delete.intent", 20),
}


def reached(sim: Simulator, log: Path, point: str) -> bool:
    what, k = CRASH_POINTS[point]
    if what == "listing":
        return listing_requests(sim) >= k
    return count_in_log(log, what) >= k


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_killed_at_a_given_moment(point: str, tmp_path: Path) -> None:
    index = list(CRASH_POINTS).index(point)
    log = tmp_path / "audit" / "ftjanitor.jsonl"
    with Simulator(accounts(), latency=0.03, max_page_size=7) as sim:
        path = tmp_path / "job.yaml"
        path.write_text(job_text(sim.url, concurrency=2))
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "runner",
                "run",
                str(path),
                "--yes",
                "--now",
                "2026-06-01T00:00:00Z",
            ],
            env={**os.environ, **KEYS},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        try:
            wait_for(lambda: reached(sim, log, point) or child.poll() is not None, what=point)
            assert child.poll() is None, f"the run ended before {point}"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        log = tmp_path / "audit" / "ftjanitor.jsonl"
        torn = index % 3 == 2 and log.exists()
        if torn:  # a power loss mid-write: half a record at the end
            with open(log, "ab") as handle:
                handle.write(b'{"event":"delete.outcome","v":1,"seq":')
        # let the server finish what it had received
        wait_for(lambda: not any(r.status == 0 for r in list(sim.requests)))
        report = execute(
            load_job_file(str(path)), RunOptions(dry_run=False, now=NOW, environ=KEYS, policy=FAST)
        )
        assert exit_code(report) == 0, [o.end for o in report.outcomes]
        check_promises(sim, tmp_path, PLANNED)
        assert set(sim.deleted) == PLANNED
    if torn:
        assert any(r["event"] == "audit.recovered" for r in read_records(log))
        TALLY["torn tails recovered"] += 1
    TALLY["crash points"] += 1
    TALLY["reconciled after crash"] += sum(
        1
        for r in read_records(tmp_path / "audit" / "ftjanitor.jsonl")
        if r["event"] == "delete.reconciled"
    )

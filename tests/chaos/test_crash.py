"""SIGKILL a real `ftjanitor run` at random moments, then run again: nothing deleted twice
or without a recorded intent, orphans reconciled, torn tails tolerated, state intact."""

import os
import random
import signal
import subprocess
import sys
import time
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

ROOT = Path(__file__).resolve().parents[2]
CRASH_POINTS = 10


@pytest.mark.parametrize("seed", range(CRASH_POINTS))
def test_killed_at_a_random_moment(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
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
        time.sleep(rng.uniform(0.2, 1.4))  # the crash point: start-up, listing, or mid-deletes
        child.send_signal(signal.SIGKILL)
        child.wait()
        log = tmp_path / "audit" / "ftjanitor.jsonl"
        torn = seed % 3 == 2 and log.exists()
        if torn:  # a power loss mid-write: half a record at the end
            with open(log, "ab") as handle:
                handle.write(b'{"event":"delete.outcome","v":1,"seq":')
        while any(r.status == 0 for r in sim.requests):
            time.sleep(0.01)  # let the server finish what it had received
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

"""Faults, alone and mixed: whatever happens, nothing outside the plan is touched, every
delete has intent and outcome, and the audit chain holds."""

import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.cli import exit_code
from runner.engine import RunOptions, execute
from runner.events import RunEnded
from runner.jobfile.validate import load_job_file
from runner.simulator import Accounts, Fault, Simulator, cohere_model
from tests.chaos.conftest import TALLY
from tests.chaos.helpers import check_promises, job_text
from tests.conftest import BFL_KEY, COHERE_KEY, FAST

NOW = datetime(2026, 6, 1, tzinfo=UTC)
KEYS = {"COHERE_API_KEY": COHERE_KEY, "BFL_API_KEY": BFL_KEY}
D = "DELETE"

SCENARIOS: dict[str, list[Fault]] = {
    "latency spikes": [Fault("delay", seconds=0.2, probability=0.1)],
    "429 storm with Retry-After": [Fault("status", status=429, retry_after=1, probability=0.2)],
    "429 storm without Retry-After": [Fault("status", status=429, probability=0.5)],
    "500 on deletes": [Fault("status", method=D, status=500, probability=0.3)],
    "502/503/504": [
        Fault("status", status=502, probability=0.15),
        Fault("status", status=503, probability=0.15),
        Fault("status", status=504, probability=0.15),
    ],
    "dropped before acting": [Fault("drop_before", method=D, probability=0.3)],
    "dropped after acting (answer lost)": [Fault("drop_after", method=D, probability=0.3)],
    "dropped after acting, lookups failing": [
        Fault("drop_after", method=D, probability=0.4),
        Fault(
            "status",
            method="GET",
            path="/v1/finetuning/finetuned-models/",
            status=503,
            probability=0.5,
        ),
    ],
    "garbage JSON on a list page": [
        Fault("garbage", method="GET", path="/v1/finetuning", after=2, times=1)
    ],
    "garbage JSON on delete answers": [Fault("garbage", method=D, probability=0.3)],
    "page token repeats": [Fault("repeat_token", after=3)],
    "API gone mid-run (404)": [Fault("status", status=404, method=D, after=5)],
    "API gone mid-run (410), BFL too": [
        Fault("status", status=410, method=D, after=4),
        Fault("status", status=410, path="/v1/", after=8),
    ],
    "everything at once": [
        Fault("delay", seconds=0.1, probability=0.05),
        Fault("status", status=429, probability=0.1),
        Fault("status", status=503, probability=0.1),
        Fault("drop_before", method=D, probability=0.1),
        Fault("drop_after", method=D, probability=0.1),
        Fault("garbage", method=D, probability=0.05),
        Fault("drop_before", method="GET", probability=0.05),
    ],
}


def accounts() -> Accounts:
    acc = Accounts()
    for i in range(40):
        old = i % 2 == 0
        acc.add_cohere(
            cohere_model(
                f"m-{i:03d}",
                f"{'old' if old else 'new'}-{i:03d}",
                "STATUS_READY",
                NOW - timedelta(days=90 if old else 3),
            )
        )
    for i in range(10):
        acc.add_bfl(f"lora-{i:03d}")
    acc.sort()
    return acc


PLANNED = {("cohere", f"m-{i:03d}") for i in range(0, 40, 2)} | {
    ("bfl", f"lora-{i:03d}") for i in range(0, 10, 2)
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_chaos(name: str, tmp_path: Path) -> None:
    # A stable seed per scenario: hash() of a str changes with every process.
    with Simulator(accounts(), max_page_size=7, seed=zlib.crc32(name.encode()) % 1000) as sim:
        path = tmp_path / "job.yaml"
        path.write_text(job_text(sim.url))
        job_file = load_job_file(str(path))
        dry = execute(job_file, RunOptions(dry_run=True, now=NOW, environ=KEYS, policy=FAST))
        assert {(d.ref.connection, d.ref.id) for d in dry.outcomes[0].plan.deletes} == PLANNED  # type: ignore[union-attr]
        assert sim.mutations() == []
        sim.faults = SCENARIOS[name]
        # The second pass still happens, after 50 ms instead of production's 1-2 s.
        options = RunOptions(
            dry_run=False, now=NOW, environ=KEYS, policy=FAST, second_pass_pause=0.05
        )
        report = execute(job_file, options)
        faults = sum(1 for r in sim.requests if r.fault)
        sim.faults = []
        counts = check_promises(sim, tmp_path, PLANNED)
        # A clean run afterwards finishes the job: everything planned ends up gone.
        again = execute(job_file, options)
        assert exit_code(again) == 0, [o.end for o in again.outcomes]
        assert set(sim.deleted) == PLANNED and len(sim.deleted) == len(PLANNED)
        check_promises(sim, tmp_path, PLANNED)
    end = report.outcomes[0].end
    assert isinstance(end, RunEnded)
    if end.status == "ok":
        assert end.counts.deleted + end.counts.already_absent >= len(PLANNED)
    TALLY["chaos scenarios"] += 1
    TALLY["faults injected"] += faults
    TALLY["deletes under faults"] += counts["deleted"]

"""A delete route that drops every 3rd connection, at concurrency 4 (issue 12, gap b).

Seen from outside: one connection in three dropped made 4 of 30 deletes fail in three quick
tries and the run exited 1. With a paused settle and a second pass for transient failures,
one run must delete every selected model, exactly once, and exit 0.
"""

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from runner.audit import read_records
from runner.cli import exit_code
from runner.commands.simulate import parse_fault
from runner.engine import RunOptions, execute
from runner.events import RunEnded
from runner.jobfile.validate import load_job_file
from runner.simulator import Accounts, Fault, Simulator, cohere_model
from tests.chaos.conftest import TALLY
from tests.chaos.helpers import check_promises
from tests.conftest import COHERE_KEY, FAST
from tests.helpers import TEST_PACE, job_yaml, one_job, write_job

NOW = datetime(2026, 6, 1, tzinfo=UTC)
KEYS = {"COHERE_API_KEY": COHERE_KEY}
SELECTED = 30
DELETE_PATH = "/v1/finetuning/finetuned-models/"

pytestmark = pytest.mark.timeout(120)


def accounts() -> Accounts:
    acc = Accounts()
    for i in range(SELECTED):
        acc.add_cohere(
            cohere_model(f"m-{i:03d}", f"old-{i:03d}", "STATUS_READY", NOW - timedelta(days=90))
        )
    for i in range(5):  # never selected: too young
        acc.add_cohere(
            cohere_model(f"y-{i:03d}", f"old-y{i:03d}", "STATUS_READY", NOW - timedelta(days=2))
        )
    acc.sort()
    return acc


PLANNED = {("cohere", f"m-{i:03d}") for i in range(SELECTED)}


def job(tmp_path: Path, url: str) -> Path:
    cohere = {"base_url": url, "concurrency": 4, "requests_per_minute": TEST_PACE}
    targets = ['{provider: cohere, name: "old-*", older_than: 30d}']
    return Path(
        write_job(
            tmp_path, job_yaml({"cohere": cohere}, one_job("drops", targets, max_deletions=100))
        )
    )


# --- the simulator's every-Nth fault --------------------------------------------------------


def _status_codes(sim: Simulator, n: int) -> list[int]:
    url = f"{sim.url}/v1/finetuning/finetuned-models"
    headers = {"Authorization": f"Bearer {COHERE_KEY}"}
    return [requests.get(url, headers=headers, timeout=5).status_code for _ in range(n)]


def test_every_applies_a_fault_to_every_nth_matching_request() -> None:
    with Simulator(accounts(), cohere_key=COHERE_KEY) as sim:
        sim.faults = [Fault("status", method="GET", status=503, every=3)]
        assert _status_codes(sim, 9) == [200, 200, 503] * 3
        # after= first lets N requests through, then counts every Nth of the rest.
        sim.faults, sim.fault_seen, sim.fault_hits = (
            [Fault("status", status=503, after=2, every=2)],
            {},
            {},
        )
        assert _status_codes(sim, 8) == [200, 200, 200, 503, 200, 503, 200, 503]
        # times= still caps the hits; every=1 is every request, as before.
        sim.faults, sim.fault_seen, sim.fault_hits = (
            [Fault("status", status=503, every=2, times=2)],
            {},
            {},
        )
        assert _status_codes(sim, 8) == [200, 503, 200, 503, 200, 200, 200, 200]
        sim.faults, sim.fault_seen, sim.fault_hits = [Fault("status", status=503, times=2)], {}, {}
        assert _status_codes(sim, 3) == [503, 503, 200]
        # Only matching requests count: the DELETE-only fault never sees these GETs.
        sim.faults, sim.fault_seen, sim.fault_hits = (
            [Fault("status", method="DELETE", every=1)],
            {},
            {},
        )
        assert _status_codes(sim, 3) == [200, 200, 200]
        # The admin route takes it too.
        answer = requests.post(
            f"{sim.url}/_sim/faults", json=[{"kind": "status", "every": 2}], timeout=5
        )
        assert answer.status_code == 200 and sim.faults == [Fault("status", every=2)]
        assert _status_codes(sim, 4) == [200, 503, 200, 503]
        bad = requests.post(
            f"{sim.url}/_sim/faults", json=[{"kind": "status", "every": 0}], timeout=5
        )
        assert bad.status_code == 400


@pytest.mark.parametrize("every", [0, -1, 1.5, True, "3"])
def test_every_must_be_a_whole_number_of_at_least_one(every: object) -> None:
    with pytest.raises(ValueError, match="every must be"):
        Fault("drop_before", every=every)  # type: ignore[arg-type]


def test_simulate_fault_syntax_takes_every() -> None:
    assert parse_fault("drop_before:DELETE,every=3") == Fault(
        "drop_before", method="DELETE", every=3
    )


# --- one run through the drops ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["drop_before", "drop_after"])
def test_every_third_delete_dropped_one_run_deletes_all(kind: str, tmp_path: Path) -> None:
    fault = Fault(kind, method="DELETE", path=DELETE_PATH, every=3)
    with Simulator(accounts(), cohere_key=COHERE_KEY, faults=[fault]) as sim:
        job_file = load_job_file(str(job(tmp_path, sim.url)))
        started = time.monotonic()
        report = execute(
            job_file,
            RunOptions(dry_run=False, now=NOW, environ=KEYS, policy=FAST, second_pass_pause=0.05),
        )
        took = time.monotonic() - started
        deletes = [r for r in sim.requests if r.method == "DELETE"]
        dropped = [r for r in deletes if r.fault == kind]
        assert exit_code(report) == 0, [o.end for o in report.outcomes]
        # Every model selected is gone, each deleted once, nothing else touched.
        assert Counter(sim.deleted) == Counter(PLANNED)
        assert sorted(sim.accounts.cohere) == [f"y-{i:03d}" for i in range(5)]
        # The fault really bit: a third of the DELETEs that arrived were dropped.
        assert len(dropped) == len(deletes) // 3 and len(dropped) >= SELECTED // 3
        check_promises(sim, tmp_path, PLANNED)
    (outcome,) = report.outcomes
    assert isinstance(outcome.end, RunEnded)
    counts = outcome.end.counts
    assert (counts.planned, counts.deleted, counts.failed, outcome.end.status) == (
        SELECTED,
        SELECTED,
        0,
        "ok",
    )
    records = list(read_records(tmp_path / "audit" / "ftjanitor.jsonl"))
    final = [r for r in records if r["event"] == "delete.outcome" and r.get("result") == "deleted"]
    assert sorted(r["model_id"] for r in final) == sorted(m for _, m in PLANNED)
    end = records[-1]
    assert (end["event"], end["status"], end["deleted"], end["failed"]) == (
        "run.end",
        "ok",
        SELECTED,
        0,
    )
    assert took < 30, f"the run took {took:.1f}s"
    TALLY["drop-every-3rd runs"] += 1
    TALLY["connections dropped"] += len(dropped)

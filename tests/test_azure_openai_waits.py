"""An Azure deployment's long-running delete, followed in virtual time (issue 19): polled
until its operation says Succeeded, through Azure-AsyncOperation or a Location, or failed
at the deadline; a 200 is done at once. The run's environment (not the process's) holds
the key and the management token, as the engine hands it to the connect."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from runner.audit import read_records
from runner.engine import RunOptions, RunReport, execute
from runner.jobfile.validate import load_job_file
from runner.simulator import Simulator
from runner.waiting import Waits
from tests.azurejobs import IDLE, KEY, TOKEN, TOKEN_ENV, accounts, azure_job
from tests.conftest import FAST, NOW
from tests.test_long_running_deletes import VirtualTimer

ENVIRON = {"AZURE_OPENAI_API_KEY": KEY, TOKEN_ENV: TOKEN}
TARGET = "{provider: az, kind: deployment, ids: [" + IDLE + "]}"


@pytest.fixture(autouse=True)
def no_process_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)  # only the run's environ holds it


def run(
    tmp_path: Path, sim: Simulator, timer: VirtualTimer, within: timedelta | None = None
) -> RunReport:
    options = RunOptions(
        dry_run=False, now=NOW, environ=ENVIRON, policy=FAST, waits=Waits(timer, within)
    )
    return execute(load_job_file(azure_job(tmp_path, sim, TARGET)), options)


def outcome(tmp_path: Path) -> dict[str, object]:
    (found,) = [
        r
        for r in read_records(tmp_path / "audit" / "ftjanitor.jsonl")
        if r["event"] == "delete.outcome"
    ]
    return found


@pytest.fixture(params=["both", "azure-asyncoperation", "location"])
def slow(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    seeded = accounts(op_polls=4, **{"async": request.param})
    with Simulator(seeded, keys={"azure_openai": KEY}) as sim:
        yield sim


def test_a_slow_operation_is_polled_until_it_succeeds(tmp_path: Path, slow: Simulator) -> None:
    timer = VirtualTimer()
    report = run(tmp_path, slow, timer)
    assert report.outcomes[0].status == "ok"
    assert slow.deleted == [("azure_openai", IDLE)]
    assert outcome(tmp_path)["result"] == "deleted"
    assert timer.waits and timer.now < 60  # backed off in virtual time, never the wall's


def test_an_operation_never_done_is_failed_at_the_deadline(tmp_path: Path) -> None:
    with Simulator(accounts(op_polls=10_000), keys={"azure_openai": KEY}) as sim:
        timer = VirtualTimer()
        report = run(tmp_path, sim, timer, within=timedelta(minutes=5))
        assert report.outcomes[0].status != "ok"
        assert sim.deleted == []
    got = outcome(tmp_path)
    assert got["result"] == "failed" and "still present after 5m" in str(got["error"])


def test_a_delete_answered_200_is_done_without_waiting(tmp_path: Path) -> None:
    with Simulator(accounts(**{"async": "none"}), keys={"azure_openai": KEY}) as sim:
        timer = VirtualTimer()
        run(tmp_path, sim, timer)
        assert sim.deleted == [("azure_openai", IDLE)]
    assert timer.waits == [] and outcome(tmp_path)["result"] == "deleted"

"""Long-running deletes (issue 17, the libnuke model): a delete the provider *accepts* to
carry out later is waiting until a lookup proves the item gone, within a deadline, and is
never reported deleted before that.

The one shipped accepted answer is a Fireworks deployment's DELETING (end to end in
tests/test_deployment_cli.py); these tests declare one on OpenAI's wire: the facts are
the test's, the requests are real, through the real client to the simulator, whose fault
``accepted`` answers 202 and keeps the item for N more lookups. Time is virtual: a
ten-minute deadline passes in no time.
"""

import dataclasses
import io
import threading
from collections.abc import Iterator
from contextlib import redirect_stderr
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from runner import events as ev
from runner.audit import read_records
from runner.cli import exit_code
from runner.commands.run import SayWaiting
from runner.commands.simulate import parse_fault
from runner.engine import RunOptions, RunReport, execute
from runner.jobfile.validate import load_job_file
from runner.providers import REGISTRY, openai
from runner.providers.base import ACCEPTED_WITHIN, THE_ID, AcceptedAnswer, DeleteAnswer
from runner.providers.http import HttpClient
from runner.providers.wire import bearer, http
from runner.ref import ResourceRef
from runner.report import render_outcome
from runner.simulator import Fault, Simulator
from runner.waiting import Waits
from tests.conftest import FAST, NOW, seed_accounts
from tests.simjobs import KEYS, write_job

MODEL = "ft:gpt-4o-mini-2024-07-18:acme:exp-lr-1:Sim0002b"
OTHER = "ft:gpt-4o-mini-2024-07-18:acme:exp-lr-2:Sim0003c"
ACCEPTED_BODY = f'{{"id": "{MODEL}", "status": "deleting"}}'


class AcceptingLister(openai.OpenAILister):
    """OpenAI's wire, for a type whose deletes are accepted and carried out later."""

    def __init__(self, client: HttpClient):
        super().__init__(client)
        self.spec = ACCEPTING_MODELS


ACCEPTING_MODELS = dataclasses.replace(
    openai.MODEL,
    delete_answer=dataclasses.replace(
        openai.MODEL.delete_answer,
        accepted=AcceptedAnswer(DeleteAnswer({"id": THE_ID, "status": "deleting"}, status=202)),
    ),
)
ACCEPTING = dataclasses.replace(
    openai.SPEC, connect=http(bearer, AcceptingLister), kinds={"model": ACCEPTING_MODELS}
)


class VirtualTimer:
    """Time that passes only when waited for; ``stop_on`` sets the stop event during that
    wait (1-based), as a SIGTERM arriving while the run waits would."""

    def __init__(self, stop_on: int | None = None):
        self.now = 0.0
        self.waits: list[float] = []
        self.stop_on = stop_on
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        with self._lock:
            self.now += seconds
            self.waits.append(seconds)
            if len(self.waits) == self.stop_on:
                stop.set()
        return stop.is_set()


@pytest.fixture(autouse=True)
def accepting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "openai", ACCEPTING)


def path_of(model_id: str) -> str:
    return "/v1/models/" + quote(model_id, safe="")


def accepted(polls: int | None, model_id: str = MODEL) -> Fault:
    return Fault(
        "accepted",
        method="DELETE",
        path=path_of(model_id),
        status=202,
        body=ACCEPTED_BODY.replace(MODEL, model_id),
        polls=polls,
    )


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(seed_accounts()) as server:
        yield server


def run(
    tmp_path: Path,
    sim: Simulator,
    timer: VirtualTimer,
    *,
    ids: tuple[str, ...] = (MODEL,),
    dry_run: bool = False,
    within: timedelta | None = None,
) -> RunReport:
    job = write_job(tmp_path, sim, {"one": [{"provider": "openai", "ids": list(ids)}]})
    options = RunOptions(
        dry_run=dry_run,
        now=NOW,
        environ=KEYS,
        policy=FAST,
        second_pass_pause=0.0,
        waits=Waits(timer, within),
    )
    return execute(load_job_file(job), options)


def records(tmp_path: Path, model_id: str = MODEL) -> list[dict[str, Any]]:
    """The audit's records about one model, in order."""
    log = read_records(tmp_path / "audit" / "ftjanitor.jsonl")
    return [r for r in log if r.get("model_id") == model_id]


def events(tmp_path: Path, model_id: str = MODEL) -> list[str]:
    return [str(r["event"]) for r in records(tmp_path, model_id)]


def outcome(tmp_path: Path, model_id: str = MODEL) -> dict[str, Any]:
    (found,) = [r for r in records(tmp_path, model_id) if r["event"] == "delete.outcome"]
    return found


def sent(sim: Simulator, method: str, model_id: str = MODEL) -> int:
    return sum(1 for r in sim.requests if r.method == method and r.path.endswith(path_of(model_id)))


def end_of(report: RunReport) -> ev.RunEnded:
    end = report.outcomes[0].end
    if not isinstance(end, ev.RunEnded):
        raise AssertionError(f"the job did not run: {end}")
    return end


def test_accepted_then_gone_is_deleted_after_polls(tmp_path: Path, sim: Simulator) -> None:
    sim.faults = [accepted(polls=2)]
    timer = VirtualTimer()
    report = run(tmp_path, sim, timer)
    assert exit_code(report) == 0 and sim.deleted == [("openai", MODEL)]
    assert events(tmp_path) == [
        "delete.planned",
        "delete.intent",
        "delete.waiting",
        "delete.outcome",
    ]
    waiting = records(tmp_path)[2]
    assert (waiting["http_status"], waiting["within_seconds"]) == (202, 600)
    said = outcome(tmp_path)
    assert (said["result"], said["http_status"], said["attempts"]) == ("deleted", 202, 1)
    assert said["error"] == "accepted (HTTP 202); confirmed gone after 3 polls"
    assert timer.waits == [0.0, 2.0, 4.0]  # the first lookup at once, then backing off
    assert (sent(sim, "DELETE"), sent(sim, "GET")) == (1, 3)
    counts = end_of(report).counts
    assert (counts.deleted, counts.failed, counts.waiting) == (1, 0, 0)


def test_never_gone_is_failed_at_the_kinds_deadline(tmp_path: Path, sim: Simulator) -> None:
    sim.faults = [accepted(polls=None)]
    timer = VirtualTimer()
    report = run(tmp_path, sim, timer)
    assert exit_code(report) == 1 and sim.deleted == []
    said = outcome(tmp_path)
    polls = len(timer.waits)
    assert said["result"] == "failed"
    assert said["error"] == f"accepted (HTTP 202); still present after 10m ({polls} polls)"
    assert timer.now == ACCEPTED_WITHIN.total_seconds()  # the last poll is at the deadline
    assert max(timer.waits) == 30.0 and polls == sent(sim, "GET") == 24  # 0+2+4+8+16, 19 x 30
    assert end_of(report).status == "partial"


def test_a_second_pass_never_resends_an_accepted_delete(tmp_path: Path, sim: Simulator) -> None:
    # OTHER fails transiently on every try of the first pass, then goes on the second;
    # MODEL is accepted and never goes: its failure at the deadline is final.
    sim.faults = [accepted(polls=None), Fault("status", "DELETE", path_of(OTHER), times=6)]
    report = run(tmp_path, sim, VirtualTimer(), ids=(MODEL, OTHER), within=timedelta(seconds=30))
    assert sim.deleted == [("openai", OTHER)]
    assert (sent(sim, "DELETE"), sent(sim, "DELETE", OTHER)) == (1, 7)
    said = outcome(tmp_path)
    assert said["error"] == "accepted (HTTP 202); still present after 30s (5 polls)"
    counts = end_of(report).counts
    assert (counts.deleted, counts.failed) == (1, 1)


def test_lookup_errors_keep_waiting(tmp_path: Path, sim: Simulator) -> None:
    sim.faults = [
        Fault("status", "GET", path_of(MODEL), status=500, times=2),
        accepted(polls=0),
    ]
    assert exit_code(run(tmp_path, sim, VirtualTimer())) == 0
    assert outcome(tmp_path)["error"] == "accepted (HTTP 202); confirmed gone after 3 polls"


def test_lookup_errors_until_the_deadline_leave_the_outcome_unknown(
    tmp_path: Path, sim: Simulator
) -> None:
    sim.faults = [Fault("status", "GET", path_of(MODEL), status=500), accepted(polls=0)]
    report = run(tmp_path, sim, VirtualTimer(), within=timedelta(minutes=2))
    assert exit_code(report) == 1
    said = outcome(tmp_path)
    error = str(said["error"])
    assert said["result"] == "failed"
    assert error.startswith("accepted (HTTP 202); could not look it up at the deadline (2m, 8")
    assert error.endswith("; outcome unknown") and "HTTP 500" in error
    assert sent(sim, "DELETE") == 1


def test_stopped_while_waiting_is_not_deleted_and_reconciled_next_run(
    tmp_path: Path, sim: Simulator
) -> None:
    # Found by the first lookup; the stop (SIGTERM) comes during the second wait.
    sim.faults = [accepted(polls=1)]
    report = run(tmp_path, sim, VirtualTimer(stop_on=2))
    end = end_of(report)
    assert exit_code(report) == 1 and end.status == "aborted"
    assert (end.counts.deleted, end.counts.failed, end.counts.waiting) == (0, 0, 1)
    assert end.message is not None and "1 accepted delete(s) not yet proven gone" in end.message
    assert "waiting 1" in render_outcome(report.outcomes[0])
    assert events(tmp_path) == ["delete.planned", "delete.intent", "delete.waiting"]
    # The next run settles the open intent by looking (the item went meanwhile), sends
    # nothing, and has nothing left to plan.
    again = run(tmp_path, sim, VirtualTimer())
    assert exit_code(again) == 0
    assert [r.result for r in again.reconciled] == ["deleted"]
    assert events(tmp_path)[3:] == ["delete.reconciled", "delete.absent"]
    assert sent(sim, "DELETE") == 1 and sim.deleted == [("openai", MODEL)]
    assert (end_of(again).counts.planned, end_of(again).counts.already_absent) == (0, 1)


def test_a_dry_run_never_gets_there(tmp_path: Path, sim: Simulator) -> None:
    sim.faults = [accepted(polls=0)]
    report = run(tmp_path, sim, VirtualTimer(), dry_run=True)
    assert exit_code(report) == 0 and end_of(report).counts.planned == 1
    assert sim.mutations() == [] and events(tmp_path) == ["delete.planned"]


def test_a_2xx_that_is_not_the_declared_accepted_answer_is_never_waited_for(
    tmp_path: Path, sim: Simulator
) -> None:
    sim.faults = [dataclasses.replace(accepted(polls=None), body="{}")]
    timer = VirtualTimer()
    assert exit_code(run(tmp_path, sim, timer)) == 1
    assert timer.waits == [] and "delete.waiting" not in events(tmp_path)
    assert str(outcome(tmp_path)["error"]).endswith("the model is still there")


def test_the_accepted_declaration_reads_values_strictly() -> None:
    answer = ACCEPTING_MODELS.delete_answer
    body = {"id": MODEL, "status": "deleting"}
    assert answer.accepts(202, body, MODEL) == ACCEPTED_WITHIN
    assert answer.accepts(200, body, MODEL) is None
    assert answer.accepts(202, {**body, "id": OTHER}, MODEL) is None
    assert answer.accepts(202, {}, MODEL) is None
    assert not answer.confirms(202, body, MODEL)  # accepted is never done
    assert openai.MODEL.delete_answer.accepts(202, body, MODEL) is None  # undeclared


def test_an_accepted_answer_may_be_the_whole_item() -> None:
    # e.g. a deployment answered in its deleting state, with every field it has
    deleting = DeleteAnswer({"name": str, "state": "DELETING"}, exact=False)
    answer = DeleteAnswer(accepted=AcceptedAnswer(deleting, timedelta(minutes=30)))
    item = {"name": "accounts/a/deployments/d", "state": "DELETING", "minReplicaCount": 1}
    assert answer.accepts(200, item, "d") == timedelta(minutes=30)
    assert answer.accepts(200, {**item, "state": "READY"}, "d") is None
    assert answer.accepts(200, {"state": "DELETING"}, "d") is None  # a declared key missing
    assert not answer.confirms(200, item, "d")


def test_waiting_is_said_on_stderr() -> None:
    ref = ev.ModelRef(ResourceRef.on("openai", "ft:x\x1b[31m"))
    stream = io.StringIO()
    with redirect_stderr(stream):
        SayWaiting().emit(ev.Waiting("j", "r", ref, 202, timedelta(minutes=10)))
    assert stream.getvalue() == (
        "ftjanitor: waiting for openai ft:x\\x1b[31m: the delete was accepted (HTTP 202);"
        " looking it up until it is gone, at most 10m\n"
    )


def test_the_simulator_fault_takes_polls_and_refuses_a_bad_one() -> None:
    fault = parse_fault("accepted:DELETE,status=202,polls=3")
    assert (fault.kind, fault.method, fault.status, fault.polls) == ("accepted", "DELETE", 202, 3)
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="polls"):
            Fault("accepted", polls=bad)  # type: ignore[arg-type]

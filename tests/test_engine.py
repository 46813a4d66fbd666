"""Plan, run and audit against the simulator through the real engine and CLI."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runner.audit import read_records, verify
from runner.cli import exit_code
from runner.engine import RunOptions, execute
from runner.jobfile.model import Connection
from runner.jobfile.validate import load_job_file
from runner.providers import REGISTRY
from runner.simulator import Fault, Simulator
from runner.state import StateRef
from tests import helpers
from tests.conftest import BFL_KEY, COHERE_KEY, FAST, NOW
from tests.helpers import DEMO_PLANNED, KEYS, NOW_ARG, ROOT, TEST_PACE, demo_job, run_cli
from tests.motoserver import REGION, MotoServer
from tests.waiting import drain, read_until, wait_for

PLANNED = DEMO_PLANNED


def write_job(tmp_path: Path, sim: Simulator, limit: int = 10) -> str:
    return helpers.write_job(tmp_path, demo_job(sim.url, max_deletions=limit))


def events(tmp_path: Path) -> list[dict[str, object]]:
    return list(read_records(tmp_path / "audit" / "ftjanitor.jsonl"))


def test_plan_sends_no_mutating_request(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("plan", write_job(tmp_path, sim), "--now", NOW_ARG) == 0
    out = capsys.readouterr().out
    assert sim.mutations() == [] and sim.deleted == []
    assert "6 to delete, 4 kept (1 protected), 1 already absent" in out
    assert "sim-cohere-0001  exp-baseline" in out and "protected" in out
    recorded = [e["event"] for e in events(tmp_path)]
    assert recorded == ["run.start"] + ["delete.planned"] * 6 + ["delete.absent", "run.end"]
    assert "delete.intent" not in recorded


def test_plan_json_lists_every_model(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli("run", write_job(tmp_path, sim), "--dry-run", "--json", "--now", NOW_ARG) == 0
    report = json.loads(capsys.readouterr().out)
    (job,) = report["jobs"]
    ids = {(d["connection"], d["id"]) for d in job["decisions"]}
    assert len([i for i in ids if i[0] == "cohere"]) == 12  # every Cohere model looked at
    assert {
        (d["connection"], d["id"]) for d in job["decisions"] if d["decision"] == "delete"
    } == PLANNED
    assert sim.mutations() == []


def test_run_deletes_exactly_the_plan(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, sim)
    assert run_cli("run", job, "--yes", "--now", NOW_ARG) == 0
    assert set(sim.deleted) == PLANNED and len(sim.deleted) == len(PLANNED)
    out = capsys.readouterr().out
    assert "deleted 6, already absent 1, failed 0, skipped 0 - ok" in out
    records = events(tmp_path)
    intents = [(r["provider"], r["model_id"]) for r in records if r["event"] == "delete.intent"]
    outcomes = [(r["provider"], r["model_id"]) for r in records if r["event"] == "delete.outcome"]
    assert set(intents) == set(outcomes) == PLANNED
    for record in records:  # every intent is written before its outcome
        if record["event"] == "delete.outcome":
            assert any(
                r["event"] == "delete.intent"
                and r["model_id"] == record["model_id"]
                and r["seq"] < record["seq"]
                for r in records
            )
    end = records[-1]
    assert (end["event"], end["status"], end["deleted"], end["already_absent"]) == (
        "run.end",
        "ok",
        6,
        1,
    )
    assert verify(tmp_path / "audit" / "ftjanitor.jsonl").ok
    # A second run finds nothing left to do, and deletes nothing twice.
    assert run_cli("run", job, "--yes", "--now", NOW_ARG) == 0
    assert len(sim.deleted) == len(PLANNED)


def test_the_already_absent_count_matches_the_audit_records(tmp_path: Path, sim: Simulator) -> None:
    """An ids: entry the provider does not list, and a model deleted elsewhere between the
    listing and its delete, are both already absent: the count and the records agree."""
    job_file = load_job_file(write_job(tmp_path, sim))

    def vanish_then_confirm(planset: object) -> bool:
        del sim.accounts.cohere["sim-cohere-0002"]  # deleted by someone else meanwhile
        return True

    options = RunOptions(
        dry_run=False, now=NOW, environ=KEYS, policy=FAST, confirm=vanish_then_confirm
    )
    report = execute(job_file, options)
    assert exit_code(report) == 0
    records = events(tmp_path)
    absent = [r["model_id"] for r in records if r["event"] == "delete.absent"]
    gone = [
        r["model_id"]
        for r in records
        if r["event"] == "delete.outcome" and r["result"] == "already_absent"
    ]
    assert (absent, gone) == (["never-existed"], ["sim-cohere-0002"])
    assert records[-1]["already_absent"] == len(absent) + len(gone) == 2


def test_max_deletions_aborts_with_zero_deletes(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Limits count per connection (4 on cohere, 2 on bfl): both over 1.
    assert run_cli("run", write_job(tmp_path, sim, limit=1), "--yes", "--now", NOW_ARG) == 1
    assert sim.mutations() == []
    out = capsys.readouterr().out
    assert "would delete 4 models on cohere, over its max_deletions of 1" in out
    assert "would delete 2 models on bfl, over its max_deletions of 1: nothing deleted" in out
    assert events(tmp_path)[-1]["status"] == "aborted"


def test_a_failed_delete_gives_exit_1_and_the_others_still_happen(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.faults = [
        Fault(
            "status",
            method="DELETE",
            path="/v1/finetuning/finetuned-models/sim-cohere-0003",
            status=400,
        )
    ]
    assert run_cli("run", write_job(tmp_path, sim), "--yes", "--now", NOW_ARG) == 1
    assert set(sim.deleted) == PLANNED - {("cohere", "sim-cohere-0003")}
    out = capsys.readouterr().out
    assert "failed 1" in out and "partial" in out
    assert "failed: cohere sim-cohere-0003: simulated error 400" in out
    outcome = next(
        r
        for r in events(tmp_path)
        if r.get("model_id") == "sim-cohere-0003" and r["event"] == "delete.outcome"
    )
    assert (outcome["result"], outcome["http_status"], outcome["attempts"]) == ("failed", 400, 1)


def test_killed_between_intent_and_outcome_is_reconciled(
    tmp_path: Path, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import seed_accounts

    slow_deletes = [  # Cohere deletes with DELETE, BFL with POST: both are held
        Fault("delay", method="DELETE", seconds=1.5),
        Fault("delay", method="POST", seconds=1.5),
    ]
    with Simulator(seed_accounts(), faults=slow_deletes) as sim:
        job = write_job(tmp_path, sim)
        log = tmp_path / "audit" / "ftjanitor.jsonl"
        child = subprocess.Popen(
            [sys.executable, "-m", "runner", "run", job, "--yes", "--now", NOW_ARG],
            env={**os.environ, **KEYS},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: log.exists() and b"delete.intent" in log.read_bytes())
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        orphans = {r["model_id"] for r in read_records(log) if r["event"] == "delete.intent"}
        assert orphans and not [r for r in read_records(log) if r["event"] == "delete.outcome"]
        # the server finishes the deletes it had received
        wait_for(lambda: not any(r.method == "DELETE" and r.status == 0 for r in sim.requests))
        sim.faults = []
        done_by_server = {mid for _, mid in sim.deleted}
        assert run_cli("run", job, "--yes", "--now", NOW_ARG) == 0
    reconciled = {r["model_id"]: r for r in read_records(log) if r["event"] == "delete.reconciled"}
    # Every intent in the audit is settled. The state records an intent before the audit
    # does, so a kill between the two leaves one more: never sent, so found "present".
    assert orphans <= set(reconciled)
    for model_id in set(reconciled) - orphans:
        assert model_id not in done_by_server
    # Killed after the intent but before the request left: "present", and deleted now.
    for model_id, record in reconciled.items():
        assert record["result"] == ("deleted" if model_id in done_by_server else "present")
    assert "after an interrupted run" in capsys.readouterr().out
    assert set(sim.deleted) == PLANNED and len(sim.deleted) == len(PLANNED)
    assert verify(log).ok


def test_unknown_job_and_bad_now_exit_2(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, sim)
    assert run_cli("plan", job, "--job", "nope") == 2
    assert run_cli("plan", job, "--now", "yesterday") == 2
    err = capsys.readouterr().err.splitlines()
    assert "no job named 'nope' (jobs: cleanup)" in err[0]
    assert (
        err[1]
        == "ftjanitor: plan: argument --now: 'yesterday' is not an ISO 8601 time like 2026-06-01T00:00:00Z"
    )
    assert sim.requests == []


@pytest.mark.parametrize("example", sorted((ROOT / "jobs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_job_file_plans(
    example: Path, tmp_path: Path, sim: Simulator, moto: MotoServer
) -> None:
    """Each example validates and plans with nothing mutating sent: HTTP types against the
    simulator's mount for their type, Bedrock against moto's server."""
    job_file = load_job_file(str(example))

    def pointed(conn: Connection) -> Connection:
        if conn.type == "bedrock":
            # The example's profile names a machine of its reader's; moto takes any keys.
            options = {**conn.options, "endpoint_url": moto.url, "region": REGION}
            options.pop("profile", None)
            return dataclasses.replace(conn, options=options)
        options = (
            {**conn.options, "account_id": "sim-account"}
            if conn.type == "fireworks"
            else conn.options
        )
        # Azure OpenAI's URLs are fields of their own (its example names a real account).
        urls = {"endpoint", "management_url"} & set(REGISTRY[conn.type].connection_fields)
        options = {**options, **dict.fromkeys(urls, sim.base_url(conn.type))}
        return dataclasses.replace(
            conn, base_url=sim.base_url(conn.type), options=options, requests_per_minute=600_000
        )

    local = dataclasses.replace(
        job_file,
        connections={name: pointed(conn) for name, conn in job_file.connections.items()},
        audit_log=tmp_path / "audit.jsonl",
        state=StateRef(path=tmp_path / "state.sqlite3"),
    )
    keys = {"cohere": COHERE_KEY, "bfl": BFL_KEY}
    environ = {
        conn.api_key_env: keys.get(conn.type, f"{conn.type}-test-key")
        for conn in local.connections.values()
        if conn.api_key_env
    }
    # Variables a connection names besides its key (Azure's management token).
    environ |= {
        str(value): "test-token"
        for conn in local.connections.values()
        for field, value in conn.options.items()
        if field.endswith("_env") and value
    }
    report = execute(local, RunOptions(dry_run=True, now=NOW, environ=environ, policy=FAST))
    assert exit_code(report) == 0, [str(e) for e in report.planset.errors.values()]
    assert [o.job for o in report.outcomes] == [j.name for j in job_file.jobs]
    assert sim.mutations() == []


def test_a_live_runs_intent_is_not_reconciled_by_another_job(
    tmp_path: Path, sim: Simulator
) -> None:
    job_file = load_job_file(write_job(tmp_path, sim))
    from runner.audit import AuditLog

    log = AuditLog(job_file.audit_log)
    log.append(
        "delete.intent",
        "live-run",
        {"job": "other-job", "provider": "cohere", "model_id": "sim-cohere-0009"},
    )
    log.close()
    execute(job_file, RunOptions(dry_run=False, now=NOW, environ=KEYS, policy=FAST))
    events = [r["event"] for r in read_records(job_file.audit_log)]
    assert "delete.reconciled" not in events  # "other-job" may be running right now
    assert not any(r.method == "GET" and r.path.endswith("sim-cohere-0009") for r in sim.requests)


def _on_a_terminal(job: str, answer: bytes) -> str:
    """Run `ftjanitor run` with a pseudo-terminal as stdin/stdout and type ``answer``."""
    import pty

    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "runner", "run", job, "--now", NOW_ARG],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, **KEYS},
        cwd=ROOT,
    )
    os.close(follower)
    try:
        seen = read_until(leader, b"[y/N]")
        os.write(leader, answer)
        child.wait(30)
        seen += drain(leader)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        os.close(leader)
    return seen.decode()


def test_on_a_terminal_run_shows_the_plan_and_asks(tmp_path: Path, sim: Simulator) -> None:
    job = write_job(tmp_path, sim)
    declined = _on_a_terminal(job, b"n\n")
    assert (
        "6 to delete" in declined
        and "Delete 6 fine-tunes? This cannot be undone. [y/N]" in declined
    )
    assert "cancelled: nothing deleted" in declined
    assert sim.mutations() == []
    accepted = _on_a_terminal(job, b"y\n")
    assert "deleted 6, already absent 1" in accepted
    assert "deleting 6/6" in accepted  # the progress line, shown on terminals only
    assert set(sim.deleted) == PLANNED


def test_sigterm_during_run_finishes_in_flight_and_starts_nothing_new(tmp_path: Path) -> None:
    from tests.conftest import seed_accounts

    with Simulator(seed_accounts(), faults=[Fault("delay", method="DELETE", seconds=0.4)]) as sim:
        path = tmp_path / "job.yaml"
        one_at_a_time = {"concurrency": 1, "requests_per_minute": TEST_PACE}
        path.write_text(demo_job(sim.url, connection=one_at_a_time, max_deletions=10))
        log = tmp_path / "audit" / "ftjanitor.jsonl"
        child = subprocess.Popen(
            [sys.executable, "-m", "runner", "run", str(path), "--yes", "--now", NOW_ARG],
            env={**os.environ, **KEYS},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        wait_for(lambda: log.exists() and b"delete.outcome" in log.read_bytes())
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=10)
    assert child.returncode == 1
    assert "SIGTERM: finishing deletes in flight, starting no new ones" in err
    assert "aborted" in out and "interrupted: no new deletes were started" in out
    records = list(read_records(log))
    intents = sorted(r["model_id"] for r in records if r["event"] == "delete.intent")
    outcomes = sorted(r["model_id"] for r in records if r["event"] == "delete.outcome")
    assert intents == outcomes and 0 < len(outcomes) < len(PLANNED)
    assert len(sim.deleted) == len(outcomes)
    assert records[-1]["event"] == "run.end" and records[-1]["skipped"] == len(PLANNED) - len(
        outcomes
    )
    assert verify(log).ok


def test_a_creation_time_in_bfl_details_beats_first_sighting(tmp_path: Path) -> None:
    from runner.simulator import Accounts

    accounts = Accounts()
    accounts.add_bfl("dated-lora", {"finetune_comment": "x", "created_at": "2026-01-01T00:00:00Z"})
    accounts.add_bfl("undated-lora")
    with Simulator(accounts) as sim:
        path = tmp_path / "job.yaml"
        path.write_text(
            f'version: 1\nproviders: {{bfl: {{base_url: "{sim.url}", requests_per_minute: 600000}}}}\njobs:\n  - {{name: j, targets: [{{provider: bfl, older_than: 14d}}]}}\n'
        )
        # The wall clock (first sightings) is pinned too: with the real one, the undated
        # finetune is first seen today, which is "under 14d" at NOW only from 2026-05-18
        # on: the test passed only after a calendar date.
        options = RunOptions(dry_run=False, now=NOW, environ=KEYS, policy=FAST, clock=lambda: NOW)
        report = execute(load_job_file(str(path)), options)
    decisions = {d.ref.id: d for d in report.outcomes[0].plan.decisions}  # type: ignore[union-attr]
    assert (
        decisions["dated-lora"].age_basis == "created"
        and decisions["dated-lora"].action == "delete"
    )
    assert (
        decisions["undated-lora"].age_basis == "first seen"
        and decisions["undated-lora"].action == "keep"
    )
    assert sim.deleted == [("bfl", "dated-lora")]

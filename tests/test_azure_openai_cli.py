"""azure_openai end to end through the CLI against the simulator (issue 19): both kinds,
the plan exact and read-only, a run deleting exactly the plan with the long-running delete
followed to its end, a served model blocked and then deleted after its deployment, use
from Azure Monitor (and fail safe), cost, faults, bad input, and no token leaked."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.audit import read_records
from runner.providers import _azure_arm
from runner.simulator import Fault, Simulator, load_seed
from runner.simulator.azure_openai import ACCOUNT, RESOURCE_GROUP, SUBSCRIPTION
from tests.azurejobs import (
    BASE,
    BASE_DEPLOYMENT,
    BUSY,
    IDLE,
    KEY,
    MONTHLY,
    OLD,
    SERVED,
    TOKEN,
    TOKEN_ENV,
    YOUNG,
    accounts,
    azure_job,
)
from tests.conftest import NOW
from tests.helpers import NOW_ARG, cli, plan_decisions, run_now

Capsys = pytest.CaptureFixture[str]
MODELS_OLD = "{provider: az, older_than: 30d}"
DEPLOYMENTS_UNUSED = "{provider: az, kind: deployment, unused_for: 30d}"
METRICS_PATH = (
    f"/azure_openai/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
    f"/providers/Microsoft.CognitiveServices/accounts/{ACCOUNT}"
)


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(accounts(), keys={"azure_openai": KEY}) as server:
        yield server


def outcomes(tmp_path: Path) -> dict[str, dict[str, Any]]:
    records = read_records(tmp_path / "audit" / "ftjanitor.jsonl")
    return {str(r["model_id"]): r for r in records if r["event"] == "delete.outcome"}


def arm_gets(sim: Simulator, part: str) -> list[str]:
    return [r.path for r in sim.requests if r.method == "GET" and part in r.path]


# -- plan -----------------------------------------------------------------------------------


def test_plan_is_exact_and_read_only(tmp_path: Path, sim: Simulator, capsys: Capsys) -> None:
    job = azure_job(tmp_path, sim, MODELS_OLD, DEPLOYMENTS_UNUSED)
    decided = plan_decisions(capsys, job)
    assert BASE not in decided  # a base model is never a candidate
    deletes = {i for i, d in decided.items() if d["decision"] == "delete"}
    assert deletes == {OLD, IDLE, BASE_DEPLOYMENT}
    assert decided[SERVED]["reason"] == f"served by deployment {IDLE}"
    assert decided[YOUNG]["decision"] == "keep"
    assert decided[IDLE]["reason"] == "unused_for 30d: no use in 30d"
    assert decided[BUSY]["reason"].startswith("last used 2026-06-01")
    assert sim.mutations() == []
    # Usage is one Azure Monitor request for the account and window, top >= deployments.
    (metrics,) = [r for r in sim.requests if "Microsoft.Insights/metrics" in r.path]
    assert metrics.method == "GET"


def test_metrics_are_asked_for_every_deployment_even_past_ten(
    tmp_path: Path, capsys: Capsys
) -> None:
    """The API's default top=10 would drop two of these twelve busy deployments, and a
    dropped one would look unused: none may be planned."""
    busy = [
        {"name": f"ft-dep-{i:02d}", "model": SERVED, "age_days": 40, "used_days_ago": [2]}
        for i in range(12)
    ]
    seed = {"deployment": busy, "config": [{"op_polls": 0}]}
    with Simulator(load_seed({"azure_openai": seed}, NOW), keys={"azure_openai": KEY}) as sim:
        decided = plan_decisions(capsys, azure_job(tmp_path, sim, DEPLOYMENTS_UNUSED))
    assert {i: d["decision"] for i, d in decided.items()} == {e["name"]: "keep" for e in busy}


# -- run ------------------------------------------------------------------------------------


def test_run_deletes_exactly_the_plan_and_follows_the_operation(
    tmp_path: Path, capsys: Capsys
) -> None:
    with Simulator(accounts(op_polls=0), keys={"azure_openai": KEY}) as sim:
        job = azure_job(tmp_path, sim, MODELS_OLD, DEPLOYMENTS_UNUSED)
        planned = {i for i, d in plan_decisions(capsys, job).items() if d["decision"] == "delete"}
        assert run_now(job) == 0
        assert {i for _, i in sim.deleted} == planned
        assert arm_gets(sim, "/operationResults/")  # the 202's operation was polled
    got = outcomes(tmp_path)
    assert {i: r["result"] for i, r in got.items()} == {i: "deleted" for i in planned}
    assert got[IDLE]["kind"] == "deployment"
    # The model's DELETE path is not served (GA spec): its fine-tuning job went instead.
    paths = [r.path for r in sim.requests if r.method == "DELETE"]
    assert any("/openai/fine_tuning/jobs/ftjob-0a0a0a0a0a0a0a0a" in p for p in paths)


def test_a_served_model_is_deleted_after_its_deployment(tmp_path: Path, sim: Simulator) -> None:
    target = "{provider: az, ids: [" + SERVED + "], with_deployments: true}"
    job = azure_job(tmp_path, sim, target)
    assert run_now(job) == 0
    assert sim.deleted == [("azure_openai", IDLE), ("azure_openai", SERVED)]


def test_the_served_model_blocked_is_left_alone(tmp_path: Path, sim: Simulator) -> None:
    job = azure_job(tmp_path, sim, "{provider: az, ids: [" + SERVED + "]}")
    assert run_now(job) == 0
    assert sim.mutations() == []


# -- usage and cost -------------------------------------------------------------------------


def test_usage_unreadable_keeps_everything_and_ends_partial(
    tmp_path: Path, sim: Simulator, capsys: Capsys
) -> None:
    metrics = "/providers/Microsoft.Insights/metrics"
    sim.faults = [Fault("status", status=500, api="azure_openai", path=METRICS_PATH + metrics)]
    job = azure_job(tmp_path, sim, DEPLOYMENTS_UNUSED)
    code, out, _ = cli(capsys, "plan", job, "--json", "--now", NOW_ARG)
    assert code == 1
    (entry,) = json.loads(out)["jobs"]
    assert {d["decision"] for d in entry["decisions"]} == {"skip"}
    assert all(d["reason"].startswith("usage unknown: azure_monitor") for d in entry["decisions"])
    assert run_now(job) == 1 and sim.mutations() == []


def test_cost_and_savings(tmp_path: Path, sim: Simulator, capsys: Capsys) -> None:
    job = azure_job(tmp_path, sim, MODELS_OLD, DEPLOYMENTS_UNUSED)
    code, out, err = cli(capsys, "plan", job, "--json", "--now", NOW_ARG)
    assert code == 0, err
    (entry,) = json.loads(out)["jobs"]
    cost = {d["id"]: d["monthly_cost"] for d in entry["decisions"]}
    assert cost[IDLE] == MONTHLY and cost[BASE_DEPLOYMENT] == 0 and cost[OLD] == 0
    assert entry["estimated_monthly_savings"] == MONTHLY


# -- faults ---------------------------------------------------------------------------------


def test_a_conflict_is_failed_with_its_words(tmp_path: Path, sim: Simulator) -> None:
    sim.faults = [Fault("status", method="DELETE", status=409, api="azure_openai")]
    job = azure_job(tmp_path, sim, "{provider: az, kind: deployment, ids: [" + IDLE + "]}")
    assert run_now(job) == 1
    assert outcomes(tmp_path)[IDLE]["result"] == "failed"
    assert sim.deleted == []


def test_an_operation_that_fails_is_failed_with_its_error(tmp_path: Path, capsys: Capsys) -> None:
    with Simulator(accounts(op_fails=[IDLE]), keys={"azure_openai": KEY}) as sim:
        job = azure_job(tmp_path, sim, "{provider: az, kind: deployment, ids: [" + IDLE + "]}")
        assert run_now(job) == 1
        assert sim.deleted == []
    got = outcomes(tmp_path)[IDLE]
    assert got["result"] == "failed" and "ended Failed" in got["error"]


def test_an_operation_url_on_another_host_is_never_polled(tmp_path: Path) -> None:
    with (
        Simulator() as other,
        Simulator(accounts(op_host=other.url), keys={"azure_openai": KEY}) as sim,
    ):
        job = azure_job(tmp_path, sim, "{provider: az, kind: deployment, ids: [" + IDLE + "]}")
        assert run_now(job) == 0  # settled by looking the deployment up instead
        assert other.requests == []  # the token never went there
    got = outcomes(tmp_path)[IDLE]
    assert got["result"] == "deleted" and "not polled" in got["error"]


def test_a_throttled_request_is_retried_after_its_wait(tmp_path: Path, sim: Simulator) -> None:
    sim.faults = [
        Fault("status", method="DELETE", status=429, retry_after=0, times=1, api="azure_openai")
    ]
    job = azure_job(tmp_path, sim, "{provider: az, kind: deployment, ids: [" + IDLE + "]}")
    assert run_now(job) == 0
    assert sim.deleted == [("azure_openai", IDLE)]


def test_a_next_link_on_another_host_is_refused(tmp_path: Path, capsys: Capsys) -> None:
    with (
        Simulator() as other,
        Simulator(accounts(next_host=other.url, page_size=1), keys={"azure_openai": KEY}) as sim,
    ):
        job = azure_job(tmp_path, sim, DEPLOYMENTS_UNUSED)
        code, out, err = cli(capsys, "plan", job, "--now", NOW_ARG)
        assert code == 1
        assert "refused to follow a link" in out + err
        assert other.requests == [] and sim.mutations() == []


def test_no_token_is_ever_shown_or_kept(tmp_path: Path, capsys: Capsys) -> None:
    with Simulator(accounts(echo_token=True), keys={"azure_openai": KEY}) as sim:
        job = azure_job(tmp_path, sim, MODELS_OLD, DEPLOYMENTS_UNUSED)
        code, out, err = cli(capsys, "run", job, "--yes", "--now", NOW_ARG)
        assert code in (1, 2)
        assert "AuthorizationFailed" in err or "authorization" in (out + err)
    kept = "".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())
    assert TOKEN not in out + err + kept
    assert "'[REDACTED]'" in out + err  # it was echoed, and shown only redacted


# -- bad input ------------------------------------------------------------------------------


def test_deployments_need_the_arm_scope_at_their_line(
    tmp_path: Path, sim: Simulator, capsys: Capsys
) -> None:
    job = azure_job(tmp_path, sim, DEPLOYMENTS_UNUSED, account=None)
    code, _, err = cli(capsys, "validate", job)
    assert code == 2
    assert "targets[0].kind: kind deployment at azure_openai connection 'az' needs" in err
    assert "missing: account" in err


def test_plain_http_is_refused_except_on_loopback(
    tmp_path: Path, sim: Simulator, capsys: Capsys
) -> None:
    job = azure_job(tmp_path, sim, MODELS_OLD, endpoint="http://example.openai.azure.com")
    code, _, err = cli(capsys, "validate", job)
    assert code == 2 and "endpoint must use https" in err


def test_no_management_credential_exits_2_naming_the_extra(
    tmp_path: Path, sim: Simulator, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_azure_arm, "identity_installed", lambda: False)
    job = azure_job(tmp_path, sim, DEPLOYMENTS_UNUSED, management_token_env=None)
    code, _, err = cli(capsys, "plan", job, "--now", NOW_ARG)
    assert code == 2 and "ftjanitor[azure]" in err
    assert sim.requests == []


def test_a_missing_token_variable_exits_2_before_any_request(
    tmp_path: Path, sim: Simulator, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV)
    code, _, err = cli(capsys, "plan", azure_job(tmp_path, sim, MODELS_OLD), "--now", NOW_ARG)
    assert code == 2 and TOKEN_ENV in err
    assert sim.requests == []


def test_a_model_is_used_when_a_deployment_serving_it_was(
    tmp_path: Path, sim: Simulator, capsys: Capsys
) -> None:
    decided = plan_decisions(capsys, azure_job(tmp_path, sim, "{provider: az, unused_for: 3d}"))
    assert decided[YOUNG]["decision"] == "keep"  # its deployment BUSY was called yesterday
    assert decided[YOUNG]["reason"].startswith("last used 2026-06-01")
    assert decided[OLD]["reason"] == "unused_for 3d: no use in 3d"  # served by nothing
    assert decided[SERVED]["reason"] == f"served by deployment {IDLE}"
    assert sim.mutations() == []
    # The deployments the model target listed are the ones its use is read through.
    assert len([p for p in arm_gets(sim, "/deployments") if "/deployments/" not in p]) == 1


@pytest.mark.parametrize(
    ("target", "at"),
    [
        ("{provider: az, unused_for: 30d}", "unused_for: unused_for"),
        (
            "{provider: az, older_than: 30d, with_deployments: true}",
            "with_deployments: with_deployments",
        ),
    ],
)
def test_use_and_with_deployments_need_the_arm_scope_too(
    tmp_path: Path, sim: Simulator, capsys: Capsys, target: str, at: str
) -> None:
    job = azure_job(tmp_path, sim, target, subscription_id=None, resource_group=None)
    code, _, err = cli(capsys, "validate", job)
    assert code == 2
    assert f"targets[0].{at} at azure_openai connection 'az' needs" in err
    assert "missing: subscription_id, resource_group" in err
    ok = azure_job(tmp_path, sim, MODELS_OLD, subscription_id=None, resource_group=None)
    assert cli(capsys, "validate", ok)[0] == 0  # models alone need no ARM scope

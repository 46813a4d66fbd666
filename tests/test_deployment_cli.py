"""``kind: deployment`` through the command line, at each type that has it: a job file
target ``{provider: X, kind: deployment, ...}`` validates, plans exactly and read-only, and
a run deletes exactly the plan, its audit records naming the kind. Bedrock speaks boto3 to
the simulator's bedrock wire (as tests/test_deployment_bedrock.py does), Together and
Fireworks HTTP to theirs. A Fireworks delete answered DELETING is waited for until a
lookup finds it gone."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.audit import read_records
from runner.simulator import Fault, Simulator, load_seed
from tests.conftest import NOW
from tests.helpers import TEST_PACE, cli, job_yaml, one_job, plan_decisions, run_now, write_job
from tests.test_bedrock import (  # noqa: F401 (autouse fixtures: fake credentials, loopback only, no back-off)
    REGION,
    aws_env,
    loopback_only,
    no_backoff,
)

pytestmark = pytest.mark.timeout(120)

ACCOUNT = "acme"
OUTPUT = "sim-user/Llama-exp-1"  # the model Together's fine-tune job made
SEED: dict[str, Any] = {
    "bedrock": {
        "model": [{"name": "ft-0", "age_days": 60}, {"name": "ft-1", "age_days": 60}],
        "deployment": [
            {"name": "pt-old", "model": "ft-0", "age_days": 40},
            {"name": "pt-new", "model": "ft-1", "age_days": 2},
        ],
    },
    "together": {
        "model": [{"id": "ft-job-1", "model_output_name": OUTPUT, "age_days": 60}],
        "deployment": [
            {"id": "endpoint-old", "model": OUTPUT, "age_days": 40},
            {"id": "endpoint-new", "age_days": 2},
        ],
    },
    "fireworks": {
        "model": [{"id": "lora-1", "account": ACCOUNT, "age_days": 60}],
        "deployment": [
            {"id": "dep-old", "account": ACCOUNT, "loras": ["lora-1"], "age_days": 40},
            {"id": "dep-new", "account": ACCOUNT, "age_days": 2},
        ],
    },
}
TYPES = sorted(SEED)
# What the simulator's ``deleted`` list names each type's deleted deployment by.
DELETED = {
    "bedrock": "provisioned-model/pt-old",
    "together": "endpoint-old",
    "fireworks": f"accounts/{ACCOUNT}/deployments/dep-old",
}


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    monkeypatch.setenv("TOGETHER_API_KEY", "sim-together-cli-1")
    monkeypatch.setenv("FIREWORKS_API_KEY", "sim-fireworks-cli-1")
    with Simulator(load_seed(SEED, NOW)) as server:
        yield server


def connection(sim: Simulator, type_: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"type": type_, "requests_per_minute": TEST_PACE}
    if type_ == "bedrock":
        return {**fields, "region": REGION, "endpoint_url": sim.base_url("bedrock")}
    fields["base_url"] = sim.base_url(type_)
    return {**fields, "account_id": ACCOUNT} if type_ == "fireworks" else fields


def deployment_job(tmp_path: Path, sim: Simulator, type_: str, rule: str) -> str:
    """One job with one target: the type's deployments that ``rule`` selects."""
    target = f"{{provider: conn, kind: deployment, {rule}}}"
    return write_job(tmp_path, job_yaml({"conn": connection(sim, type_)}, one_job("j", [target])))


def old(type_: str) -> str:
    return {"bedrock": "pt-old", "together": "endpoint-old", "fireworks": "dep-old"}[type_]


def new(type_: str) -> str:
    return old(type_).replace("old", "new")


def audit(tmp_path: Path) -> list[dict[str, Any]]:
    return read_records(tmp_path / "audit" / "ftjanitor.jsonl")


@pytest.mark.parametrize("type_", TYPES)
def test_a_deployment_target_validates(
    tmp_path: Path, sim: Simulator, type_: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "validate", deployment_job(tmp_path, sim, type_, "older_than: 30d"))
    assert (code, err) == (0, "")


@pytest.mark.parametrize("type_", TYPES)
def test_the_plan_is_exact_and_read_only(
    tmp_path: Path, sim: Simulator, type_: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = deployment_job(tmp_path, sim, type_, "older_than: 30d")
    decisions = plan_decisions(capsys, path)
    assert {i for i, d in decisions.items() if d["decision"] == "delete"} == {old(type_)}
    assert decisions[new(type_)]["decision"] != "delete"
    assert not any(r.mutating for r in sim.requests)  # a plan sends nothing that changes
    assert sim.deleted == []


@pytest.mark.parametrize("type_", TYPES)
def test_a_run_deletes_exactly_the_plan_and_audits_the_kind(
    tmp_path: Path, sim: Simulator, type_: str
) -> None:
    assert run_now(deployment_job(tmp_path, sim, type_, "older_than: 30d")) == 0
    assert sim.deleted == [(type_, DELETED[type_])]
    records = [r for r in audit(tmp_path) if "model_id" in r]
    assert records and all(r["kind"] == "deployment" for r in records)
    (outcome,) = [r for r in records if r["event"] == "delete.outcome"]
    assert (outcome["model_id"], outcome["result"]) == (old(type_), "deleted")


def test_a_deployment_named_by_id_is_deleted_and_its_models_stay(
    tmp_path: Path, sim: Simulator
) -> None:
    # The model kind is not listed, let alone deleted, by a deployment target.
    assert run_now(deployment_job(tmp_path, sim, "fireworks", "ids: [dep-new]")) == 0
    assert sim.deleted == [("fireworks", f"accounts/{ACCOUNT}/deployments/dep-new")]
    assert not any(r.path.endswith("/models") for r in sim.requests)


def test_a_fireworks_delete_answered_deleting_ends_deleted_once_a_lookup_finds_it_gone(
    tmp_path: Path, sim: Simulator
) -> None:
    name = f"accounts/{ACCOUNT}/deployments/dep-old"
    path = f"/v1/{name}"
    # Accepted, not done: the deployment stays until the first lookup, which finds it gone.
    deleting = json.dumps({"name": name, "state": "DELETING", "displayName": "dep-old"})
    sim.faults = [Fault("accepted", method="DELETE", path=path, status=200, body=deleting, polls=0)]
    assert run_now(deployment_job(tmp_path, sim, "fireworks", "older_than: 30d")) == 0
    sent = [r.method for r in sim.requests if r.path.endswith(path)]
    assert sent == ["DELETE", "GET"]  # sent once; then looked up, never sent again
    assert sim.deleted == [("fireworks", name)]
    records = [r for r in audit(tmp_path) if r.get("model_id") == "dep-old"]
    assert "delete.waiting" in [r["event"] for r in records]
    (outcome,) = [r for r in records if r["event"] == "delete.outcome"]
    assert (outcome["kind"], outcome["result"]) == ("deployment", "deleted")
    assert outcome["error"].startswith("accepted (HTTP 200); confirmed gone")


def test_deployment_costs_follow_the_price_facts_and_the_job_files_prices(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # Together's default endpoint: 1 H100 per replica, 1 replica at least: $3.99 x 730 h.
    path = deployment_job(tmp_path, sim, "together", "older_than: 30d")
    decisions = plan_decisions(capsys, path)
    assert decisions["endpoint-old"]["monthly_cost"] == 2912.7
    assert decisions["endpoint-old"]["cost_basis"] == "1 × nvidia_h100_80gb_sxm at $3.99/h"
    # The job file's prices: come first.
    text = Path(path).read_text(encoding="utf-8")
    Path(path).write_text(text + "prices:\n  - {type: together, hardware: '*h100*', per_hour: 2}\n")
    decisions = plan_decisions(capsys, path)
    assert decisions["endpoint-old"]["monthly_cost"] == 1460.0
    assert decisions["endpoint-old"]["cost_basis"].endswith("at $2.00/h (prices[0])")

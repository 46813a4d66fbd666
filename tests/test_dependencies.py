"""What hosts a model, through the command line against the simulator: a model target lists
its connection's deployments; a served model is blocked, or with ``with_deployments``
deleted after its deployments in the same run; a committed deployment is never deleted;
protecting either one protects the chain; ``served_model:`` selects deployments."""

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.audit import read_records
from runner.jobfile.model import Job, Target
from runner.providers import REGISTRY
from runner.providers.base import ModelRecord
from runner.ref import ResourceRef
from runner.rules import Decision, plan_job
from runner.simulator import Fault, Simulator, load_seed
from runner.state import Mark
from tests.conftest import NOW
from tests.helpers import cli, job_yaml, one_job, plan_decisions, run_now, write_job
from tests.test_bedrock import (  # noqa: F401 (autouse fixtures: fake credentials, loopback only, no back-off)
    REGION,
    aws_env,
    loopback_only,
    no_backoff,
)
from tests.test_deployment_cli import ACCOUNT, connection

pytestmark = pytest.mark.timeout(120)

WIDE = [f"endpoint-a{i}" for i in range(1, 5)]  # four endpoints serving ft-job-1


def output(n: int) -> str:
    return f"sim-user/Llama-exp-{n}"


SEED: dict[str, Any] = {
    "together": {
        "model": [
            {"id": f"ft-job-{n}", "model_output_name": output(n), "age_days": 60} for n in (1, 2, 3)
        ],
        "deployment": [
            *({"id": e, "model": output(1), "age_days": 40} for e in WIDE),
            {"id": "endpoint-c", "model": output(2), "age_days": 40},
            {"id": "endpoint-base", "age_days": 40},  # serves a base model: none of ours
        ],
    },
    "bedrock": {
        "model": [{"name": "ft-0", "age_days": 60}, {"name": "ft-1", "age_days": 60}],
        "deployment": [
            {
                "name": "pt-committed",
                "model": "ft-0",
                "commitmentDuration": "SixMonths",
                "commitmentExpirationTime": "2099-01-01T00:00:00.000Z",
                "age_days": 40,
            },
            {"name": "pt-free", "model": "ft-1", "age_days": 40},
        ],
    },
    "fireworks": {
        "model": [{"id": "lora-1", "account": ACCOUNT, "age_days": 60}],
        "deployment": [{"id": "dep-1", "account": ACCOUNT, "loras": ["lora-1"], "age_days": 40}],
    },
}
ENDPOINTS = "/v1/endpoints"
FINE_TUNES = "/v1/fine-tunes"


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    monkeypatch.setenv("TOGETHER_API_KEY", "sim-together-deps-1")
    monkeypatch.setenv("FIREWORKS_API_KEY", "sim-fireworks-deps-1")
    with Simulator(load_seed(SEED, NOW)) as server:
        yield server


def job(
    tmp_path: Path, sim: Simulator, *targets: str, type_: str = "together", **fields: Any
) -> str:
    text = job_yaml({"conn": connection(sim, type_)}, one_job("j", list(targets), **fields))
    return write_job(tmp_path, text)


def audit(tmp_path: Path) -> list[dict[str, Any]]:
    return list(read_records(tmp_path / "audit" / "ftjanitor.jsonl"))


def deletes(sim: Simulator) -> list[str]:
    """The paths of the DELETE requests, in the order they were sent."""
    return [r.path for r in sim.requests if r.method == "DELETE"]


OLD_MODELS = "{provider: conn, older_than: 30d}"
WITH = "{provider: conn, older_than: 30d, with_deployments: true}"


# -- a served model is blocked ---------------------------------------------------------------


def test_a_served_model_is_blocked_naming_its_deployments(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    decisions = plan_decisions(capsys, job(tmp_path, sim, OLD_MODELS))
    # No target names the deployments: they are listed for the model target all the same.
    assert any(ENDPOINTS in r.path for r in sim.requests)
    assert not any(r.mutating for r in sim.requests)
    first, second = decisions["ft-job-1"], decisions["ft-job-2"]
    assert (first["decision"], first["reason"]) == (
        "blocked",
        "served by deployment endpoint-a1, endpoint-a2, endpoint-a3 +1 more",
    )
    assert (second["decision"], second["reason"]) == ("blocked", "served by deployment endpoint-c")
    assert decisions["ft-job-3"]["decision"] == "delete"  # served by nothing: it goes
    assert not any(d["kind"] == "deployment" for d in decisions.values())  # not planned
    assert run_now(job(tmp_path, sim, OLD_MODELS)) == 0
    assert sim.deleted == [("together", "ft-job-3")]


def test_a_failed_deployment_listing_fails_the_model_targets_job(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.faults = [Fault("status", method="GET", path=ENDPOINTS, status=400)]
    code, out, err = cli(
        capsys, "plan", job(tmp_path, sim, OLD_MODELS), "--json", "--now", NOW.isoformat()
    )
    assert code != 0 and "Traceback" not in err
    assert "not served" not in out + err and "ft-job-3" not in out  # nothing planned
    assert run_now(job(tmp_path, sim, OLD_MODELS)) != 0
    assert sim.deleted == []


# -- with_deployments --------------------------------------------------------------------------


def test_with_deployments_plans_both_and_deletes_the_deployments_first(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = job(tmp_path, sim, WITH)
    decisions = plan_decisions(capsys, path)
    for endpoint in [*WIDE, "endpoint-c"]:
        hosted = "ft-job-2" if endpoint == "endpoint-c" else "ft-job-1"
        d = decisions[endpoint]
        assert (d["kind"], d["decision"], d["target"]) == ("deployment", "delete", 0)
        assert d["reason"] == f"hosts {hosted} (with_deployments)"
    assert decisions["ft-job-1"]["after"] == [{"kind": "deployment", "id": e} for e in WIDE]
    assert decisions["ft-job-2"]["decision"] == "delete"
    assert "endpoint-base" not in decisions  # hosts none of ours: not planned
    sim.requests.clear()
    assert run_now(path) == 0
    sent = deletes(sim)
    assert sorted(sent) == sorted(
        [f"/together{ENDPOINTS}/{e}" for e in [*WIDE, "endpoint-c"]]
        + [f"/together{FINE_TUNES}/ft-job-{n}" for n in (1, 2, 3)]
    )
    last_endpoint = max(i for i, p in enumerate(sent) if ENDPOINTS in p)
    first_model = min(i for i, p in enumerate(sent) if FINE_TUNES in p)
    assert last_endpoint < first_model  # every deployment before any model
    outcomes = [r for r in audit(tmp_path) if r["event"] == "delete.outcome"]
    assert {(r["kind"], r["result"]) for r in outcomes} == {
        ("deployment", "deleted"),
        ("model", "deleted"),
    }


@pytest.mark.parametrize(
    ("type_", "model", "deployment"),
    [("bedrock", "ft-1", "pt-free"), ("fireworks", "lora-1", "dep-1")],
)
def test_with_deployments_deletes_the_deployment_first_at_each_type(
    tmp_path: Path, sim: Simulator, type_: str, model: str, deployment: str
) -> None:
    path = job(
        tmp_path, sim, f"{{provider: conn, ids: [{model}], with_deployments: true}}", type_=type_
    )
    assert run_now(path) == 0
    sent = deletes(sim)
    assert len(sent) == 2 and deployment in sent[0] and model in sent[1]


def test_a_failed_deployment_delete_skips_its_model(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.faults = [Fault("status", method="DELETE", path=f"{ENDPOINTS}/endpoint-c", status=400)]
    assert run_now(job(tmp_path, sim, WITH)) == 1
    sent = deletes(sim)
    assert f"/together{FINE_TUNES}/ft-job-2" not in sent  # never sent
    assert f"/together{FINE_TUNES}/ft-job-1" in sent  # its own deployments went: it goes
    records = audit(tmp_path)
    about = [r for r in records if r.get("model_id") == "ft-job-2"]
    assert [r["event"] for r in about] == ["delete.planned", "delete.skipped"]  # no intent
    assert about[1]["reason"] == "its deployment endpoint-c was not deleted"
    (end,) = [r for r in records if r["event"] == "run.end"]
    assert (end["status"], end["failed"], end["skipped"]) == ("partial", 1, 1)
    code, out, _ = cli(capsys, "audit", "show", "--job-file", job(tmp_path, sim, WITH))
    assert code == 0 and "its deployment endpoint-c was not deleted" in out


def test_a_dry_run_sends_nothing(tmp_path: Path, sim: Simulator) -> None:
    assert run_now(job(tmp_path, sim, WITH), "--dry-run") == 0
    assert not any(r.mutating for r in sim.requests) and sim.deleted == []


def test_with_deployments_wins_and_every_item_is_planned_once(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = job(
        tmp_path,
        sim,
        OLD_MODELS,
        "{provider: conn, ids: [ft-job-2], with_deployments: true}",
        "{provider: conn, kind: deployment, ids: [endpoint-c]}",
    )
    code, out, _ = cli(capsys, "plan", path, "--json", "--now", NOW.isoformat())
    assert code == 0
    (entry,) = json.loads(out)["jobs"]
    keys = [(d["kind"], d["id"]) for d in entry["decisions"]]
    assert len(keys) == len(set(keys))  # planned once
    decisions = {d["id"]: d for d in entry["decisions"]}
    assert decisions["ft-job-2"]["decision"] == "delete"
    assert decisions["ft-job-2"]["target"] == 1  # the target with with_deployments
    assert decisions["ft-job-2"]["after"] == [{"kind": "deployment", "id": "endpoint-c"}]
    assert decisions["endpoint-c"]["decision"] == "delete"
    assert decisions["ft-job-1"]["decision"] == "blocked"  # only the plain target selects it


def test_the_limits_count_the_deployments(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(
        capsys, "plan", job(tmp_path, sim, WITH, max_deletions=6), "--now", NOW.isoformat()
    )
    assert (
        code == 1
        and "would delete 5 deployments and 3 models," in out
        and "max_deletions of 6" in out
    )  # 5 deployments, 3 models
    target = "{provider: conn, ids: [ft-job-2], with_deployments: true}"
    assert run_now(job(tmp_path, sim, target, max_deletions=2)) == 0
    assert sim.deleted == [("together", "endpoint-c"), ("together", "ft-job-2")]


# -- commitments -------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["older_than: 30d", "ids: [pt-committed]"])
def test_a_committed_deployment_is_blocked(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str], rule: str
) -> None:
    path = job(tmp_path, sim, f"{{provider: conn, kind: deployment, {rule}}}", type_="bedrock")
    d = plan_decisions(capsys, path)["pt-committed"]
    assert (d["decision"], d["reason"]) == ("blocked", "committed until 2099-01-01")
    run_now(path)
    assert not any("pt-committed" in p for p in deletes(sim))


def test_a_commitment_holds_against_a_rules_clock_past_its_end(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # --now 2100 is past the 2099 commitment, but the real calendar is not: still blocked.
    path = job(
        tmp_path, sim, "{provider: conn, kind: deployment, older_than: 30d}", type_="bedrock"
    )
    code, out, _ = cli(capsys, "plan", path, "--json", "--now", "2100-01-01T00:00:00Z")
    assert code == 0
    (decided,) = [d for d in json.loads(out)["jobs"][0]["decisions"] if d["id"] == "pt-committed"]
    assert (decided["decision"], decided["reason"]) == ("blocked", "committed until 2099-01-01")


def test_a_deployment_planned_for_its_model_is_aged_by_the_rules_clock(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only commitments are judged on the real calendar: a deployment planned because
    # its model goes (with_deployments) is aged by --now like every other row.
    path = job(tmp_path, sim, WITH)
    far = "2100-01-01T00:00:00Z"
    code, out, _ = cli(capsys, "plan", path, "--json", "--now", far)
    assert code == 0
    decisions = {d["id"]: d for d in json.loads(out)["jobs"][0]["decisions"]}
    later = plan_decisions(capsys, path)  # the same listing at the usual clock
    shift = (datetime.fromisoformat(far) - NOW).total_seconds()
    for endpoint in WIDE:
        assert decisions[endpoint]["reason"].endswith("(with_deployments)")
        aged = decisions[endpoint]["age_seconds"] - later[endpoint]["age_seconds"]
        assert aged == pytest.approx(shift, abs=1)


def test_a_committed_deployment_blocks_the_model_it_serves(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = job(tmp_path, sim, WITH, type_="bedrock")
    decisions = plan_decisions(capsys, path)
    assert (decisions["ft-0"]["decision"], decisions["ft-0"]["reason"]) == (
        "blocked",
        "its deployment pt-committed is committed until 2099-01-01",
    )
    assert "pt-committed" not in decisions  # never planned
    assert decisions["ft-1"]["decision"] == decisions["pt-free"]["decision"] == "delete"


# -- protection follows the chain ---------------------------------------------------------------


def test_a_protected_deployment_keeps_its_model(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    keeper = "{provider: conn, kind: deployment, name: no-such-*, protect: [endpoint-c]}"
    decisions = plan_decisions(capsys, job(tmp_path, sim, WITH, keeper))
    d = decisions["ft-job-2"]
    assert (d["decision"], d["reason"]) == ("keep", "its deployment endpoint-c is protected")
    assert decisions["endpoint-c"]["decision"] != "delete"
    assert decisions["ft-job-1"]["decision"] == "delete"  # its own chain is free


def test_a_deployment_serving_a_protected_model_is_kept(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = job(
        tmp_path,
        sim,
        "{provider: conn, kind: deployment, older_than: 30d}",
        "{provider: conn, ids: [ft-job-3], protect: [ft-job-2]}",
    )
    decisions = plan_decisions(capsys, path)
    d = decisions["endpoint-c"]
    assert (d["decision"], d["reason"], d["protected"]) == (
        "keep",
        "serves protected model ft-job-2",
        True,
    )
    assert decisions["endpoint-a1"]["decision"] == "delete"
    assert run_now(path) == 0
    assert ("together", "endpoint-c") not in sim.deleted


# -- served_model: ---------------------------------------------------------------------------


def test_served_model_selects_deployments_by_the_model_they_host(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = job(tmp_path, sim, "{provider: conn, kind: deployment, served_model: 'ft-job-2'}")
    decisions = plan_decisions(capsys, path)
    assert {i for i, d in decisions.items() if d["decision"] == "delete"} == {"endpoint-c"}
    assert decisions["endpoint-c"]["reason"] == "serves ft-job-2 (matches 'ft-job-2')"
    glob = job(tmp_path, sim, "{provider: conn, kind: deployment, served_model: 'ft-*'}")
    selected = {i for i, d in plan_decisions(capsys, glob).items() if d["decision"] == "delete"}
    assert selected == {*WIDE, "endpoint-c"}  # endpoint-base hosts none of ours


# -- hostile values of the new fields ----------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{provider: conn, older_than: 1d, with_deployments: 'yes'}", "with_deployments: "),
        ("{provider: conn, older_than: 1d, with_deployments: 1}", "with_deployments: "),
        ("{provider: conn, older_than: 1d, with_deployments: null}", "with_deployments: "),
        ("{provider: conn, older_than: 1d, with_deployments: [true]}", "with_deployments: "),
        (
            "{provider: conn, kind: deployment, older_than: 1d, with_deployments: true}",
            "with_deployments: with_deployments applies only to kind model",
        ),
        ("{provider: conn, kind: deployment, served_model: ''}", "served_model: "),
        ("{provider: conn, kind: deployment, served_model: 5}", "served_model: "),
        ("{provider: conn, kind: deployment, served_model: [a]}", "served_model: "),
        (f"{{provider: conn, kind: deployment, served_model: {'x' * 300}}}", "served_model: "),
        (
            "{provider: conn, served_model: 'ft-*'}",
            "served_model: a together model hosts no model: a served_model rule could never"
            " match (kinds that do: azure_openai deployment, bedrock deployment, fireworks"
            " deployment, together deployment)",
        ),
    ],
)
def test_hostile_values_are_refused_at_their_line(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str], target: str, message: str
) -> None:
    path = job(tmp_path, sim, target)
    code, _, err = cli(capsys, "validate", path)
    assert code == 2 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith(f"{path}:7:") and f"jobs[0].targets[0].{message}" in line


def test_with_deployments_at_a_type_without_deployments_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fields = {"type": "cohere", "base_url": "https://example.com"}
    target = "{provider: conn, older_than: 1d, with_deployments: true}"
    path = write_job(tmp_path, job_yaml({"conn": fields}, one_job("j", [target])))
    code, _, err = cli(capsys, "validate", path)
    assert code == 2
    assert err.strip().endswith(
        "jobs[0].targets[0].with_deployments: cohere has no kind that hosts models, so"
        " with_deployments has nothing to delete (types that have one: azure_openai, bedrock,"
        " fireworks, together)"
    )


# -- inventory --kind deployment: what hosts what ------------------------------------------------


def test_inventory_of_deployments_shows_what_each_serves_its_cost_and_state(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = "prices:\n  - {type: together, kind: deployment, per_hour: 2.50}\n"
    text = job_yaml({"conn": connection(sim, "together")}, one_job("j", [OLD_MODELS]), prices)
    path = write_job(tmp_path, text)
    code, out, _ = cli(capsys, "inventory", path, "--kind", "deployment")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split() == ["ID", "NAME", "STATUS", "AGE", "SERVES", "COST/MONTH", "NOTE"]
    (row,) = [line for line in lines if line.startswith("endpoint-c ")]
    # Priced as the planner prices it: 1 GPU x 1 replica at the file's $2.50/h, 730 h.
    assert "ft-job-2" in row and "STARTED" in row and "$1,825.00" in row
    code, out, _ = cli(capsys, "inventory", path, "--kind", "deployment", "--json")
    by_id = {r["id"]: r for r in json.loads(out)}
    assert by_id["endpoint-c"]["serves"] == ["ft-job-2"]
    assert by_id["endpoint-c"]["monthly_cost"] == 1825.0
    assert by_id["endpoint-base"]["serves"] == []
    assert not any(r.mutating for r in sim.requests)


def test_inventory_notes_a_commitment(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    path = job(tmp_path, sim, OLD_MODELS, type_="bedrock")
    code, out, _ = cli(capsys, "inventory", path, "--kind", "deployment")
    (row,) = [line for line in out.splitlines() if line.startswith("pt-committed ")]
    assert code == 0 and "ft-0" in row and row.endswith("committed until 2099-01-01")


# -- the planner alone: grace, in-progress deployments, unlisted models ---------------------------

TOGETHER = REGISTRY["together"]
MODELS, DEPLOYMENTS = ("t", "model"), ("t", "deployment")
SPECS = {MODELS: TOGETHER.kinds["model"], DEPLOYMENTS: TOGETHER.kinds["deployment"]}
LONG_AGO = NOW - timedelta(days=90)


def plan_of(
    job_: Job, deployments: list[ModelRecord], **options: Any
) -> dict[tuple[str, str], Decision]:
    models = [ModelRecord(id=f"ft-{n}", status="completed", created_at=LONG_AGO) for n in (1, 2)]
    inventories = {MODELS: models, DEPLOYMENTS: deployments}
    plan = plan_job(job_, inventories, SPECS, NOW, **options)
    return {(d.ref.kind, d.ref.id): d for d in plan.decisions}


def endpoint(name: str, *serves: str, status: str = "STARTED") -> ModelRecord:
    lifecycle = SPECS[DEPLOYMENTS].lifecycle(status)
    return ModelRecord(
        id=name, status=status, lifecycle=lifecycle, created_at=LONG_AGO, serves=serves
    )


OLD_WITH = Target("t", older_than=timedelta(days=30), older_than_text="30d", with_deployments=True)


def test_a_model_due_whose_deployment_grace_holds_is_not_deleted_now() -> None:
    ref = ResourceRef.on("t", "ft-1", "model")
    mark = Mark(ref, NOW - timedelta(days=3), NOW - timedelta(days=2))  # its grace is over
    job_ = Job("g", (OLD_WITH,), grace=timedelta(days=1), grace_text="1d")
    decisions = plan_of(job_, [endpoint("endpoint-1", "ft-1")], marks={ref: mark}, wall_now=NOW)
    assert decisions["deployment", "endpoint-1"].action == "mark"  # first selected now
    held = decisions["model", "ft-1"]
    assert (held.action, held.reason) == (
        "blocked",
        "its deployment endpoint-1 is not deleted now (mark)",
    )
    assert held.deletable_after is not None  # its mark stays


def test_a_deployment_in_progress_or_unreadable_blocks_its_model() -> None:
    busy = endpoint("endpoint-1", "ft-1", status="PENDING")
    odd = endpoint("endpoint-2", "ft-2", status="SOMETHING_NEW")
    decisions = plan_of(Job("p", (OLD_WITH,)), [busy, odd])
    assert decisions["model", "ft-1"].reason == "its deployment endpoint-1 is PENDING (in progress)"
    assert decisions["model", "ft-2"].action == "blocked"
    assert decisions["model", "ft-2"].reason.startswith(
        "its deployment endpoint-2 cannot be deleted: unknown status 'SOMETHING_NEW'"
    )
    assert ("deployment", "endpoint-1") not in decisions


def test_a_deployment_serving_two_models_is_planned_once_and_both_wait_for_it() -> None:
    decisions = plan_of(Job("two", (OLD_WITH,)), [endpoint("endpoint-1", "ft-1", "ft-2")])
    host = ResourceRef.on("t", "endpoint-1", "deployment")
    assert decisions["model", "ft-1"].after == decisions["model", "ft-2"].after == (host,)
    assert decisions["deployment", "endpoint-1"].action == "delete"


def test_a_deployment_serving_a_model_not_listed_is_told_in_a_note() -> None:
    models = {MODELS: [], DEPLOYMENTS: [endpoint("endpoint-1", "ft-elsewhere")]}
    plan = plan_job(Job("n", (OLD_WITH,)), models, SPECS, NOW)
    assert plan.notes == [
        "t: deployment endpoint-1 serves ft-elsewhere, which is not among the models it"
        " lists (shared in, or gone)"
    ]

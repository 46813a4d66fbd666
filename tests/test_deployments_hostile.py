"""A hostile-user pass over ``kind: deployment`` and what ties it to models (issues 17 and
19), through the CLI against the simulator where a listing can be bent that far:

- a link ARM hands back (``nextLink``, an operation URL) is followed only as an absolute
  URL under the management URL: the base and a path are joined as text, so anything else
  could name another host;
- a deployment whose served model cannot be read fails its listing (no model of the
  connection can be judged free of it), at every type that hosts models, and so does a
  Bedrock PT whose desiredModelArn (what an update moves it to) cannot be read;
- a deployment that cannot be named still blocks the models it serves, and so do models
  Fireworks says are deployed on a deployment its listing does not name;
- a Fireworks model named with more after its ID (a version, ``#`` and a deployment) is
  served all the same, and so is one deployed on a deployment its deployed model cannot
  name (another account's, or unreadable);
- an endpoint naming a model two fine-tune jobs claim to have made blocks both;
- a Bedrock commitment that ends before its PT was made (0, true, -1 or 1970, as botocore
  reads them) cannot be trusted: the PT is kept; one past what a datetime holds is an
  unreadable answer, never an internal error;
- what a deployment is billed for is unknown when its counts multiply past any sane bill
  (a min_monthly_cost rule would otherwise select it by an absurd cost);
- a listing paging on with fresh tokens for ever stops with one line (wire.pages and
  Bedrock's paginator), as one whose token repeats did;
- a delete the kind may carry out later (an ARM 202) whose answer was lost is never sent
  again: the item still there may be deleting, so it is waited for as an accepted one; and
  a deployment still deleting at its deadline keeps its model (a guard: that held already);
  a Location that answers with the deployment itself proves nothing gone, nor does a
  delete answered 200 with the deployment still Deleting.
"""

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.audit import read_records
from runner.engine import RunOptions, execute
from runner.errors import ProviderError
from runner.jobfile.validate import load_job_file
from runner.providers import bedrock, fireworks_deployment, wire
from runner.providers._azure_arm import ArmClient, Token
from runner.providers.http import HttpClient
from runner.ratelimit import RateLimiter
from runner.simulator import Fault, Simulator, load_seed
from runner.simulator.azure_openai import ACCOUNT as AZURE_ACCOUNT
from runner.simulator.azure_openai import RESOURCE_GROUP, SUBSCRIPTION
from runner.waiting import Waits
from tests.azurejobs import IDLE, KEY, SERVED, TOKEN, TOKEN_ENV, accounts, azure_job
from tests.conftest import FAST, NOW
from tests.helpers import NOW_ARG, cli, plan_decisions, run_now
from tests.test_azure_openai_waits import outcome, run
from tests.test_bedrock import (  # noqa: F401 (autouse fixtures: fake credentials, loopback only, no back-off)
    aws_env,
    loopback_only,
    no_backoff,
)
from tests.test_dependencies import OLD_MODELS, WITH, job, output
from tests.test_dependencies import sim as sim  # the fixture
from tests.test_deployment_cli import ACCOUNT
from tests.test_long_running_deletes import VirtualTimer

pytestmark = pytest.mark.timeout(120)

Capsys = pytest.CaptureFixture[str]


def refused_plan(capsys: Capsys, path: str, says: str) -> None:
    """``plan`` fails with one line saying ``says``, and plans no delete."""
    code, out, err = cli(capsys, "plan", path, "--now", NOW_ARG)
    assert code != 0 and "Traceback" not in err
    assert says in out + err, out + err
    assert "would delete 0," in out


# -- ARM links ---------------------------------------------------------------------------------


class FixedToken:
    def token(self) -> Token:
        return Token("arm-hostile-token", None)


@pytest.mark.parametrize(
    "link",
    [
        "@127.0.0.1:{other}/steal",  # base + link: a userinfo, then the other server
        ".evil.example/steal",  # base + link: another host name
        ":{other}/steal",
        "127.0.0.1:{other}/steal",
        "?api-version=1",
        "https://127.0.0.1:{other}/steal",
    ],
)
def test_an_arm_link_that_is_not_a_url_under_the_management_url_is_never_followed(
    link: str,
) -> None:
    with Simulator(load_seed({}, NOW)) as own, Simulator(load_seed({}, NOW)) as other:
        base = own.url  # no path: ARM's own shape (https://management.azure.com)

        def make(token: str, mutating: bool) -> HttpClient:
            auth = {"Authorization": f"Bearer {token}"}
            return HttpClient(base, auth, limiter=RateLimiter(600_000), concurrency=1)

        arm = ArmClient(base, FixedToken(), make, label="az")
        target = link.format(other=other.url.rsplit(":", 1)[1])
        with pytest.raises(ProviderError) as caught:
            arm.request("GET", target)
        assert "the token is never sent elsewhere" in str(caught.value)
        assert arm.request("GET", "/subscriptions").status  # a path still goes
        arm.close()
        assert other.requests == []
        assert [r.path for r in own.requests] == ["/subscriptions"]


# -- a deployment whose served model cannot be read ----------------------------------------------


@pytest.mark.parametrize("model", [7, "", ["x"], None, "absent"])
def test_an_endpoint_serving_what_cannot_be_read_fails_the_listing(
    tmp_path: Path, sim: Simulator, capsys: Capsys, model: Any
) -> None:
    endpoint = sim.accounts.together_endpoints["endpoint-c"]  # serves ft-job-2
    if model == "absent":
        del endpoint["model"]
    else:
        endpoint["model"] = model
    path = job(tmp_path, sim, OLD_MODELS)
    refused_plan(capsys, path, "deployment 'endpoint-c' has no readable model")
    assert run_now(path) != 0
    assert sim.deleted == []


@pytest.mark.parametrize("desired", ["ft-1", "", 7])
def test_a_pt_moving_to_what_cannot_be_read_fails_the_listing(
    tmp_path: Path, sim: Simulator, capsys: Capsys, desired: Any
) -> None:
    sim.accounts.bedrock_pts["pt-free"]["desiredModelArn"] = desired  # serves ft-1
    path = job(tmp_path, sim, OLD_MODELS, type_="bedrock")
    refused_plan(capsys, path, "deployment 'pt-free' has no readable desiredModelArn")
    assert run_now(path) != 0 and sim.deleted == []


@pytest.mark.parametrize("base", [7, "", None])
def test_a_fireworks_deployment_without_a_readable_base_model_fails_the_listing(
    tmp_path: Path, sim: Simulator, capsys: Capsys, base: Any
) -> None:
    sim.accounts.fireworks_deployments[ACCOUNT]["dep-1"]["baseModel"] = base
    path = job(tmp_path, sim, OLD_MODELS, type_="fireworks")
    refused_plan(capsys, path, "has no readable baseModel")
    assert run_now(path) != 0
    assert sim.deleted == []


# -- a deployment that cannot be named ----------------------------------------------------------


@pytest.mark.parametrize("change", [{"id": None}, {"id": 12}, {"id": ""}])
def test_an_endpoint_without_an_id_still_blocks_its_model(
    tmp_path: Path, sim: Simulator, capsys: Capsys, change: dict[str, Any]
) -> None:
    sim.accounts.together_endpoints["endpoint-c"].update(change)  # serves ft-job-2
    decided = plan_decisions(capsys, job(tmp_path, sim, OLD_MODELS))
    held = decided["ft-job-2"]
    assert (held["decision"], held["reason"]) == (
        "blocked",
        "served by deployment (no readable ID)",
    )
    decided = plan_decisions(capsys, job(tmp_path, sim, WITH))
    held = decided["ft-job-2"]
    assert held["decision"] == "blocked"
    assert held["reason"].startswith("its deployment (no readable ID) cannot be deleted:")
    assert run_now(job(tmp_path, sim, WITH)) == 0
    assert ("together", "ft-job-2") not in sim.deleted
    assert ("together", "ft-job-3") in sim.deleted  # the rest of the plan goes


@pytest.mark.parametrize(
    "name",
    [
        f"accounts/{ACCOUNT}/deployments/dep-1/../x",
        f"accounts/{ACCOUNT}/deployments/",
        "accounts/someone-else/deployments/dep-1",
        None,
    ],
)
def test_models_on_a_fireworks_deployment_the_listing_cannot_name_stay_served(
    tmp_path: Path, sim: Simulator, capsys: Capsys, name: Any
) -> None:
    sim.accounts.fireworks_deployments[ACCOUNT]["dep-1"]["name"] = name  # lora-1 is on it
    path = job(tmp_path, sim, WITH, type_="fireworks")
    held = plan_decisions(capsys, path)["lora-1"]
    assert held["decision"] == "blocked"
    assert held["reason"].startswith("its deployment (no readable ID) cannot be deleted:")
    assert run_now(path) == 0
    assert sim.deleted == []
    code, out, _ = cli(capsys, "plan", job(tmp_path, sim, OLD_MODELS, type_="fireworks"))
    assert code == 0 and "lora-1" in out and "blocked" in out


@pytest.mark.parametrize(
    ("base", "deployed"),
    [
        (f"accounts/{ACCOUNT}/models/lora-1/versions/2", None),
        (f"accounts/{ACCOUNT}/models/lora-1#accounts/{ACCOUNT}/deployments/dep-1", None),
        (None, {"model": f"accounts/{ACCOUNT}/models/lora-1#accounts/{ACCOUNT}/deployments/x"}),
        (None, {"deployment": None}),
        (None, {"deployment": "accounts/someone-else/deployments/dep-1"}),
        (None, {"deployment": f"accounts/{ACCOUNT}/deployments/dep-1/x"}),
    ],
)
def test_a_fireworks_model_named_any_way_it_is_deployed_stays_served(
    tmp_path: Path,
    sim: Simulator,
    capsys: Capsys,
    base: str | None,
    deployed: dict[str, Any] | None,
) -> None:
    on = sim.accounts.fireworks_deployed[ACCOUNT]  # lora-1 on dep-1
    if base is not None:
        on.clear()
        sim.accounts.fireworks_deployments[ACCOUNT]["dep-1"]["baseModel"] = base
    for entry in on.values():
        entry.update(deployed or {})
    path = job(tmp_path, sim, OLD_MODELS, type_="fireworks")
    held = plan_decisions(capsys, path)["lora-1"]
    assert held["decision"] == "blocked" and held["reason"].startswith("served by deployment")
    assert run_now(path) == 0 and sim.deleted == []


def test_two_jobs_claiming_one_endpoints_model_are_both_served(
    tmp_path: Path, sim: Simulator, capsys: Capsys
) -> None:
    # ft-job-3 says it made endpoint-c's model too: which one it hosts is unknown.
    sim.accounts.together["ft-job-3"]["model_output_name"] = output(2)
    decided = plan_decisions(capsys, job(tmp_path, sim, OLD_MODELS))
    for model in ("ft-job-2", "ft-job-3"):
        assert (decided[model]["decision"], decided[model]["reason"]) == (
            "blocked",
            "served by deployment endpoint-c",
        )
    assert run_now(job(tmp_path, sim, OLD_MODELS)) == 0
    assert sim.deleted == []


# -- Azure OpenAI -----------------------------------------------------------------------------


@pytest.fixture
def azure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with Simulator(accounts(), keys={"azure_openai": KEY}) as server:
        yield server


def azure_deployment(sim: Simulator, name: str) -> dict[str, Any]:
    found: dict[str, Any] = sim.accounts.store("azure_openai")["deployments"][name]
    return found


@pytest.mark.parametrize("model", [{"name": 7}, {"name": ""}, None, "gone"])
def test_an_azure_deployment_serving_what_cannot_be_read_fails_the_listing(
    tmp_path: Path, azure: Simulator, capsys: Capsys, model: Any
) -> None:
    properties = azure_deployment(azure, IDLE)["properties"]  # IDLE serves SERVED
    if model == "gone":
        del properties["model"]
    else:
        properties["model"] = model
    path = azure_job(tmp_path, azure, "{provider: az, older_than: 30d}")
    refused_plan(capsys, path, f"deployment {IDLE!r} has no readable properties.model.name")
    assert run_now(path) != 0
    assert azure.deleted == []


def test_an_azure_deployment_without_a_name_still_blocks_its_model(
    tmp_path: Path, azure: Simulator, capsys: Capsys
) -> None:
    azure_deployment(azure, IDLE)["name"] = None
    path = azure_job(tmp_path, azure, "{provider: az, older_than: 30d, with_deployments: true}")
    held = plan_decisions(capsys, path)[SERVED]
    assert held["decision"] == "blocked"
    assert held["reason"].startswith("its deployment (no readable ID) cannot be deleted:")
    run_now(path)
    assert ("azure_openai", SERVED) not in azure.deleted


# -- Bedrock commitments ------------------------------------------------------------------------

COMMITTED = "{provider: conn, kind: deployment, ids: [pt-committed]}"


@pytest.mark.parametrize("until", [0, 1, -1, True, "0", "1970-01-01T00:00:00Z", "2026-04-01"])
def test_a_commitment_ending_before_its_pt_was_made_keeps_the_pt(
    tmp_path: Path, sim: Simulator, capsys: Capsys, until: Any
) -> None:
    # pt-committed: SixMonths, made 2026-04-22 (40 days before NOW).
    sim.accounts.bedrock_pts["pt-committed"]["commitmentExpirationTime"] = until
    path = job(tmp_path, sim, COMMITTED, type_="bedrock")
    d = plan_decisions(capsys, path)["pt-committed"]
    assert (d["decision"], d["reason"]) == ("skip", "commitment date unreadable: kept")
    with_model = job(
        tmp_path, sim, "{provider: conn, ids: [ft-0], with_deployments: true}", type_="bedrock"
    )
    assert plan_decisions(capsys, with_model)["ft-0"]["decision"] != "delete"
    run_now(path)
    assert sim.deleted == []


@pytest.mark.parametrize("until", [1e20, -1e20, 10**30])
def test_a_commitment_past_what_a_datetime_holds_is_an_unreadable_answer(
    tmp_path: Path, sim: Simulator, capsys: Capsys, until: Any
) -> None:
    sim.accounts.bedrock_pts["pt-committed"]["commitmentExpirationTime"] = until
    path = job(tmp_path, sim, COMMITTED, type_="bedrock")
    code, out, err = cli(capsys, "plan", path, "--now", NOW_ARG)
    assert code == 1 and "unreadable answer" in out + err and "internal error" not in out + err, (
        out + err
    )
    assert run_now(path) == 1
    assert sim.deleted == []


# -- a lost answer to a delete carried out later ----------------------------------------------


DEPLOYMENTS_PATH = (
    f"/azure_openai/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
    f"/providers/Microsoft.CognitiveServices/accounts/{AZURE_ACCOUNT}/deployments"
)


def deletes_sent(sim: Simulator) -> int:
    return sum(1 for r in sim.requests if r.method == "DELETE")


def test_a_lost_answer_to_an_arm_delete_is_waited_for_never_sent_again(tmp_path: Path) -> None:
    with Simulator(accounts(op_polls=2), keys={"azure_openai": KEY}) as sim:
        sim.faults = [Fault("drop_after", method="DELETE", times=1)]  # accepted, then lost
        report = run(tmp_path, sim, VirtualTimer())
        assert report.outcomes[0].status == "ok"
        assert deletes_sent(sim) == 1 and sim.deleted == [("azure_openai", IDLE)]
    said = outcome(tmp_path)
    assert said["result"] == "deleted"
    assert "still there, as after an accepted delete; confirmed gone after" in str(said["error"])
    events = [r["event"] for r in read_records(tmp_path / "audit" / "ftjanitor.jsonl")]
    assert "delete.waiting" in events  # waiting, never deleted before the lookup said so


def test_a_lost_arm_delete_never_done_fails_at_the_deadline_without_a_second_send(
    tmp_path: Path,
) -> None:
    with Simulator(accounts(op_polls=10_000), keys={"azure_openai": KEY}) as sim:
        sim.faults = [Fault("drop_after", method="DELETE", times=1)]
        run(tmp_path, sim, VirtualTimer(), within=timedelta(minutes=5))
        assert deletes_sent(sim) == 1 and sim.deleted == []
    said = outcome(tmp_path)
    assert said["result"] == "failed" and "still present after 5m" in str(said["error"])


def test_a_lost_arm_delete_that_cannot_be_checked_is_not_sent_in_a_second_pass(
    tmp_path: Path,
) -> None:
    with Simulator(accounts(op_polls=2), keys={"azure_openai": KEY}) as sim:
        sim.faults = [
            Fault("drop_after", method="DELETE", times=1),
            Fault("status", method="GET", path=f"{DEPLOYMENTS_PATH}/{IDLE}", status=500),
        ]
        run(tmp_path, sim, VirtualTimer())
        assert deletes_sent(sim) == 1
    said = outcome(tmp_path)
    assert said["result"] == "failed" and "then could not check" in str(said["error"])


# -- page tokens that never end ------------------------------------------------------------------


def test_fresh_page_tokens_for_ever_stop_the_fireworks_listing(
    tmp_path: Path, sim: Simulator, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = sim.accounts.fireworks_deployments[ACCOUNT]
    held["dep-2"] = {**held["dep-1"], "name": f"accounts/{ACCOUNT}/deployments/dep-2"}
    monkeypatch.setattr(fireworks_deployment, "PAGE_SIZE", 1)  # two pages
    monkeypatch.setattr(wire, "MAX_PAGES", 1)  # as if the tokens never ended
    path = job(tmp_path, sim, OLD_MODELS, type_="fireworks")
    refused_plan(capsys, path, "listing deployments was still paging after 1 pages")
    assert run_now(path) != 0 and sim.deleted == []


def test_fresh_page_tokens_for_ever_stop_the_bedrock_listing(
    tmp_path: Path, sim: Simulator, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bedrock, "PAGE_SIZE", 1)  # two PTs: two pages
    monkeypatch.setattr(bedrock, "MAX_PAGES", 1)
    path = job(tmp_path, sim, COMMITTED, type_="bedrock")
    refused_plan(capsys, path, "still paging after 1 pages")
    assert run_now(path) != 0 and sim.deleted == []


# -- counts that multiply to an absurd bill ------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "deployment", "changes"),
    [
        (
            "fireworks",
            "dep-1",
            {
                "acceleratorType": "NVIDIA_A100_80GB",  # priced
                "acceleratorCount": 100_000,
                "minReplicaCount": 100_000,
            },
        ),
        ("together", "endpoint-c", {"hardware": "999x_nvidia_h100_80gb_sxm"}),
    ],
)
def test_counts_multiplying_past_any_sane_bill_are_an_unknown_cost(
    tmp_path: Path,
    sim: Simulator,
    capsys: Capsys,
    type_: str,
    deployment: str,
    changes: dict[str, Any],
) -> None:
    if type_ == "fireworks":
        sim.accounts.fireworks_deployments[ACCOUNT][deployment].update(changes)
    else:
        endpoint = sim.accounts.together_endpoints[deployment]
        endpoint.update(changes, autoscaling={"min_replicas": 1_000})
    rule = "{provider: conn, kind: deployment, min_monthly_cost: 1}"
    d = plan_decisions(capsys, job(tmp_path, sim, rule, type_=type_))[deployment]
    assert d["monthly_cost"] is None and d["decision"] != "delete"


def test_a_deployment_still_deleting_at_its_deadline_keeps_its_model(
    tmp_path: Path, sim: Simulator
) -> None:
    dep = f"/v1/accounts/{ACCOUNT}/deployments/dep-1"
    deleting = f'{{"name": "accounts/{ACCOUNT}/deployments/dep-1", "state": "DELETING"}}'
    sim.faults = [Fault("accepted", method="DELETE", path=dep, status=200, body=deleting)]
    target = "{provider: conn, ids: [lora-1], with_deployments: true}"
    path = job(tmp_path, sim, target, type_="fireworks")
    options = RunOptions(
        dry_run=False,
        now=NOW,
        environ=dict(os.environ),
        policy=FAST,
        second_pass_pause=0.0,
        waits=Waits(VirtualTimer(), timedelta(minutes=3)),
    )
    execute(load_job_file(path), options)
    assert deletes_sent(sim) == 1 and sim.deleted == []  # the model's delete never sent
    said = {
        r["model_id"]: r
        for r in read_records(tmp_path / "audit" / "ftjanitor.jsonl")
        if r["event"] in ("delete.outcome", "delete.skipped")
    }
    assert "still present after 3m" in said["dep-1"]["error"]
    assert said["lora-1"]["reason"] == "its deployment dep-1 was not deleted"


def test_a_location_answering_with_the_deployment_itself_proves_nothing_gone(
    tmp_path: Path,
) -> None:
    seeded = accounts(op_polls=10_000, **{"async": "location-resource"})
    with Simulator(seeded, keys={"azure_openai": KEY}) as sim:
        run(tmp_path, sim, VirtualTimer(), within=timedelta(minutes=5))
        assert deletes_sent(sim) == 1 and sim.deleted == []
    said = outcome(tmp_path)
    assert said["result"] == "failed" and "still present after 5m" in str(said["error"])
    with Simulator(
        accounts(op_polls=2, **{"async": "location-resource"}), keys={"azure_openai": KEY}
    ) as sim:
        (tmp_path / "done").mkdir()
        run(tmp_path / "done", sim, VirtualTimer())  # gone once the lookup says so
        assert sim.deleted == [("azure_openai", IDLE)]


def test_a_delete_answered_200_with_the_deployment_still_deleting_is_waited_for(
    tmp_path: Path,
) -> None:
    going = f'{{"name": "{IDLE}", "properties": {{"provisioningState": "Deleting"}}}}'
    with Simulator(accounts(), keys={"azure_openai": KEY}) as sim:
        # Answered without acting: the deployment stays, as one deleting for ever would.
        sim.faults = [Fault("accepted", method="DELETE", status=200, body=going)]
        run(tmp_path, sim, VirtualTimer(), within=timedelta(minutes=5))
        assert deletes_sent(sim) == 1 and sim.deleted == []
    said = outcome(tmp_path)
    assert said["result"] == "failed"
    assert said["error"].startswith("accepted (HTTP 200); still present after 5m")

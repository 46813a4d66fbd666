"""``kind: deployment`` at Together (dedicated endpoints) and Fireworks (deployments), at
the lister and deleter level, through the real HTTP client against the simulator: every
field a record maps (what it serves, what it is billed for, its lifecycle), hostile
listings, each delete answer, and a dry run's lister that cannot mutate. Bedrock's
Provisioned Throughput: tests/test_deployment_bedrock.py."""

import json
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from runner.errors import OutcomeUnknown
from runner.providers import fireworks_deployment, together_deployment
from runner.providers.base import Billing, Deleter, KindSpec, Lister, ProviderError
from runner.simulator import Fault, Simulator, load_seed
from tests.conftest import NOW, provider

TOGETHER_KEY = "sim-together-deploy-7a"
FIREWORKS_KEY = "sim-fireworks-deploy-3c"
ACCOUNT = "acme"
H100 = "2x_nvidia_h100_80gb_sxm"
OUTPUT = "sim-user/Llama-exp-1"  # the model a Together fine-tune job made
SEED: dict[str, Any] = {
    "together": {
        "model": [{"id": "ft-job-1", "model_output_name": OUTPUT}],
        "deployment": [
            {
                "id": "endpoint-a",
                "model": OUTPUT,
                "display_name": "exp-1 endpoint",
                "hardware": H100,
                "min_replicas": 3,
                "max_replicas": 4,
                "age_days": 20,
            },
            {"id": "endpoint-stopped", "model": OUTPUT, "hardware": H100, "state": "STOPPED"},
            {"id": "endpoint-base", "display_name": None, "age_days": 1},
            {"id": "endpoint-starting", "state": "STARTING"},
            {"id": "endpoint-serverless", "type": "serverless"},
        ],
    },
    "fireworks": {
        "model": [
            {"id": "lora-1", "account": ACCOUNT},
            {"id": "lora-2", "account": ACCOUNT},
            {"id": "my-base", "account": ACCOUNT, "kind": "HF_BASE_MODEL"},
        ],
        "deployment": [
            {
                "id": "dep-a",
                "account": ACCOUNT,
                "baseModel": f"accounts/{ACCOUNT}/models/my-base",
                "loras": ["lora-1", "lora-2"],
                "displayName": "A <b>team</b>",
                "acceleratorCount": 2,
                "minReplicaCount": 3,
                "age_days": 30,
            },
            {"id": "dep-b", "account": ACCOUNT, "loras": ["lora-1"], "drop": ["minReplicaCount"]},
            {"id": "dep-c", "account": ACCOUNT, "state": "CREATING", "drop": ["displayName"]},
            {"id": "other", "loras": ["lora-9"]},  # another account's: never listed here
        ],
    },
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(load_seed(SEED, NOW), max_page_size=2) as server:
        yield server


def kind_pair(sim: Simulator, kind: KindSpec, **extra: object) -> tuple[Lister, Deleter]:
    """The kind's lister, on the session its type's connect opens, and its deleter."""
    key = TOGETHER_KEY if kind.type == "together" else FIREWORKS_KEY
    session = provider(sim, kind.type, key, base_url=sim.base_url(kind.type), **extra).lister
    lister = kind.lister(session)
    return lister, kind.deleter(lister)


def together(sim: Simulator) -> tuple[Lister, Deleter]:
    return kind_pair(sim, together_deployment.KIND)


def fireworks(sim: Simulator) -> tuple[Lister, Deleter]:
    return kind_pair(sim, fireworks_deployment.KIND, options={"account_id": ACCOUNT})


def one_line_error(message: str | None, *words: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message
    assert all(w in message for w in words), message


def mutating(sim: Simulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in sim.requests if r.mutating]


# -- Together: listing -----------------------------------------------------------------------


def test_together_lists_every_field_of_its_dedicated_endpoints(sim: Simulator) -> None:
    lister, _ = together(sim)
    records = {r.id: r for r in lister.list_models()}
    assert set(records) == {"endpoint-a", "endpoint-stopped", "endpoint-base", "endpoint-starting"}
    a = records["endpoint-a"]
    assert (a.name, a.status, a.lifecycle, a.problem) == (
        "exp-1 endpoint",
        "STARTED",
        "ready",
        None,
    )
    assert a.created_at == NOW - timedelta(days=20)
    assert a.serves == ("ft-job-1",)  # the job whose output it hosts
    # hardware and autoscaling come from GET /v1/endpoints/{id}: 2 GPUs x 3 replicas
    assert a.billing == Billing(Decimal(6), "nvidia_h100_80gb_sxm", {"hardware": H100})
    stopped = records["endpoint-stopped"]
    assert stopped.billing is not None and stopped.billing.units == 0  # stopped costs nothing
    assert stopped.serves == ("ft-job-1",)
    base = records["endpoint-base"]
    assert base.serves == ()  # a base model is none of the account's models
    assert (
        base.name == "sim-user/Meta-Llama-3.1-8B-Instruct-Reference-int-base"
    )  # display_name null: name
    assert records["endpoint-starting"].lifecycle == "in_progress"
    assert together_deployment.KIND.lifecycle("ERROR") == "failed"
    assert together_deployment.KIND.lifecycle("PAUSED") == "unknown"
    # One list, one read per endpoint, one listing of the jobs: reads only.
    paths = sorted(r.path.split("?")[0] for r in sim.requests)
    assert paths.count("/together/v1/endpoints") == 1
    assert paths.count("/together/v1/fine-tunes") == 1
    assert len([p for p in paths if p.startswith("/together/v1/endpoints/")]) == 4
    assert mutating(sim) == []


def test_together_a_model_named_only_in_the_details_is_still_served(sim: Simulator) -> None:
    # The list leaves `model` out; the details name it: the jobs are read all the same, so
    # the model is known to be served (never deleted from under its endpoint).
    listed = {"object": "list", "data": [{"id": "endpoint-a", "type": "dedicated"}]}
    body = json.dumps(listed)
    sim.faults = [Fault("body", method="GET", path="/v1/endpoints", status=200, body=body, times=1)]
    lister, _ = together(sim)
    (record,) = lister.list_models()
    assert (record.id, record.serves) == ("endpoint-a", ("ft-job-1",))
    assert sim.requests[-1].path.endswith("/v1/fine-tunes")  # read after the details


@pytest.mark.parametrize(
    ("changes", "billing"),
    [
        ({"hardware": "lots_of_gpus"}, None),  # no Nx_: the GPU count is unknown
        ({"autoscaling": None}, None),
        ({"autoscaling": {"min_replicas": "3"}}, None),  # a string is not a count
        ({"autoscaling": {"min_replicas": 10**15}}, None),  # absurd: unknown, not a bill
        ({"autoscaling": {"min_replicas": True}}, None),
        ({"autoscaling": {"min_replicas": 0}}, Billing(Decimal(0), "nvidia_h100_80gb_sxm", {})),
    ],
)
def test_together_unreadable_billing_is_unknown(
    sim: Simulator, changes: dict[str, Any], billing: Billing | None
) -> None:
    sim.accounts.together_endpoints["endpoint-a"].update(changes)
    (record,) = [r for r in together(sim)[0].list_models() if r.id == "endpoint-a"]
    if billing is None:
        assert record.billing is None
    else:
        assert record.billing is not None and record.billing.units == billing.units
    assert record.problem is None  # an unknown cost never stops a delete by itself


def test_together_hostile_items_are_records_with_a_problem(sim: Simulator) -> None:
    endpoints = sim.accounts.together_endpoints
    endpoints["endpoint-a"].update(created_at="yesterday", display_name="x\x1b[2J<script>")
    base = {"type": "dedicated", "model": "meta-llama/base"}  # what each serves is read
    endpoints["endpoint-evil\n<b>"] = {"id": "endpoint-evil\n<b>", **base}
    endpoints["ft-not-an-endpoint"] = {"id": "ft-not-an-endpoint", **base}
    endpoints["no-id"] = base
    records = {r.id: r for r in together(sim)[0].list_models()}
    assert records["endpoint-a"].problem == "unreadable created_at 'yesterday'"
    assert records["endpoint-a"].name == "x\x1b[2J<script>"  # kept as said; escaped when shown
    assert (records["endpoint-evil\n<b>"].problem or "").startswith("id ID contains")
    assert "start with 'endpoint-'" in (records["ft-not-an-endpoint"].problem or "")
    assert records[""].problem == "listed item has no id"
    # No request was built from an unsafe ID.
    assert not any("evil" in r.path or "ft-not" in r.path for r in sim.requests)


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (Fault("body", path="/v1/endpoints", status=200, body='{"data": {}}'), "malformed body"),
        (Fault("body", path="/v1/endpoints", status=200, body="<html>hi</html>"), "malformed"),
        (Fault("status", path="/v1/endpoints", status=404, times=1), "looks retired"),
        (Fault("status", path="/v1/endpoints/endpoint-a", status=403), "reading endpoint"),
        (Fault("status", path="/v1/fine-tunes", status=401), "to see what is served"),
        (
            Fault("body", path="/v1/endpoints/endpoint-a", status=200, body='{"id": "endpoint-b"}'),
            "another endpoint's details",
        ),
    ],
)
def test_together_a_listing_gone_wrong_is_one_clear_error(
    sim: Simulator, fault: Fault, says: str
) -> None:
    sim.faults = [fault]
    with pytest.raises(ProviderError) as caught:
        list(together(sim)[0].list_models())
    one_line_error(str(caught.value), "together (http://127.0.0.1:", says)


def test_together_an_endpoint_gone_between_list_and_read_is_not_listed(sim: Simulator) -> None:
    gone = '{"error": {"message": "Endpoint \'endpoint-a\' not found"}}'
    sim.faults = [
        Fault("body", method="GET", path="/v1/endpoints/endpoint-a", status=404, body=gone)
    ]
    assert "endpoint-a" not in {r.id for r in together(sim)[0].list_models()}


# -- Together: deleting ----------------------------------------------------------------------


def test_together_deletes_and_reads_each_answer(sim: Simulator) -> None:
    lister, deleter = together(sim)
    done = deleter.delete("endpoint-a")
    assert (done.result, done.http_status) == ("deleted", 204)
    assert ("together", "endpoint-a") in sim.deleted
    assert not deleter.exists("endpoint-a") and lister.exists("endpoint-base")
    again = deleter.delete("endpoint-a")  # its 404 names it
    assert (again.result, again.http_status) == ("already_absent", 404)

    sim.faults = [Fault("status", method="DELETE", status=404)]  # "Not Found": names nothing
    bare = deleter.delete("endpoint-base")
    assert (bare.result, bare.http_status) == ("failed", 404)
    one_line_error(bare.error, "does not name the model")

    body = '{"error": {"message": "endpoint is\\nin use by\\r\\n<b>a job</b>"}}'
    sim.faults = [Fault("body", method="DELETE", status=409, body=body)]
    busy = deleter.delete("endpoint-base")
    assert (busy.result, busy.http_status, busy.transient) == ("failed", 409, False)
    one_line_error(busy.error, "in use by", "a job")

    sim.faults = [Fault("body", method="DELETE", status=200, body='{"deleted": true}')]
    odd = deleter.delete("endpoint-base")  # a 2xx that is not a 204: a lookup settles it
    assert (odd.result, odd.unconfirmed) == ("failed", True)
    assert "endpoint-base" in sim.accounts.together_endpoints


def test_together_a_lost_delete_answer_is_settled_by_lookup(sim: Simulator) -> None:
    _, deleter = together(sim)
    sim.faults = [Fault("drop_after", method="DELETE", times=1)]
    with pytest.raises(OutcomeUnknown):
        deleter.delete("endpoint-base")
    assert not deleter.exists("endpoint-base")  # it happened
    assert [r.method for r in sim.requests].count("DELETE") == 1  # never resent blindly


def test_together_a_dry_run_lister_cannot_mutate(sim: Simulator) -> None:
    lister, _ = together(sim)
    list(lister.list_models())
    lister.details("endpoint-a")
    assert isinstance(lister, together_deployment.DedicatedEndpoints)
    with pytest.raises(PermissionError):
        lister.client.request("DELETE", "/v1/endpoints/endpoint-a")
    assert mutating(sim) == []


# -- Fireworks: listing ----------------------------------------------------------------------


def test_fireworks_lists_every_field_of_its_deployments(sim: Simulator) -> None:
    lister, _ = fireworks(sim)
    records = {r.id: r for r in lister.list_models()}
    assert set(records) == {"dep-a", "dep-b", "dep-c"}  # paged by 2
    a = records["dep-a"]
    assert (a.name, a.status, a.lifecycle, a.problem) == ("A <b>team</b>", "READY", "ready", None)
    assert a.created_at == NOW - timedelta(days=30)
    assert a.base_model == f"accounts/{ACCOUNT}/models/my-base"
    # its base model, one of the account's, and the LoRAs deployed on it
    assert a.serves == ("my-base", "lora-1", "lora-2")
    accelerator = "NVIDIA_H100_80GB"
    assert a.billing == Billing(Decimal(6), accelerator, {"accelerator": accelerator})
    b = records["dep-b"]
    assert b.serves == ("lora-1",)  # Fireworks' own base model is not the account's
    assert b.billing is not None and b.billing.units == 0  # no minReplicaCount: 0 replicas
    c = records["dep-c"]
    assert (c.name, c.lifecycle) == ("dep-c", "in_progress")
    assert fireworks_deployment.KIND.lifecycle("DELETING") == "in_progress"
    assert fireworks_deployment.KIND.lifecycle("FAILED") == "failed"
    assert mutating(sim) == []
    assert len([r for r in sim.requests if r.path.endswith("/deployments")]) == 2


@pytest.mark.parametrize(
    ("changes", "billing"),
    [
        ({"acceleratorCount": "2"}, None),
        ({"acceleratorCount": 2**63}, None),
        ({"minReplicaCount": -1}, None),
        ({"acceleratorType": None}, None),
        ({"minReplicaCount": 0}, Decimal(0)),
    ],
)
def test_fireworks_unreadable_billing_is_unknown(
    sim: Simulator, changes: dict[str, Any], billing: Decimal | None
) -> None:
    sim.accounts.fireworks_deployments[ACCOUNT]["dep-a"].update(changes)
    (record,) = [r for r in fireworks(sim)[0].list_models() if r.id == "dep-a"]
    assert (record.billing.units if record.billing else None) == billing
    assert record.problem is None


def test_fireworks_hostile_items_are_records_with_a_problem(sim: Simulator) -> None:
    held = sim.accounts.fireworks_deployments[ACCOUNT]
    held["dep-a"]["createTime"] = "not a time"
    held["dep-b"]["name"] = "accounts/someone-else/deployments/dep-b"
    held["dep-c"]["name"] = f"accounts/{ACCOUNT}/deployments/Dep-C"
    records = [r for r in fireworks(sim)[0].list_models()]
    by_problem = sorted(r.problem or "" for r in records)
    assert by_problem == [
        # lora-1 is deployed on dep-b, which is not named now: it stays served.
        "deployed models ['lora-1'] are on deployment 'dep-b', which the deployments listing"
        " does not name",
        "listed deployment name 'accounts/someone-else/deployments/dep-b' is not under"
        f" accounts/{ACCOUNT}/deployments/",
        "name Fireworks deployment IDs are 1-63 lowercase letters, digits and hyphens",
        "unreadable createTime 'not a time'",
    ]


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (Fault("repeat_token", path="/v1/accounts/acme/deployments"), "came back twice"),
        (
            Fault(
                "body", path="/v1/accounts/acme/deployments", status=200, body='{"deployments": 1}'
            ),
            "malformed page",
        ),
        (Fault("status", path="/v1/accounts/acme/deployments", status=404), "looks retired"),
        (Fault("status", path="/v1/accounts/acme/deployedModels", status=403), "deployed models"),
        (Fault("repeat_token", path="/v1/accounts/acme/deployedModels"), "came back twice"),
    ],
)
def test_fireworks_a_listing_gone_wrong_is_one_clear_error(
    sim: Simulator, fault: Fault, says: str
) -> None:
    sim.faults = [fault]
    with pytest.raises(ProviderError) as caught:
        list(fireworks(sim)[0].list_models())
    one_line_error(str(caught.value), "fireworks (http://127.0.0.1:", says)


# -- Fireworks: deleting ---------------------------------------------------------------------


def test_fireworks_deletes_and_reads_each_answer(sim: Simulator) -> None:
    lister, deleter = fireworks(sim)
    done = deleter.delete("dep-a")
    assert (done.result, done.http_status) == ("deleted", 200)
    assert ("fireworks", f"accounts/{ACCOUNT}/deployments/dep-a") in sim.deleted
    assert not deleter.exists("dep-a") and lister.exists("dep-b")
    again = deleter.delete("dep-a")
    assert (again.result, again.http_status) == ("already_absent", 404)

    sim.faults = [Fault("status", method="DELETE", status=404)]
    bare = deleter.delete("dep-b")
    assert (bare.result, bare.http_status) == ("failed", 404)
    one_line_error(bare.error, "does not name the model")

    body = '{"code": 9, "message": "deployment has\\nactive traffic"}'
    sim.faults = [Fault("body", method="DELETE", status=409, body=body)]
    busy = deleter.delete("dep-b")
    assert (busy.result, busy.http_status) == ("failed", 409)
    one_line_error(busy.error, "deployment has active traffic")
    # Never with ignoreChecks: a check Fireworks makes is never skipped.
    assert not any("ignoreChecks" in r.path for r in sim.requests)


def test_fireworks_a_soft_delete_answer_is_accepted(sim: Simulator) -> None:
    _, deleter = fireworks(sim)
    deleting = {"name": f"accounts/{ACCOUNT}/deployments/dep-b", "state": "DELETING"}
    sim.faults = [Fault("body", method="DELETE", status=200, body=json.dumps(deleting))]
    soft = deleter.delete("dep-b")
    # Accepted, not done: waiting until a lookup no longer finds it (runner.waiting).
    assert (soft.result, soft.unconfirmed) == ("failed", False)
    declared = fireworks_deployment.KIND.delete_answer.accepted
    assert declared is not None and soft.accepted == declared.within
    # The whole deployment may come back: other fields do not spoil the answer.
    sim.faults = [Fault("body", method="DELETE", body=json.dumps({**deleting, "x": 1}), status=200)]
    assert deleter.delete("dep-b").accepted is not None
    # Another deployment's answer, or another state, proves nothing.
    for other in (
        {**deleting, "name": f"accounts/{ACCOUNT}/deployments/dep-c"},
        {**deleting, "state": "READY"},
    ):
        sim.faults = [Fault("body", method="DELETE", status=200, body=json.dumps(other))]
        odd = deleter.delete("dep-b")
        assert (odd.result, odd.unconfirmed, odd.accepted) == ("failed", True, None)


def test_fireworks_deleting_and_deleted_states_are_never_deleted_again(sim: Simulator) -> None:
    kind = fireworks_deployment.KIND
    assert (kind.lifecycle("DELETING"), kind.lifecycle("DELETED")) == ("in_progress", "deleted")
    lister, deleter = fireworks(sim)
    held = sim.accounts.fireworks_deployments[ACCOUNT]
    held["dep-b"]["state"] = "DELETING"
    assert deleter.exists("dep-b")  # still there
    held["dep-b"]["state"] = "DELETED"
    assert not deleter.exists("dep-b")  # a lookup that finds it DELETED proves it gone
    (listed,) = [r for r in lister.list_models() if r.id == "dep-b"]
    assert listed.lifecycle == "deleted"


def test_fireworks_a_lost_delete_answer_is_settled_by_lookup(sim: Simulator) -> None:
    _, deleter = fireworks(sim)
    sim.faults = [Fault("drop_after", method="DELETE", times=1)]
    with pytest.raises(OutcomeUnknown):
        deleter.delete("dep-b")
    assert not deleter.exists("dep-b")


def test_fireworks_a_dry_run_lister_cannot_mutate(sim: Simulator) -> None:
    lister, _ = fireworks(sim)
    list(lister.list_models())
    lister.details("dep-a")
    assert isinstance(lister, fireworks_deployment.Deployments)
    with pytest.raises(PermissionError):
        lister.client.request("DELETE", f"/v1/accounts/{ACCOUNT}/deployments/dep-a")
    assert mutating(sim) == []


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        (together_deployment.KIND, "endpoint-7e1f", ["ft-123", "endpoint-a/b", "endpoint-%41"]),
        (fireworks_deployment.KIND, "dep-a", ["Dep-A", "a" * 64, "dep a", "dep/a"]),
    ],
)
def test_id_rules(kind: KindSpec, good: str, bad: list[str]) -> None:
    assert kind.id_rule(good) is None
    assert all(kind.id_rule(b) for b in bad)
    assert kind.serves_models and kind.kind == "deployment"

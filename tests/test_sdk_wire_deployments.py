"""The simulator's deployment routes, proved with each provider's official SDK.

What hosts a fine-tune and bills by the hour: Bedrock Provisioned Throughput (boto3 1.44,
botocore's ``bedrock`` service model 2023-04-20), Together dedicated endpoints (together 2.42:
``endpoints.list(type=)/retrieve/delete``; 3.x moved them to a project-scoped /v2 API) and
Fireworks deployments with the LoRAs deployed on them (fireworks-ai 1.2.30:
``deployments.list/get/delete``, ``lora.list``). moto 5.2.5 does not implement Provisioned
Throughput (moto/bedrock/urls.py has no provisioned-model path), so boto3 pointed at the
simulator is the judge. A missing SDK skips its tests.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runner.simulator import Simulator, load_seed

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KEYS = {"bedrock": "AKIASIMULATOR0000001", "together": "sim-together-0b2e", "fireworks": "fw-1"}
COMMITTED = datetime(2099, 1, 1, tzinfo=UTC)
TOGETHER_ENDPOINT = "endpoint-7e1f3a9c-0001-4c2b-8d5e-000000000001"
SEED: dict[str, Any] = {
    "bedrock": {
        # Seven models, five Provisioned Throughputs: pages of two make 4 and 3 pages.
        "model": [
            {"name": f"ft-{i}", "age_days": 10 + i, "tags": {"team": f"t{i}"}} for i in range(7)
        ],
        "deployment": [
            {
                "name": "pt-committed",
                "model": "ft-0",
                "modelUnits": 2,
                "commitmentDuration": "SixMonths",
                "commitmentExpirationTime": "2099-01-01T00:00:00.000Z",
                "tags": {"owner": "ml-team"},
                "age_days": 1,
            },
            {"name": "pt-free", "model": "ft-1", "age_days": 2},
            {"name": "pt-month", "model": "ft-2", "commitmentDuration": "OneMonth", "age_days": 3},
            {"name": "pt-failed", "model": "ft-3", "status": "Failed", "age_days": 4},
            {"name": "pt-base", "base": "amazon.titan-text-express-v1", "age_days": 5},
        ],
    },
    "together": {
        "model": [{"id": "ft-5c3d0a2e-0001-4a7b-9c1d-000000000001", "suffix": "exp-1"}],
        "deployment": [
            {
                "id": TOGETHER_ENDPOINT,
                "model": "sim-user/Meta-Llama-3.1-8B-Instruct-Reference-exp-1-00000001",
                "display_name": "exp-1 endpoint",
                "hardware": "2x_nvidia_h100_80gb_sxm",
                "min_replicas": 1,
                "max_replicas": 3,
                "age_days": 20,
            },
            {"id": "endpoint-stopped", "state": "STOPPED", "age_days": 30},
            {"id": "endpoint-serverless", "type": "serverless"},
        ],
    },
    "fireworks": {
        "model": [{"id": f"lora-{i}"} for i in range(3)],
        "deployment": [
            {
                "id": f"dep-{i}",
                "loras": [f"lora-{i}"] if i < 3 else [],
                "acceleratorCount": i + 1,
                "minReplicaCount": i % 2,
                "age_days": 10 - i,  # created in order dep-0, dep-1, ...
            }
            for i in range(5)
        ],
    },
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(load_seed(SEED, NOW), keys=KEYS) as server:
        yield server


def bedrock_client(sim: Simulator, key: str = KEYS["bedrock"]) -> Any:
    boto3 = pytest.importorskip("boto3")
    return boto3.client(
        "bedrock",
        endpoint_url=sim.base_url("bedrock"),
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key="sim-secret",
    )


def test_bedrock_paginators_page_models_and_provisioned_throughputs(sim: Simulator) -> None:
    client = bedrock_client(sim)
    pages = list(
        client.get_paginator("list_custom_models").paginate(PaginationConfig={"PageSize": 2})
    )
    assert [len(p["modelSummaries"]) for p in pages] == [2, 2, 2, 1]
    models = [m for p in pages for m in p["modelSummaries"]]
    assert [m["modelName"] for m in models] == [f"ft-{i}" for i in range(7)]  # newest first
    first = models[0]
    assert first["creationTime"] == NOW - timedelta(days=10)
    assert first["baseModelArn"].endswith(":foundation-model/meta.llama3-1-8b-instruct-v1:0")
    assert (first["modelStatus"], first["customizationType"]) == ("Active", "FINE_TUNING")

    paginator = client.get_paginator("list_provisioned_model_throughputs")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["provisionedModelSummaries"]) for p in pages] == [2, 2, 1]
    pts = {pt["provisionedModelName"]: pt for p in pages for pt in p["provisionedModelSummaries"]}
    assert list(pts) == ["pt-committed", "pt-free", "pt-month", "pt-failed", "pt-base"]
    committed = pts["pt-committed"]
    assert committed["modelArn"] == models[0]["modelArn"] == committed["desiredModelArn"]
    assert committed["foundationModelArn"] == first["baseModelArn"]
    assert (committed["modelUnits"], committed["status"]) == (2, "InService")
    assert committed["commitmentDuration"] == "SixMonths"
    assert committed["commitmentExpirationTime"] == COMMITTED
    assert committed["creationTime"] == NOW - timedelta(days=1)
    month = pts["pt-month"]  # OneMonth without an expiry seeded: 30 days after creation
    assert month["commitmentExpirationTime"] == month["creationTime"] + timedelta(days=30)
    assert "commitmentExpirationTime" not in pts["pt-free"]
    assert pts["pt-base"]["modelArn"] == pts["pt-base"]["foundationModelArn"]
    assert pts["pt-base"]["modelArn"].endswith("foundation-model/amazon.titan-text-express-v1")

    # The service model's filters, and an ascending sort.
    served = client.list_provisioned_model_throughputs(modelArnEquals=models[1]["modelArn"])
    assert [pt["provisionedModelName"] for pt in served["provisionedModelSummaries"]] == ["pt-free"]
    failed = client.list_provisioned_model_throughputs(statusEquals="Failed")
    assert [pt["provisionedModelName"] for pt in failed["provisionedModelSummaries"]] == [
        "pt-failed"
    ]
    oldest = client.list_custom_models(sortBy="CreationTime", sortOrder="Ascending", maxResults=1)
    assert oldest["modelSummaries"][0]["modelName"] == "ft-6" and oldest["nextToken"]
    assert all(not r.mutating for r in sim.requests)


def test_bedrock_get_delete_not_found_and_tags(sim: Simulator) -> None:
    client = bedrock_client(sim)
    pt = client.get_provisioned_model_throughput(provisionedModelId="pt-committed")
    by_arn = client.get_provisioned_model_throughput(provisionedModelId=pt["provisionedModelArn"])
    assert by_arn["provisionedModelName"] == "pt-committed" and by_arn["modelUnits"] == 2
    model = client.get_custom_model(modelIdentifier="ft-1")
    assert client.get_custom_model(modelIdentifier=model["modelArn"])["modelName"] == "ft-1"
    assert model["jobArn"] and model["creationTime"] == NOW - timedelta(days=11)

    assert client.list_tags_for_resource(resourceARN=pt["provisionedModelArn"])["tags"] == [
        {"key": "owner", "value": "ml-team"}
    ]
    assert client.list_tags_for_resource(resourceARN=model["modelArn"])["tags"] == [
        {"key": "team", "value": "t1"}
    ]

    # A model that a Provisioned Throughput serves is in use; its PT goes first.
    with pytest.raises(client.exceptions.ConflictException):
        client.delete_custom_model(modelIdentifier="ft-1")
    answer = client.delete_provisioned_model_throughput(provisionedModelId="pt-free")
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert {k for k in answer if k != "ResponseMetadata"} == set()
    client.delete_custom_model(modelIdentifier=model["modelArn"])
    assert sim.deleted == [("bedrock", "provisioned-model/pt-free"), ("bedrock", "ft-1")]

    for call in (
        lambda: client.delete_provisioned_model_throughput(provisionedModelId="pt-free"),
        lambda: client.get_provisioned_model_throughput(provisionedModelId="pt-nope"),
        lambda: client.delete_custom_model(modelIdentifier="ft-1"),
        lambda: client.get_custom_model(modelIdentifier="ft-nope"),
        lambda: client.list_tags_for_resource(resourceARN=model["modelArn"]),
    ):
        with pytest.raises(client.exceptions.ResourceNotFoundException) as caught:
            call()
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    deletes = [(r.method, r.status) for r in sim.requests if r.mutating]
    assert deletes == [
        ("DELETE", 400),
        ("DELETE", 200),
        ("DELETE", 200),
        ("DELETE", 404),
        ("DELETE", 404),
    ]


def test_bedrock_wrong_key_is_refused(sim: Simulator) -> None:
    botocore = pytest.importorskip("botocore.exceptions")
    with pytest.raises(botocore.ClientError) as caught:
        bedrock_client(sim, key="AKIAWRONG").list_provisioned_model_throughputs()
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Code"] == "UnrecognizedClientException"


def together_client(sim: Simulator, key: str = KEYS["together"]) -> Any:
    together = pytest.importorskip("together")
    if not hasattr(together.Together, "endpoints") or together.__version__.startswith("3."):
        pytest.skip("together 2.x has the /v1/endpoints calls")
    return together.Together(api_key=key, base_url=sim.base_url("together") + "/v1", max_retries=0)


def test_together_sdk_lists_retrieves_and_deletes_dedicated_endpoints(sim: Simulator) -> None:
    together = pytest.importorskip("together")
    client = together_client(sim)
    listed = client.endpoints.list(type="dedicated")
    assert listed.object == "list"
    assert [e.id for e in listed.data] == [TOGETHER_ENDPOINT, "endpoint-stopped"]
    first = listed.data[0]
    assert (first.object, first.type, first.state, first.owner) == (
        "endpoint",
        "dedicated",
        "STARTED",
        "sim-user",
    )
    assert first.model == SEED["together"]["deployment"][0]["model"]
    assert first.created_at == NOW - timedelta(days=20)
    # The list carries EndpointListResponse's fields only; hardware comes from retrieve.
    assert "hardware" not in first.model_dump() and listed.data[1].state == "STOPPED"
    assert [e.id for e in client.endpoints.list().data][-1] == "endpoint-serverless"

    endpoint = client.endpoints.retrieve(TOGETHER_ENDPOINT)
    assert isinstance(endpoint, together.types.DedicatedEndpoint)
    assert (endpoint.hardware, endpoint.display_name) == (
        "2x_nvidia_h100_80gb_sxm",
        "exp-1 endpoint",
    )
    assert (endpoint.autoscaling.min_replicas, endpoint.autoscaling.max_replicas) == (1, 3)

    assert client.endpoints.delete(TOGETHER_ENDPOINT) is None  # 204, no body
    assert sim.deleted == [("together", TOGETHER_ENDPOINT)]
    (delete,) = [r for r in sim.requests if r.mutating]
    assert (delete.method, delete.path, delete.status) == (
        "DELETE",
        f"/together/v1/endpoints/{TOGETHER_ENDPOINT}",
        204,
    )
    with pytest.raises(together.NotFoundError) as caught:
        client.endpoints.retrieve(TOGETHER_ENDPOINT)
    assert caught.value.status_code == 404
    with pytest.raises(together.NotFoundError):
        client.endpoints.delete(TOGETHER_ENDPOINT)
    with pytest.raises(together.AuthenticationError):
        together_client(sim, key="wrong").endpoints.list(type="dedicated")


def fireworks_client(sim: Simulator) -> Any:
    fireworks = pytest.importorskip("fireworks")
    return fireworks.Fireworks(
        api_key=KEYS["fireworks"],
        account_id="sim-account",
        base_url=sim.base_url("fireworks"),
        max_retries=0,
    )


def test_fireworks_sdk_pages_gets_and_deletes_deployments(sim: Simulator) -> None:
    fireworks = pytest.importorskip("fireworks")
    client = fireworks_client(sim)
    listed = list(client.deployments.list(page_size=2))  # the SDK follows nextPageToken
    assert [d.name for d in listed] == [
        f"accounts/sim-account/deployments/dep-{i}" for i in range(5)
    ]
    assert [r.path for r in sim.requests] == ["/fireworks/v1/accounts/sim-account/deployments"] * 3
    first = listed[0]
    assert (first.state, first.display_name, first.base_model) == (
        "READY",
        "dep-0",
        "accounts/fireworks/models/llama-v3p1-8b-instruct",
    )
    assert (first.accelerator_type, first.accelerator_count) == ("NVIDIA_H100_80GB", 1)
    assert (first.min_replica_count, first.max_replica_count) == (0, 1)
    assert first.create_time == NOW - timedelta(days=10)

    got = client.deployments.get("dep-1")
    assert isinstance(got, fireworks.types.Deployment) and got.accelerator_count == 2
    assert client.deployments.delete("dep-1") == {}
    assert sim.deleted == [("fireworks", "accounts/sim-account/deployments/dep-1")]
    with pytest.raises(fireworks.NotFoundError) as caught:
        client.deployments.get("dep-1")
    assert caught.value.body == {
        "code": 5,
        "message": "deployment accounts/sim-account/deployments/dep-1 not found",
    }
    with pytest.raises(fireworks.NotFoundError):
        client.deployments.delete("dep-1")
    assert [r.method for r in sim.requests if r.mutating] == ["DELETE", "DELETE"]


def test_fireworks_sdk_lists_the_loras_deployed_on_each_deployment(sim: Simulator) -> None:
    client = fireworks_client(sim)
    deployed = list(client.lora.list(page_size=2))
    assert [(d.model, d.deployment, d.state) for d in deployed] == [
        (
            f"accounts/sim-account/models/lora-{i}",
            f"accounts/sim-account/deployments/dep-{i}",
            "DEPLOYED",
        )
        for i in range(3)
    ]
    assert len(sim.requests) == 2
    client.deployments.delete("dep-0")  # its deployed LoRA goes with it
    assert [d.deployment for d in client.lora.list()] == [
        "accounts/sim-account/deployments/dep-1",
        "accounts/sim-account/deployments/dep-2",
    ]

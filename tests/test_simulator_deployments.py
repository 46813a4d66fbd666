"""The simulator's deployment routes over raw HTTP: seeds by kind, Bedrock's error headers and
signing, paging that survives deletes, 204s without a body, what counts as mutating, and
the demo seed's deployments. The official-SDK proofs are in test_sdk_wire_deployments.py."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from runner.simulator import Fault, Simulator, load_seed
from runner.simulator.core import stamp

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SIGNED = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIASIM/20260601/us-east-1/bedrock/x"}
DEMO_SEED = Path(__file__).resolve().parent.parent / "scripts" / "demo-seed.yaml"
SEED: dict[str, Any] = {
    # Kinds in any order: models are seeded first, so a deployment can name one.
    "bedrock": {
        "deployment": [{"name": f"pt-{i}", "model": "ft-a", "age_days": i} for i in range(6)],
        "model": [{"name": "ft-a", "age_days": 50}, {"name": "ft-b", "age_days": 60}],
    },
    "together": {"deployment": [{"id": "endpoint-1"}, {"id": "endpoint-2", "type": "serverless"}]},
    "fireworks": {
        "model": [{"id": "lora-1"}],
        "deployment": [
            {"id": f"dep-{i:02d}", "age_days": 30 - i, "loras": ["lora-1"]} for i in range(12)
        ],
    },
}


def call(
    sim: Simulator, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any
) -> requests.Response:
    if headers is None:  # Bedrock is signed; the others take a bearer key
        headers = SIGNED if path.startswith("/bedrock") else {"Authorization": "Bearer k"}
    return requests.request(method, sim.url + path, headers=headers, timeout=5, **kw)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(load_seed(SEED, NOW)) as server:
        yield server


def test_seeds_by_kind_and_their_refusals() -> None:
    accounts = load_seed(SEED, NOW)
    assert sorted(accounts.bedrock_pts) == [f"pt-{i}" for i in range(6)]
    assert accounts.bedrock_pts["pt-0"]["modelArn"] == accounts.bedrock["ft-a"]["modelArn"]
    assert sorted(accounts.together_endpoints) == ["endpoint-1", "endpoint-2"]
    assert accounts.together == {}  # no job seeded: the kinds are separate
    assert len(accounts.fireworks_deployed["sim-account"]) == 12
    with pytest.raises(TypeError, match=r"together: expected a list, or a mapping of kind"):
        load_seed({"together": {"deployments": []}}, NOW)
    with pytest.raises(TypeError, match=r"expected a list"):
        load_seed({"fireworks": {"deployment": {"id": "x"}}}, NOW)
    with pytest.raises(ValueError, match=r"deployment pt: no seeded model 'ft-nope'"):
        load_seed({"bedrock": {"deployment": [{"name": "pt", "model": "ft-nope"}]}}, NOW)
    # Hostile items: any field replaced or dropped, as for models.
    hostile = load_seed(
        {
            "bedrock": {"deployment": [{"name": "pt", "drop": ["modelArn"], "modelUnits": "2"}]},
            "together": {"deployment": [{"id": "endpoint-x", "autoscaling": None}]},
        },
        NOW,
    )
    assert "modelArn" not in hostile.bedrock_pts["pt"]
    assert hostile.bedrock_pts["pt"]["modelUnits"] == "2"
    assert hostile.together_endpoints["endpoint-x"]["autoscaling"] is None


def test_bedrock_errors_carry_their_code_in_the_header(sim: Simulator) -> None:
    missing = call(sim, "GET", "/bedrock/provisioned-model-throughput/pt-nope")
    assert missing.status_code == 404
    assert missing.headers["X-Amzn-ErrorType"].startswith("ResourceNotFoundException:")
    assert missing.json() == {"message": "Provisioned Throughput pt-nope not found"}
    assert missing.headers["x-amzn-RequestId"]
    # An unknown path is not a not-found of any item: a wrong endpoint_url proves nothing.
    unknown = call(sim, "DELETE", "/bedrock/provisioned-model-throughputs/pt-0")
    assert unknown.status_code == 404
    assert unknown.headers["X-Amzn-ErrorType"].startswith("UnknownOperationException:")
    unsigned = call(sim, "GET", "/bedrock/custom-models", headers={"Authorization": "Bearer k"})
    assert unsigned.status_code == 403
    assert unsigned.headers["X-Amzn-ErrorType"].startswith("MissingAuthenticationTokenException")
    sim.faults = [Fault("status", status=429, api="bedrock", times=1)]
    throttled = call(sim, "GET", "/bedrock/custom-models")
    assert throttled.headers["X-Amzn-ErrorType"].startswith("ThrottlingException:")
    assert throttled.json() == {
        "message": "You are past the per minute request limit, please wait and try again later."
    }
    for query in ("maxResults=0", "maxResults=1001", "nextToken=%25%25", "sortOrder=Up"):
        bad = call(sim, "GET", f"/bedrock/provisioned-model-throughputs?{query}")
        assert bad.status_code == 400, query
        assert bad.headers["X-Amzn-ErrorType"].startswith("ValidationException:"), query


def test_bedrock_pages_survive_deletes_between_pages(sim: Simulator) -> None:
    seen: list[str] = []
    token = ""
    for _ in range(10):  # three pages are due; a token loop must not hang the test
        query = "maxResults=2" + (f"&nextToken={token}" if token else "")
        body = call(sim, "GET", f"/bedrock/provisioned-model-throughputs?{query}").json()
        names = [pt["provisionedModelName"] for pt in body["provisionedModelSummaries"]]
        seen += names
        assert call(sim, "DELETE", f"/bedrock/provisioned-model-throughput/{names[0]}").ok
        token = body.get("nextToken", "")
        if not token:
            break
    else:
        pytest.fail("paging never ended")
    assert seen == [f"pt-{i}" for i in range(6)]  # newest first, nothing skipped or twice
    assert sim.deleted == [("bedrock", f"provisioned-model/pt-{i}") for i in (0, 2, 4)]
    with Simulator(load_seed(SEED, NOW), max_page_size=4) as small:
        body = call(small, "GET", "/bedrock/provisioned-model-throughputs?maxResults=1000").json()
        assert len(body["provisionedModelSummaries"]) == 4 and body["nextToken"]


def test_what_is_mutating_and_the_204_without_a_body(sim: Simulator) -> None:
    tags = call(sim, "POST", "/bedrock/listTagsForResource", json={"resourceARN": "arn:x"})
    assert tags.status_code == 404
    gone = call(sim, "DELETE", "/together/v1/endpoints/endpoint-1")
    assert (gone.status_code, gone.content) == (204, b"")
    assert "Content-Type" not in gone.headers and gone.headers["Content-Length"] == "0"
    call(sim, "DELETE", "/together/v1/endpoints/endpoint-1")
    call(sim, "DELETE", "/fireworks/v1/accounts/sim-account/deployments/dep-00")
    call(sim, "DELETE", "/bedrock/custom-models/ft-b")
    call(sim, "GET", "/fireworks/v1/accounts/sim-account/deployedModels")
    flagged = [(r.method, r.path, r.status) for r in sim.requests if r.mutating]
    assert flagged == [
        ("DELETE", "/together/v1/endpoints/endpoint-1", 204),
        ("DELETE", "/together/v1/endpoints/endpoint-1", 404),
        ("DELETE", "/fireworks/v1/accounts/sim-account/deployments/dep-00", 200),
        ("DELETE", "/bedrock/custom-models/ft-b", 200),
    ]
    state = requests.get(sim.url + "/_sim/state", timeout=5).json()
    assert state["together"] == ["endpoint-2"]
    assert state["bedrock"] == ["ft-a"] + [f"provisioned-model/pt-{i}" for i in range(6)]
    assert "accounts/sim-account/deployments/dep-00" not in state["fireworks"]


def test_together_lists_fields_of_the_list_form_and_filters_by_type(sim: Simulator) -> None:
    listed = call(sim, "GET", "/together/v1/endpoints?type=dedicated").json()
    assert listed["object"] == "list"
    assert [e["id"] for e in listed["data"]] == ["endpoint-1"]
    assert set(listed["data"][0]) == {
        "object",
        "id",
        "name",
        "model",
        "type",
        "owner",
        "state",
        "created_at",
    }
    assert len(call(sim, "GET", "/together/v1/endpoints").json()["data"]) == 2
    one = call(sim, "GET", "/together/v1/endpoints/endpoint-1").json()
    assert (one["hardware"], one["autoscaling"]) == (
        "1x_nvidia_h100_80gb_sxm",
        {"min_replicas": 1, "max_replicas": 1},
    )
    assert one["created_at"] == "2026-06-01T12:00:00.000Z"


def test_fireworks_deployments_page_in_creation_order_and_refuse_filters(sim: Simulator) -> None:
    base = "/fireworks/v1/accounts/sim-account/deployments"
    seen: list[str] = []
    token = ""
    for _ in range(10):
        body = call(sim, "GET", f"{base}?pageSize=5&pageToken={token}").json()
        ids = [d["name"].rsplit("/", 1)[1] for d in body["deployments"]]
        seen += ids
        call(sim, "DELETE", f"{base}/{ids[0]}")
        token = body["nextPageToken"]
        if not token:
            break
    assert seen == [f"dep-{i:02d}" for i in range(12)]
    deployed = call(sim, "GET", "/fireworks/v1/accounts/sim-account/deployedModels").json()
    assert deployed["totalSize"] == 9  # the three deleted deployments took their LoRAs along
    for query in ("filter=state%3DREADY", "orderBy=name", "pageSize=-1"):
        assert call(sim, "GET", f"{base}?{query}").status_code == 400, query
    unknown = call(sim, "GET", "/fireworks/v1/accounts/acme/deployments")
    assert unknown.status_code == 404 and "acme" in unknown.json()["message"]


def test_the_demo_seed_hosts_what_the_demo_shows() -> None:
    accounts = load_seed(yaml.safe_load(DEMO_SEED.read_text()), NOW)
    committed, free = (accounts.bedrock_pts[n] for n in ("support-bot-pt", "exp-summarizer-pt"))
    assert committed["commitmentExpirationTime"] == "2099-01-01T00:00:00.000Z"
    assert "commitmentExpirationTime" not in free
    assert committed["modelArn"] == accounts.bedrock["support-bot-ft"]["modelArn"]
    (endpoint,) = accounts.together_endpoints.values()
    served = {job["model_output_name"] for job in accounts.together.values()}
    assert endpoint["model"] in served and endpoint["hardware"].startswith("2x_")
    (deployment,) = accounts.fireworks_deployments["sim-account"].values()
    (lora,) = accounts.fireworks_deployed["sim-account"].values()
    assert lora["deployment"] == deployment["name"]
    assert lora["model"].rsplit("/", 1)[1] in accounts.fireworks["sim-account"]
    assert deployment["createTime"] == stamp(NOW - timedelta(days=50))

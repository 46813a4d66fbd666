"""The simulator's /azure_openai wire, proved with the official clients (issue 19): openai's
``AzureOpenAI`` (data plane), azure-mgmt-cognitiveservices (ARM deployments, the
long-running delete to ``.result()``) and azure-monitor-query's ``MetricsQueryClient``
(Azure Monitor). Each is pointed at http://127.0.0.1: azure-core's bearer-token policy
refuses plain http unless the operation says ``enforce_https=False``, its supported switch.
"""

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from azure.monitor.query import MetricAggregationType, MetricsQueryClient
from openai import AzureOpenAI

from runner.simulator import Simulator
from runner.simulator.azure_openai import ACCOUNT, RESOURCE_GROUP, SUBSCRIPTION
from tests.azurejobs import BASE, BUSY, IDLE, KEY, OLD, SERVED, TOKEN, YOUNG, accounts
from tests.conftest import NOW

NOT_TLS = {"enforce_https": False}  # azure-core: bearer tokens over http, for loopback tests


class StaticToken:
    """A TokenCredential (azure-core's protocol) handing out the simulator's token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(TOKEN, int(time.time()) + 3600)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(
        accounts(serves_model_delete=True, op_polls=1), keys={"azure_openai": KEY}
    ) as server:
        yield server


def data_plane(sim: Simulator) -> AzureOpenAI:
    return AzureOpenAI(
        azure_endpoint=sim.base_url("azure_openai"), api_key=KEY, api_version="2024-10-21"
    )


def test_azure_openai_lists_models_and_fine_tuning_jobs(sim: Simulator) -> None:
    client = data_plane(sim)
    listed = {m.id: m for m in client.models.list()}
    assert set(listed) == {BASE, OLD, SERVED, YOUNG}
    jobs = {j.fine_tuned_model: j.id for j in client.fine_tuning.jobs.list()}
    assert set(jobs) == {OLD, SERVED, YOUNG}  # a base model has no job
    assert jobs[OLD] == "ftjob-0a0a0a0a0a0a0a0a"


def test_azure_openai_deletes_a_model(sim: Simulator) -> None:
    deleted = data_plane(sim).models.delete(OLD)
    assert deleted.id == OLD and deleted.deleted is True
    assert sim.deleted == [("azure_openai", OLD)]
    methods = [(r.method, r.path) for r in sim.requests]
    assert ("DELETE", f"/azure_openai/openai/models/{OLD}") in methods


def management(sim: Simulator) -> CognitiveServicesManagementClient:
    return CognitiveServicesManagementClient(
        StaticToken(), SUBSCRIPTION, base_url=sim.base_url("azure_openai")
    )


def test_mgmt_lists_deployments_across_next_links(sim: Simulator) -> None:
    sim.accounts.store("azure_openai")["config"]["page_size"] = 1  # every page a nextLink
    listed = management(sim).deployments.list(RESOURCE_GROUP, ACCOUNT, **NOT_TLS)
    found = {d.name: d for d in listed}
    assert set(found) == {IDLE, BUSY, "base-chat"}
    idle = found[IDLE]
    assert idle.properties.model.name == SERVED
    assert idle.properties.provisioning_state == "Succeeded"
    assert idle.system_data.created_at == NOW - timedelta(days=50)


def test_mgmt_begin_delete_follows_the_operation_to_its_result(sim: Simulator) -> None:
    poller = management(sim).deployments.begin_delete(
        RESOURCE_GROUP, ACCOUNT, IDLE, polling_interval=0, **NOT_TLS
    )
    assert poller.result() is None
    assert poller.status() == "Succeeded"
    assert sim.deleted == [("azure_openai", IDLE)]
    assert any("/operationResults/" in r.path for r in sim.requests)


def test_metrics_query_client_reads_requests_per_deployment(sim: Simulator) -> None:
    client = MetricsQueryClient(StaticToken(), endpoint=sim.base_url("azure_openai"))
    resource = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
        f"/providers/Microsoft.CognitiveServices/accounts/{ACCOUNT}"
    )
    result = client.query_resource(
        resource,
        ["AzureOpenAIRequests"],
        timespan=(NOW - timedelta(days=30), NOW),
        granularity=timedelta(days=1),
        aggregations=[MetricAggregationType.TOTAL],
        filter="ModelDeploymentName eq '*'",
        max_results=20,
        **NOT_TLS,
    )
    (metric,) = result.metrics
    assert metric.name == "AzureOpenAIRequests"
    series = {s.metadata_values["modeldeploymentname"]: s.data for s in metric.timeseries}
    assert set(series) == {BUSY}  # the others had no requests
    assert sorted(p.total for p in series[BUSY]) == [5.0, 5.0]

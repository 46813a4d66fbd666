"""Together's ``kind: deployment``: dedicated endpoints (``/v1/endpoints``), on the together
connection's HTTP client.

The list (``?type=dedicated``) lacks ``hardware``, ``display_name`` and ``autoscaling``, so
each endpoint is also read (``GET /v1/endpoints/{id}``), as many at a time as the
connection's concurrency. An endpoint serves the model it names; the account's models are
fine-tune jobs, so what it serves is the job whose ``model_output_name`` it names (a base
model is none of the account's models). ``DELETE /v1/endpoints/{id}`` answers 204.
"""

import dataclasses
import re
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from runner.cost import PriceFact, PriceOverride
from runner.providers.base import (
    Billing,
    DeleteAnswer,
    DeleteResult,
    KindSpecOf,
    ModelRecord,
    ProviderError,
    unsafe_id_reason,
)
from runner.providers.hosting import count, serving_unknown, units
from runner.providers.mapping import (
    RFC3339,
    Computed,
    Id,
    RecordMap,
    Scope,
    Text,
    Time,
    map_records,
    text_or_none,
)
from runner.providers.together import COLLECTION as FINE_TUNES
from runner.providers.together import TogetherLister, names_model
from runner.providers.wire import (
    HttpDeleter,
    HttpLister,
    Response,
    api_gone,
    delete_result,
    failure,
    listed_items,
    path_segment,
)

ENDPOINTS = "/v1/endpoints"
ENDPOINT_PREFIX = "endpoint-"
STOPPED = "STOPPED"  # billed nothing while stopped
_HARDWARE = re.compile(r"([1-9][0-9]{0,2})x_([a-z0-9_]+)")  # 2x_nvidia_h100_80gb_sxm: 2 GPUs


class NoBody(DeleteAnswer):
    """An answer that is its status alone: HTTP 204 carries no content."""

    def confirms(self, status: int | None, body: Any, model_id: str) -> bool:
        return status == self.status and body is None


def endpoint_id_reason(endpoint_id: str) -> str | None:
    if reason := unsafe_id_reason(endpoint_id):
        return reason
    if not endpoint_id.startswith(ENDPOINT_PREFIX):
        return f"Together dedicated endpoint IDs start with {ENDPOINT_PREFIX!r}"
    return None


def _billing(item: Mapping[str, Any], _: Scope) -> Billing | None:
    """N GPUs of ``hardware`` (``Nx_...``) for each of ``autoscaling.min_replicas``."""
    hardware = text_or_none(item.get("hardware"))
    match = _HARDWARE.fullmatch(hardware) if hardware else None
    scaling = item.get("autoscaling")
    replicas = count(scaling.get("min_replicas")) if isinstance(scaling, dict) else None
    billed = units(int(match.group(1)), replicas) if match is not None else None
    if hardware is None or match is None or billed is None:
        return None  # counts unreadable, or absurd: unknown, stopped or not
    billed = Decimal(0) if item.get("state") == STOPPED else billed
    return Billing(billed, match.group(2), {"hardware": hardware})


# One endpoint, its listing and details merged. What it serves is read against the
# account's fine-tune jobs (``serving``), which the listing reads alongside.
ENDPOINT = RecordMap(
    id=Id("id", check=endpoint_id_reason),
    name=(Text("display_name"), Text("name")),
    status=Text("state"),
    created_at=Time("created_at", RFC3339),
    billing=Computed(_billing),
)


def serving(jobs: Mapping[str, list[str]]) -> Computed:
    """What an endpoint serves: the jobs whose output is the model it names (``jobs``: the
    account's model output names -> their job IDs); a base model is none of them."""

    def served(item: Mapping[str, Any], _: Scope) -> tuple[str, ...]:
        return tuple(jobs.get(text_or_none(item.get("model")) or "", ()))

    return Computed(served)


class DedicatedEndpoints(HttpLister):
    """Lists and looks up a together connection's dedicated endpoints, on its session (the
    model lister, whose read-only client it shares)."""

    def __init__(self, session: TogetherLister):
        super().__init__(session.client, KIND)

    def list_models(self) -> Iterator[ModelRecord]:
        label = self.client.label
        response = self.client.request("GET", ENDPOINTS, params={"type": "dedicated"})
        if response.status in (404, 410):
            raise api_gone(
                label, "the Together endpoints API", ENDPOINTS, response,
                "the base_url is wrong (https://api.together.xyz, no /v1)",
            )  # fmt: skip
        if response.status != 200:
            raise failure(label, "listing dedicated endpoints", response)
        listed = listed_items(label, "dedicated endpoints", response.body, "data")
        # Serverless endpoints are Together's own: never ours, whatever the filter did.
        mine = [i for i in listed if not (isinstance(i, dict) and i.get("type") != "dedicated")]
        # What the endpoints serve is read beside their details, not after them: the list
        # entries already name the model.
        serving_any = any(isinstance(i, dict) and i.get("model") for i in mine)
        with ThreadPoolExecutor(max_workers=max(1, self.client.concurrency)) as pool:
            jobs_read = pool.submit(self._jobs) if serving_any else None
            items = list(pool.map(self._detailed, mine))
            jobs = jobs_read.result() if jobs_read is not None else {}
        for item in items:
            model = item.get("model") if isinstance(item, dict) else None
            if item is not None and text_or_none(model) is None:
                shown = item.get("id") if isinstance(item, dict) else item
                raise serving_unknown(label, "listing dedicated endpoints", shown, "model")
        if jobs_read is None and any(isinstance(i, dict) and i.get("model") for i in items):
            jobs = self._jobs()  # named only in the details: read now, never skipped
        rmap = dataclasses.replace(ENDPOINT, serves=serving(jobs))
        yield from map_records(rmap, (i for i in items if i is not None), KIND)

    def _detailed(self, item: Any) -> Any:
        """A listed endpoint with its details merged in; None when it is gone meanwhile."""
        endpoint_id = text_or_none(item.get("id")) if isinstance(item, dict) else None
        if endpoint_id is None or endpoint_id_reason(endpoint_id):
            return item  # its record says what is wrong; no request for it
        response = self._get(endpoint_id)
        if names_model(response, endpoint_id):
            return None
        if response.status != 200 or not isinstance(response.body, dict):
            raise failure(self.client.label, f"reading endpoint {endpoint_id!r}", response)
        if response.body.get("id") != endpoint_id:
            # Another endpoint's details would be mapped onto this one's ID.
            raise ProviderError(
                f"{self.client.label}: reading endpoint {endpoint_id!r} answered with"
                " another endpoint's details"
            )
        return {**item, **response.body}

    def _jobs(self) -> dict[str, list[str]]:
        """The account's fine-tune jobs by the model they made (what an endpoint names).
        Two jobs that say they made one model are both served by its endpoint: which one
        it hosts is unknown, so neither may go before it."""
        response = self.client.request("GET", FINE_TUNES)
        body = response.body
        jobs = body.get("data") if response.status == 200 and isinstance(body, dict) else None
        if not isinstance(jobs, list):
            raise failure(
                self.client.label, "listing fine-tune jobs to see what is served", response
            )
        found: dict[str, list[str]] = {}
        for job in jobs:
            output = text_or_none(job.get("model_output_name")) if isinstance(job, dict) else None
            if output and (job_id := text_or_none(job.get("id"))):
                found.setdefault(output, []).append(job_id)
        return found

    def _get(self, endpoint_id: str) -> Response:
        return self.client.request("GET", f"{ENDPOINTS}/{path_segment(endpoint_id)}")

    def exists(self, model_id: str) -> bool:
        response = self._get(model_id)
        if names_model(response, model_id):
            return False
        if response.status != 200:
            raise failure(self.client.label, f"looking up {model_id!r}", response)
        return True

    def details(self, model_id: str) -> dict[str, Any]:
        response = self._get(model_id)
        if response.status != 200 or not isinstance(response.body, dict):
            raise failure(self.client.label, f"details of {model_id!r}", response)
        return response.body

    def close(self) -> None:
        """Nothing of its own: the client it borrows is closed with the connection."""


class DedicatedEndpointDeleter(HttpDeleter[DedicatedEndpoints]):
    def delete(self, model_id: str) -> DeleteResult:
        response = self.client.request("DELETE", f"{ENDPOINTS}/{path_segment(model_id)}")
        return delete_result(
            KIND.delete_answer, response, model_id, names_model(response, model_id)
        )


KIND = KindSpecOf(
    type="together",
    kind="deployment",
    listed="dedicated endpoints (/v1/endpoints?type=dedicated)",
    deleted="the dedicated endpoint (DELETE /v1/endpoints/{id})",
    lister=DedicatedEndpoints,
    deleter=DedicatedEndpointDeleter,
    delete_answer=NoBody(status=204),
    statuses=("STARTED", "STOPPED", "ERROR", "PENDING", "STARTING", "STOPPING"),
    in_progress=frozenset({"PENDING", "STARTING", "STOPPING"}),
    failed=frozenset({"ERROR"}),
    serves_models=True,
    name_source="display_name, else name",
    not_found_proof="a 404 whose error.message names the endpoint ID",
    id_rule=endpoint_id_reason,
    # Per GPU-hour while not stopped; the Nx_ of the hardware ID and min_replicas count the
    # GPUs (Billing). Other hardware is unknown until the job file's prices: says.
    billed_by=("hardware",),
    prices_by=tuple(
        PriceOverride(
            PriceFact(
                per_hour=Decimal(rate),
                unit="GPU",
                source="docs.together.ai dedicated-endpoints/pricing",
                date="2026-12",
            ),
            None,
            hardware=hardware,
        )
        for hardware, rate in (("*h100*", "3.99"), ("*h200*", "5.49"), ("*b200*", "9.95"))
    ),
)

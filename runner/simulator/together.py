"""Together AI's fine-tune jobs API (PROVIDERS.md), under /together.

The job is what gets deleted. ``GET /v1/fine-tunes`` is unpaged; errors come in the
OpenAI-like ``{"error": {...}}`` shape of Together's OpenAPI document, which the together 1.x
SDK insists on.

Dedicated endpoints are the together 2.x SDK's ``endpoints``: ``GET /v1/endpoints`` (unpaged,
``?type=dedicated|serverless`` filters) lists the fields of its ``EndpointListResponse``
only; ``GET /v1/endpoints/{id}`` adds ``display_name``, ``hardware`` and ``autoscaling``;
``DELETE /v1/endpoints/{id}`` answers 204 with no body.

Seed entries (``together:``, or ``together: {model: [...], deployment: [...]}``). A job:
``id`` (required, ``ft-...``), ``status`` (default ``completed``), ``model``, ``suffix``,
``age_days``; any other key (``model_output_name``, ``user_id``...) replaces that field of
the job. A deployment (a dedicated endpoint): ``id`` (required, ``endpoint-...``), ``model``
(what it serves, e.g. a job's ``model_output_name``), ``state`` (default STARTED),
``hardware`` (default 1x_nvidia_h100_80gb_sxm), ``min_replicas``/``max_replicas`` (default 1),
``age_days``; any other key (``display_name``, ``type``...) replaces that field.
"""

import random
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

from runner.simulator.core import (
    Accounts,
    Answer,
    Handler,
    Request,
    Route,
    Simulator,
    Wire,
    bearer,
    entries,
    overridden,
    register,
    seeded_at,
    stamp,
)

BASE_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
STATUS_SPREAD = [
    ("completed", 70),
    ("error", 10),
    ("cancelled", 5),
    ("running", 5),
    ("queued", 3),
    ("pending", 2),
    ("uploading", 2),
    ("compressing", 1),
    ("cancel_requested", 2),
]
SUFFIXES = ["exp", "prod", "tmp", "sweep", "eval", "demo"]
HARDWARE = "1x_nvidia_h100_80gb_sxm"
# The fields GET /v1/endpoints lists (the 2.x SDK's EndpointListResponse.Data); the rest of an
# endpoint only comes from GET /v1/endpoints/{id}.
LISTED = ("object", "id", "name", "model", "type", "owner", "state", "created_at")


def together_job(
    job_id: str,
    created: datetime,
    status: str = "completed",
    model: str = BASE_MODEL,
    suffix: str | None = None,
) -> dict[str, Any]:
    """A job as ``GET /v1/fine-tunes`` lists it (the SDK's truncated FinetuneResponse)."""
    output = f"sim-user/{model.rsplit('/', 1)[-1]}-{suffix or 'ft'}-{job_id[-8:]}"
    return {
        "id": job_id,
        "status": status,
        "created_at": stamp(created, "milliseconds"),
        "updated_at": stamp(created + timedelta(hours=1), "milliseconds"),
        "user_id": "sim-user",
        "owner_address": "0x0000000000000000000000000000000000000000",
        "model": model,
        "model_output_name": output,
        "suffix": suffix,
        "training_file": "file-sim-training",
        "n_epochs": 1,
        "n_checkpoints": 1,
        "batch_size": 8,
        "learning_rate": 0.00001,
        "training_type": {"type": "Lora", "lora_r": 8, "lora_alpha": 16},
        "training_method": {"method": "sft", "train_on_inputs": "auto"},
    }


def together_endpoint(
    endpoint_id: str,
    created: datetime,
    model: str = BASE_MODEL,
    state: str = "STARTED",
    hardware: str = HARDWARE,
    replicas: tuple[int, int] = (1, 1),
) -> dict[str, Any]:
    """A dedicated endpoint as ``GET /v1/endpoints/{id}`` answers (the SDK's
    DedicatedEndpoint)."""
    name = f"sim-user/{model.rsplit('/', 1)[-1]}-{endpoint_id[-8:]}"
    return {
        "object": "endpoint",
        "id": endpoint_id,
        "name": name,
        "display_name": name.split("/", 1)[1],
        "model": model,
        "type": "dedicated",
        "owner": "sim-user",
        "state": state,
        "hardware": hardware,
        "autoscaling": {"min_replicas": replicas[0], "max_replicas": replicas[1]},
        "created_at": stamp(created, "milliseconds"),
    }


def _error(status: int, message: str, variant: str = "") -> dict[str, Any]:
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _not_found(job_id: str) -> Answer:
    body = _error(404, f"Fine-tune job '{job_id}' not found")
    body["error"].update(param="id", code="not_found")
    return 404, body


def _list(sim: Simulator, req: Request) -> Answer:
    with sim.lock:
        return 200, {"data": list(sim.accounts.together.values())}


def _endpoint_not_found(endpoint_id: str) -> Answer:
    body = _error(404, f"Endpoint '{endpoint_id}' not found")
    body["error"].update(param="endpoint_id", code="not_found")
    return 404, body


def _list_endpoints(sim: Simulator, req: Request) -> Answer:
    kind = req.arg("type")
    with sim.lock:
        listed = [
            {k: e[k] for k in LISTED if k in e}
            for e in sim.accounts.together_endpoints.values()
            if not kind or e.get("type") == kind
        ]
    return 200, {"object": "list", "data": listed}


def _one_item(
    items: Callable[[Accounts], dict[str, dict[str, Any]]],
    missing: Callable[[str], Answer],
    gone: Callable[[str], Answer],
) -> tuple[Handler, Handler]:
    """GET and DELETE of one item: fine-tunes and endpoints differ only in where their
    items are kept, how a missing one is told, and what a delete answers."""

    def get(sim: Simulator, req: Request) -> Answer:
        item_id = req.params["id"]
        with sim.lock:
            item = items(sim.accounts).get(item_id)
        return (200, item) if item is not None else missing(item_id)

    def delete(sim: Simulator, req: Request) -> Answer:
        item_id = req.params["id"]
        with sim.lock:
            if items(sim.accounts).pop(item_id, None) is None:
                return missing(item_id)
            sim.deleted.append(("together", item_id))
        return gone(item_id)

    return get, delete


_get, _delete = _one_item(
    lambda accounts: accounts.together,
    _not_found,
    lambda job_id: (200, {"message": f"Fine-tune job {job_id} deleted"}),
)
_get_endpoint, _delete_endpoint = _one_item(
    lambda accounts: accounts.together_endpoints, _endpoint_not_found, lambda _: (204, None)
)


def _authorize(headers: Message, key: str | None) -> Answer | None:
    token = bearer(headers)
    if not token or (key is not None and token != key):
        body = _error(401, "Invalid API key provided.")
        body["error"]["code"] = "invalid_api_key"
        return 401, body
    return None


def _seed(accounts: Accounts, items: list[Any], now: datetime) -> None:
    for entry in entries("together", items):
        job_id = str(entry["id"])
        job = together_job(
            job_id,
            seeded_at(entry, now),
            entry.get("status", "completed"),
            entry.get("model", BASE_MODEL),
            entry.get("suffix"),
        )
        accounts.together[job_id] = overridden(job, entry)


def _seed_endpoints(accounts: Accounts, items: list[Any], now: datetime) -> None:
    for entry in entries("together", items):
        endpoint_id = str(entry["id"])
        endpoint = together_endpoint(
            endpoint_id,
            seeded_at(entry, now),
            str(entry.get("model", BASE_MODEL)),
            str(entry.get("state", "STARTED")),
            str(entry.get("hardware", HARDWARE)),
            (int(entry.get("min_replicas", 1)), int(entry.get("max_replicas", 1))),
        )
        overridden(endpoint, entry, "min_replicas", "max_replicas")
        accounts.together_endpoints[endpoint_id] = endpoint


def _generate(accounts: Accounts, count: int, rng: random.Random, now: datetime) -> None:
    statuses = [s for s, weight in STATUS_SPREAD for _ in range(weight)]
    for i in range(count):
        at = now - timedelta(seconds=rng.randrange(0, 120 * 86400))
        job_id = f"ft-{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        suffix = f"{rng.choice(SUFFIXES)}-{i:06d}"
        accounts.together[job_id] = together_job(job_id, at, rng.choice(statuses), suffix=suffix)


WIRE = register(
    Wire(
        kind="together",
        routes=(
            Route("GET", "/v1/fine-tunes", _list),
            Route("GET", "/v1/fine-tunes/{id}", _get),
            Route("DELETE", "/v1/fine-tunes/{id}", _delete),
            Route("GET", "/v1/endpoints", _list_endpoints),
            Route("GET", "/v1/endpoints/{id}", _get_endpoint),
            Route("DELETE", "/v1/endpoints/{id}", _delete_endpoint),
        ),
        authorize=_authorize,
        error=_error,
        # Unlike OpenAI's, it does not repeat the path: a wrong base URL never names an ID.
        unknown=lambda method, path: (404, _error(404, "Not Found")),
        seed=_seed,
        generate=_generate,
        default_count=10,
        ids=lambda accounts: sorted(accounts.together) + sorted(accounts.together_endpoints),
        kinds={"deployment": _seed_endpoints},
        seed_keys={"deployment": "id (required, endpoint-...), min_replicas, max_replicas"},
    )
)

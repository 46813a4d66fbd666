"""Fireworks AI's models API (PROVIDERS.md), under /fireworks.

Every path is under an account, ``/v1/accounts/{account}/models``; an account the simulator
does not hold answers 404. Lists page AIP-158 style (``pageSize`` default 50, larger than 200
coerced, ``pageToken``) in name order. Page tokens name the last model returned, so a model
deleted between pages shifts nothing. Errors are gRPC-gateway's ``{"code", "message"}``.

Deployments (``/v1/accounts/{account}/deployments``, listed in ``createTime`` order, the API's
default) and the deployed models that put LoRAs on them (``/v1/accounts/{account}/deployedModels``,
the SDK's ``lora`` resource, in name order) page the same way. ``DELETE`` of a deployment
answers ``{}`` and removes its deployed models; a deleted deployment vanishes (the API's
``showDeleted`` is not served). ``filter`` and ``orderBy`` are refused rather than ignored.

Seed entries (``fireworks:``, or ``fireworks: {model: [...], deployment: [...]}``). A model:
``id`` (required: the last segment of ``name``), ``account`` (default sim-account),
``age_days``; any other key (``displayName``, ``state``, ``kind``, ``peftDetails``...)
replaces that field of the model. A deployment: ``id`` (required), ``account``, ``loras`` (IDs
of models deployed on it, each a deployed model), ``age_days``; any other key (``baseModel``,
``state``, ``acceleratorType``, ``acceleratorCount``, ``minReplicaCount``...) replaces that
field.
"""

import bisect
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

from runner.simulator.core import (
    DEFAULT_FIREWORKS_ACCOUNT,
    Accounts,
    Answer,
    Request,
    Route,
    Simulator,
    Wire,
    bearer,
    entries,
    overridden,
    page_token,
    read_page_token,
    register,
    seeded_at,
    stamp,
)

BASE_MODEL = "accounts/fireworks/models/llama-v3p1-8b-instruct"
DEFAULT_PAGE, MAX_PAGE = 50, 200
STATE_SPREAD = [("READY", 90), ("UPLOADING", 6), ("STATE_UNSPECIFIED", 4)]
NAME_PREFIXES = ["exp", "prod", "tmp", "sweep", "eval", "demo"]
# HTTP status -> the gRPC code grpc-gateway maps to it.
GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 412: 9, 429: 8, 499: 1, 500: 13}
GRPC_CODES.update({501: 12, 503: 14, 504: 4})
AFTER = "after:"  # page token = AFTER + the last item's sort key; the bare prefix = first page
ACCELERATOR = "NVIDIA_H100_80GB"


def fireworks_model(
    account: str,
    model_id: str,
    created: datetime,
    display_name: str | None = None,
    state: str = "READY",
) -> dict[str, Any]:
    """A LoRA addon (HF_PEFT_ADDON) as ``ListModels`` returns it."""
    return {
        "name": f"accounts/{account}/models/{model_id}",
        "displayName": display_name or model_id,
        "description": "",
        "createTime": stamp(created),
        "updateTime": stamp(created + timedelta(hours=1)),
        "state": state,
        "status": {"code": "OK", "message": ""},
        "kind": "HF_PEFT_ADDON",
        "peftDetails": {"baseModel": BASE_MODEL, "r": 8, "targetModules": ["q_proj", "v_proj"]},
        "public": False,
    }


def fireworks_deployment(
    account: str, deployment_id: str, created: datetime, base_model: str = BASE_MODEL
) -> dict[str, Any]:
    """A deployment as ``GetDeployment`` and ``ListDeployments`` return it."""
    return {
        "name": f"accounts/{account}/deployments/{deployment_id}",
        "displayName": deployment_id,
        "description": "",
        "createTime": stamp(created),
        "updateTime": stamp(created + timedelta(hours=1)),
        "state": "READY",
        "status": {"code": "OK", "message": ""},
        "baseModel": base_model,
        "acceleratorType": ACCELERATOR,
        "acceleratorCount": 1,
        "minReplicaCount": 1,
        "maxReplicaCount": 1,
        "replicaCount": 1,
        "enableAddons": True,
    }


def fireworks_deployed_model(
    account: str, model_id: str, deployment_id: str, created: datetime
) -> dict[str, Any]:
    """A LoRA deployed on a deployment, as the SDK's ``lora.list`` returns it."""
    return {
        "name": f"accounts/{account}/deployedModels/{model_id}-{deployment_id}",
        "displayName": model_id,
        "model": f"accounts/{account}/models/{model_id}",
        "deployment": f"accounts/{account}/deployments/{deployment_id}",
        "state": "DEPLOYED",
        "status": {"code": "OK", "message": ""},
        "default": True,
        "serverless": False,
        "public": False,
        "createTime": stamp(created),
        "updateTime": stamp(created),
    }


def _error(status: int, message: str, variant: str = "") -> dict[str, Any]:
    return {"code": GRPC_CODES.get(status, 2), "message": message}


def _no_account(account: str) -> Answer:
    return 404, _error(404, f"account {account} not found")


def _not_found(account: str, model_id: str) -> Answer:
    return 404, _error(404, f"model accounts/{account}/models/{model_id} not found")


def _page(
    sim: Simulator,
    req: Request,
    field: str,
    held: Callable[[Accounts], dict[str, dict[str, dict[str, Any]]]],
    key: Callable[[str, dict[str, Any]], str],
) -> Answer:
    """One AIP-158 page of an account's items under ``field``, in ``key`` order; the token
    names the last key returned, so deletes between pages shift nothing."""
    account = req.params["account"]
    for unserved in ("filter", "orderBy"):
        if req.arg(unserved):
            return 400, _error(400, f"the simulator does not serve {unserved}")
    size = req.int_arg("pageSize", 0)
    if size < 0:
        return 400, _error(400, "page_size must not be negative")
    size = min(size or DEFAULT_PAGE, MAX_PAGE, sim.max_page_size)
    token = req.arg("pageToken")
    after = read_page_token(token) if token else AFTER
    if not after.startswith(AFTER):
        return 400, _error(400, f"invalid page token: {token[:40]!r}")
    after = after[len(AFTER) :]
    with sim.lock:
        if account not in sim.accounts.fireworks:
            return _no_account(account)
        items = held(sim.accounts).get(account, {})
        keyed = sorted((key(item_id, item), item) for item_id, item in items.items())
    keys = [k for k, _ in keyed]
    start = bisect.bisect_right(keys, after)  # the first key after the token's
    page = [item for _, item in keyed[start : start + size]]
    more = start + size < len(keys)
    # overlap: the token names the page's last but one, so the next page lists the last again
    last = start + size - (2 if req.fault and req.fault.kind == "overlap" and size > 1 else 1)
    next_token = page_token(AFTER + keys[last]) if more else ""
    if req.fault and req.fault.kind == "repeat_token":
        next_token = page_token(AFTER)
    return 200, {field: page, "nextPageToken": next_token, "totalSize": len(keys)}


def _list(sim: Simulator, req: Request) -> Answer:
    return _page(sim, req, "models", lambda a: a.fireworks, lambda model_id, _: model_id)


def _created(item_id: str, item: dict[str, Any]) -> str:
    # The ID breaks ties; "\x00" sorts before any character an ID can hold.
    return f"{item.get('createTime', '')}\x00{item_id}"


def _list_deployments(sim: Simulator, req: Request) -> Answer:
    return _page(sim, req, "deployments", lambda a: a.fireworks_deployments, _created)


def _list_deployed(sim: Simulator, req: Request) -> Answer:
    return _page(sim, req, "deployedModels", lambda a: a.fireworks_deployed, lambda i, _: i)


def _get_deployment(sim: Simulator, req: Request) -> Answer:
    account, deployment_id = req.params["account"], req.params["deployment"]
    with sim.lock:
        if account not in sim.accounts.fireworks:
            return _no_account(account)
        deployment = sim.accounts.fireworks_deployments.get(account, {}).get(deployment_id)
    if deployment is None:
        return _deployment_not_found(account, deployment_id)
    return 200, deployment


def _delete_deployment(sim: Simulator, req: Request) -> Answer:
    account, deployment_id = req.params["account"], req.params["deployment"]
    with sim.lock:
        if account not in sim.accounts.fireworks:
            return _no_account(account)
        deployments = sim.accounts.fireworks_deployments.get(account, {})
        if deployments.pop(deployment_id, None) is None:
            return _deployment_not_found(account, deployment_id)
        name = f"accounts/{account}/deployments/{deployment_id}"
        deployed = sim.accounts.fireworks_deployed.get(account, {})
        for gone in [i for i, d in deployed.items() if d.get("deployment") == name]:
            del deployed[gone]
        sim.deleted.append(("fireworks", name))
    return 200, {}


def _deployment_not_found(account: str, deployment_id: str) -> Answer:
    return 404, _error(404, f"deployment accounts/{account}/deployments/{deployment_id} not found")


def _get(sim: Simulator, req: Request) -> Answer:
    account, model_id = req.params["account"], req.params["model"]
    with sim.lock:
        models = sim.accounts.fireworks.get(account)
        if models is None:
            return _no_account(account)
        model = models.get(model_id)
    return (200, model) if model is not None else _not_found(account, model_id)


def _delete(sim: Simulator, req: Request) -> Answer:
    account, model_id = req.params["account"], req.params["model"]
    with sim.lock:
        models = sim.accounts.fireworks.get(account)
        if models is None:
            return _no_account(account)
        if model_id not in models:
            return _not_found(account, model_id)
        del models[model_id]
        sim.deleted.append(("fireworks", model_id))
    return 200, {}


def _authorize(headers: Message, key: str | None) -> Answer | None:
    token = bearer(headers)
    if not token:
        return 401, _error(401, "unauthenticated: missing API key")
    if key is not None and token != key:
        return 401, _error(401, "unauthenticated: invalid API key")
    return None


def _seed(accounts: Accounts, items: list[Any], now: datetime) -> None:
    for entry in entries("fireworks", items):
        account = str(entry.get("account", DEFAULT_FIREWORKS_ACCOUNT))
        model_id = str(entry["id"])
        model = fireworks_model(account, model_id, seeded_at(entry, now))
        accounts.fireworks.setdefault(account, {})[model_id] = overridden(
            model, entry, "id", "account"
        )


def _seed_deployments(accounts: Accounts, items: list[Any], now: datetime) -> None:
    for entry in entries("fireworks", items):
        account = str(entry.get("account", DEFAULT_FIREWORKS_ACCOUNT))
        deployment_id, created = str(entry["id"]), seeded_at(entry, now)
        accounts.fireworks.setdefault(account, {})
        deployment = fireworks_deployment(account, deployment_id, created)
        accounts.fireworks_deployments.setdefault(account, {})[deployment_id] = overridden(
            deployment, entry, "id", "account", "loras"
        )
        deployed = accounts.fireworks_deployed.setdefault(account, {})
        for lora in entry.get("loras") or []:
            item = fireworks_deployed_model(account, str(lora), deployment_id, created)
            deployed[item["name"].rsplit("/", 1)[1]] = item


def _generate(accounts: Accounts, count: int, rng: random.Random, now: datetime) -> None:
    models = accounts.fireworks.setdefault(DEFAULT_FIREWORKS_ACCOUNT, {})
    states = [s for s, weight in STATE_SPREAD for _ in range(weight)]
    for i in range(count):
        at = now - timedelta(seconds=rng.randrange(0, 120 * 86400))
        model_id = f"{rng.choice(NAME_PREFIXES)}-{i:06d}"
        models[model_id] = fireworks_model(
            DEFAULT_FIREWORKS_ACCOUNT, model_id, at, state=rng.choice(states)
        )


WIRE = register(
    Wire(
        kind="fireworks",
        routes=(
            Route("GET", "/v1/accounts/{account}/models", _list),
            Route("GET", "/v1/accounts/{account}/models/{model}", _get),
            Route("DELETE", "/v1/accounts/{account}/models/{model}", _delete),
            Route("GET", "/v1/accounts/{account}/deployments", _list_deployments),
            Route("GET", "/v1/accounts/{account}/deployments/{deployment}", _get_deployment),
            Route("DELETE", "/v1/accounts/{account}/deployments/{deployment}", _delete_deployment),
            Route("GET", "/v1/accounts/{account}/deployedModels", _list_deployed),
        ),
        authorize=_authorize,
        error=_error,
        unknown=lambda method, path: (404, _error(404, "Not Found")),
        seed=_seed,
        generate=_generate,
        default_count=10,
        ids=lambda accounts: (
            sorted(
                f"accounts/{account}/models/{model_id}"
                for account, models in accounts.fireworks.items()
                for model_id in models
            )
            + sorted(
                f"accounts/{account}/deployments/{deployment_id}"
                for account, deployments in accounts.fireworks_deployments.items()
                for deployment_id in deployments
            )
        ),
        kinds={"deployment": _seed_deployments},
        seed_keys={"deployment": "id (required), account, loras: [MODEL_ID...] (deployed on it)"},
    )
)

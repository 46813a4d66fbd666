"""Azure OpenAI (PROVIDERS.md), under /azure_openai: the data plane, ARM and Azure Monitor.

- Data plane, ``api-key`` header, ``api-version`` on every request:
  ``GET /openai/models`` (base models and fine-tunes; a fine-tune carries ``fine_tune``, its
  job's ID), ``GET /openai/models/{id}``, ``GET /openai/fine_tuning/jobs``,
  ``DELETE /openai/fine_tuning/jobs/{job}`` (204; the job's model goes with it). The GA
  authoring spec (2024-10-21) has no ``DELETE /openai/models/{id}``: it answers 404 without
  naming the model unless the seed says ``serves_model_delete: true`` (what openai's
  ``AzureOpenAI.models.delete`` sends).
- ARM, ``Authorization: Bearer``: ``GET .../accounts/{a}/deployments`` paged by an absolute
  ``nextLink`` (``page_size``), ``GET`` and ``DELETE .../deployments/{name}``; a delete
  answers 202 with ``Azure-AsyncOperation`` and ``Location``, polled at
  ``.../operationResults/{op}`` (``InProgress`` for ``op_polls`` polls, then ``Succeeded``
  and the deployment is gone, or ``Failed`` for a name in ``op_fails``).
- Azure Monitor: ``GET .../accounts/{a}/providers/Microsoft.Insights/metrics``, the
  ``AzureOpenAIRequests`` totals per ``ModelDeploymentName`` and day, at most ``top`` series
  (default 10, as the real API).

Seed (``azure_openai:``): ``{model: [...], deployment: [...], config: {...}}``. A model entry:
``id`` (``BASE.ft-HEX`` is a fine-tune, anything else a base model), ``age_days``, any field.
A deployment entry: ``name``, ``model`` (the model it serves), ``age_days``, ``used_days_ago``
(days with requests, counted back from the seed's clock), any field. ``config``:
``serves_model_delete``, ``async`` (``both``, ``azure-asyncoperation``, ``location``, ``none``,
or ``location-resource``: a Location that is the deployment's own URL),
``op_polls``, ``op_fails`` (names), ``op_host`` and ``next_host`` (another origin for the
links, a hostile server), ``page_size``, ``tokens`` (token -> requests it is good for, None
for ever; unset: any token), ``echo_token`` (an ARM refusal that repeats the token).
"""

import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from runner.simulator.core import (
    Accounts,
    Answer,
    BadRequest,
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

KIND = "azure_openai"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
RESOURCE_GROUP = "sim-rg"
ACCOUNT = "sim-aoai"
ACCOUNT_PATH = (
    "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.CognitiveServices"
    "/accounts/{account}"
)
DEPLOYMENTS = ACCOUNT_PATH + "/deployments"
BASE_MODELS = ("gpt-4o-mini-2024-07-18", "gpt-35-turbo-0125", "gpt-4o-2024-08-06")
_HEADERS = "__headers__"  # a handler's extra response headers, taken out by ``_reply``


def azure_model(model_id: str, created: datetime) -> dict[str, Any]:
    """A model as ``GET /openai/models`` lists it (the spec's get_model_finetune example)."""
    base, _, tail = model_id.partition(".ft-")
    model: dict[str, Any] = {
        "id": model_id,
        "object": "model",
        "created_at": int(created.timestamp()),
        "status": "succeeded",
        "capabilities": {"fine_tune": not tail, "inference": True, "chat_completion": True},
        "lifecycle_status": "generally-available",
    }
    if tail:
        model["model"] = base
        model["fine_tune"] = f"ftjob-{tail}"
    return model


def azure_deployment(
    name: str, model: str, created: datetime, scope: dict[str, str]
) -> dict[str, Any]:
    """A deployment as ARM lists it (the spec's ListDeployments example, with systemData)."""
    return {
        "id": _path(DEPLOYMENTS, scope) + f"/{name}",
        "name": name,
        "type": "Microsoft.CognitiveServices/accounts/deployments",
        "sku": {"name": "Standard", "capacity": 1},
        "properties": {
            "model": {"format": "OpenAI", "name": model, "version": "1"},
            "provisioningState": "Succeeded",
        },
        "systemData": {
            "createdBy": "sim@example.com",
            "createdByType": "User",
            "createdAt": stamp(created),
            "lastModifiedAt": stamp(created),
        },
    }


def _path(template: str, scope: dict[str, str]) -> str:
    return template.format(sub=scope["sub"], rg=scope["rg"], account=scope["account"])


def _store(sim: Simulator) -> dict[str, Any]:
    return _state(sim.accounts)


def _state(accounts: Accounts) -> dict[str, Any]:
    store = accounts.store(KIND)
    for key in ("models", "jobs", "deployments", "usage", "operations", "config", "uses"):
        store.setdefault(key, {})
    return store


def _config(sim: Simulator, key: str, default: Any) -> Any:
    return _store(sim)["config"].get(key, default)


# -- errors and auth --------------------------------------------------------------------------


def _error(status: int, message: str, variant: str = "") -> dict[str, Any]:
    code = {401: "Unauthorized", 404: "NotFound", 409: "Conflict", 429: "TooManyRequests"}
    return {"error": {"code": code.get(status, str(status)), "message": message}}


def _coded(status: int, code: str, message: str) -> Answer:
    return status, {"error": {"code": code, "message": message}}


def _data_plane(sim: Simulator, req: Request) -> Answer | None:
    """The data plane's own checks: the api-key header and an api-version."""
    headers = req.headers
    key = headers.get("api-key", "") if headers is not None else ""
    wanted = sim.keys.get(KIND)
    if not key or (wanted is not None and key != wanted):
        return _coded(
            401,
            "401",
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure"
            " to provide a valid key for an active subscription and use a correct regional"
            " API endpoint for your resource.",
        )
    if not req.arg("api-version"):
        return _coded(404, "404", "Resource not found")
    return None


def _arm(sim: Simulator, req: Request) -> Answer | None:
    """ARM's own checks: a bearer token still good, and an api-version."""
    token = bearer(req.headers) if req.headers is not None else ""
    if not token:
        return _coded(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        )
    with sim.lock:
        store = _store(sim)
        tokens = store["config"].get("tokens")
        if tokens is not None:
            if token not in tokens:
                return _coded(401, "InvalidAuthenticationToken", "The access token is invalid.")
            left = store["uses"].get(token, tokens[token])
            if left is not None and left <= 0:
                return _coded(
                    401,
                    "ExpiredAuthenticationToken",
                    "The access token expiry UTC time is earlier than current UTC time.",
                )
            if left is not None:
                store["uses"][token] = left - 1
        echo = store["config"].get("echo_token")
    if echo:
        return _coded(
            403,
            "AuthorizationFailed",
            f"The client with token '{token}' does not have authorization to perform action"
            " 'Microsoft.CognitiveServices/accounts/deployments/read'.",
        )
    if not req.arg("api-version"):
        return _coded(
            400, "MissingApiVersionParameter", "The api-version query parameter is required."
        )
    return None


def _authorize(headers: Any, key: str | None) -> Answer | None:
    return None  # each route checks its own plane's credential (``_data_plane``, ``_arm``)


# -- data plane -------------------------------------------------------------------------------


def _model_not_found(model_id: str) -> Answer:
    return _coded(404, "NotFound", f"The specified model '{model_id}' could not be found.")


def _list_models(sim: Simulator, req: Request) -> Answer:
    if denied := _data_plane(sim, req):
        return denied
    with sim.lock:
        return 200, {"object": "list", "data": list(_store(sim)["models"].values())}


def _get_model(sim: Simulator, req: Request) -> Answer:
    if denied := _data_plane(sim, req):
        return denied
    model_id = req.params["model"]
    with sim.lock:
        model = _store(sim)["models"].get(model_id)
    return (200, model) if model is not None else _model_not_found(model_id)


def _delete_model(sim: Simulator, req: Request) -> Answer:
    if denied := _data_plane(sim, req):
        return denied
    if not _config(sim, "serves_model_delete", False):
        return _coded(404, "404", "Resource not found")  # the GA spec has no such operation
    model_id = req.params["model"]
    with sim.lock:
        store = _store(sim)
        model = store["models"].get(model_id)
        if model is None:
            return _model_not_found(model_id)
        if "fine_tune" not in model:
            return _coded(403, "Forbidden", f"The base model '{model_id}' cannot be deleted.")
        if conflict := _deployed(store, model_id):
            return conflict
        del store["models"][model_id]
        store["jobs"].pop(model["fine_tune"], None)
        sim.deleted.append((KIND, model_id))
    return 200, {"id": model_id, "object": "model", "deleted": True}


def _deployed(store: dict[str, Any], model_id: str) -> Answer | None:
    """Azure refuses to delete a model a deployment serves."""
    serving = [
        name
        for name, d in store["deployments"].items()
        if d.get("properties", {}).get("model", {}).get("name") == model_id
    ]
    if not serving:
        return None
    return _coded(
        409,
        "Conflict",
        f"The model '{model_id}' cannot be deleted because it is used by deployment(s)"
        f" {', '.join(serving)}.",
    )


def _list_jobs(sim: Simulator, req: Request) -> Answer:
    if denied := _data_plane(sim, req):
        return denied
    with sim.lock:
        jobs = list(_store(sim)["jobs"].values())
    return 200, {"object": "list", "data": jobs, "has_more": False}


def _delete_job(sim: Simulator, req: Request) -> Answer:
    if denied := _data_plane(sim, req):
        return denied
    job_id = req.params["job"]
    with sim.lock:
        store = _store(sim)
        job = store["jobs"].get(job_id)
        if job is None:
            return _coded(
                404, "NotFound", f"The specified fine-tuning job '{job_id}' could not be found."
            )
        model_id = job.get("fine_tuned_model")
        if model_id and (conflict := _deployed(store, model_id)):
            return conflict
        del store["jobs"][job_id]
        if model_id in store["models"]:
            del store["models"][model_id]
            sim.deleted.append((KIND, model_id))
    return 204, None


# -- ARM --------------------------------------------------------------------------------------


def _scope(req: Request) -> dict[str, str]:
    return {k: req.params[k] for k in ("sub", "rg", "account")}


def _origin(sim: Simulator, key: str) -> str:
    return str(_config(sim, key, "") or sim.url) + "/" + KIND


def _list_deployments(sim: Simulator, req: Request) -> Answer:
    if denied := _arm(sim, req):
        return denied
    size = int(_config(sim, "page_size", 100))
    skip = req.int_arg("$skipToken", 0)
    with sim.lock:
        listed = list(_store(sim)["deployments"].values())
    page: dict[str, Any] = {"value": listed[skip : skip + size]}
    if skip + size < len(listed):
        page["nextLink"] = (
            _origin(sim, "next_host")
            + _path(DEPLOYMENTS, _scope(req))
            + f"?api-version={req.arg('api-version')}&$skipToken={skip + size}"
        )
    return 200, page


def _deployment_not_found(req: Request, name: str) -> Answer:
    return _coded(
        404,
        "DeploymentNotFound",
        f"The Resource 'Microsoft.CognitiveServices/accounts/{req.params['account']}"
        f"/deployments/{name}' under resource group '{req.params['rg']}' was not found.",
    )


def _get_deployment(sim: Simulator, req: Request) -> Answer:
    if denied := _arm(sim, req):
        return denied
    name = req.params["name"]
    _run_operations(sim, name)
    with sim.lock:
        deployment = _store(sim)["deployments"].get(name)
    return (200, deployment) if deployment is not None else _deployment_not_found(req, name)


def _delete_deployment(sim: Simulator, req: Request) -> Answer:
    if denied := _arm(sim, req):
        return denied
    name = req.params["name"]
    style = _config(sim, "async", "both")
    with sim.lock:
        store = _store(sim)
        deployment = store["deployments"].get(name)
        if deployment is None:
            return 204, None  # ARM: deleting what is not there is done
        if style == "none":
            del store["deployments"][name]
            sim.deleted.append((KIND, name))
            return 200, None
        op = "op-" + hashlib.sha256(f"{name}/{len(store['operations'])}".encode()).hexdigest()[:16]
        failing = name in (store["config"].get("op_fails") or ())
        store["operations"][op] = {
            "deployment": name,
            "left": int(store["config"].get("op_polls", 1)),
            "fails": failing,
        }
        deployment["properties"]["provisioningState"] = "Deleting"
    url = (
        _origin(sim, "op_host")
        + f"/subscriptions/{req.params['sub']}/providers/Microsoft.CognitiveServices"
        + f"/locations/eastus/operationResults/{op}?api-version={req.arg('api-version')}"
    )
    headers = {"Retry-After": "0"}
    if style in ("both", "azure-asyncoperation"):
        headers["Azure-AsyncOperation"] = url
    if style in ("both", "location"):
        headers["Location"] = url + "&location=1"
    if style == "location-resource":  # a hostile RP: the deployment itself, 200 while there
        headers["Location"] = _self(sim, req)
    return 202, {_HEADERS: headers}


def _advance(sim: Simulator, store: dict[str, Any], entry: dict[str, Any]) -> str:
    """One step of a delete operation (under the lock): InProgress for ``left`` more steps,
    then Failed (the deployment back to Succeeded) or Succeeded (the deployment gone)."""
    name = entry["deployment"]
    if entry["left"] > 0:
        entry["left"] -= 1
        return "InProgress"
    if entry["fails"]:
        deployment = store["deployments"].get(name)
        if deployment is not None:
            deployment["properties"]["provisioningState"] = "Succeeded"
        return "Failed"
    if store["deployments"].pop(name, None) is not None:
        sim.deleted.append((KIND, name))
    return "Succeeded"


def _run_operations(sim: Simulator, name: str | None = None) -> None:
    """The operations go on whether anyone polls them: a read of the deployments (all, or
    ``name``) moves each of them one step first."""
    with sim.lock:
        store = _store(sim)
        for entry in store["operations"].values():
            if name is None or entry["deployment"] == name:
                _advance(sim, store, entry)


def _operation(sim: Simulator, req: Request) -> Answer:
    if denied := _arm(sim, req):
        return denied
    op = req.params["op"]
    with sim.lock:
        store = _store(sim)
        entry = store["operations"].get(op)
        if entry is None:
            return _coded(404, "NotFound", f"Operation '{op}' not found.")
        name = entry["deployment"]
        status = _advance(sim, store, entry)
    if req.arg("location"):  # Location polling: 202 until done, then the final answer
        if status == "InProgress":
            return 202, {_HEADERS: {"Retry-After": "0", "Location": _self(sim, req)}}
        if status == "Failed":
            return _coded(409, "DeploymentDeletionFailed", f"Deleting deployment {name} failed.")
        return 204, None
    body: dict[str, Any] = {"id": op, "name": op, "status": status}
    if status == "Failed":
        body["error"] = {
            "code": "DeploymentDeletionFailed",
            "message": f"Deleting deployment {name} failed: the model is being updated.",
        }
    return 200, body


def _self(sim: Simulator, req: Request) -> str:
    query = "&".join(f"{k}={v[0]}" for k, v in req.query.items())
    return f"{_origin(sim, 'op_host')}{req.path}?{query}"


def _metrics(sim: Simulator, req: Request) -> Answer:
    if denied := _arm(sim, req):
        return denied
    if req.arg("metricnames") != "AzureOpenAIRequests":
        raise BadRequest(f"unknown metric {req.arg('metricnames')!r}")
    if req.arg("interval") != "P1D" or req.arg("aggregation") != "Total":
        raise BadRequest("this simulator serves interval=P1D and aggregation=Total only")
    start_text, _, end_text = req.arg("timespan").partition("/")
    try:
        start = datetime.fromisoformat(start_text.replace("Z", "+00:00"))
        end = datetime.fromisoformat(end_text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"invalid timespan {req.arg('timespan')!r}") from None
    top = req.int_arg("top", 10)
    with sim.lock:
        usage = {name: list(days) for name, days in _store(sim)["usage"].items()}
    series = []
    for name, days in sorted(usage.items()):
        data = [
            {"timeStamp": stamp(day, "seconds"), "total": float(count)}
            for day, count in days
            if start <= day + timedelta(days=1) and day < end
        ]
        if data:
            series.append(
                {
                    "metadatavalues": [{"name": {"value": "modeldeploymentname"}, "value": name}],
                    "data": data,
                }
            )
    return 200, {
        "cost": 0,
        "timespan": req.arg("timespan"),
        "interval": "P1D",
        "value": [
            {
                "id": req.path + "/AzureOpenAIRequests",
                "type": "Microsoft.Insights/metrics",
                "name": {"value": "AzureOpenAIRequests", "localizedValue": "Azure OpenAI Requests"},
                "unit": "Count",
                "timeseries": series[:top],
                "errorCode": "Success",
            }
        ],
        "namespace": "Microsoft.CognitiveServices/accounts",
        "resourceregion": "eastus",
    }


def _reply(status: int, body: Any) -> tuple[dict[str, str], Any]:
    if isinstance(body, dict) and _HEADERS in body:
        headers = body.pop(_HEADERS)
        return headers, body or None
    return {}, body


def _unknown(method: str, path: str) -> Answer:
    return _coded(404, "404", "Resource not found")


# -- seeding ----------------------------------------------------------------------------------


def _job(model: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": model["fine_tune"],
        "object": "fine_tuning.job",
        "model": model.get("model"),
        "fine_tuned_model": model["id"],
        "status": "succeeded",
        "created_at": model.get("created_at"),
        "training_file": "file-sim-training",
        "hyperparameters": {"n_epochs": 3},
    }


def _add_model(store: dict[str, Any], model: dict[str, Any]) -> None:
    store["models"][str(model.get("id"))] = model
    if isinstance(model.get("fine_tune"), str):
        store["jobs"][model["fine_tune"]] = _job(model)


def _seed(accounts: Accounts, items: list[Any], now: datetime) -> None:
    store = _state(accounts)
    for entry in entries(KIND, items):
        _add_model(store, overridden(azure_model(str(entry["id"]), seeded_at(entry, now)), entry))


SCOPE = {"sub": SUBSCRIPTION, "rg": RESOURCE_GROUP, "account": ACCOUNT}


def _seed_deployments(accounts: Accounts, items: list[Any], now: datetime) -> None:
    store = _state(accounts)
    for entry in entries(KIND, items):
        name = str(entry["name"])
        built = azure_deployment(name, str(entry.get("model", "")), seeded_at(entry, now), SCOPE)
        store["deployments"][name] = overridden(built, entry, "model", "used_days_ago")
        today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        store["usage"][name] = [
            (today - timedelta(days=int(ago)), 5) for ago in entry.get("used_days_ago") or ()
        ]


def _seed_config(accounts: Accounts, items: list[Any], now: datetime) -> None:
    for entry in entries(KIND, items):
        _state(accounts)["config"].update(entry)


def _generate(accounts: Accounts, count: int, rng: random.Random, now: datetime) -> None:
    store = _state(accounts)
    for base in BASE_MODELS:
        _add_model(store, azure_model(base, now - timedelta(days=400)))
    for _ in range(count):
        tail = f"{rng.getrandbits(128):032x}"
        at = now - timedelta(seconds=rng.randrange(0, 120 * 86400))
        _add_model(store, azure_model(f"{rng.choice(BASE_MODELS)}.ft-{tail}", at))


def _ids(accounts: Accounts) -> list[str]:
    store = _state(accounts)
    return sorted([*store["models"], *store["deployments"]])


WIRE = register(
    Wire(
        kind=KIND,
        routes=(
            Route("GET", "/openai/models", _list_models),
            Route("GET", "/openai/models/{model}", _get_model),
            Route("DELETE", "/openai/models/{model}", _delete_model),
            Route("GET", "/openai/fine_tuning/jobs", _list_jobs),
            Route("DELETE", "/openai/fine_tuning/jobs/{job}", _delete_job),
            Route("GET", ACCOUNT_PATH + "/deployments", _list_deployments),
            Route("GET", ACCOUNT_PATH + "/deployments/{name}", _get_deployment),
            Route("DELETE", ACCOUNT_PATH + "/deployments/{name}", _delete_deployment),
            Route(
                "GET",
                "/subscriptions/{sub}/providers/Microsoft.CognitiveServices/locations/{loc}"
                "/operationResults/{op}",
                _operation,
            ),
            Route("GET", ACCOUNT_PATH + "/providers/Microsoft.Insights/metrics", _metrics),
        ),
        authorize=_authorize,
        error=_error,
        unknown=_unknown,
        seed=_seed,
        generate=_generate,
        ids=_ids,
        kinds={"deployment": _seed_deployments, "config": _seed_config},
        seed_keys={
            "model": "id (BASE.ft-HEX is a fine-tune, anything else a base model)",
            "deployment": "name, model (the model it serves), used_days_ago (days with requests)",
            "config": "a mapping: serves_model_delete, async (both, azure-asyncoperation,"
            " location, none, location-resource), op_polls, op_fails, op_host, next_host,"
            " page_size, tokens, echo_token",
        },
        reply=_reply,
    )
)

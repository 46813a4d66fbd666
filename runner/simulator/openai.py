"""OpenAI's models and fine-tuning jobs API (PROVIDERS.md), under /openai.

The official SDK is pointed at ``base_url("openai") + "/v1"``. ``GET /v1/models`` lists base
models and fine-tunes (``ft:BASE:ORG:SUFFIX:ID``) in one unpaged list; every fine-tune also
has a succeeded job in ``GET /v1/fine_tuning/jobs``, which deleting the model leaves alone.

Seed entries (``openai:``): ``id`` (required; one not starting ``ft:`` is a base model),
``age_days``, ``metadata`` (its job's, as sent: a mapping, or anything hostile),
``used_days_ago`` (a list: one request on each of those days before the seed's clock, for
the Usage API); any other key (``owned_by``, ``created``...) replaces that field.

The Usage API, ``GET /v1/organization/usage/completions``, answers daily buckets from the
UTC midnight at or before ``start_time`` up to ``end_time`` (default: the wall clock), one
result per model used that day when grouped by model (``group_by=model``, or the SDK's
``group_by[]=model``), else one for all. It takes only an admin key (``sk-admin-...``): any
other key is refused with 401 [guess]. A page holds ``limit`` buckets (at most 31, and at
most the simulator's ``max_page_size``, so tests can make it page); ``next_page`` is the
next bucket's start, encoded.
"""

import hashlib
import random
import string
import time
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

from runner.simulator.core import (
    Accounts,
    Answer,
    BadRequest,
    Handler,
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
)

BASE_MODELS = (
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06",
    "gpt-4.1-mini-2025-04-14",
    "gpt-3.5-turbo-0125",
)
SUFFIXES = ["exp", "prod", "tmp", "sweep", "eval", "demo"]
MAX_JOBS_PAGE = 100
ADMIN_KEY_PREFIX = "sk-admin-"  # what OpenAI's admin keys look like [doc]
DAY = 86400
MAX_USAGE_DAYS = 31  # daily buckets a usage page may hold [doc]


def openai_model(model_id: str, created: datetime, owned_by: str | None = None) -> dict[str, Any]:
    """A Model as ``GET /v1/models`` lists it; fine-tunes are owned by the organisation."""
    return {
        "id": model_id,
        "object": "model",
        "created": int(created.timestamp()),
        "owned_by": owned_by or ("sim-org" if model_id.startswith("ft:") else "system"),
    }


def openai_job(model: dict[str, Any], metadata: Any = None) -> dict[str, Any]:
    """The succeeded job that made a fine-tune, with an ID derived from the model's."""
    model_id = str(model.get("id"))
    at = model.get("created")
    finished = at if isinstance(at, int) else 0
    parts = model_id.split(":")
    return {
        "id": "ftjob-" + hashlib.sha256(model_id.encode()).hexdigest()[:24],
        "object": "fine_tuning.job",
        "created_at": finished - 3600,
        "finished_at": finished,
        "fine_tuned_model": model_id,
        "model": parts[1] if len(parts) > 1 else "",
        "organization_id": "org-sim",
        "status": "succeeded",
        "hyperparameters": {
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
            "n_epochs": 3,
        },
        "result_files": [],
        "seed": 42,
        "trained_tokens": 12345,
        "training_file": "file-sim-training",
        "validation_file": None,
        "error": None,
        "metadata": metadata,
    }


def _error(status: int, message: str, variant: str = "") -> dict[str, Any]:
    if status == 429:
        kind, code = "requests", "rate_limit_exceeded"
    else:
        kind, code = ("server_error" if status >= 500 else "invalid_request_error"), None
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _not_found(model_id: str) -> Answer:
    body = _error(404, f"The model '{model_id}' does not exist")
    body["error"].update(param="model", code="model_not_found")
    return 404, body


def _project_key(route: Handler) -> Handler:
    """A route of the models and fine-tuning APIs, which refuse an admin key [guess]."""

    def serve(sim: Simulator, req: Request) -> Answer:
        if bearer(req.headers).startswith(ADMIN_KEY_PREFIX):
            body = _error(401, "Admin keys can only call the administration endpoints.")
            body["error"]["code"] = "invalid_api_key"
            return 401, body
        return route(sim, req)

    return serve


def _list(sim: Simulator, req: Request) -> Answer:
    with sim.lock:
        return 200, {"object": "list", "data": list(sim.accounts.openai.values())}


def _get(sim: Simulator, req: Request) -> Answer:
    model_id = req.params["model"]
    with sim.lock:
        model = sim.accounts.openai.get(model_id)
    return (200, model) if model is not None else _not_found(model_id)


def _delete(sim: Simulator, req: Request) -> Answer:
    model_id = req.params["model"]
    with sim.lock:
        if model_id not in sim.accounts.openai:
            return _not_found(model_id)
        if not model_id.startswith("ft:"):  # [guess] base models are nobody's to delete
            body = _error(403, f"You do not have permission to delete the model '{model_id}'")
            body["error"]["param"] = "model"
            return 403, body
        del sim.accounts.openai[model_id]
        sim.deleted.append(("openai", model_id))
    return 200, {"id": model_id, "object": "model", "deleted": True}


def _jobs(sim: Simulator, req: Request) -> Answer:
    limit = req.int_arg("limit", 20)
    if limit < 1:
        return 400, _error(400, "limit must be at least 1")
    limit = min(limit, MAX_JOBS_PAGE)
    after = req.arg("after")
    with sim.lock:
        jobs = list(sim.accounts.openai_jobs)
    start = 0
    if after:
        ids = [job.get("id") for job in jobs]
        if after not in ids:
            return 400, _error(400, f"No fine-tuning job found with id '{after}'")
        start = ids.index(after) + 1
    page = jobs[start : start + limit]
    return 200, {"object": "list", "data": page, "has_more": start + limit < len(jobs)}


def use(accounts: Accounts, model_id: str, at: datetime, requests: int = 1) -> None:
    """Record ``requests`` uses of a model at ``at``, as the Usage API will count them."""
    day = int(at.timestamp()) // DAY * DAY
    days = accounts.store("openai").setdefault("usage", {}).setdefault(model_id, {})
    days[day] = days.get(day, 0) + requests


def _usage(sim: Simulator, req: Request) -> Answer:
    if not bearer(req.headers).startswith(ADMIN_KEY_PREFIX):
        body = _error(401, "This endpoint needs an admin key (sk-admin-...).")  # [guess]
        body["error"]["code"] = "invalid_api_key"
        return 401, body
    start = req.int_arg("start_time", -1)
    end = req.int_arg("end_time", int(time.time()))
    limit = req.int_arg("limit", 7)
    if start < 0:
        raise BadRequest("start_time is required")
    if req.arg("bucket_width", "1d") != "1d":
        raise BadRequest("the simulator serves bucket_width=1d only")
    if not 1 <= limit <= MAX_USAGE_DAYS:
        raise BadRequest(f"limit must be between 1 and {MAX_USAGE_DAYS} for bucket_width=1d")
    grouped = "model" in req.query.get("group_by", []) + req.query.get("group_by[]", [])
    page = req.arg("page")
    first = int(read_page_token(page)) if page else start // DAY * DAY
    size = min(limit, sim.max_page_size)
    days = range(first, end, DAY)[:size]
    with sim.lock:
        usage = {m: dict(d) for m, d in sim.accounts.store("openai").get("usage", {}).items()}
    buckets = [_bucket(day, usage, grouped) for day in days]
    following = first + size * DAY
    if req.fault and req.fault.kind == "repeat_token":  # always the second page's token
        following = start // DAY * DAY + size * DAY
    more = following < end
    return 200, {
        "object": "page",
        "data": buckets,
        "has_more": more,
        "next_page": page_token(str(following)) if more else None,
    }


def _bucket(day: int, usage: dict[str, dict[int, int]], grouped: bool) -> dict[str, Any]:
    counts = {model: days[day] for model, days in usage.items() if days.get(day)}
    if not grouped:
        counts = {"": sum(counts.values())} if counts else {}
    results = [
        {
            "object": "organization.usage.completions.result",
            "input_tokens": 100 * requests,
            "output_tokens": 20 * requests,
            "num_model_requests": requests,
            "project_id": None,
            "user_id": None,
            "api_key_id": None,
            "model": model or None,
            "batch": None,
            "service_tier": None,
        }
        for model, requests in sorted(counts.items())
    ]
    return {"object": "bucket", "start_time": day, "end_time": day + DAY, "results": results}


def _authorize(headers: Message, key: str | None) -> Answer | None:
    token = bearer(headers)
    if not token:
        return 401, _error(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    # An admin key is judged by the route it calls (only the Usage API takes one).
    if key is not None and token != key and not token.startswith(ADMIN_KEY_PREFIX):
        body = _error(401, "Incorrect API key provided.")  # the real one echoes it masked
        body["error"]["code"] = "invalid_api_key"
        return 401, body
    return None


def _add(accounts: Accounts, model: dict[str, Any], metadata: Any = None) -> None:
    accounts.openai[str(model.get("id"))] = model
    if str(model.get("id")).startswith("ft:"):
        accounts.openai_jobs.append(openai_job(model, metadata))


def _newest_jobs_first(accounts: Accounts) -> None:
    accounts.openai_jobs.sort(key=lambda job: -int(job.get("created_at") or 0))


def _seed(accounts: Accounts, items: list[Any], now: datetime) -> None:
    for entry in entries("openai", items):
        model = openai_model(str(entry["id"]), seeded_at(entry, now))
        _add(accounts, overridden(model, entry, "metadata", "used_days_ago"), entry.get("metadata"))
        for days in entry.get("used_days_ago") or []:
            use(accounts, str(entry["id"]), now - timedelta(days=float(days)))
    _newest_jobs_first(accounts)


def _generate(accounts: Accounts, count: int, rng: random.Random, now: datetime) -> None:
    for base in BASE_MODELS:
        _add(accounts, openai_model(base, now - timedelta(days=400)))
    alphabet = string.ascii_letters + string.digits
    for i in range(count):
        suffix = f"{rng.choice(SUFFIXES)}-{i:06d}"
        tail = "".join(rng.choice(alphabet) for _ in range(8))
        model_id = f"ft:{rng.choice(BASE_MODELS)}:sim-org:{suffix}:{tail}"
        at = now - timedelta(seconds=rng.randrange(0, 120 * 86400))
        _add(accounts, openai_model(model_id, at))
    _newest_jobs_first(accounts)


WIRE = register(
    Wire(
        kind="openai",
        routes=(
            Route("GET", "/v1/models", _project_key(_list)),
            Route("GET", "/v1/models/{model}", _project_key(_get)),
            Route("DELETE", "/v1/models/{model}", _project_key(_delete)),
            Route("GET", "/v1/fine_tuning/jobs", _project_key(_jobs)),
            Route("GET", "/v1/organization/usage/completions", _usage),
        ),
        authorize=_authorize,
        error=_error,
        # It repeats the path, so an ID in this message proves nothing; only the code does.
        unknown=lambda method, path: (404, _error(404, f"Invalid URL ({method} {path})")),
        seed=_seed,
        generate=_generate,
        default_count=10,
        ids=lambda accounts: sorted(accounts.openai),
    )
)

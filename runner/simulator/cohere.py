"""Cohere's ``/v1/finetuning`` API (PROVIDERS.md), at the root and under /cohere.

Seed entries (``cohere:``): ``id`` (required), ``name``, ``status`` (default STATUS_READY),
``age_days``; any other key replaces that field of the FinetunedModel.
"""

import random
import uuid
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

from runner.simulator.core import (
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

PREFIX = "/v1/finetuning/finetuned-models"
STATUS_SPREAD = [
    ("STATUS_READY", 70),
    ("STATUS_FAILED", 14),
    ("STATUS_PAUSED", 4),
    ("STATUS_FINETUNING", 4),
    ("STATUS_QUEUED", 3),
    ("STATUS_DEPLOYING_API", 2),
    ("STATUS_DELETED", 3),
]
NAME_PREFIXES = ["exp", "prod", "tmp", "sweep", "eval", "demo"]


def cohere_model(model_id: str, name: str, status: str, created: datetime) -> dict[str, Any]:
    """A FinetunedModel as Cohere's API documents it."""
    return {
        "id": model_id,
        "name": name,
        "creator_id": "sim-user",
        "organization_id": "sim-org",
        "settings": {
            "base_model": {"name": "command-r", "version": "1", "base_type": "BASE_TYPE_CHAT"},
            "dataset_id": f"ds-{name}",
            "hyperparameters": {"train_epochs": 1},
        },
        "status": status,
        "created_at": stamp(created),
        "updated_at": stamp(created + timedelta(hours=2)),
        **(
            {"completed_at": stamp(created + timedelta(hours=2))}
            if status == "STATUS_READY"
            else {}
        ),
    }


def _not_found(model_id: str) -> Answer:
    return 404, {"message": f"finetuned model {model_id} not found"}


def _list(sim: Simulator, req: Request) -> Answer:
    size = req.int_arg("page_size", 0)
    if size < 0:
        return 400, {"message": "page_size must not be negative"}
    size = min(size or 50, sim.max_page_size)
    token = req.arg("page_token")
    try:
        start = int(read_page_token(token)) if token else 0
    except ValueError:
        return 400, {"message": f"invalid page_token: {token[:40]!r}"}
    order = sim.accounts.cohere_order
    page: list[dict[str, Any]] = []
    index = start
    with sim.lock:
        while index < len(order) and len(page) < size:
            model = sim.accounts.cohere.get(order[index])
            if model is not None:
                page.append(model)
            index += 1
        more = index < len(order)
        total = len(sim.accounts.cohere)
    if req.fault and req.fault.kind == "overlap" and more:
        index -= 1  # an offset that slipped: the next page lists this page's last again
    next_token = page_token(str(index)) if more else ""
    if req.fault and req.fault.kind == "repeat_token":
        next_token = page_token("0")
    return 200, {"finetuned_models": page, "next_page_token": next_token, "total_size": total}


def _get(sim: Simulator, req: Request) -> Answer:
    model_id = req.params["id"]
    with sim.lock:
        model = sim.accounts.cohere.get(model_id)
    return (200, {"finetuned_model": model}) if model is not None else _not_found(model_id)


def _delete(sim: Simulator, req: Request) -> Answer:
    model_id = req.params["id"]
    with sim.lock:
        model = sim.accounts.cohere.get(model_id)
        if model is None or model.get("status") == "STATUS_DELETED":
            return _not_found(model_id)
        if sim.deleted_mode == "status":
            model["status"] = "STATUS_DELETED"
        else:
            del sim.accounts.cohere[model_id]
        sim.deleted.append(("cohere", model_id))
    return 200, {}  # the official SDK treats an empty body as an error


def _authorize(headers: Message, key: str | None) -> Answer | None:
    token = bearer(headers)
    if not token:
        return 401, {"message": "no api key supplied"}
    if key is not None and token != key:
        return 401, {"message": "invalid api token"}
    return None


def _seed(accounts: Accounts, items: list[Any], now: datetime) -> None:
    for entry in entries("cohere", items):
        model = cohere_model(
            entry["id"],
            entry.get("name", entry["id"]),
            entry.get("status", "STATUS_READY"),
            seeded_at(entry, now),
        )
        accounts.add_cohere(overridden(model, entry))


def _generate(accounts: Accounts, count: int, rng: random.Random, now: datetime) -> None:
    statuses = [s for s, weight in STATUS_SPREAD for _ in range(weight)]
    for i in range(count):
        at = now - timedelta(seconds=rng.randrange(0, 120 * 86400))
        model_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        name = f"{rng.choice(NAME_PREFIXES)}-{i:06d}"
        accounts.add_cohere(cohere_model(model_id, name, rng.choice(statuses), at))


WIRE = register(
    Wire(
        kind="cohere",
        routes=(
            Route("GET", PREFIX, _list),
            Route("GET", PREFIX + "/{id}", _get),
            Route("DELETE", PREFIX + "/{id}", _delete),
        ),
        authorize=_authorize,
        error=lambda status, message, variant: {"message": message},
        unknown=lambda method, path: (404, {"message": "Not Found"}),
        seed=_seed,
        generate=_generate,
        ids=lambda accounts: sorted(accounts.cohere),
        # Everything at the root that no other wire claims, as before there were mounts.
        root_prefixes=("/",),
    )
)

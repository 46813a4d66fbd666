"""Mistral's models API (PROVIDERS.md), under /mistral.

``GET /v1/models`` lists base and fine-tuned model cards, tagged by ``type``, unpaged. A
Mistral not-found body is a guess, so two shapes are on offer: variant ``object`` (the
default, OpenAI-like) and ``detail`` (FastAPI's). Unknown paths and bad keys answer as FastAPI
does whatever the variant.

Seed entries (``mistral:``): ``id`` (required), ``type`` (default ``fine-tuned`` for IDs
starting ``ft:``, else ``base``), ``name`` (may be null), ``root``, ``job``, ``age_days``;
any other key replaces that field of the card.
"""

import hashlib
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
    register,
    seeded_at,
)

BASE_MODELS = ("open-mistral-7b", "mistral-small-latest", "open-mistral-nemo")
NAME_PREFIXES = ["exp", "prod", "tmp", "sweep", "eval", "demo"]
CAPABILITIES = {
    "completion_chat": True,
    "completion_fim": False,
    "function_calling": True,
    "fine_tuning": False,
    "vision": False,
    "classification": False,
}


def _card(model_id: str, created: datetime, kind: str) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": int(created.timestamp()),
        "owned_by": "mistralai" if kind == "base" else "sim-org",
        "name": model_id if kind == "base" else None,
        "description": None,
        "capabilities": dict(CAPABILITIES),
        "max_context_length": 32768,
        "aliases": [],
        "deprecation": None,
        "type": kind,
    }


def mistral_base_card(model_id: str, created: datetime) -> dict[str, Any]:
    return _card(model_id, created, "base")


def mistral_ft_card(
    model_id: str,
    created: datetime,
    name: str | None = None,
    root: str | None = None,
    job: str | None = None,
) -> dict[str, Any]:
    """A fine-tuned card; ``root`` defaults to the base named in an ``ft:BASE:...`` ID."""
    parts = model_id.split(":")
    digest = hashlib.sha256(model_id.encode()).digest()[:16]
    return {
        **_card(model_id, created, "fine-tuned"),
        "name": name,
        "root": root or (parts[1] if len(parts) > 1 else BASE_MODELS[0]),
        "job": job or str(uuid.UUID(bytes=digest, version=4)),
        "archived": False,
    }


def _error(status: int, message: str, variant: str) -> dict[str, Any]:
    if variant == "detail":
        return {"detail": message}
    kind = "internal_server_error" if status >= 500 else "invalid_request_error"
    return {"object": "error", "message": message, "type": kind, "code": None}


def _not_found(model_id: str, variant: str) -> Answer:
    body = _error(404, f"Model '{model_id}' not found", variant)
    if "code" in body:
        body["code"] = "model_not_found"
    return 404, body


def _list(sim: Simulator, req: Request) -> Answer:
    with sim.lock:
        return 200, {"object": "list", "data": list(sim.accounts.mistral.values())}


def _get(sim: Simulator, req: Request) -> Answer:
    model_id = req.params["model_id"]
    with sim.lock:
        card = sim.accounts.mistral.get(model_id)
    return (200, card) if card is not None else _not_found(model_id, req.variant)


def _delete(sim: Simulator, req: Request) -> Answer:
    model_id = req.params["model_id"]
    with sim.lock:
        card = sim.accounts.mistral.get(model_id)
        if card is None:
            return _not_found(model_id, req.variant)
        if card.get("type") == "base":  # [guess] only your own fine-tunes can go
            message = f"You do not have permission to delete the base model '{model_id}'"
            return 403, _error(403, message, req.variant)
        del sim.accounts.mistral[model_id]
        sim.deleted.append(("mistral", model_id))
    return 200, {"id": model_id, "object": "model", "deleted": True}


def _authorize(headers: Message, key: str | None) -> Answer | None:
    token = bearer(headers)
    if not token or (key is not None and token != key):
        return 401, {"detail": "Unauthorized"}
    return None


def _seed(accounts: Accounts, items: list[Any], now: datetime) -> None:
    for entry in entries("mistral", items):
        model_id, at = str(entry["id"]), seeded_at(entry, now)
        kind = entry.get("type") or ("fine-tuned" if model_id.startswith("ft:") else "base")
        card = (
            mistral_base_card(model_id, at)
            if kind == "base"
            else mistral_ft_card(model_id, at, entry.get("name"), entry.get("root"))
        )
        accounts.mistral[model_id] = overridden(card, entry)


def _generate(accounts: Accounts, count: int, rng: random.Random, now: datetime) -> None:
    for base in BASE_MODELS:
        accounts.mistral[base] = mistral_base_card(base, now - timedelta(days=400))
    for i in range(count):
        at = now - timedelta(seconds=rng.randrange(0, 120 * 86400))
        name = f"{rng.choice(NAME_PREFIXES)}-{i:06d}"
        org, tail = f"{rng.getrandbits(32):08x}", f"{rng.getrandbits(32):08x}"
        model_id = f"ft:{rng.choice(BASE_MODELS)}:{org}:{at:%Y%m%d}:{name}:{tail}"
        accounts.mistral[model_id] = mistral_ft_card(model_id, at, name)


WIRE = register(
    Wire(
        kind="mistral",
        routes=(
            Route("GET", "/v1/models", _list),
            Route("GET", "/v1/models/{model_id}", _get),
            Route("DELETE", "/v1/models/{model_id}", _delete),
        ),
        authorize=_authorize,
        error=_error,
        unknown=lambda method, path: (404, {"detail": "Not Found"}),
        seed=_seed,
        generate=_generate,
        default_count=10,
        ids=lambda accounts: sorted(accounts.mistral),
        variants=("object", "detail"),
    )
)

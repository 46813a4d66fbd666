"""Black Forest Labs' finetune utilities (PROVIDERS.md), at the root and under /bfl.

Seed entries (``bfl:``): a finetune ID string, or an object listed as it is (``id`` or
``finetune_id`` names it). Deleting is a POST, which the core's default rule counts as
mutating like every request that is not a read.
"""

import json
import random
import uuid
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from runner.simulator.core import (
    Accounts,
    Answer,
    Request,
    Route,
    Simulator,
    Wire,
    register,
    stamp,
)

LIST, DETAILS, DELETE = "/v1/my_finetunes", "/v1/finetune_details", "/v1/delete_finetune"


def _list(sim: Simulator, req: Request) -> Answer:
    with sim.lock:
        return 200, {"finetunes": list(sim.accounts.bfl_items.values())}


def _details(sim: Simulator, req: Request) -> Answer:
    finetune_id = req.arg("finetune_id")
    with sim.lock:
        details = sim.accounts.bfl.get(finetune_id)
    if details is None:
        return 404, {"detail": f"Finetune {finetune_id} not found"}
    return 200, {"finetune_details": details}


def _delete(sim: Simulator, req: Request) -> Answer:
    try:
        finetune_id = json.loads(req.body or b"null")["finetune_id"]
        if not isinstance(finetune_id, str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        missing = {
            "loc": ["body", "finetune_id"],
            "msg": "field required",
            "type": "value_error.missing",
        }
        return 422, {"detail": [missing]}
    with sim.lock:
        if finetune_id not in sim.accounts.bfl:
            return 404, {"detail": f"Finetune {finetune_id} not found"}
        del sim.accounts.bfl[finetune_id]
        del sim.accounts.bfl_items[finetune_id]
        sim.deleted.append(("bfl", finetune_id))
    return 200, {
        "status": "success",
        "message": "Finetune deleted",
        "deleted_finetune_id": finetune_id,
        "timestamp": stamp(datetime.now(UTC)),
    }


def _authorize(headers: Message, key: str | None) -> Answer | None:
    given = headers.get("x-key", "")
    if not given:
        return 401, {"detail": "Not authenticated"}
    if key is not None and given != key:
        return 403, {"detail": "Invalid API key"}
    return None


def _seed(accounts: Accounts, items: list[Any], now: datetime) -> None:
    for item in items:
        accounts.add_bfl(item)


def _generate(accounts: Accounts, count: int, rng: random.Random, now: datetime) -> None:
    for i in range(count):
        accounts.add_bfl(
            f"lora-{i:06d}" if i % 2 else str(uuid.UUID(int=rng.getrandbits(128), version=4))
        )


WIRE = register(
    Wire(
        kind="bfl",
        routes=(
            Route("GET", LIST, _list),
            Route("GET", DETAILS, _details),
            Route("POST", DELETE, _delete),
        ),
        authorize=_authorize,
        error=lambda status, message, variant: {"detail": message},
        unknown=lambda method, path: (404, {"detail": "Not Found"}),
        seed=_seed,
        generate=_generate,
        ids=lambda accounts: sorted(accounts.bfl),
        root_prefixes=("/v1/my_", "/v1/finetune_", "/v1/delete_"),
    )
)

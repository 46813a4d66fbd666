"""Amazon Bedrock's control plane for custom models and Provisioned Throughput, under /bedrock.

REST-JSON as botocore's ``bedrock`` service model (2023-04-20) defines it, so boto3 with
``endpoint_url=…/bedrock`` is the client: ``GET /custom-models``, ``GET|DELETE
/custom-models/{modelIdentifier}``, ``GET /provisioned-model-throughputs``, ``GET|DELETE
/provisioned-model-throughput/{provisionedModelId}`` (a name or an ARN for either) and
``POST /listTagsForResource``, a read. Lists page with ``maxResults`` (1-1000; 100 when not
given, a guess) and an opaque ``nextToken`` naming the last item returned, so a delete between
pages shifts nothing; they sort by ``creationTime``, newest first unless
``sortOrder=Ascending``. Errors carry their code in the ``X-Amzn-ErrorType`` header and a
``{"message"}`` body. Auth is SigV4: the ``Authorization`` header's access key ID is the key
(the signature is not checked).

Guesses, since AWS does not document them: deleting a custom model that a Provisioned
Throughput serves answers ``ConflictException``; deleting a PT under commitment is *not*
refused (its real answer is undocumented and ftjanitor must never send one: tests prove that
from the request log).

Seed entries (``bedrock:``, or ``bedrock: {model: [...], deployment: [...]}``). A model:
``name`` (required), ``base`` (a foundation model ID, default meta.llama3-1-8b-instruct-v1:0),
``tags`` (a mapping), ``age_days``; any other key (``modelStatus``...) replaces that field.
A deployment (a Provisioned Throughput): ``name`` (required), ``model`` (the name of a seeded
model it serves; without it, it serves ``base``), ``modelUnits`` (default 1), ``status``
(default InService), ``commitmentDuration`` (OneMonth or SixMonths; its
``commitmentExpirationTime`` defaults to 30 or 180 days after creation), ``tags``,
``age_days``; any other key (``commitmentExpirationTime``, ``modelArn``...) replaces that field.
"""

import hashlib
import json
import random
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

from runner.simulator.core import (
    Accounts,
    Answer,
    BadRequest,
    Request,
    Route,
    Simulator,
    Wire,
    entries,
    overridden,
    page_token,
    read_page_token,
    register,
    seeded_at,
    stamp,
    writes,
)

REGION, ACCOUNT = "us-east-1", "123456789012"
BASE_MODEL = "meta.llama3-1-8b-instruct-v1:0"
DEFAULT_PAGE, MAX_PAGE = 100, 1000
COMMITMENT_DAYS = {"OneMonth": 30, "SixMonths": 180}
TAGS_PATH = "/listTagsForResource"
# What each status means when a fault or the rate limiter, not a handler, picks it.
CODES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    409: "ConflictException",
    429: "ThrottlingException",
    503: "ServiceUnavailableException",
}
MODEL_SUMMARY = (
    "modelArn",
    "modelName",
    "creationTime",
    "baseModelArn",
    "baseModelName",
    "customizationType",
    "ownerAccountId",
    "modelStatus",
)
PT_SUMMARY = (
    "provisionedModelName",
    "provisionedModelArn",
    "modelArn",
    "desiredModelArn",
    "foundationModelArn",
    "modelUnits",
    "desiredModelUnits",
    "status",
    "commitmentDuration",
    "commitmentExpirationTime",
    "creationTime",
    "lastModifiedTime",
)
NAME_PREFIXES = ["exp", "prod", "tmp", "sweep", "eval", "demo"]


def _digest(text: str) -> str:
    """The 12 lowercase characters that end Bedrock's ARNs, stable for a name."""
    # surrogatepass: a hostile seed may hold a lone surrogate the wire then sends escaped.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def foundation_arn(base: str) -> str:
    return f"arn:aws:bedrock:{REGION}::foundation-model/{base}"


def bedrock_model(name: str, created: datetime, base: str = BASE_MODEL) -> dict[str, Any]:
    """A custom model as ``GetCustomModel`` answers; the list shows ``MODEL_SUMMARY`` of it."""
    return {
        "modelArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:custom-model/{base}/{_digest(name)}",
        "modelName": name,
        "jobName": f"job-{name}",
        "jobArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:model-customization-job/{base}/"
        + _digest("job/" + name),
        "baseModelArn": foundation_arn(base),
        "baseModelName": base.split(":", 1)[0],
        "customizationType": "FINE_TUNING",
        "ownerAccountId": ACCOUNT,
        "modelStatus": "Active",
        "creationTime": stamp(created, "milliseconds"),
        "hyperParameters": {"epochCount": "1", "batchSize": "1", "learningRate": "0.00001"},
        "trainingDataConfig": {"s3Uri": f"s3://sim-bucket/train/{name}.jsonl"},
        "outputDataConfig": {"s3Uri": f"s3://sim-bucket/output/{name}/"},
    }


def bedrock_pt(
    name: str,
    created: datetime,
    model_arn: str,
    foundation: str,
    units: int = 1,
    status: str = "InService",
    commitment: str | None = None,
) -> dict[str, Any]:
    """A Provisioned Throughput as ``GetProvisionedModelThroughput`` answers."""
    pt: dict[str, Any] = {
        "provisionedModelName": name,
        "provisionedModelArn": f"arn:aws:bedrock:{REGION}:{ACCOUNT}:provisioned-model/"
        + _digest("pt/" + name),
        "modelArn": model_arn,
        "desiredModelArn": model_arn,
        "foundationModelArn": foundation,
        "modelUnits": units,
        "desiredModelUnits": units,
        "status": status,
        "creationTime": stamp(created, "milliseconds"),
        "lastModifiedTime": stamp(created, "milliseconds"),
    }
    if commitment is not None:
        pt["commitmentDuration"] = commitment
        expires = created + timedelta(days=COMMITMENT_DAYS.get(commitment, 30))
        pt["commitmentExpirationTime"] = stamp(expires, "milliseconds")
    if status == "Failed":
        pt["failureMessage"] = "simulated failure"
    return pt


def _fail(status: int, code: str, message: str) -> Answer:
    return status, {"__type": code, "message": message}


def _error(status: int, message: str, variant: str = "") -> dict[str, Any]:
    code = CODES.get(status, "InternalServerException" if status >= 500 else "ValidationException")
    return {"__type": code, "message": message}


def _reply(status: int, body: Any) -> tuple[dict[str, str], Any]:
    """The error code goes out in ``X-Amzn-ErrorType``, as Bedrock sends it; the body keeps
    only the message."""
    headers = {"x-amzn-RequestId": str(uuid.uuid4())}
    if status >= 400 and isinstance(body, dict) and "__type" in body:
        body = dict(body)
        code = body.pop("__type")
        headers["X-Amzn-ErrorType"] = f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/"
    return headers, body


def _not_found(what: str, identifier: str) -> Answer:
    return _fail(404, "ResourceNotFoundException", f"{what} {identifier} not found")


def _find(items: Mapping[str, dict[str, Any]], identifier: str, arn_field: str) -> str | None:
    """The name of the item called ``identifier``, by name or by ARN."""
    if identifier in items:
        return identifier
    return next((name for name, item in items.items() if item.get(arn_field) == identifier), None)


def _token_key(token: str) -> tuple[str, str]:
    """The (creationTime, name) key a ``nextToken`` names."""
    try:
        key = json.loads(read_page_token(token))
    except ValueError:
        key = None
    if not (isinstance(key, list) and len(key) == 2 and all(isinstance(k, str) for k in key)):
        raise BadRequest(f"invalid nextToken: {token[:40]!r}")
    return key[0], key[1]


def _page(sim: Simulator, req: Request, items: list[dict[str, Any]], name_field: str) -> Answer:
    """One page of ``items``, newest first unless sortOrder=Ascending; the token names the
    last item's (creationTime, name) key."""
    size = req.int_arg("maxResults", DEFAULT_PAGE)
    if not 1 <= size <= MAX_PAGE:
        raise BadRequest(
            f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy"
            f" constraint: Member must have value between 1 and {MAX_PAGE}"
        )
    size = min(size, sim.max_page_size)
    order = req.arg("sortOrder", "Descending")
    if order not in ("Ascending", "Descending"):
        raise BadRequest(f"sortOrder must be Ascending or Descending, not {order[:40]!r}")
    keyed = sorted(
        ((str(item.get("creationTime", "")), str(item.get(name_field, ""))), item) for item in items
    )
    if order == "Descending":
        keyed.reverse()
    start = 0
    if token := req.arg("nextToken"):
        after = _token_key(token)
        ascending = order == "Ascending"
        start = next(
            (i for i, (key, _) in enumerate(keyed) if (key > after if ascending else key < after)),
            len(keyed),
        )
    chosen = keyed[start : start + size]
    body: dict[str, Any] = {"items": [item for _, item in chosen]}
    if start + size < len(keyed):
        body["nextToken"] = page_token(json.dumps(list(chosen[-1][0])))
    return 200, body


def _summaries(items: list[dict[str, Any]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{k: item[k] for k in fields if k in item} for item in items]


def _list_models(sim: Simulator, req: Request) -> Answer:
    name, status = req.arg("nameContains"), req.arg("modelStatus")
    with sim.lock:
        models = [
            m
            for m in sim.accounts.bedrock.values()
            if name in str(m.get("modelName", ""))
            and (not status or m.get("modelStatus") == status)
        ]
        code, body = _page(sim, req, models, "modelName")
    body["modelSummaries"] = _summaries(body.pop("items"), MODEL_SUMMARY)
    return code, body


def _getter(
    table: Callable[[Accounts], dict[str, dict[str, Any]]], arn_key: str, noun: str
) -> Callable[[Simulator, Request], Answer]:
    """GetCustomModel and GetProvisionedModelThroughput: one item by name or ARN."""

    def get(sim: Simulator, req: Request) -> Answer:
        identifier = req.params["id"]
        with sim.lock:
            items = table(sim.accounts)
            name = _find(items, identifier, arn_key)
            if name is None:
                return _not_found(noun, identifier)
            return 200, dict(items[name])

    return get


def _delete_model(sim: Simulator, req: Request) -> Answer:
    identifier = req.params["id"]
    with sim.lock:
        name = _find(sim.accounts.bedrock, identifier, "modelArn")
        if name is None:
            return _not_found("Custom model", identifier)
        arn = sim.accounts.bedrock[name].get("modelArn")
        pts = sim.accounts.bedrock_pts
        if serving := [p for p, pt in pts.items() if pt.get("modelArn") == arn]:
            return _fail(
                400,
                "ConflictException",
                f"Custom model {name} is in use by Provisioned Throughput {serving[0]}",
            )
        del sim.accounts.bedrock[name]
        sim.accounts.bedrock_tags.pop(str(arn), None)
        sim.deleted.append(("bedrock", name))
    return 200, {}


def _list_pts(sim: Simulator, req: Request) -> Answer:
    name, status = req.arg("nameContains"), req.arg("statusEquals")
    model = req.arg("modelArnEquals")
    with sim.lock:
        pts = [
            pt
            for pt in sim.accounts.bedrock_pts.values()
            if name in str(pt.get("provisionedModelName", ""))
            and (not status or pt.get("status") == status)
            and (not model or pt.get("modelArn") == model)
        ]
        code, body = _page(sim, req, pts, "provisionedModelName")
    body["provisionedModelSummaries"] = _summaries(body.pop("items"), PT_SUMMARY)
    return code, body


def _delete_pt(sim: Simulator, req: Request) -> Answer:
    identifier = req.params["id"]
    with sim.lock:
        name = _find(sim.accounts.bedrock_pts, identifier, "provisionedModelArn")
        if name is None:
            return _not_found("Provisioned Throughput", identifier)
        pt = sim.accounts.bedrock_pts.pop(name)
        sim.accounts.bedrock_tags.pop(str(pt.get("provisionedModelArn")), None)
        sim.deleted.append(("bedrock", f"provisioned-model/{name}"))
    return 200, {}


def _list_tags(sim: Simulator, req: Request) -> Answer:
    try:
        arn = json.loads(req.body or b"{}")["resourceARN"]
    except (ValueError, TypeError, KeyError):
        raise BadRequest("resourceARN is required") from None
    with sim.lock:
        known = {m.get("modelArn") for m in sim.accounts.bedrock.values()}
        known |= {pt.get("provisionedModelArn") for pt in sim.accounts.bedrock_pts.values()}
        if arn not in known:
            return _not_found("Resource", str(arn))
        return 200, {"tags": list(sim.accounts.bedrock_tags.get(arn, []))}


def _authorize(headers: Message, key: str | None) -> Answer | None:
    header = headers.get("Authorization", "")
    if not header.startswith("AWS4-HMAC-SHA256 "):
        return _fail(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    credential = header.partition("Credential=")[2].split("/", 1)[0]
    if key is not None and credential != key:
        return _fail(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    return None


def _tags(accounts: Accounts, arn: str, entry: Mapping[str, Any]) -> None:
    if tags := entry.get("tags"):
        accounts.bedrock_tags[arn] = [{"key": str(k), "value": str(v)} for k, v in tags.items()]


def _seed(accounts: Accounts, items: list[Any], now: datetime) -> None:
    for entry in entries("bedrock", items):
        name = str(entry["name"])
        model = bedrock_model(name, seeded_at(entry, now), str(entry.get("base", BASE_MODEL)))
        accounts.bedrock[name] = overridden(model, entry, "base", "tags")
        _tags(accounts, str(model.get("modelArn")), entry)


def _seed_pts(accounts: Accounts, items: list[Any], now: datetime) -> None:
    for entry in entries("bedrock", items):
        name = str(entry["name"])
        if "model" in entry:
            served = accounts.bedrock.get(str(entry["model"]))
            if served is None:
                raise ValueError(f"bedrock: deployment {name}: no seeded model {entry['model']!r}")
            model_arn, foundation = str(served["modelArn"]), str(served["baseModelArn"])
        else:
            foundation = model_arn = foundation_arn(str(entry.get("base", BASE_MODEL)))
        pt = bedrock_pt(
            name,
            seeded_at(entry, now),
            model_arn,
            foundation,
            int(entry.get("modelUnits", 1)),
            str(entry.get("status", "InService")),
            entry.get("commitmentDuration"),
        )
        accounts.bedrock_pts[name] = overridden(pt, entry, "name", "model", "base", "tags")
        _tags(accounts, str(pt.get("provisionedModelArn")), entry)


def _generate(accounts: Accounts, count: int, rng: random.Random, now: datetime) -> None:
    for i in range(count):
        at = now - timedelta(seconds=rng.randrange(0, 120 * 86400))
        name = f"{rng.choice(NAME_PREFIXES)}-{i:06d}"
        accounts.bedrock[name] = bedrock_model(name, at)


WIRE = register(
    Wire(
        kind="bedrock",
        routes=(
            Route("GET", "/custom-models", _list_models),
            Route(
                "GET",
                "/custom-models/{id}",
                _getter(lambda a: a.bedrock, "modelArn", "Custom model"),
            ),
            Route("DELETE", "/custom-models/{id}", _delete_model),
            Route("GET", "/provisioned-model-throughputs", _list_pts),
            Route(
                "GET",
                "/provisioned-model-throughput/{id}",
                _getter(lambda a: a.bedrock_pts, "provisionedModelArn", "Provisioned Throughput"),
            ),
            Route("DELETE", "/provisioned-model-throughput/{id}", _delete_pt),
            Route("POST", TAGS_PATH, _list_tags),
        ),
        authorize=_authorize,
        error=_error,
        unknown=lambda method, path: _fail(
            404, "UnknownOperationException", f"no operation at {method} {path}"
        ),
        seed=_seed,
        generate=_generate,
        ids=lambda accounts: (
            sorted(accounts.bedrock)
            + sorted(f"provisioned-model/{name}" for name in accounts.bedrock_pts)
        ),
        mutating=lambda method, path: writes(method, path) and path != TAGS_PATH,
        kinds={"deployment": _seed_pts},
        seed_keys={
            "model": "name (required), base, tags: {KEY: VALUE}",
            "deployment": "name (required), model (a seeded model's name), base, tags;"
            " commitmentDuration OneMonth|SixMonths sets commitmentExpirationTime unless given",
        },
        reply=_reply,
    )
)

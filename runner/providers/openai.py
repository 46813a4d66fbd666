"""OpenAI fine-tuned models: ``GET /v1/models`` (unpaged, base models too) and
``DELETE /v1/models/{id}``; only IDs starting ``ft:`` are fine-tunes. A model's tags are
the ``metadata`` of the fine-tuning job that made it (``GET /v1/fine_tuning/jobs``, read
only when a rule needs tags)."""

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from runner.cost import PriceFact
from runner.jobfile.envvar import env_var
from runner.providers.base import (
    THE_ID,
    ConnectOptions,
    DeleteAnswer,
    KindSpecOf,
    ModelRecord,
    ProviderError,
    ProviderSpecOf,
    Tags,
    TagSource,
    TagsUnknown,
    itself,
    unsafe_id_reason,
)
from runner.providers.mapping import UNIX_SECONDS, Id, Only, RecordMap, Text, Time, read_tags
from runner.providers.wire import (
    CollectionDeleter,
    CollectionLister,
    Response,
    bearer,
    failure,
    http,
    http_client,
)

if TYPE_CHECKING:
    from runner.jobfile.model import Connection
    from runner.providers.http import HttpClient

FINE_TUNE = "ft:"


def fine_tune_id_reason(model_id: str) -> str | None:
    """Why an ID may not be deleted at OpenAI: unsafe, or not a fine-tune. Colons are fine
    (``ft:BASE:ORG:SUFFIX:ID``): path_segment encodes them, and OpenAI decodes them."""
    if reason := unsafe_id_reason(model_id):
        return reason
    if not model_id.startswith(FINE_TUNE):
        return "OpenAI fine-tune IDs start with 'ft:' (base models are never deleted)"
    return None


def _suffix(model_id: str) -> str | None:
    parts = model_id.split(":")
    return parts[3] if len(parts) >= 5 else None


def _base(model_id: str) -> str | None:
    return model_id.split(":")[1]


# Base models are left out of the listing rather than listed with a problem: an account
# sees dozens of them, none its own, and as skip lines they would bury every plan; a model
# that is never listed can never be selected either. Fine-tune IDs are
# ``ft:BASE:ORG:SUFFIX:ID`` (a checkpoint adds ``:ckpt-step-N``): SUFFIX is the name (none
# when empty), BASE the base model.
MODELS = RecordMap(
    id=Id("id"),
    name=Text("id", via=_suffix),
    created_at=Time("created", UNIX_SECONDS),
    base_model=Text("id", via=_base),
    only=Only("id", prefix=FINE_TUNE),
)


class OpenAILister(CollectionLister):
    collection = "/v1/models"
    api = "OpenAI models API"
    records = MODELS

    def __init__(self, client: "HttpClient"):
        super().__init__(client, MODEL)
        # The admin key's client, to the same host, when an unused_for rule reads usage
        # (runner.usage.openai_usage); the models client never carries that key.
        self.usage: HttpClient | None = None

    def close(self) -> None:
        super().close()
        if self.usage is not None:
            self.usage.close()

    def names_model(self, response: Response, model_id: str) -> bool:
        """Only the error code proves a model absent: OpenAI's 404 for an unknown path says
        "Invalid URL (DELETE /v1/models/<id>)", so an ID in the message proves nothing."""
        body = response.body
        error = body.get("error") if isinstance(body, dict) else None
        return (
            response.status == 404
            and isinstance(error, dict)
            and error.get("code") == "model_not_found"
        )


JOBS = "/v1/fine_tuning/jobs"
JOBS_PAGE = 100  # the API's largest page


def _jobs(lister: OpenAILister) -> list[Any]:
    """Every fine-tuning job, page by page (``after`` the last job's ID while
    ``has_more``); a malformed page or a cursor that does not move stops with one line."""
    label, after, seen, out = lister.client.label, "", set(), []
    while True:
        params: dict[str, Any] = {"limit": JOBS_PAGE, **({"after": after} if after else {})}
        response = lister.client.request("GET", JOBS, params=params)
        if response.status != 200:
            raise failure(label, f"listing fine-tuning jobs ({JOBS})", response)
        body = response.body
        page = body.get("data") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(page, list):
            raise ProviderError(f"{label}: {JOBS} returned a malformed page")
        out += page
        last = page[-1].get("id") if page and isinstance(page[-1], dict) else None
        if body.get("has_more") is not True:
            return out
        if not isinstance(last, str) or not last or last in seen:
            raise ProviderError(f"{label}: {JOBS}: the page cursor did not move; stopped")
        seen.add(last)
        after = last


def job_metadata(
    lister: OpenAILister, records: Sequence[ModelRecord]
) -> dict[str, Tags | TagsUnknown]:
    """Each model's tags: the ``metadata`` of the job whose ``fine_tuned_model`` it is. A
    model no job names has unknown tags (a job made every fine-tune: its absence is no
    proof of no tags). Jobs that name one model with different metadata leave its tags
    unknown: which of them to believe would be a guess (a protecting tag could hide behind
    a newer job without it)."""
    made: dict[str, Tags | TagsUnknown] = {}
    for job in _jobs(lister):
        model = job.get("fine_tuned_model") if isinstance(job, dict) else None
        if not isinstance(model, str) or not model:
            continue
        tags = read_tags(job.get("metadata"), "metadata")
        if model not in made:
            made[model] = tags
        elif made[model] != tags:
            made[model] = TagsUnknown("fine-tuning jobs that name it disagree on its metadata")
    missing = TagsUnknown(f"no fine-tuning job ({JOBS}) names it")
    return {r.id: made.get(r.id, missing) for r in records if r.id}


def connect(connection: "Connection", secret: str | None, options: ConnectOptions) -> OpenAILister:
    """The models client with the connection's key; with an admin key given for usage, a
    second client carrying it, to the connection's own base_url only."""
    lister = http(bearer, OpenAILister)(connection, secret, options)
    admin = options.usage_keys.get(connection.name)
    if admin is not None:
        lister.usage = http_client(connection, admin, bearer, options)
    return lister


MODEL = KindSpecOf(
    type="openai",
    kind="model",
    listed="models whose ID starts with ft: (GET /v1/models)",
    deleted="the fine-tuned model (needs an organisation Owner's key)",
    lister=itself,
    deleter=CollectionDeleter,
    delete_answer=DeleteAnswer({"id": THE_ID, "object": "model", "deleted": True}),
    has_base_model=True,
    name_source="the SUFFIX of ft:BASE:ORG:SUFFIX:ID",
    not_found_proof="a 404 with error code model_not_found",
    id_rule=fine_tune_id_reason,
    tags=TagSource("its fine-tuning job's metadata", job_metadata),
    usage="openai_usage",
    # No storage fee is documented: $0 until the pricing page says otherwise.
    price=PriceFact(
        per_month=Decimal(0), source="openai.com/api/pricing", date="2026-12", guess=True
    ),
)

SPEC = ProviderSpecOf(
    type="openai",
    title="OpenAI",
    credential="api_key",
    default_api_key_env="OPENAI_API_KEY",
    default_base_url="https://api.openai.com",
    # A guess: OpenAI documents no limit for /v1/models; 500 is its lowest usage tier's
    # request limit, and a 429 is honoured (Retry-After) if the real one is lower.
    default_requests_per_minute=500,
    connect=connect,
    kinds={"model": MODEL},
    connection_fields={
        "usage_key_env": {
            **env_var("OPENAI_ADMIN_KEY", "key"),
            "default": "OPENAI_ADMIN_KEY",
            "description": (
                "the variable holding an admin key (sk-admin-...), read only when an"
                " unused_for rule reads the Usage API"
            ),
        },
    },
)

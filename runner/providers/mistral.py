"""Mistral fine-tuned models: ``GET /v1/models`` (unpaged, base cards too, tagged by
``type``) and ``DELETE /v1/models/{id}``; only ``type: fine-tuned`` cards are candidates."""

from typing import TYPE_CHECKING

from runner.providers.base import (
    THE_ID,
    DeleteAnswer,
    KindSpecOf,
    ProviderSpecOf,
    itself,
)
from runner.providers.mapping import ITS_ID, UNIX_SECONDS, Id, Only, RecordMap, Text, Time
from runner.providers.wire import (
    CollectionDeleter,
    CollectionLister,
    Response,
    bearer,
    error_message,
    http,
)

if TYPE_CHECKING:
    from runner.providers.http import HttpClient


# Base cards (and cards of any other or missing type) are left out of the listing rather
# than listed with a problem: they are Mistral's, not the account's, and as skip lines
# they would bury every plan; a card that is never listed can never be selected either.
# ``name`` may be null: the ID stands in; ``root`` is the base model.
CARDS = RecordMap(
    id=Id("id"),
    name=(Text("name"), ITS_ID),
    created_at=Time("created", UNIX_SECONDS),
    base_model=Text("root"),
    only=Only("type", frozenset({"fine-tuned"})),
)


class MistralLister(CollectionLister):
    collection = "/v1/models"
    api = "Mistral models API"
    records = CARDS

    def __init__(self, client: "HttpClient"):
        super().__init__(client, MODEL)

    def names_model(self, response: Response, model_id: str) -> bool:
        """A 404 whose message names the model proves it absent, in either shape Mistral
        may answer (``{"message": ...}`` or FastAPI's ``{"detail": ...}``). Its unknown-path
        404 is a bare ``{"detail": "Not Found"}``: that proves nothing."""
        return response.status == 404 and model_id in error_message(response)


MODEL = KindSpecOf(
    type="mistral",
    kind="model",
    listed="model cards of type fine-tuned (GET /v1/models)",
    deleted="the fine-tuned model",
    lister=itself,
    deleter=CollectionDeleter,
    delete_answer=DeleteAnswer({"id": THE_ID, "object": "model", "deleted": True}),
    has_base_model=True,
    name_source="name, else the ID",
    not_found_proof="a 404 whose message names the model",
)

SPEC = ProviderSpecOf(
    type="mistral",
    title="Mistral",
    credential="api_key",
    default_api_key_env="MISTRAL_API_KEY",
    default_base_url="https://api.mistral.ai",
    # A guess: Mistral limits each workspace in requests per second by tier, unpublished
    # for these endpoints; 5 per second is polite, and a 429 is honoured (Retry-After).
    default_requests_per_minute=300,
    connect=http(bearer, MistralLister),
    kinds={"model": MODEL},
)

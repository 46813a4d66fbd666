"""Mistral fine-tuned models: ``GET /v1/models`` (unpaged, base cards too, tagged by
``type``) and ``DELETE /v1/models/{id}``; only ``type: fine-tuned`` cards are candidates."""

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from runner.cost import PriceFact
from runner.providers.base import THE_ID, DeleteAnswer, ModelRecord, ProviderSpecOf
from runner.providers.wire import (
    CollectionDeleter,
    CollectionLister,
    Response,
    bearer,
    error_message,
    http,
    unix_time,
    unreadable,
)

if TYPE_CHECKING:
    from runner.providers.http import HttpClient


class MistralLister(CollectionLister):
    collection = "/v1/models"
    api = "Mistral models API"

    def __init__(self, client: "HttpClient"):
        super().__init__(client, SPEC)

    def record(self, item: Any) -> ModelRecord | None:
        """A listed card as a record; None for any card not typed ``fine-tuned``.

        Base cards (and cards of any other or missing type) are left out of the listing
        rather than listed with a problem: they are Mistral's, not the account's, and as
        skip lines they would bury every plan; a card that is never listed can never be
        selected either. ``name`` may be null: the ID stands in; ``root`` is the base model.
        """
        if not isinstance(item, dict):
            return ModelRecord(id="", problem="listed item is not an object")
        if item.get("type") != "fine-tuned":
            return None
        model_id = item.get("id")
        if not isinstance(model_id, str) or not model_id:
            return ModelRecord(id="", problem="listed item has no id")
        name, root = item.get("name"), item.get("root")
        created = item.get("created")
        created_at = unix_time(created)
        return ModelRecord(
            id=model_id,
            name=name if isinstance(name, str) and name else model_id,
            created_at=created_at,
            base_model=root if isinstance(root, str) and root else None,
            problem=unreadable("created", created, created_at),
        )

    def names_model(self, response: Response, model_id: str) -> bool:
        """A 404 whose message names the model proves it absent, in either shape Mistral
        may answer (``{"message": ...}`` or FastAPI's ``{"detail": ...}``). Its unknown-path
        404 is a bare ``{"detail": "Not Found"}``: that proves nothing."""
        return response.status == 404 and model_id in error_message(response)


SPEC = ProviderSpecOf(
    type="mistral",
    title="Mistral",
    listed="model cards of type fine-tuned (GET /v1/models)",
    deleted="the fine-tuned model",
    credential="api_key",
    default_api_key_env="MISTRAL_API_KEY",
    default_base_url="https://api.mistral.ai",
    # A guess: Mistral limits each workspace in requests per second by tier, unpublished
    # for these endpoints; 5 per second is polite, and a 429 is honoured (Retry-After).
    default_requests_per_minute=300,
    connect=http(bearer, MistralLister),
    deleter=CollectionDeleter,
    delete_answer=DeleteAnswer({"id": THE_ID, "object": "model", "deleted": True}),
    has_base_model=True,
    name_source="name, else the ID",
    not_found_proof="a 404 whose message names the model",
    price=PriceFact(
        per_month=Decimal(2), source="docs.mistral.ai (fine-tuned model storage)", date="2026-12"
    ),
)

"""Cohere fine-tunes: ``/v1/finetuning/finetuned-models`` (paged, timestamps, status)."""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from runner.providers.base import DeleteAnswer, DeleteResult, ModelRecord, ProviderSpecOf
from runner.providers.wire import (
    HttpDeleter,
    HttpLister,
    Paging,
    Response,
    bearer,
    delete_result,
    error_message,
    failure,
    http,
    pages,
    path_segment,
    timestamp,
)

if TYPE_CHECKING:
    from runner.providers.http import HttpClient

COLLECTION = "/v1/finetuning/finetuned-models"
# The API pages AIP-158 style: a page_size over the server's maximum is coerced down,
# not refused, and short pages are followed by token. Big pages save round trips.
PAGE_SIZE = 1000
LISTING = Paging(
    path=COLLECTION,
    params={"page_size": PAGE_SIZE, "order_by": "created_at"},
    token_param="page_token",
    items_key="finetuned_models",
    token_key="next_page_token",
    noun="fine-tunes",
    what="the Cohere fine-tuning API",
    hint="the base_url is wrong",
)


def record_from(item: Any) -> ModelRecord:
    """One listed item -> a compact record; unusable items carry a reason, not a crash."""
    if not isinstance(item, dict):
        return ModelRecord(id="", problem="listed item is not an object")
    model_id = item.get("id")
    if not isinstance(model_id, str) or not model_id:
        return ModelRecord(id="", problem="listed item has no id")
    name = item.get("name")
    status = item.get("status")
    status = status if isinstance(status, str) else None
    created = item.get("created_at")
    created_at = timestamp(created)
    settings = item.get("settings")
    base = settings.get("base_model") if isinstance(settings, dict) else None
    base_name = base.get("name") if isinstance(base, dict) else None
    return ModelRecord(
        id=model_id,
        name=name if isinstance(name, str) else None,
        status=status,
        lifecycle=SPEC.lifecycle(status),
        created_at=created_at,
        last_used=timestamp(item.get("last_used")),
        base_model=base_name if isinstance(base_name, str) else None,
        problem=None if created is None or created_at else f"unreadable created_at {created!r}",
    )


def names_model(response: Response, model_id: str) -> bool:
    """Cohere's documented not-found answer names the model: "finetuned model <id> not
    found". A bare 404 (a retired API, a wrong base_url) proves nothing about the model."""
    return response.status == 404 and model_id in error_message(response)


class CohereLister(HttpLister):
    def __init__(self, client: "HttpClient"):
        super().__init__(client, SPEC)

    def list_models(self) -> Iterator[ModelRecord]:
        for item in pages(self.client, LISTING):
            yield record_from(item)

    def exists(self, model_id: str) -> bool:
        response = self.client.request("GET", f"{COLLECTION}/{path_segment(model_id)}")
        if names_model(response, model_id):
            return False
        if response.status != 200:
            raise failure(self.client.label, f"looking up {model_id!r}", response)
        body = response.body
        model = body.get("finetuned_model") if isinstance(body, dict) else None
        status = model.get("status") if isinstance(model, dict) else None
        return SPEC.lifecycle(status if isinstance(status, str) else None) != "deleted"

    def details(self, model_id: str) -> dict[str, Any]:
        response = self.client.request("GET", f"{COLLECTION}/{path_segment(model_id)}")
        if response.status != 200 or not isinstance(response.body, dict):
            raise failure(self.client.label, f"details of {model_id!r}", response)
        model = response.body.get("finetuned_model")
        return model if isinstance(model, dict) else {}


class CohereDeleter(HttpDeleter[CohereLister]):
    def delete(self, model_id: str) -> DeleteResult:
        response = self.client.request("DELETE", f"{COLLECTION}/{path_segment(model_id)}")
        return delete_result(
            SPEC.delete_answer, response, model_id, names_model(response, model_id)
        )


SPEC = ProviderSpecOf(
    type="cohere",
    title="Cohere",
    listed="fine-tuned models (/v1/finetuning/finetuned-models)",
    deleted="the fine-tuned model",
    credential="api_key",
    default_api_key_env="COHERE_API_KEY",
    default_base_url="https://api.cohere.com",
    default_requests_per_minute=500,  # Cohere's documented default per key
    connect=http(bearer, CohereLister),
    deleter=CohereDeleter,
    delete_answer=DeleteAnswer(),  # 200 {}
    statuses=(
        "STATUS_UNSPECIFIED",
        "STATUS_FINETUNING",
        "STATUS_DEPLOYING_API",
        "STATUS_READY",
        "STATUS_FAILED",
        "STATUS_DELETED",
        "STATUS_TEMPORARILY_OFFLINE",
        "STATUS_PAUSED",
        "STATUS_QUEUED",
    ),
    in_progress=frozenset({"STATUS_FINETUNING", "STATUS_QUEUED", "STATUS_DEPLOYING_API"}),
    failed=frozenset({"STATUS_FAILED"}),
    gone=frozenset({"STATUS_DELETED"}),
    has_base_model=True,
    has_last_used=True,
    not_found_proof="a 404 whose message names the model",
    price=None,  # storage of a fine-tune is undocumented: unknown unless prices: says
)

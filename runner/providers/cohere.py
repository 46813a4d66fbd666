"""Cohere fine-tunes: ``/v1/finetuning/finetuned-models`` (paged, timestamps, status)."""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from runner.providers.base import (
    DeleteAnswer,
    DeleteResult,
    KindSpecOf,
    ModelRecord,
    ProviderSpecOf,
    itself,
)
from runner.providers.mapping import RFC3339, Id, RecordMap, Text, Time, as_sent, map_records
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


def names_model(response: Response, model_id: str) -> bool:
    """Cohere's documented not-found answer names the model: "finetuned model <id> not
    found". A bare 404 (a retired API, a wrong base_url) proves nothing about the model."""
    return response.status == 404 and model_id in error_message(response)


FINETUNED_MODELS = RecordMap(
    id=Id("id"),
    name=Text("name"),
    status=Text("status"),
    # Shown as sent: a number stays one ("unreadable created_at 12345"), as Cohere's plan
    # reasons always read.
    created_at=Time("created_at", RFC3339, shown=as_sent),
    last_used=Time("last_used", RFC3339),
    base_model=Text("settings.base_model.name"),
)


class CohereLister(HttpLister):
    def __init__(self, client: "HttpClient"):
        super().__init__(client, MODEL)

    def list_models(self) -> Iterator[ModelRecord]:
        yield from map_records(FINETUNED_MODELS, pages(self.client, LISTING), MODEL)

    def exists(self, model_id: str) -> bool:
        response = self.client.request("GET", f"{COLLECTION}/{path_segment(model_id)}")
        if names_model(response, model_id):
            return False
        if response.status != 200:
            raise failure(self.client.label, f"looking up {model_id!r}", response)
        body = response.body
        model = body.get("finetuned_model") if isinstance(body, dict) else None
        status = model.get("status") if isinstance(model, dict) else None
        return MODEL.lifecycle(status if isinstance(status, str) else None) != "deleted"

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
            MODEL.delete_answer, response, model_id, names_model(response, model_id)
        )


MODEL = KindSpecOf(
    type="cohere",
    kind="model",
    listed="fine-tuned models (/v1/finetuning/finetuned-models)",
    deleted="the fine-tuned model",
    lister=itself,
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
    usage="listing",  # its listing's last_used, kept for the model's whole life
    not_found_proof="a 404 whose message names the model",
    price=None,  # storage of a fine-tune is undocumented: unknown unless prices: says
)

SPEC = ProviderSpecOf(
    type="cohere",
    title="Cohere",
    credential="api_key",
    default_api_key_env="COHERE_API_KEY",
    default_base_url="https://api.cohere.com",
    default_requests_per_minute=500,  # Cohere's documented default per key
    connect=http(bearer, CohereLister),
    kinds={"model": MODEL},
)

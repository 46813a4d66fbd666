"""Cohere fine-tunes: ``/v1/finetuning/finetuned-models`` (paged, timestamps, status)."""

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runner.clock import parse_instant
from runner.providers.base import DeleteResult, ModelRecord, ProviderError, ProviderSpec
from runner.providers.wire import Response, error_message, failure, path_segment

if TYPE_CHECKING:
    from runner.providers.http import HttpClient

COLLECTION = "/v1/finetuning/finetuned-models"
# The API pages AIP-158 style: a page_size over the server's maximum is coerced down,
# not refused, and short pages are followed by token. Big pages save round trips.
PAGE_SIZE = 1000
DELETED = "STATUS_DELETED"


def _timestamp(value: Any) -> datetime | None:
    try:
        return parse_instant(value)
    except (ValueError, TypeError):
        return None


def record_from(item: Any) -> ModelRecord:
    """One listed item -> a compact record; unusable items carry a reason, not a crash."""
    if not isinstance(item, dict):
        return ModelRecord(id="", problem="listed item is not an object")
    model_id = item.get("id")
    if not isinstance(model_id, str) or not model_id:
        return ModelRecord(id="", problem="listed item has no id")
    name = item.get("name")
    status = item.get("status")
    created = item.get("created_at")
    created_at = _timestamp(created)
    return ModelRecord(
        id=model_id,
        name=name if isinstance(name, str) else None,
        status=status if isinstance(status, str) else None,
        created_at=created_at,
        last_used=_timestamp(item.get("last_used")),
        problem=None if created is None or created_at else f"unreadable created_at {created!r}",
    )


def names_model(response: Response, model_id: str) -> bool:
    """Cohere's documented not-found answer names the model: "finetuned model <id> not
    found". A bare 404 (a retired API, a wrong base_url) proves nothing about the model."""
    return response.status == 404 and model_id in error_message(response)


class CohereProvider:
    def __init__(self, client: "HttpClient"):
        self.client = client
        self.spec = SPEC

    def _gone(self, response: Response) -> ProviderError:
        return ProviderError(
            f"{self.client.label}: the Cohere fine-tuning API answered HTTP {response.status}"
            f" on {COLLECTION}: it looks retired or the base_url is wrong"
        )

    def list_models(self) -> Iterator[ModelRecord]:
        seen_tokens: set[str] = set()
        token = ""
        while True:
            params: dict[str, Any] = {"page_size": PAGE_SIZE, "order_by": "created_at"}
            if token:
                params["page_token"] = token
            response = self.client.request("GET", COLLECTION, params=params)
            if response.status in (404, 410):
                raise self._gone(response)
            if response.status != 200:
                raise failure(self.client.label, "listing fine-tunes", response)
            body = response.body
            models = body.get("finetuned_models", []) if isinstance(body, dict) else None
            if not isinstance(models, list):
                raise ProviderError(
                    f"{self.client.label}: listing fine-tunes returned a malformed page"
                    " (expected an object with a finetuned_models list)"
                )
            for item in models:
                yield record_from(item)
            assert isinstance(body, dict)
            token = body.get("next_page_token") or ""
            if not isinstance(token, str):
                raise ProviderError(f"{self.client.label}: next_page_token is not a string")
            if not token:
                return
            if token in seen_tokens:
                raise ProviderError(
                    f"{self.client.label}: page token {token[:40]!r} came back twice;"
                    " stopped listing to avoid an endless loop"
                )
            seen_tokens.add(token)

    def exists(self, model_id: str) -> bool:
        response = self.client.request("GET", f"{COLLECTION}/{path_segment(model_id)}")
        if names_model(response, model_id):
            return False
        if response.status != 200:
            raise failure(self.client.label, f"looking up {model_id}", response)
        body = response.body
        model = body.get("finetuned_model") if isinstance(body, dict) else None
        return not (isinstance(model, dict) and model.get("status") == DELETED)

    def details(self, model_id: str) -> dict[str, Any]:
        response = self.client.request("GET", f"{COLLECTION}/{path_segment(model_id)}")
        if response.status != 200 or not isinstance(response.body, dict):
            raise failure(self.client.label, f"details of {model_id}", response)
        model = response.body.get("finetuned_model")
        return model if isinstance(model, dict) else {}

    def delete(self, model_id: str) -> DeleteResult:
        response = self.client.request("DELETE", f"{COLLECTION}/{path_segment(model_id)}")
        if 200 <= response.status < 300:
            return DeleteResult("deleted", response.status, response.attempts)
        if names_model(response, model_id):
            return DeleteResult("already_absent", 404, response.attempts)
        error = error_message(response)
        if response.status in (404, 410):
            error = (
                f"{error} (a {response.status} that does not name the model: is the API retired?)"
            )
        return DeleteResult("failed", response.status, response.attempts, error)

    def close(self) -> None:
        self.client.close()


SPEC = ProviderSpec(
    type="cohere",
    default_base_url="https://api.cohere.com",
    default_api_key_env="COHERE_API_KEY",
    default_requests_per_minute=500,  # Cohere's documented default per key
    has_created_at=True,
    has_status=True,
    details_for_age=False,
    auth_header=lambda key: {"Authorization": f"Bearer {key}"},
    factory=CohereProvider,
)

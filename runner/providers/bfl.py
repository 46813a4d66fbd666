"""Black Forest Labs finetunes: regional hosts, an unpaged ID list, delete by POST body."""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from runner.providers.base import (
    THE_ID,
    DeleteAnswer,
    DeleteResult,
    KindSpecOf,
    ModelRecord,
    ProviderError,
    ProviderSpecOf,
    itself,
)
from runner.providers.mapping import ITS_ID, Id, RecordMap, Text, map_records
from runner.providers.wire import (
    HttpDeleter,
    HttpLister,
    delete_result,
    failure,
    http,
    listed_items,
)

if TYPE_CHECKING:
    from runner.providers.http import HttpClient

LIST = "/v1/my_finetunes"
DETAILS = "/v1/finetune_details"
DELETE = "/v1/delete_finetune"


# Strings are IDs; objects may carry ``id`` or ``finetune_id``; anything else is skipped.
FINETUNES = RecordMap(
    id=Id("id", also=("finetune_id",)), name=(Text("name"), ITS_ID), bare="a finetune ID"
)


class BflLister(HttpLister):
    def __init__(self, client: "HttpClient"):
        super().__init__(client, MODEL)

    def _ids(self) -> list[Any]:
        response = self.client.request("GET", LIST)
        if response.status in (404, 410):
            raise ProviderError(
                f"{self.client.label}: the BFL finetune API answered HTTP {response.status} on"
                f" {LIST}: it looks retired, or base_url is not a regional host"
                " (api.us1.bfl.ai, api.eu1.bfl.ai)"
            )
        if response.status != 200:
            raise failure(self.client.label, "listing finetunes", response)
        return listed_items(self.client.label, "finetunes", response.body, "finetunes")

    def list_models(self) -> Iterator[ModelRecord]:
        yield from map_records(FINETUNES, self._ids(), MODEL)

    def exists(self, model_id: str) -> bool:
        # No documented single-finetune lookup with a defined not-found: the list is the truth.
        return any(record.id == model_id for record in map_records(FINETUNES, self._ids(), MODEL))

    def details(self, model_id: str) -> dict[str, Any]:
        response = self.client.request("GET", DETAILS, params={"finetune_id": model_id})
        if response.status != 200 or not isinstance(response.body, dict):
            raise failure(self.client.label, f"details of {model_id!r}", response)
        inner = response.body.get("finetune_details")
        return inner if isinstance(inner, dict) else {}


class BflDeleter(HttpDeleter[BflLister]):
    def delete(self, model_id: str) -> DeleteResult:
        response = self.client.request("POST", DELETE, json_body={"finetune_id": model_id})
        if response.status == 404:
            # BFL's not-found answer is undocumented: believe it only if the list agrees.
            try:
                listed = self.lister.exists(model_id)
            except ProviderError as exc:
                return DeleteResult("failed", 404, response.attempts, f"HTTP 404, and {exc}")
            if not listed:
                return DeleteResult("already_absent", 404, response.attempts)
            return DeleteResult("failed", 404, response.attempts, "HTTP 404 but still listed")
        return delete_result(MODEL.delete_answer, response, model_id, names_model=False)


MODEL = KindSpecOf(
    type="bfl",
    kind="model",
    listed="finetune IDs (/v1/my_finetunes)",
    deleted="the finetune (POST /v1/delete_finetune)",
    lister=itself,
    deleter=BflDeleter,
    # All four are required [doc]; their values are undocumented but for the ID.
    delete_answer=DeleteAnswer(
        {"status": str, "message": str, "deleted_finetune_id": THE_ID, "timestamp": str}
    ),
    has_created_at=False,
    details_for_age=True,
    name_source="the finetune ID",
    not_found_proof="a 404, confirmed by a listing without the ID",
    price=None,  # storage of a fine-tune is undocumented: unknown unless prices: says
)

SPEC = ProviderSpecOf(
    type="bfl",
    title="Black Forest Labs",
    credential="api_key",
    default_api_key_env="BFL_API_KEY",
    default_base_url="https://api.us1.bfl.ai",
    default_requests_per_minute=600,  # undocumented for utility endpoints; a polite pace
    connect=http(lambda key: {"x-key": key}, BflLister),
    kinds={"model": MODEL},
)

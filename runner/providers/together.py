"""Together AI fine-tune jobs: ``/v1/fine-tunes`` (unpaged, RFC 3339 times, job status).

The unit listed and deleted is the fine-tune JOB (``ft-...``): Together has no separate
model delete.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from runner.providers.base import (
    DeleteAnswer,
    DeleteResult,
    KindSpecOf,
    ModelRecord,
    ProviderSpecOf,
    itself,
    unsafe_id_reason,
)
from runner.providers.mapping import RFC3339, Id, RecordMap, Text, Time, map_records
from runner.providers.wire import (
    HttpDeleter,
    HttpLister,
    Response,
    api_gone,
    bearer,
    delete_result,
    failure,
    http,
    listed_items,
    names_id,
    path_segment,
)

if TYPE_CHECKING:
    from runner.providers.http import HttpClient

COLLECTION = "/v1/fine-tunes"
JOB_PREFIX = "ft-"


def job_id_reason(model_id: str) -> str | None:
    """Why an ID cannot be a Together job ID. The prefix check catches a model output name
    (``user/Model-ft-...``) or a file ID put in ``ids:`` where the job ID belongs."""
    if reason := unsafe_id_reason(model_id):
        return reason
    if not model_id.startswith(JOB_PREFIX):
        return f"Together fine-tune job IDs start with {JOB_PREFIX!r}"
    return None


def names_model(response: Response, job_id: str) -> bool:
    """Together's documented not-found is a 404 in its OpenAPI error shape whose
    ``error.message`` names the job ("Fine-tune job 'ft-...' not found"). A bare 404 (a
    retired API, a wrong base_url, a proxy) proves nothing about the job."""
    body = response.body
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return response.status == 404 and isinstance(message, str) and names_id(message, job_id)


JOBS = RecordMap(
    id=Id("id"),
    name=(Text("suffix"), Text("model_output_name")),
    status=Text("status"),
    created_at=Time("created_at", RFC3339),
    base_model=Text("model"),
)


class TogetherLister(HttpLister):
    def __init__(self, client: "HttpClient"):
        super().__init__(client, MODEL)

    def list_models(self) -> Iterator[ModelRecord]:
        response = self.client.request("GET", COLLECTION)
        if response.status in (404, 410):
            raise api_gone(
                self.client.label, "the Together fine-tunes API", COLLECTION, response,
                "the base_url is wrong (https://api.together.xyz, no /v1)",
            )  # fmt: skip
        if response.status != 200:
            raise failure(self.client.label, "listing fine-tune jobs", response)
        jobs = listed_items(self.client.label, "fine-tune jobs", response.body, "data")
        yield from map_records(JOBS, jobs, MODEL)

    def _job(self, job_id: str) -> Response:
        return self.client.request("GET", f"{COLLECTION}/{path_segment(job_id)}")

    def exists(self, model_id: str) -> bool:
        response = self._job(model_id)
        if names_model(response, model_id):
            return False
        if response.status != 200:
            raise failure(self.client.label, f"looking up {model_id!r}", response)
        return True  # no status means deleted here: a deleted job answers 404

    def details(self, model_id: str) -> dict[str, Any]:
        response = self._job(model_id)
        if response.status != 200 or not isinstance(response.body, dict):
            raise failure(self.client.label, f"details of {model_id!r}", response)
        return response.body


class TogetherDeleter(HttpDeleter[TogetherLister]):
    def delete(self, model_id: str) -> DeleteResult:
        # No ``force`` parameter: Together documents it as deprecated and unused.
        response = self.client.request("DELETE", f"{COLLECTION}/{path_segment(model_id)}")
        return delete_result(
            MODEL.delete_answer, response, model_id, names_model(response, model_id)
        )


MODEL = KindSpecOf(
    type="together",
    kind="model",
    listed="fine-tune jobs (/v1/fine-tunes)",
    deleted="the fine-tune job (DELETE /v1/fine-tunes/{id})",
    lister=itself,
    deleter=TogetherDeleter,
    delete_answer=DeleteAnswer({"message": str}),
    statuses=(
        "pending",
        "queued",
        "running",
        "compressing",
        "uploading",
        "cancel_requested",
        "completed",
        "error",
        "user_error",
        "cancelled",
    ),
    in_progress=frozenset(
        {"pending", "queued", "running", "compressing", "uploading", "cancel_requested"}
    ),
    # A cancelled job ended without finishing, like error and user_error: failed is the
    # closest lifecycle, and rules still see the word itself (status: [cancelled]).
    failed=frozenset({"error", "user_error", "cancelled"}),
    has_base_model=True,
    name_source="suffix, else model_output_name",
    not_found_proof="a 404 whose error.message names the job ID",
    id_rule=job_id_reason,
    price=None,  # storage of a fine-tune is undocumented: unknown unless prices: says
)

SPEC = ProviderSpecOf(
    type="together",
    title="Together AI",
    credential="api_key",
    default_api_key_env="TOGETHER_API_KEY",
    default_base_url="https://api.together.xyz",
    default_requests_per_minute=600,  # undocumented for fine-tune endpoints: a polite guess
    connect=http(bearer, TogetherLister),
    kinds={"model": MODEL},
)

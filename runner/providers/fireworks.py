"""Fireworks AI models: ``/v1/accounts/{account_id}/models`` (paged AIP-158 style, RFC 3339
times, a state). Only fine-tune addons are candidates; the account's base models never are.
"""

import dataclasses
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from runner.errors import ConfigError
from runner.providers.base import (
    ConnectOptions,
    DeleteAnswer,
    DeleteResult,
    KindSpecOf,
    ModelRecord,
    ProviderSpecOf,
    itself,
    unsafe_id_reason,
)
from runner.providers.mapping import (
    ITS_ID,
    RFC3339,
    Id,
    Only,
    RecordMap,
    Text,
    Time,
    map_records,
)
from runner.providers.wire import (
    HttpDeleter,
    HttpLister,
    Paging,
    Response,
    bearer,
    delete_result,
    failure,
    http,
    names_id,
    pages,
    path_segment,
)

if TYPE_CHECKING:
    from runner.jobfile.model import Connection
    from runner.providers.http import HttpClient

# Fireworks resource IDs (accounts, models) are lowercase letters, digits and hyphens, at
# most 63 characters; its own model IDs spell versions "v3p1" for that reason [guess: the
# rule is not published as a pattern, the IDs it hands out all fit it].
RESOURCE_ID = "^[a-z0-9][a-z0-9-]{0,62}$"
_RESOURCE_ID = re.compile(RESOURCE_ID)
# AIP-158: the server's maximum; a larger pageSize is coerced down, never refused.
PAGE_SIZE = 200
# The kinds a fine-tune produces: LoRA/TEFT addons, trained here or uploaded. Anything else
# (HF_BASE_MODEL, CUSTOM_MODEL, EMBEDDING_MODEL, a kind added later, no kind at all) is not
# provably a fine-tune, so it is left out of the listing rather than listed with a problem:
# a listed record can still be named in ``ids:``, an unlisted one is only ever "absent".
FINE_TUNE_KINDS = frozenset({"HF_PEFT_ADDON", "HF_TEFT_ADDON", "FLUMINA_ADDON"})
# gRPC-gateway maps NOT_FOUND (5) to HTTP 404; some gateways spell the code by name.
NOT_FOUND_CODES = (5, "NOT_FOUND")
# A delete the API refuses in these ways most likely hit a model still deployed.
DEPLOYED_STATUSES = (400, 409, 412)


def model_id_reason(model_id: str) -> str | None:
    if reason := unsafe_id_reason(model_id):
        return reason
    if not _RESOURCE_ID.match(model_id):
        return "Fireworks model IDs are 1-63 lowercase letters, digits and hyphens"
    return None


def names_model(response: Response, resource: str) -> bool:
    """Fireworks' not-found is gRPC-gateway's 404 ``{"code": 5, "message": "model
    accounts/<acct>/models/<id> not found"}``. It counts only when the message names the
    model's full resource name: a bare ID proves too little, since an ID may be a word the
    message holds anyway ("account acme not found" for model "acme" of a wrong account_id,
    "Not Found" ...). A bare 404 (a retired API, a wrong base_url) proves nothing."""
    body = response.body
    if response.status != 404 or not isinstance(body, dict):
        return False
    message = body.get("message")
    return (
        body.get("code") in NOT_FOUND_CODES
        and isinstance(message, str)
        and names_id(message, resource)
    )


# The ID is the last segment of the resource name, within the connection's account.
MODELS = RecordMap(
    id=Id("name", under="accounts/{account}/models/"),
    name=(Text("displayName"), ITS_ID),
    status=Text("state"),
    created_at=Time("createTime", RFC3339),
    base_model=Text("peftDetails.baseModel"),
    only=Only("kind", FINE_TUNE_KINDS),
)


class FireworksLister(HttpLister):
    def __init__(self, client: "HttpClient", account: str):
        super().__init__(client, MODEL)
        self.account = account
        self.collection = f"/v1/accounts/{path_segment(account)}/models"

    def model_path(self, model_id: str) -> str:
        return f"{self.collection}/{path_segment(model_id)}"

    def absent(self, response: Response, model_id: str) -> bool:
        return names_model(response, f"accounts/{self.account}/models/{model_id}")

    def list_models(self) -> Iterator[ModelRecord]:
        listing = Paging(
            path=self.collection,
            params={"pageSize": PAGE_SIZE},
            token_param="pageToken",
            items_key="models",
            token_key="nextPageToken",
            noun="models",
            what="the Fireworks models API",
            hint=f"the base_url is wrong, or account_id {self.account!r} is not your account",
        )
        yield from map_records(
            MODELS, pages(self.client, listing), MODEL, {"account": self.account}
        )

    def exists(self, model_id: str) -> bool:
        response = self.client.request("GET", self.model_path(model_id))
        if self.absent(response, model_id):
            return False
        if response.status != 200:
            raise failure(self.client.label, f"looking up {model_id!r}", response)
        return True  # Fireworks has no deleted state: a deleted model answers 404

    def details(self, model_id: str) -> dict[str, Any]:
        response = self.client.request("GET", self.model_path(model_id))
        if response.status != 200 or not isinstance(response.body, dict):
            raise failure(self.client.label, f"details of {model_id!r}", response)
        return response.body


class FireworksDeleter(HttpDeleter[FireworksLister]):
    def delete(self, model_id: str) -> DeleteResult:
        response = self.client.request("DELETE", self.lister.model_path(model_id))
        absent = self.lister.absent(response, model_id)
        result = delete_result(MODEL.delete_answer, response, model_id, absent)
        if result.result == "failed" and response.status in DEPLOYED_STATUSES:
            hint = f"{result.error} (is it still deployed? undeploy it first)"
            return dataclasses.replace(result, error=hint)
        return result


def connect(
    connection: "Connection", secret: str | None, options: ConnectOptions
) -> FireworksLister:
    """The shared HTTP connect, with the account every path lives under."""
    account = connection.options.get("account_id")
    if not isinstance(account, str) or not _RESOURCE_ID.match(account):
        # The validator requires it; a connection built some other way must not get far.
        raise ConfigError(f"{connection.label}: fireworks needs account_id")
    return http(bearer, lambda client: FireworksLister(client, account))(
        connection, secret, options
    )


MODEL = KindSpecOf(
    type="fireworks",
    kind="model",
    listed="models of the account (/v1/accounts/{account_id}/models), fine-tune addons only",
    deleted="the model (DELETE /v1/accounts/{account_id}/models/{id})",
    lister=itself,
    deleter=FireworksDeleter,
    delete_answer=DeleteAnswer(),  # 200 {}
    statuses=("READY", "STATE_UNSPECIFIED", "UPLOADING"),
    in_progress=frozenset({"UPLOADING"}),
    has_base_model=True,
    name_source="displayName, else the model ID",
    not_found_proof="a 404 NOT_FOUND (code 5) whose message names accounts/<acct>/models/<id>",
    id_rule=model_id_reason,
    price=None,  # storage of a fine-tune is undocumented: unknown unless prices: says
)

SPEC = ProviderSpecOf(
    type="fireworks",
    title="Fireworks AI",
    credential="api_key",
    default_api_key_env="FIREWORKS_API_KEY",
    default_base_url="https://api.fireworks.ai",
    default_requests_per_minute=600,  # undocumented for the control plane: a polite guess
    connect=connect,
    kinds={"model": MODEL},
    connection_fields={
        "account_id": {
            "type": "string",
            "pattern": RESOURCE_ID,
            "x-error": "is not a Fireworks account ID",
            "description": "the account the models live under: accounts/<account_id>/models",
        },
    },
    required_fields=("account_id",),
    account_fields=("account_id",),
)

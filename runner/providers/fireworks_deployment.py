"""Fireworks' ``kind: deployment``: deployments (``/v1/accounts/{acct}/deployments``, paged),
on the fireworks connection's HTTP client.

A deployment serves its ``baseModel`` when that names one of the account's models, plus each
LoRA a deployed model puts on it (``/v1/accounts/{acct}/deployedModels``, the SDK's ``lora``
resource). It is billed per accelerator and replica. A delete is soft: Fireworks may answer
with the deployment itself, ``state: DELETING``; it is gone once a lookup no longer finds it.
The delete is never sent with ``ignoreChecks``.
"""

import re
from collections.abc import Iterator, Mapping
from typing import Any

from runner.providers.base import (
    Billing,
    DeleteAnswer,
    DeleteResult,
    KindSpecOf,
    ModelRecord,
    unsafe_id_reason,
)
from runner.providers.fireworks import PAGE_SIZE, RESOURCE_ID, FireworksLister, names_model
from runner.providers.hosting import count
from runner.providers.wire import (
    HttpDeleter,
    HttpLister,
    Paging,
    Response,
    delete_result,
    failure,
    pages,
    path_segment,
    text,
    timestamp,
    unreadable,
)

_RESOURCE_ID = re.compile(RESOURCE_ID)
DELETING = "DELETING"


def deployment_id_reason(deployment_id: str) -> str | None:
    if reason := unsafe_id_reason(deployment_id):
        return reason
    if not _RESOURCE_ID.match(deployment_id):
        return "Fireworks deployment IDs are 1-63 lowercase letters, digits and hyphens"
    return None


def _under(name: Any, prefix: str) -> str | None:
    """The ID in a resource name ``prefix + ID``, or None when it is not one."""
    name = text(name)
    found = name[len(prefix) :] if name and name.startswith(prefix) else None
    return found if found and "/" not in found else None


def _billing(item: Mapping[str, Any]) -> Billing | None:
    """``acceleratorCount`` × ``minReplicaCount`` (absent: 0, scaled to zero)."""
    accelerator = text(item.get("acceleratorType"))
    per_replica = count(item.get("acceleratorCount"))
    replicas = count(item.get("minReplicaCount", 0))
    if accelerator is None or per_replica is None or replicas is None:
        return None
    return Billing(per_replica * replicas, accelerator, {"accelerator": accelerator})


def record_from(item: Any, account: str, loras: Mapping[str, list[str]]) -> ModelRecord:
    """One listed deployment -> a record. ``loras``: deployment ID -> the account's models
    deployed on it."""
    if not isinstance(item, dict):
        return ModelRecord(id="", problem="listed item is not an object")
    prefix = f"accounts/{account}/deployments/"
    deployment_id = _under(item.get("name"), prefix)
    if deployment_id is None:
        shown = "" if text(item.get("name")) is None else f" {str(item['name'])[:80]!r}"
        return ModelRecord(id="", problem=f"listed deployment name{shown} is not under {prefix}")
    if reason := deployment_id_reason(deployment_id):
        return ModelRecord(id=deployment_id, problem=f"id {reason}")
    state = text(item.get("state"))
    created = item.get("createTime")
    created_at = timestamp(created)
    served = [m for m in [_under(item.get("baseModel"), f"accounts/{account}/models/")] if m]
    served += [m for m in loras.get(deployment_id, []) if m not in served]
    return ModelRecord(
        id=deployment_id,
        name=text(item.get("displayName")) or deployment_id,
        status=state,
        lifecycle=KIND.lifecycle(state),
        created_at=created_at,
        base_model=text(item.get("baseModel")),
        problem=unreadable("createTime", created, created_at),
        serves=tuple(served),
        billing=_billing(item),
    )


class Deployments(HttpLister):
    """Lists and looks up a fireworks connection's deployments, on its session (the model
    lister: its read-only client and account)."""

    def __init__(self, session: FireworksLister):
        super().__init__(session.client, session.spec)  # the type's facts; this kind's: KIND
        self.account = session.account
        self.collection = f"/v1/accounts/{path_segment(self.account)}/deployments"

    def _paging(self, path: str, items_key: str, noun: str) -> Paging:
        return Paging(
            path=path,
            params={"pageSize": PAGE_SIZE},
            token_param="pageToken",
            items_key=items_key,
            token_key="nextPageToken",
            noun=noun,
            what="the Fireworks deployments API",
            hint=f"the base_url is wrong, or account_id {self.account!r} is not your account",
        )

    def list_models(self) -> Iterator[ModelRecord]:
        listing = self._paging(self.collection, "deployments", "deployments")
        deployments = list(pages(self.client, listing))
        loras = self._loras() if deployments else {}
        for item in deployments:
            yield record_from(item, self.account, loras)

    def _loras(self) -> dict[str, list[str]]:
        """Deployment ID -> the account's models deployed on it (multi-LoRA serving)."""
        path = f"/v1/accounts/{path_segment(self.account)}/deployedModels"
        found: dict[str, list[str]] = {}
        for item in pages(self.client, self._paging(path, "deployedModels", "deployed models")):
            if not isinstance(item, dict):
                continue
            model = _under(item.get("model"), f"accounts/{self.account}/models/")
            on = _under(item.get("deployment"), f"accounts/{self.account}/deployments/")
            if model and on and model not in found.setdefault(on, []):
                found[on].append(model)
        return found

    def path(self, deployment_id: str) -> str:
        return f"{self.collection}/{path_segment(deployment_id)}"

    def absent(self, response: Response, deployment_id: str) -> bool:
        return names_model(response, f"accounts/{self.account}/deployments/{deployment_id}")

    def exists(self, model_id: str) -> bool:
        response = self.client.request("GET", self.path(model_id))
        if self.absent(response, model_id):
            return False
        if response.status != 200:
            raise failure(self.client.label, f"looking up {model_id!r}", response)
        return True  # DELETING is still there: only a lookup that finds none proves it gone

    def details(self, model_id: str) -> dict[str, Any]:
        response = self.client.request("GET", self.path(model_id))
        if response.status != 200 or not isinstance(response.body, dict):
            raise failure(self.client.label, f"details of {model_id!r}", response)
        return response.body


class DeploymentDeleter(HttpDeleter[Deployments]):
    def delete(self, model_id: str) -> DeleteResult:
        lister = self.lister
        response = self.client.request("DELETE", lister.path(model_id))
        if self._deleting(response, model_id):
            # h13: accepted
            return DeleteResult("deleted", response.status, response.attempts)
        return delete_result(
            KIND.delete_answer, response, model_id, lister.absent(response, model_id)
        )

    def _deleting(self, response: Response, deployment_id: str) -> bool:
        """The soft delete's other answer: this deployment itself, now DELETING."""
        body = response.body
        name = f"accounts/{self.lister.account}/deployments/{deployment_id}"
        return (
            response.status == 200
            and isinstance(body, dict)
            and body.get("name") == name
            and body.get("state") == DELETING
        )


KIND = KindSpecOf(
    type="fireworks",
    kind="deployment",
    listed="deployments of the account (/v1/accounts/{account_id}/deployments)",
    deleted="the deployment (DELETE /v1/accounts/{account_id}/deployments/{id})",
    lister=Deployments,
    deleter=DeploymentDeleter,
    # 200 {}; or the deployment itself in state DELETING (DeploymentDeleter._deleting).
    delete_answer=DeleteAnswer(),
    statuses=("READY", "FAILED", "CREATING", "UPDATING", "DELETING"),
    in_progress=frozenset({"CREATING", "UPDATING", "DELETING"}),
    failed=frozenset({"FAILED"}),
    has_base_model=True,
    serves_models=True,
    name_source="displayName, else the deployment ID",
    not_found_proof="a 404 NOT_FOUND (code 5) whose message names accounts/<acct>/deployments/<id>",
    id_rule=deployment_id_reason,
)

"""Fireworks' ``kind: deployment``: deployments (``/v1/accounts/{acct}/deployments``, paged),
on the fireworks connection's HTTP client.

A deployment serves its ``baseModel`` when that names one of the account's models, plus each
LoRA a deployed model puts on it (``/v1/accounts/{acct}/deployedModels``, the SDK's ``lora``
resource). It is billed per accelerator and replica. A delete is soft: Fireworks may answer
with the deployment itself, ``state: DELETING``. That answer is accepted, not done: the
deployment is waiting until a lookup no longer finds it (or finds it ``DELETED``), and a
listing that shows it DELETING or DELETED never has it deleted again. The delete is never
sent with ``ignoreChecks``.
"""

import dataclasses
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

from runner.cost import PriceFact, PriceOverride
from runner.providers.base import (
    THE_ID,
    AcceptedAnswer,
    Billing,
    DeleteAnswer,
    DeleteResult,
    KindSpecOf,
    ModelRecord,
    unsafe_id_reason,
)
from runner.providers.fireworks import PAGE_SIZE, RESOURCE_ID, FireworksLister, names_model
from runner.providers.hosting import count, serving_unknown, units
from runner.providers.mapping import (
    ITS_ID,
    RFC3339,
    Computed,
    Id,
    RecordMap,
    Scope,
    Text,
    Time,
    map_records,
)
from runner.providers.wire import (
    HttpDeleter,
    HttpLister,
    Paging,
    Response,
    delete_result,
    failure,
    one_line,
    pages,
    path_segment,
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
    found = _under_prefix(name, prefix)
    return found if found and "/" not in found else None


def _billing(item: Mapping[str, Any], _: Scope) -> Billing | None:
    """``acceleratorCount`` × ``minReplicaCount`` (absent: 0, scaled to zero)."""
    accelerator = item.get("acceleratorType")
    per_replica = count(item.get("acceleratorCount"))
    replicas = count(item.get("minReplicaCount", 0))
    if not isinstance(accelerator, str) or not accelerator:
        return None
    if (billed := units(per_replica, replicas)) is None:
        return None
    return Billing(billed, accelerator, {"accelerator": accelerator})


# One listed deployment; the ID is the last segment of its name, within the account. What
# it serves needs the LoRAs deployed on it too (``serving``), which the listing reads.
DEPLOYMENTS = RecordMap(
    id=Id("name", under="accounts/{account}/deployments/", check=deployment_id_reason),
    name=(Text("displayName"), ITS_ID),
    status=Text("state"),
    created_at=Time("createTime", RFC3339),
    base_model=Text("baseModel"),
    billing=Computed(_billing),
)


def _model_in(name: Any, account: str) -> str | None:
    """The account's model a model name points at: the first segment after
    ``accounts/{account}/models/``, whatever follows it (a version, or ``#`` and the
    deployment it is routed to). Read leniently: a model that is not recognised here is
    free to be deleted, so any name of it counts."""
    rest = _under_prefix(name, f"accounts/{account}/models/")
    return (re.split(r"[/#]", rest, maxsplit=1)[0] or None) if rest else None


def _under_prefix(name: Any, prefix: str) -> str | None:
    return name[len(prefix) :] if isinstance(name, str) and name.startswith(prefix) else None


def serving(loras: Mapping[str, list[str]]) -> Computed:
    """What a deployment serves: its ``baseModel`` when that is one of the account's
    models, then each of the account's models deployed on it (``loras``: deployment ID ->
    those models)."""

    def served(item: Mapping[str, Any], scope: Scope) -> tuple[str, ...]:
        account = scope["account"]
        own = _model_in(item.get("baseModel"), account)
        found = [own] if own else []
        deployment = _under(item.get("name"), f"accounts/{account}/deployments/")
        found += [m for m in loras.get(deployment or "", []) if m not in found]
        return tuple(found)

    return Computed(served)


class Deployments(HttpLister):
    """Lists and looks up a fireworks connection's deployments, on its session (the model
    lister: its read-only client and account)."""

    def __init__(self, session: FireworksLister):
        super().__init__(session.client, KIND)
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
        for item in deployments:
            base = item.get("baseModel") if isinstance(item, dict) else None
            if not isinstance(base, str) or not base:
                shown = item.get("name") if isinstance(item, dict) else item
                raise serving_unknown(self.client.label, "listing deployments", shown, "baseModel")
        loras = self._loras() if deployments else {}
        rmap = dataclasses.replace(DEPLOYMENTS, serves=serving(loras))
        records = list(map_records(rmap, deployments, KIND, {"account": self.account}))
        yield from records
        named = {r.id for r in records}
        for deployment, models in loras.items():
            if deployment not in named:
                # Deployed on what the listing does not name (not yet, or not readably):
                # these models are served all the same, by an item that cannot be deleted.
                problem = (
                    f"deployed models {one_line(repr(models[:3])[:120])} are on deployment"
                    f" {deployment!r}, which the deployments listing does not name"
                )
                yield ModelRecord(id="", problem=problem, serves=tuple(models))

    def _loras(self) -> dict[str, list[str]]:
        """Deployment ID -> the account's models deployed on it (multi-LoRA serving)."""
        path = f"/v1/accounts/{path_segment(self.account)}/deployedModels"
        found: dict[str, list[str]] = {}
        for item in pages(self.client, self._paging(path, "deployedModels", "deployed models")):
            if not isinstance(item, dict):
                continue
            model = _model_in(item.get("model"), self.account)
            raw = item.get("deployment")
            # On a deployment it cannot name (another account's, or unreadable), the model
            # is served all the same: keyed so that no listed deployment has the key.
            on = (
                _under(raw, f"accounts/{self.account}/deployments/")
                or f"<{one_line(repr(raw)[:80])}>"
            )
            if model and model not in found.setdefault(on, []):
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
        # DELETING is still there; a lookup that finds none, or finds it DELETED, proves
        # it gone.
        body = response.body
        state = body.get("state") if isinstance(body, dict) else None
        return KIND.lifecycle(state if isinstance(state, str) else None) != "deleted"

    def details(self, model_id: str) -> dict[str, Any]:
        response = self.client.request("GET", self.path(model_id))
        if response.status != 200 or not isinstance(response.body, dict):
            raise failure(self.client.label, f"details of {model_id!r}", response)
        return response.body

    def close(self) -> None:
        """Nothing of its own: the client it borrows is closed with the connection."""


class DeploymentDeleter(HttpDeleter[Deployments]):
    def delete(self, model_id: str) -> DeleteResult:
        lister = self.lister
        response = self.client.request("DELETE", lister.path(model_id))
        # The answers are judged by the deployment's resource name: an accepted answer is
        # the deployment itself, which names itself so.
        name = f"accounts/{lister.account}/deployments/{model_id}"
        return delete_result(KIND.delete_answer, response, name, lister.absent(response, model_id))


KIND = KindSpecOf(
    type="fireworks",
    kind="deployment",
    listed="deployments of the account (/v1/accounts/{account_id}/deployments)",
    deleted="the deployment (DELETE /v1/accounts/{account_id}/deployments/{id})",
    lister=Deployments,
    deleter=DeploymentDeleter,
    # Done: 200 {}. Accepted: the deployment itself in state DELETING, which is waiting
    # until a lookup no longer finds it (THE_ID: its resource name, DeploymentDeleter).
    delete_answer=DeleteAnswer(
        accepted=AcceptedAnswer(DeleteAnswer({"name": THE_ID, "state": DELETING}, exact=False))
    ),
    statuses=("READY", "FAILED", "CREATING", "UPDATING", "DELETING", "DELETED"),
    # Listed while DELETING or DELETED, it is never sent a delete again.
    in_progress=frozenset({"CREATING", "UPDATING", "DELETING"}),
    failed=frozenset({"FAILED"}),
    gone=frozenset({"DELETED"}),
    has_base_model=True,
    serves_models=True,
    name_source="displayName, else the deployment ID",
    not_found_proof="a 404 NOT_FOUND (code 5) whose message names accounts/<acct>/deployments/<id>",
    id_rule=deployment_id_reason,
    # Per accelerator-hour while replicas run (acceleratorCount x minReplicaCount). The
    # pricing page gives the A100 80 GB; other accelerators are unknown until prices: says.
    billed_by=("accelerator",),
    prices_by=(
        PriceOverride(
            PriceFact(
                per_hour=Decimal("3.89"),
                unit="GPU",
                source="fireworks.ai/pricing (on-demand deployments, A100 80 GB)",
                date="2026-12",
            ),
            None,
            accelerator="NVIDIA_A100_80GB",
        ),
    ),
)

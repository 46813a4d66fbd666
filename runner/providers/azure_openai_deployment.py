"""Azure OpenAI's ``kind: deployment``: ARM ``Microsoft.CognitiveServices/accounts/{account}
/deployments`` (api-version 2024-10-01), read and deleted with the management credential.

The list is paged by ``nextLink``, an absolute URL that must stay on the management URL.
A deployment serves ``properties.model.name``; its age is ``systemData.createdAt``. A delete
is long-running: 200 or 204 is done, 202 is accepted, with ``Azure-AsyncOperation`` or
``Location`` to poll. The deployment is then waited for (runner.waiting) until the
operation says ``Succeeded`` or a lookup finds it gone; ``Failed`` or ``Canceled`` ends the
wait as failed with the operation's error. An operation URL on another origin is never
polled (the token would go there): the wait then rests on lookups alone.
"""

import threading
from collections.abc import Iterator, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from runner.cost import PriceFact
from runner.providers._azure_arm import ArmClient, relative
from runner.providers.azure_openai import FINE_TUNE, AzureModels
from runner.providers.base import (
    AcceptedAnswer,
    Billing,
    DeleteAnswer,
    DeleteResult,
    KindSpecOf,
    ModelRecord,
    ProviderError,
    TagSource,
    unsafe_id_reason,
)
from runner.providers.hosting import serving_unknown
from runner.providers.mapping import (
    RFC3339,
    Computed,
    Id,
    RecordMap,
    Scope,
    TagsAt,
    Text,
    Time,
    map_records,
)
from runner.providers.wire import (
    Response,
    accepted,
    delete_result,
    error_message,
    failure,
    names_id,
    one_line,
    path_segment,
)
from runner.waiting import DeleteFailed

ARM_API_VERSION = "2024-10-01"
MAX_PAGES = 1000  # a nextLink chain longer than this is a loop, not an account
WITHIN = timedelta(minutes=30)  # how long an accepted delete may take


def account_path(options: Mapping[str, Any]) -> str:
    """The account's ARM resource ID (what deployments and metrics hang under)."""
    return (
        f"/subscriptions/{path_segment(str(options['subscription_id']))}"
        f"/resourceGroups/{path_segment(str(options['resource_group']))}"
        "/providers/Microsoft.CognitiveServices"
        f"/accounts/{path_segment(str(options['account']))}"
    )


def _model_name(item: Mapping[str, Any]) -> str | None:
    properties = item.get("properties")
    model = properties.get("model") if isinstance(properties, dict) else None
    name = model.get("name") if isinstance(model, dict) else None
    return name if isinstance(name, str) and name else None


def _serves(item: Mapping[str, Any], _: Scope) -> tuple[str, ...]:
    name = _model_name(item)
    return (name,) if name and FINE_TUNE in name else ()


# Hourly hosting fees of a fine-tuned model's deployment, by its SKU as ARM names it
# (compared without case: clients send "developertier" too). Microsoft's fine-tuning cost
# page: Standard and Global Standard pay the fee; Developer Tier pays none (Azure removes
# it after 24 hours); provisioned throughput accrues PTU-hours at the customer's own rate,
# which is not known here, like any SKU not named.
HOSTING_FEE_UNITS = {
    "standard": Decimal(1),
    "globalstandard": Decimal(1),
    "developertier": Decimal(0),
}


def _billing(item: Mapping[str, Any], _: Scope) -> Billing | None:
    """The hosting fee is per deployment of a fine-tuned model, by its SKU; other
    deployments (base models, billed per token) cost nothing while idle."""
    name = _model_name(item)
    if name is None:
        return None
    if FINE_TUNE not in name:
        return Billing(Decimal(0), "deployment", {"base_model": name})
    sku = item.get("sku")
    sku_name = sku.get("name") if isinstance(sku, dict) else None
    units = HOSTING_FEE_UNITS.get(sku_name.lower()) if isinstance(sku_name, str) else None
    return None if units is None else Billing(units, "deployment", {"base_model": name})


DEPLOYMENT = RecordMap(
    id=Id("name"),
    name=Text("name"),
    status=Text("properties.provisioningState"),
    created_at=Time("systemData.createdAt", RFC3339),
    serves=Computed(_serves),
    billing=Computed(_billing),
    tags=TagsAt("tags", any_case=True),  # ARM: "a tag name is case-insensitive"
)


class Deployments:
    """Lists and looks up a connection's deployments with its management client. A
    connection that names no ARM scope has none to list (its model targets then rely on
    Azure refusing to delete a deployed model)."""

    def __init__(self, session: AzureModels):
        self.spec = KIND
        self.session = session
        self.arm: ArmClient | None = session.arm
        self.account = account_path(session.connection.options)  # metrics hang under it
        self.path = self.account + "/deployments"
        self.params = {"api-version": ARM_API_VERSION}

    @property
    def label(self) -> str:
        return self.arm.label if self.arm is not None else self.session.connection.name

    def management(self) -> ArmClient:
        """Its management client; a connection without an ARM scope has none to give."""
        if self.arm is None:
            raise ProviderError(
                f"{self.label}: deployments need subscription_id, resource_group and account"
            )
        return self.arm

    def list_models(self) -> Iterator[ModelRecord]:
        if self.arm is None:
            return
        listed = self.listed()
        for item in listed:
            if not isinstance(item, dict) or _model_name(item) is None:
                shown = item.get("name") if isinstance(item, dict) else item
                raise serving_unknown(
                    self.label, "listing deployments", shown, "properties.model.name"
                )
        records = list(map_records(DEPLOYMENT, listed, KIND))
        self.session.deployments_listed = records
        yield from records

    def listed(self) -> list[Any]:
        """Every deployment ARM lists, across its nextLink pages."""
        arm = self.management()
        items: list[Any] = []
        target, params = self.path, dict(self.params)
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            response = arm.request("GET", target, params=params)
            if response.status != 200:
                raise failure(self.label, "listing deployments", response)
            body = response.body
            page = body.get("value") if isinstance(body, dict) else None
            if not isinstance(body, dict) or not isinstance(page, list):
                raise ProviderError(
                    f"{self.label}: listing deployments returned a malformed page (expected an"
                    " object with a value list)"
                )
            items.extend(page)
            link = body.get("nextLink")
            if not link:
                return items
            if not isinstance(link, str):
                raise ProviderError(f"{self.label}: nextLink is not a string")
            if link in seen:
                raise ProviderError(
                    f"{self.label}: a nextLink came back twice; stopped listing to avoid an"
                    " endless loop"
                )
            seen.add(link)
            target, params = link, {}  # the link carries its own query
        raise ProviderError(f"{self.label}: more than {MAX_PAGES} pages of deployments")

    def _get(self, name: str) -> Response:
        return self.management().request(
            "GET", f"{self.path}/{path_segment(name)}", params=self.params
        )

    def exists(self, model_id: str) -> bool:
        response = self._get(model_id)
        if names_deployment(response, model_id):
            return False
        if response.status != 200:
            raise failure(self.label, f"looking up {model_id!r}", response)
        return True

    def details(self, model_id: str) -> dict[str, Any]:
        response = self._get(model_id)
        if response.status != 200 or not isinstance(response.body, dict):
            raise failure(self.label, f"details of {model_id!r}", response)
        return response.body

    def close(self) -> None:
        """Nothing of its own: the management client is closed with the session."""


def names_deployment(response: Response, name: str) -> bool:
    """A 404 whose message names the deployment proves it absent; a bare one does not."""
    return response.status == 404 and names_id(error_message(response), name)


class ArmDeleteAnswer(DeleteAnswer):
    """ARM's answers to a delete: 200 or 204 done (no body, or the resource), 202 accepted,
    and so is a 200 that is the resource still deleting (its provisioningState in
    progress): that says it is going, not gone."""

    def confirms(self, status: int | None, body: Any, model_id: str) -> bool:
        done = body is None or (isinstance(body, dict) and not _deleting(body))
        return status in (200, 204) and done

    def accepts(self, status: int | None, body: Any, model_id: str) -> timedelta | None:
        return WITHIN if status == 202 or (status == 200 and _deleting(body)) else None


def _deleting(body: Any) -> bool:
    properties = body.get("properties") if isinstance(body, dict) else None
    state = properties.get("provisioningState") if isinstance(properties, dict) else None
    return isinstance(state, str) and KIND.lifecycle(state) == "in_progress"


class DeploymentDeleter:
    """Deletes deployments with a writing management client, and follows each accepted
    delete's operation until it ends (``exists``, which runner.waiting polls)."""

    def __init__(self, lister: Deployments):
        self.lister = lister
        self.arm = lister.management().writer()
        # deployment -> its operation's path, and whether it is a Location (polled by status
        # code) rather than an Azure-AsyncOperation (polled by the body's status)
        self._operations: dict[str, tuple[str, bool]] = {}
        self._lock = threading.Lock()

    def delete(self, model_id: str) -> DeleteResult:
        lister = self.lister
        response = self.arm.request(
            "DELETE", f"{lister.path}/{path_segment(model_id)}", params=lister.params
        )
        if response.status != 202:
            return delete_result(
                KIND.delete_answer, response, model_id, names_deployment(response, model_id)
            )
        result = accepted(202, response.attempts, WITHIN)
        found = _operation_link(response.headers)
        if found is None:
            return result
        link, by_location = found
        path = relative(link, self.arm.base_url)
        if path is None:
            return DeleteResult(
                "failed", 202, response.attempts,
                f"accepted (HTTP 202); its operation URL is not on the management URL"
                f" {self.arm.base_url}, so it is not polled (the token is never sent"
                " elsewhere): waiting on lookups",
                accepted=WITHIN,
            )  # fmt: skip
        with self._lock:
            self._operations[model_id] = (path, by_location)
        return result

    def exists(self, model_id: str) -> bool:
        with self._lock:
            operation = self._operations.get(model_id)
        if operation is not None and self._finished(model_id, *operation):
            return False
        return self.lister.exists(model_id)

    def _finished(self, model_id: str, operation: str, by_location: bool) -> bool:
        """Whether the operation says the delete succeeded; raises DeleteFailed when it
        says it failed. Still running, or no readable answer: not yet (a lookup decides)."""
        response = self.arm.request("GET", operation)
        if by_location:
            # A Location answers 202 while running, 200 or 204 when done, an error if not.
            # A 200 that is the deployment itself (a Location naming the resource) says it
            # is still there, never that it is gone.
            if response.status == 204 or (
                response.status == 200 and not _is_deployment(response.body, model_id)
            ):
                return True
            if response.status in (400, 409, 422):
                raise DeleteFailed(f"the delete operation failed: {error_message(response)}")
            return False
        body = response.body
        status = body.get("status") if isinstance(body, dict) else None
        if response.status != 200 or not isinstance(status, str):
            return False
        if status == "Succeeded":
            return True
        if status in ("Failed", "Canceled"):
            error = body.get("error") if isinstance(body, dict) else None
            said = error_message(Response(200, {"error": error}, "", 1, {})) if error else status
            raise DeleteFailed(f"the delete operation ended {status}: {one_line(said)}")
        return False

    def close(self) -> None:
        self.arm.close()


def _is_deployment(body: Any, name: str) -> bool:
    """Whether an answer is the deployment ``name`` itself (or any deployment: it has
    properties), rather than an operation's result."""
    return isinstance(body, dict) and (body.get("name") == name or "properties" in body)


def _operation_link(headers: Mapping[str, str]) -> tuple[str, bool] | None:
    """The operation to poll, preferring Azure-AsyncOperation (as ARM's clients do), and
    whether it is a Location."""
    for name in ("Azure-AsyncOperation", "Location"):
        value = headers.get(name)
        if value:
            return str(value), name == "Location"
    return None


KIND = KindSpecOf(
    type="azure_openai",
    kind="deployment",
    listed="deployments (ARM Microsoft.CognitiveServices/accounts/deployments, paged by nextLink)",
    deleted="the deployment (ARM DELETE, long-running: its operation is followed to the end)",
    lister=Deployments,
    deleter=DeploymentDeleter,
    delete_answer=ArmDeleteAnswer(accepted=AcceptedAnswer(DeleteAnswer(status=202), WITHIN)),
    statuses=(
        "Succeeded",
        "Failed",
        "Disabled",
        "Canceled",
        "Accepted",
        "Creating",
        "Deleting",
        "Moving",
    ),
    in_progress=frozenset({"Accepted", "Creating", "Deleting", "Moving"}),
    failed=frozenset({"Failed"}),
    usage="azure_monitor",
    tags=TagSource("ARM tags"),  # the listing carries them
    serves_models=True,
    name_source="the deployment name",
    not_found_proof="a 404 whose message names the deployment",
    id_rule=unsafe_id_reason,
    # Per Standard or Global Standard deployment of a fine-tuned model, per hour, called
    # or not (HOSTING_FEE_UNITS for the other SKUs).
    price=PriceFact(
        per_hour=Decimal("1.70"),
        unit="deployment",
        source="learn.microsoft.com azure ai-foundry openai how-to/fine-tuning-cost-management"
        " (Standard and Global Standard hosting)",
        date="2026-12",
    ),
)

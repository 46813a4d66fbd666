"""Bedrock's ``kind: deployment``: Provisioned Throughput, through the bedrock connection's
botocore client (ListProvisionedModelThroughputs, GetProvisionedModelThroughput,
DeleteProvisionedModelThroughput).

A PT is billed per model unit and hour until deleted; one under commitment cannot be
deleted before ``commitmentExpirationTime``, which its record carries (``committed_until``)
for the engine to block on: AWS's answer to that delete is undocumented. What it serves is
a custom model's ARN, named here by the account's model ID (its ``modelName``); a
foundation model is none of the account's models.
"""

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from runner.providers.base import (
    Billing,
    DeleteAnswer,
    DeleteResult,
    KindSpecOf,
    ModelRecord,
    ProviderError,
    TagSource,
)
from runner.providers.bedrock import TAGS, BedrockLister, arn_of, listed_tags, model_name_reason
from runner.providers.hosting import count, serving_unknown
from runner.providers.mapping import (
    SDK_DATETIME,
    Computed,
    Id,
    RecordMap,
    Scope,
    Text,
    Time,
    map_records,
)

LIST = "list_provisioned_model_throughputs"
LISTING = "listing Provisioned Throughputs (ListProvisionedModelThroughputs)"
FOUNDATION = ":foundation-model/"
# A commitment that cannot be read is taken as one still running: the PT is kept.
UNREADABLE_COMMITMENT = "commitment date unreadable: kept"


def pt_name_reason(name: str) -> str | None:
    """Why ``name`` cannot be a provisionedModelName (the same rule as a custom model's)."""
    if model_name_reason(name) is None:
        return None
    return (
        "is not a Provisioned Throughput name: 1 to 63 letters or digits, each optionally"
        " followed by one '-' or '_' (the provisionedModelName, not an ARN)"
    )


def _foundation(arn: str) -> str | None:
    """The foundation model ID after ``foundation-model/`` in a foundation model ARN."""
    return arn.split(FOUNDATION, 1)[1] or None if FOUNDATION in arn else None


def _billing(item: Mapping[str, Any], _: Scope) -> Billing | None:
    arn = arn_of(item.get("foundationModelArn"))
    units, base = count(item.get("modelUnits")), arn and _foundation(arn)
    if units is None or not base:
        return None  # unknown: the price is per base model
    return Billing(units, "model unit", {"base_model": base})


# One ProvisionedModelSummary; what it serves is read against the account's custom models
# (``serving``), which the listing reads alongside.
PROVISIONED = RecordMap(
    id=Id("provisionedModelName", check=pt_name_reason),
    name=Text("provisionedModelName"),
    status=Text("status"),
    created_at=Time("creationTime", SDK_DATETIME),
    base_model=Text("foundationModelArn", via=_foundation),
    billing=Computed(_billing),
    committed_until=Time("commitmentExpirationTime", SDK_DATETIME),
    resource_name=Text("provisionedModelArn"),  # what ListTagsForResource takes
)


def serving(names: Mapping[str, str]) -> Computed:
    """What a PT serves: the models behind ``modelArn`` and, while it is being updated to
    another model, ``desiredModelArn`` too, by name (``names``: the account's custom model
    ARNs -> their names)."""

    def served(item: Mapping[str, Any], _: Scope) -> tuple[str, ...]:
        found: list[str] = []
        for key in ("modelArn", "desiredModelArn"):
            arn = arn_of(item.get(key))
            if arn is None or FOUNDATION in arn:
                continue  # a base model is none of the account's models
            # A custom model the account does not list (shared in, or gone) keeps its ARN:
            # the engine then says it serves a model the account does not list.
            model = names.get(arn, arn)
            if model not in found:
                found.append(model)
        return tuple(found)

    return Computed(served)


def record_from(item: Any, names: Mapping[str, str]) -> ModelRecord:
    """One ProvisionedModelSummary -> a record (``PROVISIONED`` never leaves one out)."""
    rmap = dataclasses.replace(PROVISIONED, serves=serving(names))
    record = next(map_records(rmap, (item,), KIND))
    if record.problem is not None or not isinstance(item, Mapping):
        return record
    if item.get("commitmentDuration") is not None and record.committed_until is None:
        # Committed, with no end said: taken as running, never deleted.
        return dataclasses.replace(record, problem=UNREADABLE_COMMITMENT)
    until, created = record.committed_until, record.created_at
    if until is not None and (created is None or until <= created):
        # A commitment cannot end before its PT was made: an end read as 1970 (0, true,
        # -1 read as seconds) is no end that can be trusted, so the PT is kept.
        return dataclasses.replace(record, problem=UNREADABLE_COMMITMENT)
    return record


class ProvisionedThroughputs:
    """Lists and looks up the PTs of a bedrock connection, on its session (the model
    lister's botocore client, pacing and messages)."""

    def __init__(self, session: BedrockLister):
        self.session = session
        self.spec = KIND
        self.label = session.label
        # A lost answer to a delete is told apart from one never sent, as for models;
        # unique_id: a second lister on the same client does not register it twice.
        session.client.meta.events.register(
            "needs-retry.bedrock.DeleteProvisionedModelThroughput",
            session.note_attempt,
            unique_id="ftjanitor-pt-delete",
        )

    def list_models(self) -> Iterator[ModelRecord]:
        # Required: an empty listing read from a page that is not one would hide every PT.
        summaries = list(
            self.session.pages(LISTING, LIST, "provisionedModelSummaries", required=True)
        )
        for item in summaries:
            if not isinstance(item, Mapping):
                continue
            # modelArn always; desiredModelArn (what an update moves it to) when it is said.
            for key in ("modelArn", "desiredModelArn"):
                value = item.get(key)
                if arn_of(value) is None and (key == "modelArn" or value is not None):
                    name = item.get("provisionedModelName")
                    raise serving_unknown(self.label, LISTING, name, key)
        names = self._model_names(summaries)
        self.session.note_provisioned(summaries)
        for item in summaries:
            yield record_from(item, names)

    def usage_keys(self) -> dict[str, tuple[str, ...]]:
        """What CloudWatch's ModelId holds for each listed PT's use: its ARN."""
        return {name: (arn,) for name, arn in self.session.pt_arns.items()}

    def _model_names(self, summaries: list[Any]) -> dict[str, str]:
        """The account's custom model ARNs -> names, read only when a PT serves one."""
        arns = {
            arn_of(item.get(key))
            for item in summaries
            if isinstance(item, Mapping)
            for key in ("modelArn", "desiredModelArn")
        }
        if not any(arn and FOUNDATION not in arn for arn in arns):
            return {}
        what = "listing custom models (ListCustomModels)"
        names: dict[str, str] = {}
        for model in self.session.pages(what, "list_custom_models", "modelSummaries", isOwned=True):
            if isinstance(model, Mapping):
                arn, name = arn_of(model.get("modelArn")), model.get("modelName")
                if arn and isinstance(name, str) and name:
                    names[arn] = name
        return names

    def _lookup(self, name: str) -> dict[str, Any] | None:
        if reason := pt_name_reason(name):
            raise ProviderError(f"{self.label}: {name!r} {reason}")
        client = self.session.client
        return self.session.lookup(
            f"looking up Provisioned Throughput {name} (GetProvisionedModelThroughput)",
            lambda: client.get_provisioned_model_throughput(provisionedModelId=name),
        )

    def exists(self, model_id: str) -> bool:
        return self._lookup(model_id) is not None

    def details(self, model_id: str) -> dict[str, Any]:
        found = self._lookup(model_id)
        if found is None:
            raise ProviderError(f"{self.label}: Provisioned Throughput {model_id} does not exist")
        return found

    def close(self) -> None:
        """Nothing of its own: the session it borrows is closed with the connection."""


class ProvisionedThroughputDeleter:
    """The only object that can delete a PT: built from a lister in a real run."""

    def __init__(self, lister: ProvisionedThroughputs):
        self.lister = lister

    def delete(self, model_id: str) -> DeleteResult:
        session = self.lister.session
        if reason := pt_name_reason(model_id):
            return DeleteResult("failed", None, 0, session.line(f"refusing {model_id!r}: {reason}"))
        client = session.client
        return session.delete_with(
            ("Provisioned Throughput", model_id),
            lambda: client.delete_provisioned_model_throughput(provisionedModelId=model_id),
            KIND.delete_answer,
            "refused: Bedrock says it conflicts (under commitment, or still changing?)",
        )

    def exists(self, model_id: str) -> bool:
        return self.lister.exists(model_id)


KIND = KindSpecOf(
    type="bedrock",
    kind="deployment",
    listed="Provisioned Throughputs (ListProvisionedModelThroughputs)",
    deleted="the Provisioned Throughput (DeleteProvisionedModelThroughput)",
    lister=ProvisionedThroughputs,
    deleter=ProvisionedThroughputDeleter,
    delete_answer=DeleteAnswer(),  # HTTP 200, no fields
    statuses=("InService", "Failed", "Creating", "Updating"),
    in_progress=frozenset({"Creating", "Updating"}),
    failed=frozenset({"Failed"}),
    has_base_model=True,
    serves_models=True,
    name_source="provisionedModelName",
    not_found_proof="error code ResourceNotFoundException",
    id_rule=pt_name_reason,
    tags=TagSource(TAGS, lambda lister, records: listed_tags(lister.session, records)),
    usage="cloudwatch",  # Invocations by ModelId: the PT's ARN
)

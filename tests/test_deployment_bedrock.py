"""Bedrock's ``kind: deployment`` (Provisioned Throughput) at the lister and deleter level:
boto3 through the real bedrock connection against the simulator's REST-JSON wire (moto does
not fake PTs). What a record maps (what it serves, model units, commitment), hostile
listings, each delete answer, and a lister that sends nothing mutating."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from runner.errors import OutcomeUnknown, ProviderError
from runner.providers import bedrock
from runner.providers.base import Billing
from runner.providers.bedrock_deployment import (
    KIND,
    UNREADABLE_COMMITMENT,
    ProvisionedThroughputDeleter,
    ProvisionedThroughputs,
)
from runner.simulator import Fault, Simulator, load_seed
from tests.conftest import NOW
from tests.test_bedrock import (  # noqa: F401 (autouse fixtures: fake credentials, loopback only, no back-off)
    assert_clean,
    aws_env,
    lister,
    loopback_only,
    no_backoff,
)

pytestmark = pytest.mark.timeout(60)

COMMITTED = datetime(2099, 1, 1, tzinfo=UTC)
LLAMA = "meta.llama3-1-8b-instruct-v1:0"
FOREIGN = "arn:aws:bedrock:us-east-1:999999999999:custom-model/x/abcdefabcdef"
SEED: dict[str, Any] = {
    "bedrock": {
        "model": [{"name": f"ft-{i}", "age_days": 10 + i} for i in range(5)],
        "deployment": [
            {
                "name": "pt-committed",
                "model": "ft-0",
                "modelUnits": 2,
                "commitmentDuration": "SixMonths",
                "commitmentExpirationTime": "2099-01-01T00:00:00.000Z",
                "age_days": 1,
            },
            {"name": "pt-free", "model": "ft-1", "age_days": 2},
            {"name": "pt-month", "model": "ft-2", "commitmentDuration": "OneMonth", "age_days": 3},
            {"name": "pt-failed", "model": "ft-3", "status": "Failed", "age_days": 4},
            {"name": "pt-base", "base": "amazon.titan-text-express-v1", "age_days": 5},
            {"name": "pt-updating", "model": "ft-3", "status": "Updating", "age_days": 6},
            {"name": "pt-foreign", "modelArn": FOREIGN, "desiredModelArn": FOREIGN, "age_days": 7},
        ],
    }
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    accounts = load_seed(SEED, NOW)
    # Being moved to another model: it serves both until the update is done.
    accounts.bedrock_pts["pt-updating"]["desiredModelArn"] = accounts.bedrock["ft-4"]["modelArn"]
    with Simulator(accounts) as server:
        yield server


def pts(sim: Simulator) -> tuple[ProvisionedThroughputs, ProvisionedThroughputDeleter]:
    listing = KIND.lister(lister(sim.base_url("bedrock")))
    assert isinstance(listing, ProvisionedThroughputs)
    deleter = KIND.deleter(listing)
    assert isinstance(deleter, ProvisionedThroughputDeleter)
    return listing, deleter


def mutating(sim: Simulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in sim.requests if r.mutating]


def test_lists_every_field_of_each_provisioned_throughput(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bedrock, "PAGE_SIZE", 2)  # 7 PTs in 4 pages, 5 models in 3
    records = {r.id: r for r in pts(sim)[0].list_models()}
    assert len(records) == 7
    committed = records["pt-committed"]
    assert (committed.name, committed.status, committed.lifecycle) == (
        "pt-committed",
        "InService",
        "ready",
    )
    assert committed.created_at == NOW - timedelta(days=1)
    assert committed.serves == ("ft-0",)  # the custom model's ARN, named by its modelName
    assert committed.billing == Billing(Decimal(2), "model unit", {"base_model": LLAMA})
    assert committed.base_model == LLAMA
    assert (committed.committed_until, committed.problem) == (COMMITTED, None)
    month = records["pt-month"]
    assert month.committed_until == month.created_at + timedelta(days=30)  # type: ignore[operator]
    free = records["pt-free"]
    assert (free.serves, free.committed_until, free.problem) == (("ft-1",), None, None)
    assert free.billing is not None and free.billing.units == 1
    assert records["pt-failed"].lifecycle == "failed"
    assert records["pt-base"].serves == ()  # a foundation model is none of the account's
    assert records["pt-base"].base_model == "amazon.titan-text-express-v1"
    updating = records["pt-updating"]
    assert (updating.lifecycle, updating.serves) == ("in_progress", ("ft-3", "ft-4"))
    # A model the account does not list keeps its ARN, for the engine to name.
    assert records["pt-foreign"].serves == (FOREIGN,)
    listed = [r.path.split("?")[0] for r in sim.requests]
    assert listed.count("/bedrock/provisioned-model-throughputs") == 4
    assert listed.count("/bedrock/custom-models") == 3
    assert mutating(sim) == []


def test_custom_models_are_not_listed_when_no_pt_serves_one(sim: Simulator) -> None:
    for name in list(sim.accounts.bedrock_pts):
        if name != "pt-base":
            del sim.accounts.bedrock_pts[name]
    assert [r.serves for r in pts(sim)[0].list_models()] == [()]
    assert [r.path.split("?")[0] for r in sim.requests] == [
        "/bedrock/provisioned-model-throughputs"
    ]


@pytest.mark.parametrize(
    ("changes", "billing"),
    [
        ({"modelUnits": 10**12}, None),  # absurd: unknown, never a made-up bill
        ({"modelUnits": -1}, None),
        ({"foundationModelArn": "arn:aws:bedrock:us-east-1::something-else/x"}, None),
        ({"modelUnits": 0}, Decimal(0)),
    ],
)
def test_unreadable_billing_is_unknown(
    sim: Simulator, changes: dict[str, Any], billing: Decimal | None
) -> None:
    sim.accounts.bedrock_pts["pt-free"].update(changes)
    (record,) = [r for r in pts(sim)[0].list_models() if r.id == "pt-free"]
    assert (record.billing.units if record.billing else None) == billing
    assert record.problem is None


def test_an_unreadable_commitment_keeps_the_pt(sim: Simulator) -> None:
    # A commitment with no end said: taken as running, never deleted.
    del sim.accounts.bedrock_pts["pt-month"]["commitmentExpirationTime"]
    hostile = dict(sim.accounts.bedrock_pts["pt-free"], provisionedModelName="pt<b>\x1b[2J")
    sim.accounts.bedrock_pts["pt<b>\x1b[2J"] = hostile
    records = {r.id: r for r in pts(sim)[0].list_models()}
    assert records["pt-month"].problem == UNREADABLE_COMMITMENT
    assert records["pt-month"].committed_until is None
    assert (records["pt<b>\x1b[2J"].problem or "").startswith(
        "provisionedModelName is not a Provisioned Throughput name"
    )


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"commitmentExpirationTime": "next tuesday"}, "unreadable answer"),
        ({"commitmentExpirationTime": [1]}, "unreadable answer"),
        ({"modelArn": None}, "has no readable modelArn"),
        ({"modelArn": 7}, "has no readable modelArn"),
    ],
)
def test_a_page_that_cannot_be_read_fails_the_listing(
    sim: Simulator, change: dict[str, Any], says: str
) -> None:
    sim.accounts.bedrock_pts["pt-committed"].update(change)
    if change.get("modelArn", "") is None:
        del sim.accounts.bedrock_pts["pt-committed"]["modelArn"]
    with pytest.raises(ProviderError) as caught:
        list(pts(sim)[0].list_models())
    message = str(caught.value)
    assert_clean(message)
    assert message.startswith("connection aws-test: listing Provisioned Throughputs"), message
    assert says in message


PATH = "/provisioned-model-throughputs"


@pytest.mark.parametrize(
    "fault",
    [
        Fault("body", path=PATH, status=200, body='{"provisionedModelSummaries": "x"}'),
        Fault(
            "body",
            path=PATH,
            status=200,
            body='{"provisionedModelSummaries": [], "nextToken": "t"}',
        ),
        Fault("garbage", path=PATH),
        Fault("status", path=PATH, status=403),
    ],
)
def test_a_listing_gone_wrong_is_one_clear_error(sim: Simulator, fault: Fault) -> None:
    sim.faults = [fault]
    with pytest.raises(ProviderError) as caught:
        list(pts(sim)[0].list_models())
    assert_clean(str(caught.value))
    assert "Provisioned Throughputs" in str(caught.value)


def test_deletes_and_reads_each_answer(sim: Simulator) -> None:
    listing, deleter = pts(sim)
    done = deleter.delete("pt-free")
    assert (done.result, done.http_status) == ("deleted", 200)
    assert sim.deleted == [("bedrock", "provisioned-model/pt-free")]
    assert not deleter.exists("pt-free") and listing.exists("pt-base")
    again = deleter.delete("pt-free")  # ResourceNotFoundException names it
    assert again.result == "already_absent"

    sim.faults = [Fault("body", method="DELETE", status=404, body="<html>no route</html>")]
    bare = deleter.delete("pt-base")  # a 404 without the code proves nothing
    assert (bare.result, bare.http_status) == ("failed", 404)

    sim.faults = [Fault("status", method="DELETE", status=409)]  # ConflictException
    busy = deleter.delete("pt-base")
    assert (busy.result, busy.http_status, busy.transient) == ("failed", 409, False)
    assert_clean(busy.error or "")
    assert (busy.error or "").startswith("refused: Bedrock says it conflicts")
    assert "pt-base" in sim.accounts.bedrock_pts

    refused = deleter.delete(FOREIGN)  # an ARN is not the name: never sent
    assert refused.result == "failed" and refused.http_status is None
    assert [r.method for r in sim.requests].count("DELETE") == 4


def test_a_lost_delete_answer_is_settled_by_lookup(sim: Simulator) -> None:
    _, deleter = pts(sim)
    sim.faults = [Fault("drop_after", method="DELETE", times=1)]
    # The retry's ResourceNotFoundException proves nothing: the lost attempt deleted it.
    with pytest.raises(OutcomeUnknown) as caught:
        deleter.delete("pt-free")
    assert caught.value.sent is True
    assert_clean(str(caught.value))
    assert not deleter.exists("pt-free")


def test_the_lister_sends_nothing_mutating(sim: Simulator) -> None:
    listing, _ = pts(sim)
    list(listing.list_models())
    assert listing.details("pt-committed")["commitmentExpirationTime"].startswith("2099-01-01")
    assert listing.exists("pt-free") and not listing.exists("pt-nope")
    with pytest.raises(ProviderError, match="does not exist"):
        listing.details("pt-nope")
    assert mutating(sim) == []
    assert not hasattr(listing, "delete")  # only the deleter, built in a real run, deletes


def test_the_kind_declares_its_facts() -> None:
    assert KIND.type == "bedrock" and KIND.kind == "deployment" and KIND.serves_models
    assert KIND.lifecycle("Creating") == "in_progress"
    assert KIND.lifecycle("Deleting") == "unknown"
    assert KIND.id_rule("pt-free") is None
    assert KIND.id_rule(FOREIGN) and KIND.id_rule("a" * 64) and KIND.id_rule("pt\n")

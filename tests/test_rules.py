"""Selection semantics as the README fixes them (plan: "How rules combine"): pure
functions, no HTTP. Property tests of the same rules are in test_rules_properties."""

import dataclasses
from datetime import UTC, datetime, timedelta

from runner.jobfile.model import Job, Target
from runner.providers.base import ModelRecord
from runner.providers.cohere import MODEL as COHERE
from runner.rules import plan_job
from runner.usage import Seen

NOW = datetime(2026, 6, 1, tzinfo=UTC)
SPECS = {("c", "model"): COHERE}
D30 = timedelta(days=30)


def model(
    mid: str, days: float, status: str = "STATUS_READY", name: str | None = None
) -> ModelRecord:
    return ModelRecord(
        id=mid,
        name=name or mid,
        status=status,
        lifecycle=COHERE.lifecycle(status),
        created_at=NOW - timedelta(days=days),
    )


def decide(
    targets: list[Target], records: list[ModelRecord], limit: int = 50
) -> dict[str, tuple[str, str]]:
    plan = plan_job(
        Job("j", tuple(targets), max_deletions=limit), {("c", "model"): records}, SPECS, NOW
    )
    return {d.ref.id: (d.action, d.reason) for d in plan.decisions}


def older(days: int = 30, **kw: object) -> Target:
    return Target(connection="c", older_than=timedelta(days=days), older_than_text=f"{days}d", **kw)  # type: ignore[arg-type]


def test_older_than_is_strictly_greater() -> None:
    exactly = ModelRecord(id="a", name="a", status="STATUS_READY", created_at=NOW - D30)
    just_over = ModelRecord(
        id="b", name="b", status="STATUS_READY", created_at=NOW - D30 - timedelta(seconds=1)
    )
    got = decide([older()], [exactly, just_over])
    assert got["a"][0] == "keep" and got["a"][1].startswith("too young")
    assert got["b"][0] == "delete" and got["b"][1].startswith("older_than 30d: created")


def test_deleted_and_in_progress_are_never_selected_by_default() -> None:
    records = [
        model(s, 99, s)
        for s in (
            "STATUS_DELETED",
            "STATUS_FINETUNING",
            "STATUS_QUEUED",
            "STATUS_DEPLOYING_API",
            "STATUS_PAUSED",
        )
    ]
    got = decide([older()], records)
    assert {k for k, v in got.items() if v[0] == "delete"} == {"STATUS_PAUSED"}


def test_a_status_rule_selects_in_progress_on_purpose_but_never_deleted() -> None:
    records = [model("q", 99, "STATUS_QUEUED"), model("d", 99, "STATUS_DELETED")]
    got = decide([Target(connection="c", status=("STATUS_QUEUED", "STATUS_DELETED"))], records)
    assert got["q"][0] == "delete" and got["d"][0] == "nomatch"


def test_protect_first_then_keep_latest_without_using_a_slot() -> None:
    records = [model(f"m{i}", 100 - i) for i in range(6)]  # m5 newest
    target = older(keep_latest=2, protect=("m5", "m0"))
    got = decide([target], records)
    assert got["m5"] == ("keep", "protected") and got["m0"] == ("keep", "protected")
    assert got["m4"][0] == got["m3"][0] == "keep" and "among the 2 newest" in got["m4"][1]
    assert got["m2"][0] == got["m1"][0] == "delete"


def test_protect_by_name_and_across_targets() -> None:
    records = [
        model("id-1", 99, "STATUS_FAILED", name="prod-chat"),
        model("id-2", 99, "STATUS_FAILED"),
    ]
    targets = [Target(connection="c", status=("STATUS_FAILED",)), older(protect=("prod-chat",))]
    got = decide(targets, records)
    assert got["id-1"] == ("keep", "protected") and got["id-2"][0] == "delete"


def test_rules_and_inside_a_target_or_across_targets() -> None:
    records = [
        model("exp-old", 99),
        model("exp-new", 1),
        model("other-old", 99),
        model("failed-new", 1, "STATUS_FAILED"),
    ]
    got = decide([older(name="exp-*"), Target(connection="c", status=("STATUS_FAILED",))], records)
    assert {k for k, v in got.items() if v[0] == "delete"} == {"exp-old", "failed-new"}
    assert got["other-old"] == ("nomatch", "name 'other-old' does not match 'exp-*'")


def test_explicit_ids_present_missing_protected_and_deleted() -> None:
    records = [model("a", 1), model("p", 1), model("gone", 1, "STATUS_DELETED")]
    got = decide(
        [Target(connection="c", ids=("a", "missing", "p", "gone"), protect=("p",))], records
    )
    assert got["a"] == ("delete", "listed by ID")
    assert got["missing"] == ("absent", "listed by ID, not found at provider")
    assert got["p"] == ("keep", "protected")
    assert got["gone"][0] == "absent"


def test_max_deletions_blocks_every_delete() -> None:
    records = [model(f"m{i}", 99) for i in range(5)]
    plan = plan_job(Job("j", (older(),), max_deletions=4), {("c", "model"): records}, SPECS, NOW)
    assert plan.deletes == []
    assert (
        plan.limit_message is not None
        and "would delete 5 models, over its max_deletions of 4" in plan.limit_message
    )
    assert all(d.action == "blocked" for d in plan.decisions)
    assert all(d.reason.startswith("blocked by the limit") for d in plan.decisions)


def test_missing_ids_do_not_count_toward_the_limit() -> None:
    plan = plan_job(
        Job("j", (Target(connection="c", ids=("x", "y", "z")),), max_deletions=0),
        {("c", "model"): []},
        SPECS,
        NOW,
    )
    assert plan.limit_message is None


def test_unsafe_and_unusable_provider_records_are_skipped() -> None:
    records = [
        model("../x", 99),
        ModelRecord(id="", problem="listed item has no id"),
        model("ok", 99),
    ]
    got = decide([Target(connection="c", match_all=True)], records)
    assert got["../x"][0] == "skip" and "unsafe ID" in got["../x"][1]
    assert got["ok"] == ("delete", "match_all")
    assert sum(1 for v in got.values() if v == ("skip", "listed item has no id")) == 1


def test_first_sighting_ages_and_note() -> None:
    fresh = ModelRecord(id="lora", name="lora", first_seen=NOW)
    seasoned = ModelRecord(id="old", name="old", first_seen=NOW - timedelta(days=20))
    plan = plan_job(Job("j", (older(14),)), {("c", "model"): [fresh, seasoned]}, SPECS, NOW)
    got = {d.ref.id: d for d in plan.decisions}
    assert got["old"].action == "delete" and got["old"].reason.startswith(
        "older_than 14d: first seen"
    )
    assert got["lora"].action == "keep" and got["lora"].age_basis == "first seen"
    assert plan.notes == [
        "c: 1 models seen for the first time; this provider reports no creation time,"
        " so their age counts from now and age rules select none of them yet"
    ]


def test_naming_an_unusable_model_by_id_never_deletes_it() -> None:
    broken = ModelRecord(id="m1", name="m1", problem="base model: never deleted")
    got = decide([Target(connection="c", ids=("m1",))], [broken])
    assert got["m1"] == ("skip", "base model: never deleted")


def test_an_ids_only_job_still_decides_about_every_listed_model() -> None:
    records = [model("a", 99), model("b", 99), model("c", 99, name="keepme")]
    got = decide([Target(connection="c", ids=("a",), protect=("keepme",))], records)
    assert got == {
        "a": ("delete", "listed by ID"),
        "b": ("nomatch", "not named in ids"),
        "c": ("keep", "protected"),
    }


def test_unused_for_counts_from_last_use_or_from_creation_when_never_used() -> None:
    rule = Target(connection="c", unused_for=timedelta(days=60), unused_for_text="60d")
    # The usage Cohere's listing source reads (runner.usage.listing): its whole life.
    used_lately = dataclasses.replace(model("a", 400), usage=Seen(NOW - timedelta(days=10)))
    used_long_ago = dataclasses.replace(model("b", 400), usage=Seen(NOW - timedelta(days=90)))
    never_used_old = dataclasses.replace(model("c", 100), usage=Seen(None))
    never_used_new = dataclasses.replace(model("d", 20), usage=Seen(None))
    got = decide([rule], [used_lately, used_long_ago, never_used_old, never_used_new])
    assert got["a"][0] == "keep" and "last used" in got["a"][1]
    assert got["b"] == ("delete", "unused_for 60d: last used 2026-03-03 (90d ago)")
    assert got["c"][0] == "delete" and "never used; created" in got["c"][1]
    assert got["d"][0] == "keep"

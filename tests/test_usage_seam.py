"""The usage seam (issue 18, first part): a kind names its usage source, the engine reads
it once per connection, the planner gets it as data, and an unreadable source never
reads as "unused"."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.jobfile.model import Job, Target
from runner.providers import REGISTRY as PROVIDERS
from runner.providers.base import ModelRecord
from runner.providers.cohere import MODEL as COHERE
from runner.ref import ResourceRef
from runner.rules import plan_job
from runner.simulator import Simulator
from runner.usage import REGISTRY as USAGE
from runner.usage import Seen, Unknown
from tests.helpers import (
    NOW_ARG,
    RefusingUsage,
    cli,
    demo_connections,
    job_yaml,
    one_job,
    refuse_usage,
    used_at,
    write_job,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
RULE = Target(connection="c", unused_for=30 * DAY, unused_for_text="30d")


def _record(model_id: str, age_days: int, usage: Seen | Unknown | None) -> ModelRecord:
    return ModelRecord(
        id=model_id, status="STATUS_READY", created_at=NOW - age_days * DAY, usage=usage
    )


def _decide(*records: ModelRecord, usage: Any = None) -> dict[str, tuple[str, str]]:
    reads = None if usage is None else {("c", "model"): usage}
    plan = plan_job(
        Job("j", (RULE,)), {("c", "model"): list(records)}, {("c", "model"): COHERE}, NOW,
        usage=reads,
    )  # fmt: skip
    return {d.ref.id: (d.action, d.reason) for d in plan.decisions}


# -- the facts -----------------------------------------------------------------------------


def test_every_kinds_usage_source_is_registered_and_cohere_reads_its_listing() -> None:
    named = {
        (p.type, k.kind): k.usage for p in PROVIDERS.values() for k in p.kinds.values() if k.usage
    }
    assert named == {
        ("cohere", "model"): "listing",
        ("openai", "model"): "openai_usage",
        ("bedrock", "model"): "cloudwatch",
        ("bedrock", "deployment"): "cloudwatch",
        ("azure_openai", "model"): "azure_monitor_models",
        ("azure_openai", "deployment"): "azure_monitor",
    }
    assert all(name in USAGE for name in named.values())


def test_the_listing_source_vouches_for_the_whole_life() -> None:
    used = ModelRecord(id="a", last_used=NOW - 3 * DAY)
    refs = [(ResourceRef.on("c", r.id), r) for r in (used, ModelRecord(id="b"))]
    seen = USAGE["listing"].read(None, refs, NOW - 30 * DAY, NOW)
    assert seen == {refs[0][0]: Seen(NOW - 3 * DAY), refs[1][0]: Seen(None)}


# -- the semantics, as data --------------------------------------------------------------


def test_the_reason_says_what_the_read_saw() -> None:
    window = NOW - 30 * DAY
    got = _decide(
        _record("last", 200, Seen(NOW - 93 * DAY)),
        _record("window", 200, Seen(None, since=window)),
        _record("life", 200, Seen(None)),
        _record("covered", 50, Seen(None, since=NOW - 60 * DAY)),
    )
    assert got["last"] == ("delete", "unused_for 30d: last used 2026-02-28 (93d ago)")
    assert got["window"] == ("delete", "unused_for 30d: no use in 30d")
    assert got["life"] == ("delete", "unused_for 30d: never used; created 2025-11-13 (200d ago)")
    # A read reaching back past its creation saw its whole life: "never used" is true.
    assert got["covered"][1].startswith("unused_for 30d: never used; created")


def test_used_lately_young_and_future_uses_are_kept() -> None:
    got = _decide(
        _record("used", 200, Seen(NOW - 5 * DAY)),
        _record("young", 10, Seen(None)),
        _record("skewed", 200, Seen(NOW + 2 * DAY, since=NOW - 30 * DAY)),
    )
    assert got["used"] == ("keep", "last used 2026-05-27 (5d ago), within unused_for 30d")
    assert got["young"][0] == "keep" and got["young"][1].startswith("too young: created")
    assert got["skewed"] == ("keep", "last used 2026-06-03, after the rules' clock")


def test_what_cannot_be_read_is_skipped_never_unused() -> None:
    short = Seen(None, since=NOW - 7 * DAY)  # covers less than the rule's 30 days
    got = _decide(_record("short", 200, short), _record("unread", 200, None))
    assert got["short"] == (
        "skip", "usage unknown: the read covers only since 2026-05-25, not unused_for 30d"
    )  # fmt: skip
    assert got["unread"] == ("skip", "usage unknown: not read")


def test_a_failed_read_skips_the_whole_connection_and_makes_the_plan_partial() -> None:
    records = [_record("a", 200, None), _record("b", 5, None)]
    plan = plan_job(
        Job("j", (RULE,)), {("c", "model"): records}, {("c", "model"): COHERE}, NOW,
        usage={("c", "model"): Unknown("refused (403)")},
    )  # fmt: skip
    got = {d.ref.id: (d.action, d.reason) for d in plan.decisions}
    assert got["a"] == ("skip", "usage unknown: refused (403)")
    assert not plan.deletes
    assert plan.unread == [
        "c: usage unknown: refused (403); nothing there is selected by unused_for"
    ]


def test_an_item_the_read_left_out_is_unknown() -> None:
    old = _record("a", 200, None)
    got = _decide(old, usage={})  # the read answered for nothing
    assert got["a"] == ("skip", "usage unknown: the usage read did not answer for it")


# -- through the CLI, against the simulator ------------------------------------------------


pytestmark = pytest.mark.usefixtures("keys")  # every simulated type's key (conftest)


@pytest.fixture
def refusing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cohere's models read their usage from a source that fails, for this test only."""
    refuse_usage(monkeypatch)


TARGETS = [
    "{provider: cohere, unused_for: 30d}",
    "{provider: bfl, ids: [scratch-lora-1]}",
]


def _job(tmp_path: Path, sim: Simulator) -> str:
    return write_job(tmp_path, job_yaml(demo_connections(sim.url), one_job("idle", TARGETS)))


def test_cohere_usage_through_the_seam_end_to_end(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    used_at(sim, "sim-cohere-0001", NOW - 100 * DAY)
    used_at(sim, "sim-cohere-0002", NOW - 5 * DAY)
    code, out, err = cli(capsys, "plan", _job(tmp_path, sim), "--json", "--now", NOW_ARG)
    assert code == 0, err
    (entry,) = json.loads(out)["jobs"]
    got = {d["id"]: (d["decision"], d["reason"]) for d in entry["decisions"]}
    assert got["sim-cohere-0001"] == ("delete", "unused_for 30d: last used 2026-02-21 (100d ago)")
    assert got["sim-cohere-0002"][0] == "keep"
    assert got["sim-cohere-0003"][1].startswith("unused_for 30d: never used; created")
    assert got["sim-cohere-0007"][0] == "keep"  # 3 days old: too young


@pytest.mark.parametrize("dry", [True, False], ids=["plan", "run"])
def test_an_unreadable_usage_source_skips_its_connection_and_ends_partial(
    tmp_path: Path,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
    refusing: None,
    dry: bool,
) -> None:
    job = _job(tmp_path, sim)
    args = ["plan", job] if dry else ["run", job, "--yes"]
    code, out, err = cli(capsys, *args, "--json", "--now", NOW_ARG)
    assert code == 1, err
    (entry,) = json.loads(out)["jobs"]
    assert entry["end"]["status"] == "partial"
    assert "cohere: usage unknown: test-refusing: refused (403)" in entry["end"]["message"]
    assert entry["notes"] == [entry["end"]["message"]]  # the text plan tells it too
    got = {d["id"]: (d["decision"], d["reason"]) for d in entry["decisions"]}
    why = "usage unknown: test-refusing: refused (403): an admin key is needed"
    assert got["sim-cohere-0001"] == ("skip", why)
    assert got["sim-cohere-0012"] == ("skip", why)
    assert not [
        i for i, (action, _) in got.items() if i.startswith("sim-cohere") and action == "delete"
    ]
    assert RefusingUsage.calls == 1  # once per connection and run
    # The other target goes on: the BFL model named by ID is deleted in a real run.
    assert got["scratch-lora-1"][0] == "delete"
    deleted = [(m.method, m.path) for m in sim.mutations()]
    assert not [p for _, p in deleted if "finetuned-models" in p]
    assert bool(deleted) is not dry


def test_unused_for_without_a_usage_source_is_invalid_naming_the_types_that_have_one(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    conns = {"t": {"type": "together", "base_url": sim.url, "requests_per_minute": 600000}}
    targets = ["{provider: t, kind: deployment, unused_for: 30d}"]
    job = write_job(tmp_path, job_yaml(conns, one_job("j", targets)))
    code, _, err = cli(capsys, "validate", job)
    assert code == 2
    assert "unused_for: together does not report last use" in err
    assert "(types that do: azure_openai, bedrock)" in err  # deployment kinds with usage

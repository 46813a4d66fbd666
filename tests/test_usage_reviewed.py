"""Real use in the audit and in reviewed plans (issue 18, last part), through the CLI
against the simulator: an unused_for selection records the last use it rested on and its
source, a reviewed plan carries them under its hash and signature, and ``run --plan`` reads
usage again and never deletes what was used since the review, or what it cannot read."""

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.audit import read_records
from runner.clock import parse_instant
from runner.jobfile.model import Job, Target
from runner.providers import REGISTRY as PROVIDERS
from runner.providers.base import ModelRecord
from runner.ref import ResourceRef
from runner.rules import UsageReviewed, plan_job
from runner.simulator import Simulator
from runner.usage import LastUse, Seen
from tests.helpers import (
    NOW_ARG,
    RefusingUsage,
    cli,
    demo_connections,
    job_yaml,
    one_job,
    plan_decisions,
    refuse_usage,
    used_at,
    write_job,
)
from tests.test_planfile import resign

pytestmark = pytest.mark.usefixtures("keys")  # every simulated type's key (conftest)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)
IDLE = "{provider: cohere, unused_for: 30d}"
USED_LONG_AGO = "sim-cohere-0001"  # last used 100 days before NOW (set by each test)
NEVER_USED = "sim-cohere-0003"  # created long before NOW, never used


def _reviewed(
    tmp_path: Path,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
    targets: tuple[str, ...] = (IDLE,),
) -> tuple[str, Path]:
    """A job of ``targets`` and its reviewed plan, made at NOW; nothing sent."""
    used_at(sim, USED_LONG_AGO, NOW - 100 * DAY)
    job = write_job(tmp_path, job_yaml(demo_connections(sim.url), one_job("idle", [*targets])))
    out = tmp_path / "plan.json"
    code, _, err = cli(capsys, "plan", job, "--now", NOW_ARG, "--out", str(out))
    assert code == 0, err
    assert sim.mutations() == []
    return job, out


def _entries(out: Path) -> dict[str, dict[str, Any]]:
    (job,) = json.loads(out.read_text())["jobs"]
    return {d["model_id"]: d for d in job["deletes"]}


def _apply(
    capsys: pytest.CaptureFixture[str], job: str, out: Path, now: str = NOW_ARG
) -> tuple[int, dict[str, Any]]:
    code, printed, _ = cli(capsys, "run", job, "--plan", str(out), "--yes", "--json", "--now", now)
    (entry,) = json.loads(printed)["jobs"]
    return code, entry


def _deleted_ids(sim: Simulator) -> set[str]:
    return {model_id for _, model_id in sim.deleted}


def _drift(entry: dict[str, Any]) -> dict[str, str]:
    return {d["id"]: d["reason"] for d in entry["drift"]}


def test_the_plan_file_and_the_audit_carry_the_last_use_and_its_source(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    job, out = _reviewed(tmp_path, sim, capsys)
    entries = _entries(out)
    used = entries[USED_LONG_AGO]
    assert used["usage_source"] == "listing"
    assert parse_instant(used["last_used"]) == NOW - 100 * DAY
    assert entries[NEVER_USED]["last_used"] is None
    assert entries[NEVER_USED]["usage_source"] == "listing"
    planned = {
        r["model_id"]: r
        for r in read_records(tmp_path / "audit" / "ftjanitor.jsonl")
        if r["event"] == "delete.planned"
    }
    assert planned.keys() == entries.keys()
    shown_in_json = plan_decisions(capsys, job)  # plan --json tells the same
    for model_id, record in planned.items():
        assert (shown_in_json[model_id]["last_used"], shown_in_json[model_id]["usage_source"]) == (
            record["last_used"],
            record["usage_source"],
        )
        assert (record["last_used"], record["usage_source"]) == (
            entries[model_id]["last_used"],
            entries[model_id]["usage_source"],
        )
    # The chain verifies, shows and exports with them, as with logs that lack them.
    assert cli(capsys, "audit", "verify", "--job-file", job)[0] == 0
    code, shown, _ = cli(capsys, "audit", "show", "--job-file", job, "--json")
    assert code == 0 and '"usage_source": "listing"' in shown
    code, exported, _ = cli(capsys, "audit", "export", "--job-file", job)
    assert code == 0
    assert [json.loads(line) for line in exported.splitlines()] == list(
        read_records(tmp_path / "audit" / "ftjanitor.jsonl")
    )


def test_unchanged_use_applies_the_whole_reviewed_plan_and_audits_the_fresh_read(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    job, out = _reviewed(tmp_path, sim, capsys)
    code, entry = _apply(capsys, job, out)
    assert code == 0 and entry["end"]["status"] == "ok"
    assert _deleted_ids(sim) == set(_entries(out))
    assert entry["drift"] == []
    records = list(read_records(tmp_path / "audit" / "ftjanitor.jsonl"))
    run_id = [r for r in records if r["event"] == "run.start" and not r["dry_run"]][-1]["run_id"]
    planned = [r for r in records if r["event"] == "delete.planned" and r["run_id"] == run_id]
    assert {r["model_id"]: r["last_used"] for r in planned} == {
        k: v["last_used"] for k, v in _entries(out).items()
    }


def test_a_model_used_since_the_review_is_kept_whether_or_not_the_rule_still_selects_it(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    job, out = _reviewed(tmp_path, sim, capsys)
    # After review: one model is used within the rule's 30 days (the rule no longer selects
    # it), and one never-used model shows a use the plan did not see, older than 30 days
    # (a late report: the rule alone would still select it).
    used_at(sim, USED_LONG_AGO, NOW - 2 * DAY)
    used_at(sim, NEVER_USED, NOW - 40 * DAY)
    code, entry = _apply(capsys, job, out)
    assert code == 0, entry["end"]
    drift = _drift(entry)
    assert drift[USED_LONG_AGO] == (
        "in the reviewed plan, used since the plan: last used 2026-05-30 (the plan saw 2026-02-21)"
    )
    assert drift[NEVER_USED] == (
        "in the reviewed plan, used since the plan: last used 2026-04-22 (the plan saw no use)"
    )
    decisions = {d["id"]: d for d in entry["decisions"]}
    assert decisions[NEVER_USED]["decision"] == "skip"
    assert decisions[NEVER_USED]["reason"].startswith("used since the plan")
    kept = {USED_LONG_AGO, NEVER_USED}
    assert not kept & _deleted_ids(sim)
    assert not [m for m in sim.mutations() if any(k in m.path for k in kept)]
    assert _deleted_ids(sim) == set(_entries(out)) - kept  # the others go as reviewed


def test_when_every_reviewed_model_was_used_since_nothing_is_sent(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    job, out = _reviewed(tmp_path, sim, capsys)
    for model_id in _entries(out):
        used_at(sim, model_id, NOW - 35 * DAY)  # later than the plan saw, yet still idle
    code, entry = _apply(capsys, job, out)
    assert code == 0
    assert set(_drift(entry)) == set(_entries(out))
    assert all("used since the plan" in why for why in _drift(entry).values())
    assert sim.mutations() == []


def test_usage_unreadable_at_apply_keeps_every_reviewed_entry_partial_exit_1(
    tmp_path: Path,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job, out = _reviewed(tmp_path, sim, capsys)
    refuse_usage(monkeypatch)  # reviewed with a readable source; applied with a failing one
    code, entry = _apply(capsys, job, out)
    assert code == 1
    assert entry["end"]["status"] == "partial"
    assert "usage unknown: test-refusing: refused (403)" in entry["end"]["message"]
    assert set(_drift(entry)) == set(_entries(out))
    assert all("usage unknown: test-refusing" in why for why in _drift(entry).values())
    assert RefusingUsage.calls == 1
    assert sim.mutations() == []


def test_an_entry_chosen_for_its_use_is_kept_unread_even_when_another_rule_selects_it(
    tmp_path: Path,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The review rested on non-use: an age rule selecting the same model now does not
    stand in for a usage read that failed."""
    job, out = _reviewed(tmp_path, sim, capsys, (IDLE, "{provider: cohere, older_than: 30d}"))
    by_use = {k for k, v in _entries(out).items() if "usage_source" in v}
    assert USED_LONG_AGO in by_use
    refuse_usage(monkeypatch)
    code, entry = _apply(capsys, job, out)
    assert code == 1 and entry["end"]["status"] == "partial"
    decisions = {d["id"]: d for d in entry["decisions"]}
    assert decisions[USED_LONG_AGO]["decision"] == "skip"
    assert decisions[USED_LONG_AGO]["reason"].startswith("usage unknown: test-refusing")
    assert not by_use & _deleted_ids(sim)
    assert not [m for m in sim.mutations() if any(k in m.path for k in by_use)]


def test_a_signed_plan_whose_last_use_was_edited_is_refused_nothing_sent(
    tmp_path: Path,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FTJANITOR_PLAN_KEY", "k" * 32)
    job, out = _reviewed(tmp_path, sim, capsys)
    body = json.loads(out.read_text())
    # Moving the recorded last use later would hide a use since the review.
    body["jobs"][0]["deletes"][0]["last_used"] = "2026-05-31T00:00:00Z"
    resign(out, body)  # the sha256 agrees again; only the signature can tell
    code, printed, err = cli(capsys, "run", job, "--plan", str(out), "--yes", "--now", NOW_ARG)
    assert code == 2
    assert "signature does not match" in err and printed == ""
    assert sim.mutations() == []


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        ({"usage_source": "listing"}, "does not fit the plan format"),  # without last_used
        ({"last_used": None}, "does not fit the plan format"),  # without usage_source
        ({"last_used": "yesterday", "usage_source": "listing"}, "last_used"),
        ({"last_used": None, "usage_source": ""}, "usage_source"),
    ],
)
def test_a_plan_entry_with_malformed_usage_fields_is_refused(
    tmp_path: Path,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
    edit: dict[str, Any],
    problem: str,
) -> None:
    job, out = _reviewed(tmp_path, sim, capsys)
    body = json.loads(out.read_text())
    entry = body["jobs"][0]["deletes"][0]
    entry.pop("last_used")
    entry.pop("usage_source")
    entry.update(edit)
    resign(out, body)
    code, _, err = cli(capsys, "run", job, "--plan", str(out), "--yes", "--now", NOW_ARG)
    assert code == 2
    assert problem in err and err.count("\n") == 1
    assert sim.mutations() == []


def test_a_plan_without_the_usage_fields_still_applies_and_still_guards_later_uses(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan of 0.2 (or made before the fields) applies; a use after the plan was made
    still keeps its model, even where the rule alone would select it again."""
    job, out = _reviewed(tmp_path, sim, capsys)
    body = json.loads(out.read_text())
    for entry in body["jobs"][0]["deletes"]:
        del entry["last_used"], entry["usage_source"]
    resign(out, body)
    used_at(sim, NEVER_USED, NOW + DAY)  # after the plan's clock
    # Applied 40 days on: that use is outside the rule's 30 days, so the rule selects it.
    code, entry = _apply(capsys, job, out, "2026-07-11T12:00:00Z")
    assert code == 0
    assert _drift(entry)[NEVER_USED] == (
        "in the reviewed plan, used since the plan: last used 2026-06-02 (the plan saw no use)"
    )
    assert _deleted_ids(sim) == set(_entries(out)) - {NEVER_USED}


# -- deployments planned for a model (with_deployments), as data -----------------------------


def test_a_model_used_since_the_review_keeps_the_deployment_planned_for_it() -> None:
    """Deleting the deployment of a model that is in use would take it out of service."""
    together = PROVIDERS["together"]
    models, endpoints = ("t", "model"), ("t", "deployment")
    specs = {
        models: dataclasses.replace(together.kinds["model"], usage="listing"),
        endpoints: together.kinds["deployment"],
    }
    old = NOW - 90 * DAY
    model = ModelRecord(id="ft-1", status="completed", created_at=old)
    endpoint = ModelRecord(id="endpoint-1", status="STARTED", created_at=old, serves=("ft-1",))
    model_ref, endpoint_ref = (
        ResourceRef.on("t", "ft-1"),
        ResourceRef.on("t", "endpoint-1", "deployment"),
    )
    target = Target("t", unused_for=30 * DAY, unused_for_text="30d", with_deployments=True)

    def plan(fresh: Seen) -> dict[ResourceRef, tuple[str, str]]:
        got = plan_job(
            Job("idle", (target,)),
            {models: [model], endpoints: [endpoint]},
            specs,
            NOW,
            usage={models: {model_ref: fresh}},
            reviewed={model_ref, endpoint_ref},
            reviewed_usage=UsageReviewed({model_ref: LastUse("listing", NOW - 100 * DAY)}, NOW),
        )
        return {d.ref: (d.action, d.reason) for d in got.decisions}

    unchanged = plan(Seen(NOW - 100 * DAY))
    assert unchanged[model_ref][0] == unchanged[endpoint_ref][0] == "delete"
    used = plan(Seen(NOW - 40 * DAY))  # a use the plan did not see, still older than 30d
    why = "used since the plan: last used 2026-04-22 (the plan saw 2026-02-21)"
    assert used[model_ref] == ("skip", why)
    assert used[endpoint_ref] == ("skip", f"its model ft-1 is kept: {why}")

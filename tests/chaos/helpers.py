"""The promises every chaos and crash scenario must keep, checked in one place."""

import sqlite3
from pathlib import Path
from typing import Any

from runner.audit import read_records, verify
from runner.simulator import Simulator
from tests.helpers import TEST_PACE, job_yaml, one_job


def job_text(url: str, concurrency: int = 4) -> str:
    fields = {"base_url": url, "concurrency": concurrency, "requests_per_minute": TEST_PACE}
    targets = [
        '{provider: cohere, name: "old-*", older_than: 30d}',
        "{provider: bfl, ids: [lora-000, lora-002, lora-004, lora-006, lora-008]}",
    ]
    return job_yaml(
        {"cohere": fields, "bfl": fields}, one_job("chaos", targets, max_deletions=1000)
    )


def check_promises(sim: Simulator, folder: Path, planned: set[tuple[str, str]]) -> dict[str, int]:
    """After any mix of faults and crashes. Returns counts for the tally."""
    log = folder / "audit" / "ftjanitor.jsonl"
    records = list(read_records(log))
    verdict = verify(log)
    assert verdict.ok, verdict.message
    deleted = list(sim.deleted)
    assert len(deleted) == len(set(deleted)), "a model was deleted twice"
    assert set(deleted) <= planned, f"touched outside the plan: {set(deleted) - planned}"
    intents = {(r["provider"], r["model_id"]) for r in records if r["event"] == "delete.intent"}
    assert set(deleted) <= intents, "deleted without a recorded intent"
    assert orphan_intents(log) == [], "an intent left without outcome or reconciliation"
    outcomes = {
        (r["provider"], r["model_id"]): r for r in records if r["event"] == "delete.outcome"
    }
    for key in planned - set(deleted):
        # Still there: it must have been reported, never claimed deleted.
        outcome = outcomes.get(key)
        assert outcome is None or outcome["result"] != "deleted", (
            f"{key} claimed deleted, still exists"
        )
    for key, outcome in outcomes.items():
        if outcome["result"] == "deleted":
            assert key in deleted, f"{key} reported deleted but the server never deleted it"
    state = sqlite3.connect(folder / "state" / "ftjanitor.sqlite3")
    assert state.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    state.close()
    return {"deleted": len(deleted), "records": len(records)}


def orphan_intents(path: Path) -> list[dict[str, Any]]:
    """delete.intent records with neither an outcome nor a reconciliation after them."""
    open_intents: dict[tuple[Any, Any, Any], dict[str, Any]] = {}
    for record in read_records(path):
        event = record.get("event")
        key = (record.get("run_id"), record.get("provider"), record.get("model_id"))
        if event == "delete.intent":
            open_intents[key] = record
        elif event == "delete.outcome":
            open_intents.pop(key, None)
        elif event == "delete.reconciled":
            key = (record.get("intent_run_id"), record.get("provider"), record.get("model_id"))
            open_intents.pop(key, None)
    return list(open_intents.values())

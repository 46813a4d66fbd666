"""Together AI through real HTTP against the simulator: the provider, then the engine."""

from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.providers import REGISTRY
from runner.simulator import Simulator, load_seed
from tests.conftest import NOW, Both, provider
from tests.helpers import planned, run_now, selector, simulator_job

KEY = "sim-together-key-4c1e"
LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
MISTRAL = "mistralai/Mistral-7B-Instruct-v0.2"
SEED: dict[str, Any] = {
    "together": [
        {"id": "ft-job-0001", "suffix": "exp-sweep-1", "status": "completed", "age_days": 70},
        {"id": "ft-job-0002", "suffix": "exp-sweep-2", "status": "error", "age_days": 65},
        {
            "id": "ft-job-0003",
            "suffix": "support-v1",
            "model": MISTRAL,
            "status": "completed",
            "age_days": 20,
        },
        {"id": "ft-job-0004", "suffix": "exp-now", "status": "running", "age_days": 40},
        {
            "id": "ft-job-0005",
            "model": MISTRAL,
            "model_output_name": "acme/Mistral-7B-exp-x-0005",
            "status": "cancelled",
            "age_days": 50,
        },
        {"id": "ft-job-0006", "suffix": "exp-bad", "status": "user_error", "age_days": 80},
        {"id": "ft-job-0007", "suffix": "exp-queue", "status": "queued", "age_days": 45},
        {"id": "ft-job-0008", "suffix": "exp-fresh", "status": "completed", "age_days": 5},
    ]
}
IN_PROGRESS = {"ft-job-0004", "ft-job-0007"}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(load_seed(SEED, NOW), keys={"together": KEY}) as server:
        yield server


def together(sim: Simulator, key: str = KEY, base_url: str | None = None) -> Both:
    return provider(sim, "together", key, base_url=base_url or sim.base_url("together"))


# -- the provider ---------------------------------------------------------------------


def test_every_seeded_job_is_parsed(sim: Simulator) -> None:
    records = {r.id: r for r in together(sim).list_models()}
    assert sorted(records) == [f"ft-job-000{i}" for i in range(1, 9)]
    first = records["ft-job-0001"]
    assert (first.name, first.status, first.lifecycle) == ("exp-sweep-1", "completed", "ready")
    assert first.created_at == NOW - timedelta(days=70) and first.created_at.tzinfo is UTC
    assert (first.base_model, first.problem) == (LLAMA, None)
    assert records["ft-job-0003"].base_model == MISTRAL
    # No suffix: the name falls back to the output model's name.
    assert records["ft-job-0005"].name == "acme/Mistral-7B-exp-x-0005"
    lifecycles = {i: r.lifecycle for i, r in records.items()}
    assert {i for i, c in lifecycles.items() if c == "in_progress"} == IN_PROGRESS
    assert {i for i, c in lifecycles.items() if c == "failed"} == {
        "ft-job-0002",
        "ft-job-0005",
        "ft-job-0006",
    }


def test_hostile_items_become_records_with_a_problem_never_a_crash(sim: Simulator) -> None:
    hostile: dict[str, Any] = {
        "a": 42,
        "b": ["ft-job-in-a-list"],
        "c": {"suffix": "no id"},
        "d": {"id": 123456789012345678901234567890},
        "e": {"id": "ft-ctl\x07\x1b[31m", "suffix": "bell\x07"},
        "f": {"id": "ft-huge", "created_at": 10**400, "suffix": 10**300, "status": ["x"]},
        "g": {"id": "ft-min"},
        "h": {"id": "ft-year-one", "created_at": "0001-01-01T00:00:00+01:00"},
        "i": {"id": "ft-far", "created_at": "2999-01-01T00:00:00.123456789Z"},
        "j": {"id": "ft-new-status", "status": "distilling", "model": None},
    }
    sim.accounts.together = hostile
    records = list(together(sim).list_models())
    problems = [r.problem for r in records]
    assert problems[:4] == [
        "listed item is not an object",
        "listed item is not an object",
        "listed item has no id",
        "listed item has no id",
    ]
    ctl, huge, minimal, year_one, far, new = records[4:]
    assert (ctl.id, ctl.name, ctl.problem) == ("ft-ctl\x07\x1b[31m", "bell\x07", None)
    assert REGISTRY["together"].kinds["model"].id_rule(ctl.id) is not None  # never reaches a path
    assert huge.problem is not None and huge.problem.startswith("unreadable created_at '1000")
    assert (huge.name, huge.status) == (None, None)
    assert (minimal.name, minimal.status, minimal.created_at, minimal.problem) == (
        None,
        None,
        None,
        None,
    )
    assert year_one.problem == "unreadable created_at '0001-01-01T00:00:00+01:00'"
    assert far.created_at is not None and far.created_at.year == 2999
    assert (new.status, new.lifecycle, new.base_model) == ("distilling", "unknown", None)


def test_exists_and_details(sim: Simulator) -> None:
    jobs = together(sim)
    assert jobs.exists("ft-job-0001") and not jobs.exists("ft-job-9999")
    assert jobs.details("ft-job-0003")["model"] == MISTRAL


@pytest.mark.parametrize(
    ("model_id", "reason"),
    [
        ("ft-5c3d0a2e-0001-4a7b-9c1d-000000000001", None),
        (
            "acme/Mistral-7B-exp-x",
            "ID contains '/', '\\', '..', '%', '?', '#', whitespace or control characters",
        ),
        ("file-sim-training", "Together fine-tune job IDs start with 'ft-'"),
        ("", "empty ID"),
    ],
)
def test_id_rule(model_id: str, reason: str | None) -> None:
    assert REGISTRY["together"].kinds["model"].id_rule(model_id) == reason


# -- the engine, through the CLI ------------------------------------------------------


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", KEY)


OLD = {"ft-job-0001", "ft-job-0002", "ft-job-0005", "ft-job-0006"}


def test_name_globs_the_suffix_else_the_output_name(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    select = selector(tmp_path, sim, capsys, "together")
    assert select('{provider: together, name: "exp-sweep-*"}') == {"ft-job-0001", "ft-job-0002"}
    assert select('{provider: together, name: "acme/*"}') == {"ft-job-0005"}
    assert sim.mutations() == []


def test_base_model_globs_the_model(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = simulator_job(
        tmp_path, sim, "together", '{provider: together, base_model: "mistralai/*"}'
    )
    assert set(planned(capsys, job)) == {"ft-job-0003", "ft-job-0005"}
    assert run_now(job) == 0
    assert sorted(sim.deleted) == [("together", "ft-job-0003"), ("together", "ft-job-0005")]

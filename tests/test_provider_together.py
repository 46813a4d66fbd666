"""Together AI through real HTTP against the simulator: the provider, then the engine."""

import json
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.cli import main
from runner.deletion import delete_and_settle
from runner.providers import REGISTRY
from runner.providers.base import ProviderError
from runner.simulator import Fault, Simulator, load_seed
from tests.conftest import NOW, Both, provider

KEY = "sim-together-key-4c1e"
NOW_ARG = "2026-06-01T12:00:00Z"
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
    assert REGISTRY["together"].id_rule(ctl.id) is not None  # never reaches a path
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


def test_a_malformed_body_is_one_clear_error(sim: Simulator) -> None:
    sim.faults = [Fault("garbage", method="GET")]
    with pytest.raises(ProviderError, match="malformed body"):
        list(together(sim).list_models())


def test_exists_and_details(sim: Simulator) -> None:
    jobs = together(sim)
    assert jobs.exists("ft-job-0001") and not jobs.exists("ft-job-9999")
    assert jobs.details("ft-job-0003")["model"] == MISTRAL


def test_delete_is_gone_from_a_fresh_listing(sim: Simulator) -> None:
    result = together(sim).delete("ft-job-0001")
    assert (result.result, result.http_status) == ("deleted", 200)
    assert "ft-job-0001" not in {r.id for r in together(sim).list_models()}
    assert sim.deleted == [("together", "ft-job-0001")]
    request = sim.mutations()[0]
    assert (request.method, request.path) == ("DELETE", "/together/v1/fine-tunes/ft-job-0001")


def test_deleting_an_unknown_job_is_already_absent(sim: Simulator) -> None:
    result = together(sim).delete("ft-job-9999")
    assert (result.result, result.http_status) == ("already_absent", 404)


def test_a_bare_404_is_failed_never_absent(sim: Simulator) -> None:
    wrong = together(sim, base_url=sim.url + "/nothing")
    result = wrong.delete("ft-job-0001")
    assert (result.result, result.http_status) == ("failed", 404)
    assert "does not name the model" in (result.error or "")
    with pytest.raises(ProviderError):
        wrong.exists("ft-job-0001")
    # Together's own error shape, but a message that does not name the job.
    sim.faults = [Fault("status", status=404, api="together")]
    assert together(sim).delete("ft-job-0002").result == "failed"
    with pytest.raises(ProviderError, match="HTTP 404"):
        together(sim).exists("ft-job-0002")
    assert sim.deleted == []


@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_list_path_says_the_api_looks_retired(sim: Simulator, status: int) -> None:
    sim.faults = [Fault("status", status=status, method="GET")]
    with pytest.raises(ProviderError) as caught:
        list(together(sim).list_models())
    message = str(caught.value)
    assert f"answered HTTP {status} on /v1/fine-tunes" in message and "looks retired" in message
    assert "\n" not in message


def test_429_then_success(sim: Simulator) -> None:
    sim.faults = [Fault("status", status=429, retry_after=0, times=1)]
    assert len(list(together(sim).list_models())) == 8
    sim.faults, sim.fault_hits, sim.fault_seen = [Fault("status", status=429, times=2)], {}, {}
    result = together(sim).delete("ft-job-0002")
    assert (result.result, result.attempts) == ("deleted", 3)


def test_a_lost_delete_answer_is_settled_by_looking(sim: Simulator) -> None:
    sim.faults = [Fault("drop_after", method="DELETE", times=1)]
    result = delete_and_settle(together(sim).deleter, "ft-job-0006")
    assert result.result == "deleted" and "confirmed gone" in (result.error or "")
    assert [r.method for r in sim.requests] == ["DELETE", "GET"]  # never a second DELETE
    assert sim.deleted == [("together", "ft-job-0006")]


def test_a_wrong_key_is_an_auth_error_without_the_key(sim: Simulator) -> None:
    with pytest.raises(ProviderError) as caught:
        list(together(sim, key="wrong-key-0123456789").list_models())
    assert caught.value.auth
    assert "HTTP 401: Invalid API key provided." in str(caught.value)
    assert "wrong-key-0123456789" not in str(caught.value)


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
    assert REGISTRY["together"].id_rule(model_id) == reason


# -- the engine, through the CLI ------------------------------------------------------


def job_file(tmp_path: Path, sim: Simulator, target: str) -> str:
    path = tmp_path / "job.yaml"
    path.write_text(
        "version: 1\n"
        "providers:\n"
        f'  together: {{base_url: "{sim.base_url("together")}", requests_per_minute: 600000}}\n'
        "jobs:\n"
        "  - name: cleanup\n"
        "    targets:\n"
        f"      - {target}\n"
    )
    return str(path)


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOGETHER_API_KEY", KEY)


def planned(capsys: pytest.CaptureFixture[str], *args: str) -> set[str]:
    capsys.readouterr()  # what came before (a run) is not this plan
    assert main(["plan", *args, "--json", "--now", NOW_ARG]) == 0
    (job,) = json.loads(capsys.readouterr().out)["jobs"]
    return {d["id"] for d in job["decisions"] if d["decision"] == "delete"}


def run(*args: str) -> int:
    return main(["run", *args, "--yes", "--now", NOW_ARG])


OLD = {"ft-job-0001", "ft-job-0002", "ft-job-0005", "ft-job-0006"}


def test_plan_is_exact_and_sends_nothing_mutating(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_file(tmp_path, sim, "{provider: together, older_than: 30d}")
    assert planned(capsys, job) == OLD  # not the running and queued ones, though old
    assert sim.mutations() == [] and sim.deleted == []


def test_run_deletes_exactly_the_plan(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_file(tmp_path, sim, "{provider: together, older_than: 30d}")
    assert planned(capsys, job) == OLD
    assert run(job) == 0
    assert sorted(sim.deleted) == sorted(("together", i) for i in OLD)
    assert {r.id for r in together(sim).list_models()} == {f"ft-job-000{i}" for i in (3, 4, 7, 8)}


def test_in_progress_jobs_are_selected_only_when_their_status_is_named(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    everything = planned(capsys, job_file(tmp_path, sim, "{provider: together, match_all: true}"))
    assert everything == {f"ft-job-000{i}" for i in range(1, 9)} - IN_PROGRESS
    named = job_file(tmp_path, sim, "{provider: together, status: [running]}")
    assert planned(capsys, named) == {"ft-job-0004"}
    assert run(named) == 0
    assert sim.deleted == [("together", "ft-job-0004")]


def test_name_globs_the_suffix_else_the_output_name(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    suffix = job_file(tmp_path, sim, '{provider: together, name: "exp-sweep-*"}')
    assert planned(capsys, suffix) == {"ft-job-0001", "ft-job-0002"}
    output = job_file(tmp_path, sim, '{provider: together, name: "acme/*"}')
    assert planned(capsys, output) == {"ft-job-0005"}
    assert sim.mutations() == []


def test_base_model_globs_the_model(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_file(tmp_path, sim, '{provider: together, base_model: "mistralai/*"}')
    assert planned(capsys, job) == {"ft-job-0003", "ft-job-0005"}
    assert run(job) == 0
    assert sorted(sim.deleted) == [("together", "ft-job-0003"), ("together", "ft-job-0005")]

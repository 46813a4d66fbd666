"""OpenAI through real HTTP against the simulator: the provider itself, then the engine."""

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from runner.cli import main
from runner.deletion import delete_and_settle
from runner.providers import REGISTRY
from runner.providers.base import ProviderError
from runner.providers.wire import Response, delete_result
from runner.simulator import Accounts, Fault, Simulator
from runner.simulator import core as sim_core
from tests.conftest import NOW, Both, provider, seed_accounts

OPENAI = REGISTRY["openai"].delete_answer

KEY = "sk-test-openai-7d41c0"
NOW_ARG = "2026-06-01T12:00:00Z"
BASES = {
    "gpt-4o-mini-2024-07-18",
    "gpt-4o-2024-08-06",
    "gpt-4.1-mini-2025-04-14",
    "gpt-3.5-turbo-0125",
}
BASELINE = "ft:gpt-4o-mini-2024-07-18:acme:exp-baseline:Sim0001a"
LR_1 = "ft:gpt-4o-mini-2024-07-18:acme:exp-lr-1:Sim0002b"
LR_2 = "ft:gpt-4o-mini-2024-07-18:acme:exp-lr-2:Sim0003c"
SUPPORT = "ft:gpt-4o-2024-08-06:acme:support-bot:Sim0004d"
LATEST = "ft:gpt-4o-2024-08-06:acme:exp-latest:Sim0005e"
ROUTER = "ft:gpt-3.5-turbo-0125:acme:prod-router:Sim0006f"
FINE_TUNES = {BASELINE, LR_1, LR_2, SUPPORT, LATEST, ROUTER}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(seed_accounts(), keys={"openai": KEY}) as server:
        yield server


def openai(sim: Simulator, key: str = KEY, base_url: str | None = None) -> Both:
    return provider(sim, "openai", key, base_url=base_url or sim.base_url("openai"))


# --- the provider -----------------------------------------------------------------------


def test_lists_fine_tunes_with_their_fields_and_never_a_base_model(sim: Simulator) -> None:
    records = {r.id: r for r in openai(sim).list_models()}
    assert set(records) == FINE_TUNES  # the four base models are not listed at all
    baseline = records[BASELINE]
    assert (baseline.name, baseline.base_model) == ("exp-baseline", "gpt-4o-mini-2024-07-18")
    assert baseline.created_at == NOW - timedelta(days=150)
    assert baseline.created_at.tzinfo is UTC
    assert (baseline.status, baseline.lifecycle, baseline.problem) == (None, "ready", None)
    assert records[ROUTER].base_model == "gpt-3.5-turbo-0125"
    assert all(r.problem is None and r.created_at is not None for r in records.values())
    assert [r.path for r in sim.requests] == ["/openai/v1/models"]  # one unpaged list


def hostile_accounts() -> Accounts:
    accounts = Accounts()
    items: list[Any] = [
        42,
        "ft:a-string:o:s:i",
        None,
        ["ft:x:o:s:i"],
        {"object": "model"},
        {"id": 7, "created": 1},
        {"id": ""},
        {"id": "gpt-base-model", "created": "garbage"},
        {"id": "ft:b:o:ctl\x1b[31m\nx:i1", "created": 1_700_000_000},
        {"id": "ft:b:o:huge:i2", "created": 10**30},
        {"id": "ft:b:o:negative:i3", "created": -(10**20)},
        {"id": "ft:b:o:text-time:i4", "created": "2026-01-01"},
        {"id": "ft:b:o:bool-time:i5", "created": True},
        {"id": "ft:b:o:no-time:i6"},
        {"id": "ft:b:o::i7", "created": 1_700_000_000.5},
        {"id": "ft:b:o:ckpt:i8:ckpt-step-10", "created": 0},
        {"id": "ft:short", "created": 1},
        {"id": "ft:" + "z" * 300, "created": 1},
        {"id": "ft:b:o:id/with/slash:i9", "created": 1},
    ]
    for index, item in enumerate(items):
        accounts.openai[f"item-{index}"] = item
    return accounts


def test_hostile_items_never_crash_and_never_hide_a_problem() -> None:
    with Simulator(hostile_accounts()) as sim:
        records = list(openai(sim).list_models())
    problems = [r.problem for r in records[:7]]
    assert problems == ["listed item is not an object"] * 4 + ["listed item has no id"] * 3
    by_id = {r.id: r for r in records[7:]}
    assert "gpt-base-model" not in by_id  # a base model, even a broken one, is never listed
    control = by_id["ft:b:o:ctl\x1b[31m\nx:i1"]
    assert control.name == "ctl\x1b[31m\nx" and control.problem is None  # escaped when shown
    assert REGISTRY["openai"].id_rule(control.id) is not None  # never deleted: unsafe ID
    assert by_id["ft:b:o:huge:i2"].problem == "unreadable created '1000000000000000000000000000000'"
    assert by_id["ft:b:o:negative:i3"].problem is not None
    assert by_id["ft:b:o:text-time:i4"].problem == "unreadable created '2026-01-01'"
    assert by_id["ft:b:o:bool-time:i5"].problem == "unreadable created 'True'"
    no_time = by_id["ft:b:o:no-time:i6"]
    assert (no_time.created_at, no_time.problem) == (None, None)  # no age: age rules skip it
    no_suffix = by_id["ft:b:o::i7"]
    assert (no_suffix.name, no_suffix.base_model) == (None, "b")
    assert no_suffix.created_at is not None and no_suffix.created_at.microsecond == 500000
    checkpoint = by_id["ft:b:o:ckpt:i8:ckpt-step-10"]
    assert (checkpoint.name, checkpoint.created_at) == ("ckpt", datetime.fromtimestamp(0, UTC))
    assert (by_id["ft:short"].name, by_id["ft:short"].base_model) == (None, "short")
    assert REGISTRY["openai"].id_rule("ft:" + "z" * 300) == "ID is longer than 256 characters"
    assert REGISTRY["openai"].id_rule("ft:b:o:id/with/slash:i9") is not None


def test_id_rule_keeps_base_models_out_and_allows_colons() -> None:
    rule = REGISTRY["openai"].id_rule
    assert rule(BASELINE) is None
    assert rule("gpt-4o-mini-2024-07-18") == (
        "OpenAI fine-tune IDs start with 'ft:' (base models are never deleted)"
    )
    assert rule("ft:../x") is not None and rule("") == "empty ID"


def test_exists_and_details(sim: Simulator) -> None:
    client = openai(sim)
    assert client.exists(BASELINE) and not client.exists("ft:gpt-4o:acme:never:Nope0000")
    assert client.details(LATEST)["created"] == int((NOW - timedelta(days=2)).timestamp())
    with pytest.raises(ProviderError, match="does not exist"):
        client.details("ft:gpt-4o:acme:never:Nope0000")


def test_delete_then_gone_from_a_fresh_listing(sim: Simulator) -> None:
    result = openai(sim).delete(LR_1)
    assert (result.result, result.http_status, result.attempts) == ("deleted", 200, 1)
    assert sim.deleted == [("openai", LR_1)]
    assert {r.id for r in openai(sim).list_models()} == FINE_TUNES - {LR_1}
    assert not openai(sim).exists(LR_1)
    (delete,) = [r for r in sim.requests if r.method == "DELETE"]
    assert unquote(delete.path) == f"/openai/v1/models/{LR_1}"


def test_unknown_id_is_already_absent_by_its_error_code(sim: Simulator) -> None:
    result = openai(sim).delete("ft:gpt-4o:acme:never:Nope0000")
    assert (result.result, result.http_status) == ("already_absent", 404)
    assert sim.deleted == []


def test_a_bare_404_is_failed(sim: Simulator) -> None:
    wrong_prefix = openai(sim, base_url=sim.url + "/nothing").delete(LR_2)
    assert (wrong_prefix.result, wrong_prefix.http_status) == ("failed", 404)
    assert "does not name the model" in (wrong_prefix.error or "")
    sim.faults = [Fault("status", method="DELETE", status=404)]
    injected = openai(sim).delete(LR_2)
    assert (injected.result, injected.http_status) == ("failed", 404)
    sim.faults = [Fault("status", method="GET", status=404)]
    with pytest.raises(ProviderError, match="HTTP 404"):
        openai(sim).exists(LR_2)  # a lookup needs the same proof as a delete
    assert sim.deleted == []


def test_a_404_naming_the_id_without_model_not_found_is_failed(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # OpenAI's unknown-path 404 repeats the path: behind a proxy that decodes it, the
    # message holds the model ID verbatim, yet nothing is known about the model.
    def invalid_url(method: str, path: str) -> tuple[int, Any]:
        message = f"Invalid URL ({method} {unquote(path)})"
        body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        return 404, body

    wire = dataclasses.replace(sim_core.REGISTRY["openai"], unknown=invalid_url)
    monkeypatch.setitem(sim_core.REGISTRY, "openai", wire)
    result = openai(sim, base_url=sim.base_url("openai") + "/v0").delete(LR_2)
    assert (result.result, result.http_status) == ("failed", 404)
    assert LR_2 in (result.error or "")  # the ID is right there in the message
    with pytest.raises(ProviderError, match="HTTP 404"):
        openai(sim, base_url=sim.base_url("openai") + "/v0").exists(LR_2)


def test_a_2xx_that_says_deleted_false_is_failed() -> None:
    said_no = Response(200, {"id": LR_1, "object": "model", "deleted": False}, "", 1, {})
    assert delete_result(OPENAI, said_no, LR_1, names_model=False).result == "failed"
    said_yes = Response(200, {"id": LR_1, "object": "model", "deleted": True}, "", 1, {})
    assert delete_result(OPENAI, said_yes, LR_1, False).result == "deleted"


def test_429_then_success(sim: Simulator) -> None:
    sim.faults = [Fault("status", method="DELETE", status=429, times=1)]
    result = openai(sim).delete(SUPPORT)
    assert (result.result, result.attempts) == ("deleted", 2)
    assert sim.deleted == [("openai", SUPPORT)]


def test_a_dropped_answer_is_settled_by_looking(sim: Simulator) -> None:
    sim.faults = [Fault("drop_after", method="DELETE", times=1)]
    result = delete_and_settle(openai(sim).deleter, ROUTER)
    assert result.result == "deleted" and "confirmed gone" in (result.error or "")
    assert [r.method for r in sim.requests] == ["DELETE", "GET"]  # never a second DELETE
    assert sim.deleted == [("openai", ROUTER)]


def test_a_wrong_key_is_an_auth_error_without_the_key(sim: Simulator) -> None:
    with pytest.raises(ProviderError) as caught:
        list(openai(sim, key="sk-wrong-0123456789").list_models())
    assert caught.value.auth and "HTTP 401: Incorrect API key provided." in str(caught.value)
    assert "sk-wrong-0123456789" not in str(caught.value)


@pytest.mark.parametrize("status", [404, 410])
def test_a_retired_list_is_one_clear_line(sim: Simulator, status: int) -> None:
    sim.faults = [Fault("status", method="GET", status=status)]
    with pytest.raises(ProviderError) as caught:
        list(openai(sim).list_models())
    message = str(caught.value)
    assert f"the OpenAI models API answered HTTP {status} on /v1/models" in message
    assert "looks retired or the base_url is wrong" in message and "\n" not in message


def test_a_garbage_list_is_one_clear_line(sim: Simulator) -> None:
    sim.faults = [Fault("garbage", method="GET")]
    with pytest.raises(ProviderError, match="malformed body"):
        list(openai(sim).list_models())


# --- the engine -------------------------------------------------------------------------


def job_file(
    tmp_path: Path, sim: Simulator, kind: str, *targets: str, max_deletions: int = 50
) -> str:
    """A one-job file whose connection points at the simulator; targets are flow maps."""
    path = tmp_path / "job.yaml"
    lines = "\n".join(f"      - {target}" for target in targets)
    path.write_text(
        f"""version: 1
providers:
  {kind}: {{base_url: "{sim.base_url(kind)}", requests_per_minute: 600000}}
jobs:
  - name: cleanup
    max_deletions: {max_deletions}
    targets:
{lines}
"""
    )
    return str(path)


def decisions(job: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every decision ``plan --json`` reports for the file's one job."""
    capsys.readouterr()
    assert main(["plan", job, "--now", NOW_ARG, "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["jobs"]
    found: list[dict[str, Any]] = entry["decisions"]
    return found


def planned(job: str, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """What ``plan`` would delete: ID -> reason."""
    return {d["id"]: d["reason"] for d in decisions(job, capsys) if d["decision"] == "delete"}


def selector(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str], kind: str
) -> Callable[[str], set[str]]:
    """target -> the IDs a one-target job would delete."""
    return lambda target: set(planned(job_file(tmp_path, sim, kind, target), capsys))


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def test_plan_is_exact_and_sends_nothing_mutating(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_file(tmp_path, sim, "openai", '{provider: openai, name: "exp-*", older_than: 30d}')
    deletes = planned(job, capsys)
    assert set(deletes) == {BASELINE, LR_1, LR_2}  # exp-latest is 2 days old
    assert deletes[LR_1] == "older_than 30d: created 2026-03-13, 80d ago; name matches 'exp-*'"
    assert sim.mutations() == [] and sim.deleted == []


def test_run_deletes_exactly_the_plan(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_file(
        tmp_path, sim, "openai", '{provider: openai, older_than: 30d, protect: ["prod-router"]}'
    )
    deletes = planned(job, capsys)
    assert set(deletes) == {BASELINE, LR_1, LR_2, SUPPORT}  # prod-router protected by name
    assert main(["run", job, "--yes", "--now", NOW_ARG]) == 0
    assert sorted(sim.deleted) == sorted(("openai", model_id) for model_id in deletes)


def test_a_base_model_is_never_a_candidate(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_file(tmp_path, sim, "openai", "{provider: openai, match_all: true}")
    assert {d["id"] for d in decisions(job, capsys)} == FINE_TUNES  # none for base models
    assert main(["run", job, "--yes", "--now", NOW_ARG]) == 0
    assert {model_id for _, model_id in sim.deleted} == FINE_TUNES
    deletes = [unquote(r.path) for r in sim.requests if r.method == "DELETE"]
    assert len(deletes) == 6 and all(p.startswith("/openai/v1/models/ft:") for p in deletes)
    assert set(sim.accounts.openai) == BASES  # every base model is still there


def test_an_id_that_is_not_a_fine_tune_is_invalid(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_file(tmp_path, sim, "openai", "{provider: openai, ids: [gpt-4o-mini-2024-07-18]}")
    assert main(["validate", job]) == 2
    assert "OpenAI fine-tune IDs start with 'ft:'" in capsys.readouterr().err


def test_a_status_rule_is_invalid(tmp_path: Path, sim: Simulator) -> None:
    job = job_file(tmp_path, sim, "openai", "{provider: openai, status: [SUCCEEDED]}")
    assert main(["validate", job]) == 2


def test_name_globs_the_suffix(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    select = selector(tmp_path, sim, capsys, "openai")
    assert select('{provider: openai, name: "support-*"}') == {SUPPORT}
    assert select('{provider: openai, name: "exp-lr-?"}') == {LR_1, LR_2}
    assert select('{provider: openai, name: "ft:*"}') == set()  # the suffix, not the ID
    assert select('{provider: openai, name: "acme"}') == set()  # nor the organisation
    assert sim.mutations() == []


def test_base_model_globs_the_base(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    select = selector(tmp_path, sim, capsys, "openai")
    assert select('{provider: openai, base_model: "gpt-4o-2024-*"}') == {SUPPORT, LATEST}
    both = '{provider: openai, base_model: "gpt-4o-*", name: "exp-*"}'
    assert select(both) == {BASELINE, LR_1, LR_2, LATEST}
    assert select('{provider: openai, base_model: "acme"}') == set()  # not the organisation
    assert sim.mutations() == []

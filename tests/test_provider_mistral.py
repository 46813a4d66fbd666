"""Mistral through real HTTP against the simulator: the provider itself, then the engine."""

from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.cli import main
from runner.deletion import delete_and_settle
from runner.providers import REGISTRY
from runner.providers.base import ProviderError
from runner.simulator import Accounts, Fault, Simulator
from tests.conftest import NOW, Both, provider, seed_accounts
from tests.test_provider_openai import NOW_ARG, decisions, job_file, planned, selector

KEY = "sim-mistral-test-5e02"
CHAT = "ft:open-mistral-7b:abcd1234:20260101:exp-chat:efgh5678"
SUPPORT = "ft:open-mistral-7b:abcd1234:20260301:support-v2:ijkl9012"  # its name is null
NEW = "ft:mistral-small-latest:abcd1234:20260501:exp-new:mnop3456"
FINE_TUNES = {CHAT, SUPPORT, NEW}
BASES = {"open-mistral-7b", "mistral-small-latest"}


@pytest.fixture(params=["object", "detail"])
def sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """Both error shapes Mistral may answer in: every test runs against each."""
    variants = {"mistral": request.param}
    with Simulator(seed_accounts(), keys={"mistral": KEY}, variants=variants) as server:
        yield server


def mistral(sim: Simulator, key: str = KEY, base_url: str | None = None) -> Both:
    return provider(sim, "mistral", key, base_url=base_url or sim.base_url("mistral"))


# --- the provider -----------------------------------------------------------------------


def test_lists_fine_tuned_cards_with_their_fields_and_never_a_base_card(sim: Simulator) -> None:
    records = {r.id: r for r in mistral(sim).list_models()}
    assert set(records) == FINE_TUNES  # base cards are not listed at all
    chat = records[CHAT]
    assert (chat.name, chat.base_model) == ("exp-chat", "open-mistral-7b")
    assert chat.created_at == NOW - timedelta(days=90) and chat.created_at.tzinfo is UTC
    assert (chat.status, chat.lifecycle, chat.problem) == (None, "ready", None)
    assert records[SUPPORT].name == SUPPORT  # a null name: the ID stands in
    assert records[NEW].base_model == "mistral-small-latest"
    assert [r.path for r in sim.requests] == ["/mistral/v1/models"]  # one unpaged list


def hostile_accounts() -> Accounts:
    accounts = Accounts()
    fine = "fine-tuned"
    items: list[Any] = [
        42,
        None,
        ["ft:x"],
        {"type": fine},
        {"type": fine, "id": 5},
        {"type": "base", "id": "open-mistral-7b", "created": "garbage"},
        {"id": "ft:no-type:x", "created": 1},
        {"type": "FINE-TUNED", "id": "ft:odd-type:x", "created": 1},
        {"type": fine, "id": "ft:ctl:x", "name": "ctl\x1b[31m\nname", "created": 1_700_000_000},
        {"type": fine, "id": "ft:wrong-types:x", "name": 5, "root": ["a"], "created": 1},
        {"type": fine, "id": "ft:huge:x", "created": 10**30},
        {"type": fine, "id": "ft:text-time:x", "created": "2026-01-01"},
        {"type": fine, "id": "ft:no-time:x", "name": "", "root": ""},
        {"type": fine, "id": "ft:control\x07id", "created": 1},
    ]
    for index, item in enumerate(items):
        accounts.mistral[f"item-{index}"] = item
    return accounts


def test_hostile_items_never_crash_and_never_hide_a_problem() -> None:
    with Simulator(hostile_accounts()) as sim:
        records = list(mistral(sim).list_models())
    problems = [r.problem for r in records[:5]]
    assert problems == ["listed item is not an object"] * 3 + ["listed item has no id"] * 2
    by_id = {r.id: r for r in records[5:]}
    # Base cards and cards of any other or missing type are never listed.
    assert set(by_id) == {
        "ft:ctl:x",
        "ft:wrong-types:x",
        "ft:huge:x",
        "ft:text-time:x",
        "ft:no-time:x",
        "ft:control\x07id",
    }
    assert by_id["ft:ctl:x"].name == "ctl\x1b[31m\nname"  # carried; escaped when shown
    odd = by_id["ft:wrong-types:x"]
    assert (odd.name, odd.base_model, odd.problem) == ("ft:wrong-types:x", None, None)
    assert by_id["ft:huge:x"].problem == "unreadable created '1000000000000000000000000000000'"
    assert by_id["ft:text-time:x"].problem == "unreadable created '2026-01-01'"
    no_time = by_id["ft:no-time:x"]
    assert (no_time.name, no_time.base_model, no_time.created_at, no_time.problem) == (
        "ft:no-time:x",
        None,
        None,
        None,
    )
    assert REGISTRY["mistral"].id_rule("ft:control\x07id") is not None  # never deleted


def test_exists_and_details(sim: Simulator) -> None:
    client = mistral(sim)
    assert client.exists(CHAT) and not client.exists("ft:open-mistral-7b:never:x")
    assert client.details(NEW)["root"] == "mistral-small-latest"
    with pytest.raises(ProviderError, match="does not exist"):
        client.details("ft:open-mistral-7b:never:x")


def test_delete_then_gone_from_a_fresh_listing(sim: Simulator) -> None:
    result = mistral(sim).delete(CHAT)
    assert (result.result, result.http_status, result.attempts) == ("deleted", 200, 1)
    assert sim.deleted == [("mistral", CHAT)]
    assert {r.id for r in mistral(sim).list_models()} == FINE_TUNES - {CHAT}
    assert not mistral(sim).exists(CHAT)


def test_unknown_id_is_already_absent_when_the_404_names_it(sim: Simulator) -> None:
    result = mistral(sim).delete("ft:open-mistral-7b:never:x")
    assert (result.result, result.http_status) == ("already_absent", 404)
    assert sim.deleted == []


def test_a_bare_404_is_failed(sim: Simulator) -> None:
    wrong_prefix = mistral(sim, base_url=sim.base_url("mistral") + "/nothing").delete(SUPPORT)
    assert (wrong_prefix.result, wrong_prefix.http_status) == ("failed", 404)
    assert "Not Found (a 404 that does not name the model" in (wrong_prefix.error or "")
    sim.faults = [Fault("status", method="DELETE", status=404)]
    injected = mistral(sim).delete(SUPPORT)
    assert (injected.result, injected.http_status) == ("failed", 404)
    sim.faults = [Fault("status", method="GET", status=404)]
    with pytest.raises(ProviderError, match="HTTP 404"):
        mistral(sim).exists(SUPPORT)  # a lookup needs the same proof as a delete
    assert sim.deleted == []


def test_429_then_success(sim: Simulator) -> None:
    sim.faults = [Fault("status", method="DELETE", status=429, times=1)]
    result = mistral(sim).delete(NEW)
    assert (result.result, result.attempts) == ("deleted", 2)


def test_a_dropped_answer_is_settled_by_looking(sim: Simulator) -> None:
    sim.faults = [Fault("drop_after", method="DELETE", times=1)]
    result = delete_and_settle(mistral(sim).deleter, NEW)
    assert result.result == "deleted" and "confirmed gone" in (result.error or "")
    assert [r.method for r in sim.requests] == ["DELETE", "GET"]  # never a second DELETE
    assert sim.deleted == [("mistral", NEW)]


def test_a_wrong_key_is_an_auth_error_without_the_key(sim: Simulator) -> None:
    with pytest.raises(ProviderError) as caught:
        list(mistral(sim, key="wrong-mistral-key-0123").list_models())
    assert caught.value.auth and "HTTP 401: Unauthorized" in str(caught.value)
    assert "wrong-mistral-key-0123" not in str(caught.value)


@pytest.mark.parametrize("status", [404, 410])
def test_a_retired_list_is_one_clear_line(sim: Simulator, status: int) -> None:
    sim.faults = [Fault("status", method="GET", status=status)]
    with pytest.raises(ProviderError) as caught:
        list(mistral(sim).list_models())
    message = str(caught.value)
    assert f"the Mistral models API answered HTTP {status} on /v1/models" in message
    assert "looks retired or the base_url is wrong" in message and "\n" not in message


# --- the engine -------------------------------------------------------------------------


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)


def test_plan_is_exact_and_sends_nothing_mutating(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_file(tmp_path, sim, "mistral", "{provider: mistral, older_than: 10d}")
    deletes = planned(job, capsys)
    assert set(deletes) == {CHAT, SUPPORT}  # exp-new is a day old
    assert deletes[CHAT] == "older_than 10d: created 2026-03-03, 90d ago"
    assert sim.mutations() == [] and sim.deleted == []


def test_run_deletes_exactly_the_plan(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_file(tmp_path, sim, "mistral", "{provider: mistral, older_than: 10d, keep_latest: 1}")
    deletes = planned(job, capsys)
    assert set(deletes) == {CHAT}  # support-v2 is the newest match, kept
    assert main(["run", job, "--yes", "--now", NOW_ARG]) == 0
    assert sim.deleted == [("mistral", CHAT)]


def test_a_base_card_is_never_a_candidate(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_file(tmp_path, sim, "mistral", "{provider: mistral, match_all: true}")
    assert {d["id"] for d in decisions(job, capsys)} == FINE_TUNES  # none for base cards
    assert main(["run", job, "--yes", "--now", NOW_ARG]) == 0
    assert {model_id for _, model_id in sim.deleted} == FINE_TUNES
    assert len([r for r in sim.requests if r.method == "DELETE"]) == 3
    assert set(sim.accounts.mistral) == BASES  # every base card is still there


def test_a_base_card_named_by_id_is_never_deleted(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_file(tmp_path, sim, "mistral", "{provider: mistral, ids: [open-mistral-7b]}")
    assert planned(job, capsys) == {}
    assert main(["run", job, "--yes", "--now", NOW_ARG]) == 0
    assert sim.mutations() == []


def test_name_globs_the_name_else_the_id(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    select = selector(tmp_path, sim, capsys, "mistral")
    assert select('{provider: mistral, name: "exp-*"}') == {CHAT, NEW}
    assert select('{provider: mistral, name: "ft:*:support-v2:*"}') == {SUPPORT}  # name null
    assert select('{provider: mistral, name: "ft:*"}') == {SUPPORT}  # named cards by name
    assert sim.mutations() == []


def test_base_model_globs_the_root(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    select = selector(tmp_path, sim, capsys, "mistral")
    assert select('{provider: mistral, base_model: "mistral-small-*"}') == {NEW}
    assert select('{provider: mistral, base_model: "open-mistral-7b", name: "exp-*"}') == {CHAT}
    assert sim.mutations() == []

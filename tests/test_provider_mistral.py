"""Mistral through real HTTP against the simulator: the provider itself, then the engine."""

from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.providers import REGISTRY
from runner.providers.base import ProviderError
from runner.simulator import Accounts, Simulator
from tests.conftest import NOW, Both, provider, seed_accounts
from tests.helpers import selector

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
    assert (
        REGISTRY["mistral"].kinds["model"].id_rule("ft:control\x07id") is not None
    )  # never deleted


def test_exists_and_details(sim: Simulator) -> None:
    client = mistral(sim)
    assert client.exists(CHAT) and not client.exists("ft:open-mistral-7b:never:x")
    assert client.details(NEW)["root"] == "mistral-small-latest"
    with pytest.raises(ProviderError, match="does not exist"):
        client.details("ft:open-mistral-7b:never:x")


# --- the engine -------------------------------------------------------------------------


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)


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

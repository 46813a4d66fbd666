"""OpenAI through real HTTP against the simulator: the provider itself, then the engine."""

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from runner.providers import REGISTRY
from runner.providers.base import ProviderError
from runner.providers.wire import Response, delete_result
from runner.simulator import Accounts, Simulator
from runner.simulator import core as sim_core
from tests.conftest import NOW, Both, provider, seed_accounts
from tests.helpers import selector

OPENAI = REGISTRY["openai"].kinds["model"].delete_answer

KEY = "sk-test-openai-7d41c0"
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
    assert (
        REGISTRY["openai"].kinds["model"].id_rule(control.id) is not None
    )  # never deleted: unsafe ID
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
    assert (
        REGISTRY["openai"].kinds["model"].id_rule("ft:" + "z" * 300)
        == "ID is longer than 256 characters"
    )
    assert REGISTRY["openai"].kinds["model"].id_rule("ft:b:o:id/with/slash:i9") is not None


def test_id_rule_keeps_base_models_out_and_allows_colons() -> None:
    rule = REGISTRY["openai"].kinds["model"].id_rule
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


# --- the engine -------------------------------------------------------------------------


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


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

"""Fireworks AI through real HTTP against the simulator: the provider, then the engine."""

from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from runner.errors import ConfigError
from runner.providers import REGISTRY
from runner.providers.base import ConnectOptions, ProviderError
from runner.ratelimit import Limiters
from runner.simulator import Fault, Simulator, generate, load_seed
from tests.conftest import FAST, NOW, Both, connection, provider
from tests.helpers import planned, run_now, simulator_job

KEY = "fw-sim-key-8e2d"
ACCOUNT = "sim-account"  # the simulator's default account
LLAMA = "accounts/fireworks/models/llama-v3p1-8b-instruct"
QWEN = "accounts/fireworks/models/qwen2p5-7b-instruct"
SEED: dict[str, Any] = {
    "fireworks": [
        {"id": "exp-lora-a", "displayName": "exp-lora-a", "age_days": 60},
        {
            "id": "exp-lora-b",
            "displayName": "exp-lora-b",
            "peftDetails": {"baseModel": QWEN, "r": 8},
            "age_days": 35,
        },
        {"id": "support-lora", "displayName": "Support LoRA", "age_days": 5},
        {"id": "old-upload", "state": "UPLOADING", "age_days": 50},
        {"id": "teft-a", "kind": "HF_TEFT_ADDON", "displayName": "", "age_days": 40},
        {"id": "odd-state", "state": "STATE_UNSPECIFIED", "age_days": 90},
        # Never candidates: the account's base and custom models, and a model of no kind.
        {"id": "my-base", "kind": "HF_BASE_MODEL", "drop": ["peftDetails"], "age_days": 100},
        {"id": "my-custom", "kind": "CUSTOM_MODEL", "age_days": 100},
        {"id": "no-kind", "drop": ["kind"], "age_days": 100},
        {"id": "other-lora", "account": "other-acct", "age_days": 100},
    ]
}
ADDONS = {"exp-lora-a", "exp-lora-b", "support-lora", "old-upload", "teft-a", "odd-state"}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(load_seed(SEED, NOW), keys={"fireworks": KEY}) as server:
        yield server


def fireworks(
    sim: Simulator, key: str = KEY, base_url: str | None = None, account: str = ACCOUNT
) -> Both:
    return provider(
        sim,
        "fireworks",
        key,
        base_url=base_url or sim.base_url("fireworks"),
        options={"account_id": account},
    )


# -- the provider ---------------------------------------------------------------------


def test_every_seeded_fine_tune_is_parsed_and_nothing_else_is_listed(sim: Simulator) -> None:
    records = {r.id: r for r in fireworks(sim).list_models()}
    assert set(records) == ADDONS  # base, custom, kindless and other accounts' models: never
    first = records["exp-lora-a"]
    assert (first.name, first.status, first.lifecycle) == ("exp-lora-a", "READY", "ready")
    assert first.created_at == NOW - timedelta(days=60) and first.created_at.tzinfo is UTC
    assert (first.base_model, first.problem) == (LLAMA, None)
    assert records["exp-lora-b"].base_model == QWEN
    assert records["support-lora"].name == "Support LoRA"
    assert records["teft-a"].name == "teft-a"  # an empty displayName falls back to the ID
    assert (records["old-upload"].status, records["old-upload"].lifecycle) == (
        "UPLOADING",
        "in_progress",
    )
    assert records["odd-state"].lifecycle == "ready"


def test_hostile_items_become_records_with_a_problem_never_a_crash(sim: Simulator) -> None:
    addon = "HF_PEFT_ADDON"
    prefix = f"accounts/{ACCOUNT}/models/"
    sim.accounts.fireworks[ACCOUNT] = {
        "h01": 42,
        "h02": {"kind": addon},
        "h03": {"kind": addon, "name": "accounts/other-acct/models/theirs"},
        "h04": {"kind": addon, "name": prefix + "a/b"},
        "h05": {"kind": addon, "name": prefix + "ctl\x07\x1b[31m", "displayName": "bell\x07"},
        "h06": {"kind": ["HF_PEFT_ADDON"], "name": prefix + "list-kind"},
        "h07": {"kind": addon, "name": prefix + "huge", "createTime": 10**400, "state": 5},
        "h08": {
            "kind": addon,
            "name": prefix + "year-9999",
            "createTime": "9999-12-31T23:00:00-05:00",
        },
        "h09": {"kind": addon, "name": prefix + "odd", "peftDetails": "x", "displayName": 10**300},
        "h10": {"kind": addon, "name": prefix + "new-state", "state": "ARCHIVING"},
        "h11": {"kind": addon, "name": 7},
    }
    records = list(fireworks(sim).list_models())
    assert [r.problem for r in records[:4]] == [
        "listed item is not an object",
        f"listed model name is not under {prefix}",
        f"listed model name 'accounts/other-acct/models/theirs' is not under {prefix}",
        f"listed model name '{prefix}a/b' is not under {prefix}",
    ]
    assert all(r.id == "" for r in records[:4])
    ctl, huge, year_9999, odd, new, no_name = records[4:]  # the list-kind item is left out
    assert (ctl.id, ctl.name, ctl.problem) == ("ctl\x07\x1b[31m", "bell\x07", None)
    assert REGISTRY["fireworks"].kinds["model"].id_rule(ctl.id) is not None  # never reaches a path
    assert huge.problem is not None and huge.problem.startswith("unreadable createTime '1000")
    assert huge.status is None
    assert year_9999.problem == "unreadable createTime '9999-12-31T23:00:00-05:00'"
    assert (odd.name, odd.base_model, odd.problem) == ("odd", None, None)
    assert (new.status, new.lifecycle) == ("ARCHIVING", "unknown")
    assert (no_name.id, no_name.problem) == ("", f"listed model name is not under {prefix}")


def test_every_page_is_followed_at_200_a_page() -> None:
    with Simulator(generate(0, 0, NOW, fireworks=450)) as sim:
        records = list(fireworks(sim, key="any-key").list_models())
        assert len({r.id for r in records}) == 450
        assert [r.method for r in sim.requests] == ["GET"] * 3


def test_a_smaller_server_page_is_coerced_and_followed() -> None:
    with Simulator(generate(0, 0, NOW, fireworks=120), max_page_size=50) as sim:
        assert len({r.id for r in fireworks(sim, key="any-key").list_models()}) == 120
        assert len(sim.requests) == 3


def test_a_repeated_page_token_stops_with_one_line() -> None:
    with (
        Simulator(generate(0, 0, NOW, fireworks=450), faults=[Fault("repeat_token")]) as sim,
        pytest.raises(ProviderError) as caught,
    ):
        list(fireworks(sim, key="any-key").list_models())
    assert "a page token came back twice; stopped listing" in str(caught.value)
    assert "\n" not in str(caught.value) and len(sim.requests) == 2


def test_exists_and_details(sim: Simulator) -> None:
    models = fireworks(sim)
    assert models.exists("exp-lora-a") and not models.exists("never-was")
    assert models.details("exp-lora-b")["peftDetails"]["baseModel"] == QWEN


def test_a_wrong_account_is_never_proof_of_absence(sim: Simulator) -> None:
    # "account nosuch not found" names the word "nosuch": only the full resource name counts.
    elsewhere = fireworks(sim, account="nosuch")
    result = elsewhere.delete("nosuch")
    assert (result.result, result.http_status) == ("failed", 404)
    with pytest.raises(ProviderError):
        elsewhere.exists("nosuch")
    with pytest.raises(ProviderError) as caught:
        list(elsewhere.list_models())
    message = str(caught.value)
    assert "account nosuch not found" in message and "account_id 'nosuch'" in message


@pytest.mark.parametrize("status", [400, 409, 412])
def test_a_refused_delete_is_failed_and_says_why(sim: Simulator, status: int) -> None:
    sim.faults = [Fault("status", method="DELETE", status=status)]
    result = fireworks(sim).delete("exp-lora-a")
    assert (result.result, result.http_status, result.transient) == ("failed", status, False)
    assert "still deployed?" in (result.error or "")


def test_a_connection_without_an_account_is_refused_before_any_request(sim: Simulator) -> None:
    conn = connection(sim, "fireworks", base_url=sim.base_url("fireworks"))
    with pytest.raises(ConfigError, match="fireworks needs account_id"):
        REGISTRY["fireworks"].connect(conn, KEY, ConnectOptions(Limiters(), FAST))
    assert sim.requests == []


@pytest.mark.parametrize(
    ("model_id", "reason"),
    [
        ("exp-lora-a", None),
        ("a" * 63, None),
        ("a" * 64, "Fireworks model IDs are 1-63 lowercase letters, digits and hyphens"),
        ("Exp_Lora", "Fireworks model IDs are 1-63 lowercase letters, digits and hyphens"),
        (
            f"accounts/{ACCOUNT}/models/x",
            "ID contains '/', '\\', '..', '%', '?', '#', whitespace or control characters",
        ),
    ],
)
def test_id_rule(model_id: str, reason: str | None) -> None:
    assert REGISTRY["fireworks"].kinds["model"].id_rule(model_id) == reason


@pytest.mark.parametrize(
    ("account", "valid"),
    [("sim-account", True), ("acme2", True), ("Acme", False), ("-acme", False), ("a_b", False)],
)
def test_account_id_schema(account: str, valid: bool) -> None:
    schema = REGISTRY["fireworks"].connection_fields["account_id"]
    assert jsonschema.Draft202012Validator(schema).is_valid(account) is valid


# -- the engine, through the CLI ------------------------------------------------------


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIREWORKS_API_KEY", KEY)


def job_file(tmp_path: Path, sim: Simulator, target: str) -> str:
    account = {"account_id": ACCOUNT}
    return simulator_job(tmp_path, sim, "fireworks", target, connection=account)


OLD = {"exp-lora-a", "exp-lora-b", "teft-a", "odd-state"}


def test_name_globs_the_display_name_else_the_id(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    display = job_file(tmp_path, sim, '{provider: fireworks, name: "Support *"}')
    assert set(planned(capsys, display)) == {"support-lora"}
    fallback = job_file(tmp_path, sim, '{provider: fireworks, name: "teft-*"}')
    assert set(planned(capsys, fallback)) == {"teft-a"}
    assert sim.mutations() == []


def test_base_model_globs_the_peft_base_model(
    tmp_path: Path, sim: Simulator, key: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = job_file(tmp_path, sim, '{provider: fireworks, base_model: "*/qwen*"}')
    assert set(planned(capsys, job)) == {"exp-lora-b"}
    assert run_now(job) == 0
    assert sim.deleted == [("fireworks", "exp-lora-b")]

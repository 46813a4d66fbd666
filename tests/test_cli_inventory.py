"""`ftjanitor inventory` against the simulator, in-process through the real CLI."""

import functools
import json
from pathlib import Path

import pytest

from runner.cli import main
from runner.providers.base import ConnectOptions
from runner.simulator import Simulator
from tests.conftest import BFL_KEY, COHERE_KEY, FAST
from tests.helpers import TEST_PACE, job_yaml, one_job, write_job


def job_file(tmp_path: Path, sim: Simulator) -> str:
    fields = {"base_url": sim.url, "requests_per_minute": TEST_PACE}
    targets = ["{provider: cohere, status: [STATUS_FAILED]}", "{provider: bfl, older_than: 1d}"]
    return write_job(tmp_path, job_yaml({"cohere": fields, "bfl": fields}, one_job("j", targets)))


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    monkeypatch.setenv("BFL_API_KEY", BFL_KEY)


def test_inventory_table(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inventory", job_file(tmp_path, sim)]) == 0
    out = capsys.readouterr().out
    assert f"cohere ({sim.url}): 12 fine-tunes" in out
    assert "sim-cohere-0008  support-bot-v3" in out
    assert f"bfl ({sim.url}): 4 fine-tunes" in out
    assert "scratch-lora-1" in out and "0s (first seen)" in out
    assert all(r.method == "GET" for r in sim.requests)


def test_inventory_json_one_provider(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inventory", job_file(tmp_path, sim), "--provider", "bfl", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows][:2] == ["scratch-lora-1", "scratch-lora-2"]
    assert rows[0]["age_basis"] == "first seen" and rows[0]["created_at"] is None


def test_missing_key_exits_2_before_any_request(
    tmp_path: Path,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    monkeypatch.delenv("BFL_API_KEY", raising=False)
    assert main(["inventory", job_file(tmp_path, sim)]) == 2
    err = capsys.readouterr().err
    expected = "missing API key: set BFL_API_KEY (for bfl) in the environment; nothing was sent"
    assert err == f"ftjanitor: {expected}\n"
    assert sim.requests == []


def test_rejected_key_exits_2(
    tmp_path: Path,
    sim: Simulator,
    keys: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COHERE_API_KEY", "not-the-key-1234")
    assert main(["inventory", job_file(tmp_path, sim)]) == 2
    err = capsys.readouterr().err
    assert "HTTP 401: invalid api token" in err and "not-the-key-1234" not in err
    assert len(err.splitlines()) == 1


def test_provider_down_exits_1_with_one_line(
    tmp_path: Path,
    keys: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The retries on a refused connection are kept, their production pauses are not.
    fast = functools.partial(ConnectOptions, policy=FAST)
    monkeypatch.setattr("runner.commands.inventory.ConnectOptions", fast)
    with Simulator() as gone:
        path = job_file(tmp_path, gone)
    assert main(["inventory", path]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "cannot connect" in err

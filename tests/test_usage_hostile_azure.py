"""A hostile Azure Monitor (Azure OpenAI's use, issue 18) through the CLI against the
simulator: totals that are no count, a deployment named in another case, days outside the
window asked for or at the calendar's end, and a rule reaching past the 93 days Azure
Monitor keeps. None may crash, and none may make a used item look unused: the job ends
partial, exit 1, and nothing mutating is sent."""

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.simulator import Fault, Simulator
from runner.usage.azure_monitor import RETENTION
from tests.azurejobs import BUSY, KEY, TOKEN, TOKEN_ENV, YOUNG, accounts, azure_job
from tests.conftest import NOW
from tests.helpers import NOW_ARG, cli
from tests.test_azure_openai_cli import DEPLOYMENTS_UNUSED, METRICS_PATH

Capsys = pytest.CaptureFixture[str]
METRICS = METRICS_PATH + "/providers/Microsoft.Insights/metrics"
YESTERDAY = "2026-05-31T00:00:00Z"


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(accounts(), keys={"azure_openai": KEY}) as server:
        yield server


def _answer(sim: Simulator, *points: str, name: str = BUSY) -> None:
    """Azure Monitor answers one time series, of ``name``, with ``points`` (JSON text:
    Python's json reads NaN and Infinity, as a hostile server may send them)."""
    series = {
        "metadatavalues": [{"name": {"value": "modeldeploymentname"}, "value": name}],
        "data": ["@"] * len(points),
    }
    body = json.dumps({"value": [{"timeseries": [series]}]})
    for point in points:
        body = body.replace('"@"', point, 1)
    sim.faults = [Fault("body", status=200, api="azure_openai", path=METRICS, body=body)]


def _plan(
    capsys: Capsys, job: str, command: tuple[str, ...] = ("plan",)
) -> tuple[int, dict[str, Any], str]:
    code, out, err = cli(capsys, *command, job, "--json", "--now", NOW_ARG)
    (entry,) = json.loads(out)["jobs"]
    return code, entry, err


def _decided(entry: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {d["id"]: (d["decision"], d["reason"]) for d in entry["decisions"]}


def _fails_safe(code: int, entry: dict[str, Any], err: str, sim: Simulator) -> str:
    assert code == 1, err
    assert entry["end"]["status"] == "partial" and "Traceback" not in err
    message = str(entry["end"]["message"])
    assert message.startswith("az: usage unknown: ") and "\n" not in message
    assert {action for action, _ in _decided(entry).values()} == {"skip"}
    assert sim.mutations() == []
    return message


@pytest.mark.parametrize("total", ["NaN", "Infinity", "-3", "null"])
@pytest.mark.parametrize("command", [("plan",), ("run", "--yes")], ids=["plan", "run"])
def test_a_total_that_is_no_count_is_usage_unknown(
    tmp_path: Path, sim: Simulator, capsys: Capsys, total: str, command: tuple[str, ...]
) -> None:
    _answer(sim, f'{{"timeStamp": "{YESTERDAY}", "total": {total}}}')
    code, entry, err = _plan(capsys, azure_job(tmp_path, sim, DEPLOYMENTS_UNUSED), command)
    assert "a total that is not a count" in _fails_safe(code, entry, err, sim)


@pytest.mark.parametrize(
    ("target", "used"),
    [(DEPLOYMENTS_UNUSED, BUSY), ("{provider: az, unused_for: 30d}", YOUNG)],
    ids=["deployment", "model-it-serves"],
)
def test_a_deployment_named_in_another_case_was_used(
    tmp_path: Path, sim: Simulator, capsys: Capsys, target: str, used: str
) -> None:
    _answer(sim, f'{{"timeStamp": "{YESTERDAY}", "total": 2}}', name=BUSY.upper())
    code, entry, err = _plan(capsys, azure_job(tmp_path, sim, target), ("run", "--yes"))
    assert code == 0, err
    assert _decided(entry)[used] == (
        "keep",
        "last used 2026-06-01 (12h ago), within unused_for 30d",
    )
    assert not [m for m in sim.mutations() if used in m.path]


def test_a_day_before_the_window_asked_for_is_usage_unknown(
    tmp_path: Path, sim: Simulator, capsys: Capsys
) -> None:
    _answer(sim, '{"timeStamp": "1970-01-01T00:00:00Z", "total": 3}')
    code, entry, err = _plan(capsys, azure_job(tmp_path, sim, DEPLOYMENTS_UNUSED))
    assert "a day (1970-01-01) before the window" in _fails_safe(code, entry, err, sim)


def test_a_day_at_the_calendars_end_is_a_use_by_the_clock_never_an_overflow(
    tmp_path: Path, sim: Simulator, capsys: Capsys
) -> None:
    _answer(sim, '{"timeStamp": "9999-12-31T00:00:00Z", "total": 3}')
    code, entry, err = _plan(capsys, azure_job(tmp_path, sim, DEPLOYMENTS_UNUSED))
    assert code == 0, err
    assert _decided(entry)[BUSY] == ("keep", "last used 2026-06-01 (0s ago), within unused_for 30d")


def test_a_rule_reaching_past_what_azure_monitor_keeps_ends_partial(
    tmp_path: Path, sim: Simulator, capsys: Capsys
) -> None:
    assert timedelta(days=93) == RETENTION
    job = azure_job(tmp_path, sim, "{provider: az, kind: deployment, unused_for: 120d}")
    code, entry, err = _plan(capsys, job, ("run", "--yes"))
    why = (
        f"usage unknown: the read covers only since {NOW - RETENTION:%Y-%m-%d}, not unused_for 120d"
    )
    assert _decided(entry)[BUSY] == ("skip", why)
    assert _fails_safe(code, entry, err, sim).startswith(f"az: {why}; ")

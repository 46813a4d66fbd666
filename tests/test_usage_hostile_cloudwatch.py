"""A hostile CloudWatch (Bedrock's use, issue 18) through the CLI, with moto behind the
counting proxy of tests.motoserver: messages saying data may be missing, pages without end,
data points outside the window asked for, and a rule reaching past what CloudWatch keeps.
None may crash, and none may make a used item look unused: the job ends partial, exit 1,
and nothing mutating is sent."""

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.simulator import Simulator
from runner.usage import cloudwatch as source
from tests import test_usage_cloudwatch as usage_cloudwatch
from tests.conftest import NOW
from tests.motoserver import MotoServer, Reply, StubServer, forward
from tests.test_bedrock import (  # noqa: F401 (autouse fixtures: fake credentials, loopback only, no back-off)
    aws_env,
    loopback_only,
    no_backoff,
)
from tests.test_usage_cloudwatch import (
    Request,
    Script,
    _changed,
    calls,
    decided,
    fails_safe,
    job,
    plan,
)

pytestmark = pytest.mark.timeout(120)

# Its fixtures: the Bedrock simulator, moto, and the proxy in front of it.
sim, moto_server, cloudwatch = (
    usage_cloudwatch.sim,
    usage_cloudwatch.moto_server,
    usage_cloudwatch.cloudwatch,
)


def _each_result(moto: MotoServer, **fields: Any) -> Script:
    return _changed(moto, lambda results: [{**r, **fields} for r in results])


def _answer(moto: MotoServer, **fields: Any) -> Script:
    """moto's answer with ``fields`` set at its top level."""

    def script(seen: Request) -> Reply:
        answer = forward(moto.url, seen)
        return Reply(answer.status, {**answer.body, **fields})

    return script


MESSAGES = [{"Code": "MaxMetricsExceeded", "Value": "some queries were not run"}]
HOSTILE: dict[str, tuple[Callable[[MotoServer], Script], str]] = {
    # "As much of the operation as possible is still executed": data may be missing.
    "a message about the call": (
        lambda moto: _answer(moto, Messages=MESSAGES),
        "a message about the call (some queries were not run): data may be missing",
    ),
    "a message on a complete result": (
        lambda moto: _each_result(moto, Messages=MESSAGES),
        "a query answered Complete: some queries were not run",
    ),
    "a data point from before the window": (
        lambda moto: _each_result(moto, Timestamps=[0.0], Values=[3.0]),
        "a data point from 1970-01-01, before the window",
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
@pytest.mark.parametrize("command", [("plan",), ("run", "--yes")], ids=["plan", "run"])
def test_an_answer_that_may_miss_data_is_usage_unknown(
    tmp_path: Path,
    sim: Simulator,
    moto_server: MotoServer,
    cloudwatch: Callable[[Script], StubServer],
    capsys: pytest.CaptureFixture[str],
    name: str,
    command: tuple[str, ...],
) -> None:
    script, said = HOSTILE[name]
    cloudwatch(script(moto_server))
    code, entry, err = plan(capsys, job(tmp_path, sim), *command)
    assert said in fails_safe(code, entry, err, sim)


def test_pages_without_end_are_stopped_and_usage_is_unknown(
    tmp_path: Path,
    sim: Simulator,
    moto_server: MotoServer,
    cloudwatch: Callable[[Script], StubServer],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(source, "MAX_PAGES", 5)
    tokens = (f"token-{n}" for n in itertools.count())  # a new one every time: no repeat
    script = _answer(moto_server)
    proxy = cloudwatch(lambda seen: Reply(200, {**script(seen).body, "NextToken": next(tokens)}))
    code, entry, err = plan(capsys, job(tmp_path, sim), "run", "--yes")
    assert "still paging after 5 pages" in fails_safe(code, entry, err, sim)
    assert calls(proxy) == 5


def test_a_data_point_at_the_calendars_end_is_a_use_after_the_clock(
    tmp_path: Path,
    sim: Simulator,
    moto_server: MotoServer,
    cloudwatch: Callable[[Script], StubServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    last_day = 253402257600.0  # 9999-12-31T12:00:00Z: a day's end past the calendar's
    cloudwatch(_each_result(moto_server, Timestamps=[last_day], Values=[1.0]))
    code, entry, err = plan(capsys, job(tmp_path, sim), "plan")
    assert code == 0, err
    assert decided(entry)["idle"] == ("keep", "last used 9999-12-31, after the rules' clock")
    assert sim.mutations() == []


def test_a_rule_reaching_past_what_cloudwatch_keeps_ends_partial(
    tmp_path: Path,
    sim: Simulator,
    cloudwatch: Callable[[Script], StubServer],
    capsys: pytest.CaptureFixture[str],
) -> None:
    targets = ["{provider: aws, unused_for: 500d}"]
    code, entry, err = plan(capsys, job(tmp_path, sim, targets), "run", "--yes")
    kept = f"{NOW - source.RETENTION:%Y-%m-%d}"
    why = f"usage unknown: the read covers only since {kept}, not unused_for 500d"
    assert decided(entry)["idle"] == ("skip", why)
    assert fails_safe(code, entry, err, sim).startswith(f"aws: {why}; ")

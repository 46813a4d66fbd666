"""A hostile Usage API (OpenAI's, issue 18) through the CLI against the simulator: bucket
times at either end of the calendar or outside the window asked for, a model told in
another case, buckets that tell of one model out of order, and a window reaching before
1970. None may crash, and none may make a used model look unused: what the read cannot
vouch for is "usage unknown", the job partial, exit 1, nothing mutating sent."""

import json
from pathlib import Path
from typing import Any

import pytest

from runner.simulator import Simulator, load_seed
from runner.simulator.core import Fault
from tests.conftest import NOW
from tests.helpers import NOW_ARG, cli
from tests.test_usage_openai import (
    ADMIN,
    FT,
    IDLE,
    TODAY,
    USAGE,
    _bucket,
    _decisions,
    _fails_safe,
    _job,
    _page,
    _plan,
    _sim,
)

pytestmark = pytest.mark.usefixtures("keys")  # OPENAI_API_KEY and the others (conftest)

DAY = 86400
FIRST = TODAY - 30 * DAY  # the first day a 30-day rule at NOW reads (its window's midnight)


@pytest.fixture(autouse=True)
def admin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)


def _answering(tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, *args: str) -> Any:
    """The plan (or ``args``) when the Usage API's first page is ``body``: (code, job, err,
    the simulator)."""
    with _sim() as sim:
        sim.faults = [Fault("body", path=USAGE, status=200, body=body, times=1)]
        job = _job(tmp_path, sim)
        code, entry, err = _plan(capsys, job, *(args and (*args, job)))
    return code, entry, err, sim


def _spanning(start: int, end: int, model: str = IDLE) -> dict[str, Any]:
    """A bucket from ``start`` to ``end`` in which ``model`` was used."""
    return {**_bucket(start, model), "end_time": end}


@pytest.mark.parametrize("end", [10**12, 10**20], ids=["year-33658", "past-time_t"])
def test_a_bucket_ending_past_the_calendar_is_a_use_by_the_clock_never_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], end: int
) -> None:
    code, entry, err, sim = _answering(tmp_path, capsys, _page(_spanning(TODAY - DAY, end)))
    assert code == 0, err
    assert _decisions(entry)["idle"] == (
        "keep",
        "last used 2026-06-01 (0s ago), within unused_for 30d",
    )
    assert sim.mutations() == []


@pytest.mark.parametrize(
    ("bucket", "said"),
    [
        (
            _spanning(10**20, 10**20 + DAY),
            "starting at 100000000000000000000, after the run's clock",
        ),
        (_spanning(FIRST - DAY, FIRST), "ending at 2026-05-02 00:00Z, before the window asked for"),
    ],
    ids=["after-the-clock", "before-the-window"],
)
@pytest.mark.parametrize("command", [(), ("run", "--yes")], ids=["plan", "run"])
def test_a_bucket_outside_the_window_asked_for_is_usage_unknown(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bucket: dict[str, Any],
    said: str,
    command: tuple[str, ...],
) -> None:
    code, entry, err, sim = _answering(tmp_path, capsys, _page(bucket), *command)
    why = _fails_safe(sim, code, entry, err)
    assert said in why


def test_a_use_told_under_the_models_id_in_another_case_is_a_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = _page(_bucket(TODAY - DAY, IDLE.upper()))
    code, entry, err, sim = _answering(tmp_path, capsys, body, "run", "--yes")
    assert code == 0, err
    assert _decisions(entry)["idle"][0] == "keep"
    assert not [m for m in sim.mutations() if "idle" in m.path]


def test_a_bucket_telling_of_an_earlier_use_never_hides_a_later_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The first bucket says "used by today", the second (same start, ending sooner) that it
    # was used on the window's first day: read in order, the second must not win.
    body = _page(_spanning(FIRST - DAY, TODAY), _spanning(FIRST - DAY, FIRST + 1))
    code, entry, err, sim = _answering(tmp_path, capsys, body, "run", "--yes")
    assert code == 0, err
    assert _decisions(entry)["idle"] == (
        "keep",
        "last used 2026-05-31 (12h ago), within unused_for 30d",
    )
    assert not [m for m in sim.mutations() if "idle" in m.path]


@pytest.mark.parametrize("now", ["1970-01-10T00:00:00Z", "1900-01-01T00:00:00Z"])
def test_a_window_reaching_before_1970_is_read_from_1970_and_is_usage_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], now: str
) -> None:
    seed = [{"id": FT.format("idle"), "age_days": 200}]
    with Simulator(load_seed({"openai": seed}, NOW)) as sim:
        job = _job(tmp_path, sim)
        code, out, err = cli(capsys, "run", job, "--yes", "--json", "--now", now)
        (read,) = [r for r in sim.requests if r.path.endswith(USAGE)]
        assert sim.mutations() == []
    assert code == 1, err
    (entry,) = json.loads(out)["jobs"]
    assert entry["end"]["status"] == "partial"
    assert _decisions(entry)["idle"] == (
        "skip",
        "usage unknown: the read covers only since 1970-01-01, not unused_for 30d",
    )
    assert read.status == 200  # asked from 1970 (the simulator refuses a negative start_time)


def test_unused_for_0d_reads_use_and_keeps_what_was_used_today(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = [
        {"id": FT.format("today"), "age_days": 200, "used_days_ago": [0.25]},
        {"id": FT.format("yesterday"), "age_days": 200, "used_days_ago": [1]},
    ]
    with Simulator(load_seed({"openai": seed}, NOW)) as sim:
        job = _job(tmp_path, sim, "{provider: openai, unused_for: 0d}")
        monkeypatch.delenv("OPENAI_ADMIN_KEY")  # a 0d rule needs the admin key too
        code, _, err = cli(capsys, "plan", job, "--now", NOW_ARG)
        assert code == 2 and "OPENAI_ADMIN_KEY" in err and sim.requests == []
        monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)
        code, entry, err = _plan(capsys, job)
        assert code == 0, err
        got = _decisions(entry)
        assert got["today"] == ("keep", "last used 2026-06-01 (0s ago), within unused_for 0d")
        assert got["yesterday"][0] == "delete"
        assert sim.mutations() == []

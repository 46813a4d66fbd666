"""OpenAI's Usage API as the source of unused_for (issue 18), through the CLI against the
simulator: what it reads, the admin key it reads with, and every way it fails safe."""

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.simulator import Simulator, load_seed
from runner.simulator.core import Fault
from tests.conftest import FAST, NOW
from tests.helpers import NOW_ARG, cli, job_yaml, one_job, write_job

pytestmark = pytest.mark.usefixtures("keys")  # OPENAI_API_KEY and the others (conftest)

ADMIN = "sk-admin-test-4d1c0a77e2"
DAY = timedelta(days=1)
USAGE = "/v1/organization/usage/completions"
FT = "ft:gpt-4o-mini-2024-07-18:acme:{}:Ab12Cd34"
SEED = [
    {"id": FT.format("idle"), "age_days": 200, "used_days_ago": [100]},
    {"id": FT.format("never"), "age_days": 200},
    {"id": FT.format("stale"), "age_days": 200, "used_days_ago": [60]},
    {"id": FT.format("used"), "age_days": 200, "used_days_ago": [5, 60]},
    {"id": FT.format("young"), "age_days": 10},
    {"id": FT.format("young-used"), "age_days": 10, "used_days_ago": [2]},
    # Used 30 days and 6 hours ago: the day's bucket reaches into the 30-day window, and
    # a use some time that day may have been inside it: kept.
    {"id": FT.format("edge"), "age_days": 200, "used_days_ago": [30.25]},
    {"id": "gpt-4o-mini-2024-07-18", "age_days": 400, "used_days_ago": [1]},  # a base model
]
IDLE = FT.format("idle")
KEPT = {"used", "young", "young-used", "edge"}


def _sim(**options: Any) -> Simulator:
    return Simulator(load_seed({"openai": SEED}, NOW), **options)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with _sim() as server:
        yield server


@pytest.fixture
def admin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", ADMIN)


def _job(tmp_path: Path, sim: Simulator, *targets: str, **fields: object) -> str:
    conn = {"type": "openai", "base_url": sim.base_url("openai"), "requests_per_minute": 600000}
    conn.update(fields)
    rules = targets or ("{provider: openai, unused_for: 30d}",)
    return write_job(tmp_path, job_yaml({"openai": conn}, one_job("idle", list(rules))))


def _plan(
    capsys: pytest.CaptureFixture[str], job: str, *args: str
) -> tuple[int, dict[str, Any], str]:
    code, out, err = cli(capsys, *(args or ("plan", job)), "--json", "--now", NOW_ARG)
    (entry,) = json.loads(out)["jobs"] if out else [{}]
    return code, entry, err


def _decisions(entry: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {d["id"].split(":")[3]: (d["decision"], d["reason"]) for d in entry["decisions"]}


def _usage_reads(sim: Simulator) -> int:
    return sum(1 for r in sim.requests if r.path.endswith(USAGE))


# -- what it reads -------------------------------------------------------------------------


@pytest.mark.parametrize("dry", [True, False], ids=["plan", "run"])
def test_idle_models_go_and_used_young_and_edge_ones_stay(
    tmp_path: Path, sim: Simulator, admin: None, capsys: pytest.CaptureFixture[str], dry: bool
) -> None:
    job = _job(tmp_path, sim)
    code, entry, err = _plan(capsys, job, *(() if dry else ("run", job, "--yes")))
    assert code == 0, err
    got = _decisions(entry)
    # Only the window was read: "no use in 30d", never "never used".
    assert got["idle"] == ("delete", "unused_for 30d: no use in 30d")
    assert got["never"] == got["stale"] == ("delete", "unused_for 30d: no use in 30d")
    assert got["used"] == ("keep", "last used 2026-05-27 (4d ago), within unused_for 30d")
    assert got["young"][0] == got["young-used"][0] == "keep"
    assert got["young"][1].startswith("too young: created")
    assert got["young-used"][1].startswith("last used 2026-05-30")
    assert got["edge"] == ("keep", "last used 2026-05-02 (29d ago), within unused_for 30d")
    # 31 daily buckets: one page. The simulator refuses the admin key on the models API
    # and any other key on the Usage API: each key went only where it belongs.
    assert _usage_reads(sim) == 1
    deleted = sorted(p.split("%3A")[3] for m in sim.mutations() for p in [m.path])
    assert deleted == ([] if dry else ["idle", "never", "stale"])
    for path in tmp_path.rglob("*"):  # the audit log, the state, the plan: never the key
        assert not path.is_file() or ADMIN.encode() not in path.read_bytes()


def test_a_longer_rule_on_the_connection_widens_the_read_and_names_the_last_use(
    tmp_path: Path, sim: Simulator, admin: None, capsys: pytest.CaptureFixture[str]
) -> None:
    targets = (
        "{provider: openai, unused_for: 30d, name: 'stale'}",
        "{provider: openai, unused_for: 90d, name: 'idle'}",
    )
    code, entry, err = _plan(capsys, _job(tmp_path, sim, *targets))
    assert code == 0, err
    got = _decisions(entry)
    assert got["idle"] == ("delete", "name matches 'idle'; unused_for 90d: no use in 90d")
    # The 90-day read saw its use 60 days ago: the 30-day rule names it.
    stale = "name matches 'stale'; unused_for 30d: last used 2026-04-02 (59d ago)"
    assert got["stale"] == ("delete", stale)
    # 91 daily buckets (from the midnight before the window) at 31 a page: ⌈90/31⌉ = 3.
    assert _usage_reads(sim) == 3


def test_the_read_pages_by_next_page_with_the_same_answer(
    tmp_path: Path, admin: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with _sim(max_page_size=4) as small:
        code, entry, err = _plan(capsys, _job(tmp_path, small))
        assert code == 0, err
        assert _usage_reads(small) == 8  # 31 buckets, 4 a page
    got = _decisions(entry)
    assert {k for k, (action, _) in got.items() if action == "keep"} == KEPT


def test_a_transient_429_is_retried_and_the_read_goes_on(
    tmp_path: Path, sim: Simulator, admin: None, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.faults = [Fault("status", path=USAGE, status=429, retry_after=0, times=1)]
    code, entry, err = _plan(capsys, _job(tmp_path, sim))
    assert code == 0, err
    assert _decisions(entry)["idle"][0] == "delete"
    assert _usage_reads(sim) == 2


# -- the admin key -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "sk-admin-two words"], ids=["missing", "malformed"])
def test_a_missing_or_malformed_admin_key_stops_before_any_request(
    tmp_path: Path,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: str,
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", value)
    code, out, err = cli(capsys, "plan", _job(tmp_path, sim), "--now", NOW_ARG)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "OPENAI_ADMIN_KEY" in err
    assert "usage_key_env" in err
    assert not value or value not in err + out
    assert sim.requests == []


def test_the_admin_key_is_needed_only_by_unused_for_and_read_from_usage_key_env(
    tmp_path: Path,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    aged = _job(tmp_path, sim, "{provider: openai, older_than: 30d}")
    code, _, err = cli(capsys, "plan", aged, "--now", NOW_ARG)
    assert code == 0, err
    assert _usage_reads(sim) == 0
    monkeypatch.setenv("ACME_ADMIN_KEY", ADMIN)
    own = _job(tmp_path, sim, usage_key_env="ACME_ADMIN_KEY")
    code, entry, err = _plan(capsys, own)
    assert code == 0, err
    assert _decisions(entry)["idle"][0] == "delete"


def test_usage_key_env_must_name_a_variable_never_hold_a_key(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "validate", _job(tmp_path, sim, usage_key_env=ADMIN))
    assert code == 2
    assert "usage_key_env" in err and ADMIN not in err + out


# -- failing safe ------------------------------------------------------------------------


def _page(*buckets: dict[str, Any], more: bool = False, token: str | None = None) -> str:
    page = {"object": "page", "data": list(buckets), "has_more": more, "next_page": token}
    return json.dumps(page)


def _bucket(start: int, model: Any = IDLE, requests: Any = 1) -> dict[str, Any]:
    result = {"object": "organization.usage.completions.result", "model": model}
    result["num_model_requests"] = requests
    return {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": [result]}


TODAY = int(NOW.timestamp()) // 86400 * 86400
FAULTS: dict[str, list[Fault]] = {
    "403": [Fault("status", path=USAGE, status=403)],
    "429": [Fault("status", path=USAGE, status=429, retry_after=0)],
    "500": [Fault("status", path=USAGE, status=500)],
    "garbage": [Fault("garbage", path=USAGE)],
    "wrong-types": [
        Fault("body", path=USAGE, status=200, body=_page(_bucket(TODAY, requests="5")))
    ],
    "not-a-page": [Fault("body", path=USAGE, status=200, body='{"data": {"start_time": 1}}')],
    "ungrouped": [Fault("body", path=USAGE, status=200, body=_page(_bucket(TODAY, model=None)))],
    "empty-has-more": [Fault("body", path=USAGE, status=200, body=_page(more=True, token="p2"))],
    "more-no-token": [Fault("body", path=USAGE, status=200, body=_page(_bucket(TODAY), more=True))],
    "repeat-token": [Fault("repeat_token", path=USAGE)],
    "future": [Fault("body", path=USAGE, status=200, body=_page(_bucket(TODAY + 2 * 86400)))],
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_an_unreadable_usage_api_keeps_everything_and_ends_partial(
    tmp_path: Path,
    admin: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    # The HTTP core's retries are kept (a persistent 429 is retried, then given up on);
    # their production pauses are not.
    monkeypatch.setattr("runner.providers.http.RetryPolicy", lambda: FAST)
    with _sim(max_page_size=4 if name == "repeat-token" else 1000) as sim:
        sim.faults = FAULTS[name]
        job = _job(tmp_path, sim)
        code, entry, err = _plan(capsys, job, "run", job, "--yes")
        _fails_safe(sim, code, entry, err)
        if name == "429":
            assert _usage_reads(sim) == FAST.attempts
        if name == "repeat-token":
            assert _usage_reads(sim) == 2  # the second page gave its own token again


def test_a_project_key_given_as_the_admin_key_is_refused_and_fails_safe(
    tmp_path: Path,
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "openai-key")  # what OPENAI_API_KEY holds
    job = _job(tmp_path, sim)
    code, entry, err = _plan(capsys, job, "run", job, "--yes")
    why = _fails_safe(sim, code, entry, err)
    assert "HTTP 401" in why and "admin key" in why


def test_a_next_page_naming_another_host_is_sent_to_the_connection_only(
    tmp_path: Path, admin: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with _sim() as sim, Simulator() as elsewhere:
        link = f"{elsewhere.base_url('openai')}{USAGE}?start_time=0"
        body = _page(_bucket(TODAY - 86400), more=True, token=link)
        sim.faults = [Fault("body", path=USAGE, status=200, body=body, times=1)]
        job = _job(tmp_path, sim)
        code, entry, err = _plan(capsys, job, "run", job, "--yes")
        _fails_safe(sim, code, entry, err)  # our simulator cannot read a foreign token
        assert _usage_reads(sim) == 2
        assert elsewhere.requests == []


def _fails_safe(sim: Simulator, code: int, entry: dict[str, Any], err: str) -> str:
    """Exit 1, the job partial with one line saying why, every model skipped with
    ``usage unknown: WHY`` (escaped, one line), and nothing deleted. Returns WHY."""
    assert code == 1, err
    assert entry["end"]["status"] == "partial"
    (line,) = [n for n in entry["notes"] if "usage unknown" in n]
    assert line.startswith("openai: usage unknown: openai_usage: ") and "\n" not in line
    got = _decisions(entry)
    assert {action for action, _ in got.values()} == {"skip"} | (
        {"keep"} if any(r.startswith("too young") for _, r in got.values()) else set()
    )
    why = got["idle"][1]
    assert why.startswith("usage unknown: openai_usage: ") and "\n" not in why
    assert got["never"][1] == why
    assert sim.mutations() == []
    return why

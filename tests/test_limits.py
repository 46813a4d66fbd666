"""max_deletions_percent (and max_deletions beside it) through the CLI against the simulator.

The percentage is of the usable models listed on each connection, checked per connection
before the first delete; when it trips the job deletes nothing and exits 1.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.audit import read_records, verify
from runner.cli import main
from runner.simulator import Accounts, Simulator, cohere_model
from tests.conftest import BFL_KEY, COHERE_KEY

NOW = datetime(
    2024, 3, 1, 12, 0, tzinfo=UTC
)  # in the past, whatever today is: run refuses a future --now
NOW_ARG = "2024-03-01T12:00:00Z"
OLD = NOW - timedelta(days=90)


def accounts(selected: int = 6, others: int = 4, bfl: int = 2, tombstones: int = 0) -> Accounts:
    """``selected`` exp-* models 90 days old, ``others`` prod-* ones nobody selects,
    ``tombstones`` listed as STATUS_DELETED (Cohere keeps showing deleted models)."""
    acc = Accounts()
    for i in range(selected):
        acc.add_cohere(cohere_model(f"exp-{i}", f"exp-{i}", "STATUS_READY", OLD))
    for i in range(others):
        acc.add_cohere(cohere_model(f"prod-{i}", f"prod-{i}", "STATUS_READY", OLD))
    for i in range(tombstones):
        acc.add_cohere(cohere_model(f"gone-{i}", f"exp-gone-{i}", "STATUS_DELETED", OLD))
    for i in range(bfl):
        acc.add_bfl(f"lora-{i}")
    acc.sort()
    return acc


def job_text(url: str, limits: str, bfl_ids: list[str] | None = None) -> str:
    bfl_target = f"\n      - {{provider: bfl, ids: [{', '.join(bfl_ids)}]}}" if bfl_ids else ""
    return f"""version: 1
providers:
  cohere: {{base_url: "{url}", concurrency: 4, requests_per_minute: 600000}}
  bfl: {{base_url: "{url}", requests_per_minute: 600000}}
jobs:
  - name: capped
    {limits}
    targets:
      - {{provider: cohere, name: "exp-*", older_than: 30d}}{bfl_target}
"""


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    monkeypatch.setenv("BFL_API_KEY", BFL_KEY)


def write(tmp_path: Path, sim: Simulator, limits: str, bfl_ids: list[str] | None = None) -> str:
    path = tmp_path / "job.yaml"
    path.write_text(job_text(sim.url, limits, bfl_ids))
    return str(path)


def audit(tmp_path: Path) -> list[dict[str, Any]]:
    return list(read_records(tmp_path / "audit" / "ftjanitor.jsonl"))


def plan_json(job: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    main(["plan", job, "--now", NOW_ARG, "--json"])
    (entry,) = json.loads(capsys.readouterr().out)["jobs"]
    assert isinstance(entry, dict)
    return entry


def assert_nothing_sent_and_aborted(sim: Simulator, tmp_path: Path, message: str) -> None:
    assert sim.mutations() == [] and sim.deleted == []
    records = audit(tmp_path)
    assert not [r for r in records if r["event"] in ("delete.intent", "delete.outcome")]
    end = records[-1]
    assert (end["event"], end["status"], end["deleted"]) == ("run.end", "aborted", 0)
    assert message in end["message"]
    assert verify(tmp_path / "audit" / "ftjanitor.jsonl").ok


def test_percent_trips_with_zero_deletes_and_the_plan_names_it(
    tmp_path: Path, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with Simulator(accounts(selected=6, others=4), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as sim:
        job = write(tmp_path, sim, "max_deletions_percent: 50")
        message = (
            "job 'capped' would delete 6 of 10 models on cohere, over its"
            " max_deletions_percent of 50%: nothing deleted (raise the limit or narrow the rules)"
        )
        # The plan shows every model it would delete as blocked, and the limit.
        assert main(["plan", job, "--now", NOW_ARG]) == 1
        out = capsys.readouterr().out
        assert "job capped  (max_deletions 50, max_deletions_percent 50)" in out
        assert f"LIMIT: {message}" in out
        assert "0 to delete, 6 blocked by the limit" in out
        rows = [line.split() for line in out.splitlines() if line.strip().startswith("exp-")]
        assert sorted(row[0] for row in rows) == [f"exp-{i}" for i in range(6)]
        assert {row[4] for row in rows} == {"blocked"}
        assert all(
            "blocked by the limit (" in line
            for line in out.splitlines()
            if line.strip().startswith("exp-")
        )
        entry = plan_json(job, capsys)
        assert entry["limit"] == message
        blocked = {d["id"] for d in entry["decisions"] if d["decision"] == "blocked"}
        assert blocked == {f"exp-{i}" for i in range(6)}
        assert entry["summary"].get("delete", 0) == 0
        # The run: exit 1, not one mutating request.
        assert main(["run", job, "--yes", "--now", NOW_ARG]) == 1
        out = capsys.readouterr().out
        assert message in out and "aborted" in out
        assert_nothing_sent_and_aborted(sim, tmp_path, message)


@pytest.mark.parametrize(
    ("selected", "others", "percent", "deleted"),
    [(5, 5, 50, 5), (6, 4, 60, 6), (1, 99, 1, 1), (10, 0, 100, 10)],
    ids=["5/10 at 50%", "6/10 at 60%", "1/100 at 1%", "all at 100%"],
)
def test_at_the_percentage_exactly_it_deletes(
    tmp_path: Path, keys: None, selected: int, others: int, percent: int, deleted: int
) -> None:
    with Simulator(accounts(selected, others), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as sim:
        job = write(tmp_path, sim, f"max_deletions_percent: {percent}\n    max_deletions: 100")
        assert main(["run", job, "--yes", "--now", NOW_ARG]) == 0
        assert len(sim.deleted) == deleted and len(set(sim.deleted)) == deleted


@pytest.mark.parametrize(
    ("limits", "messages", "absent"),
    [
        (
            "max_deletions: 3\n    max_deletions_percent: 50",
            [
                "would delete 6 models, over its max_deletions of 3",
                "would delete 6 of 10 models on cohere, over its max_deletions_percent of 50%",
            ],
            [],
        ),
        (
            "max_deletions: 3\n    max_deletions_percent: 80",
            ["would delete 6 models, over its max_deletions of 3"],
            ["max_deletions_percent of"],
        ),
        (
            "max_deletions: 10\n    max_deletions_percent: 50",
            ["would delete 6 of 10 models on cohere, over its max_deletions_percent of 50%"],
            ["over its max_deletions of"],
        ),
    ],
    ids=["both trip", "only max_deletions trips", "only the percentage trips"],
)
def test_both_limits_together(
    tmp_path: Path,
    keys: None,
    capsys: pytest.CaptureFixture[str],
    limits: str,
    messages: list[str],
    absent: list[str],
) -> None:
    with Simulator(accounts(selected=6, others=4), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as sim:
        job = write(tmp_path, sim, limits)
        assert main(["run", job, "--yes", "--now", NOW_ARG]) == 1
        out = capsys.readouterr().out
        for text in messages:
            assert text in out
        for text in absent:
            assert text not in out
        assert_nothing_sent_and_aborted(sim, tmp_path, messages[0])


def test_percent_is_counted_per_connection(
    tmp_path: Path, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # cohere: 4 of 10 (40%); bfl: 2 of 2 (100%). Together 6 of 12 = 50%, which a 50% limit
    # would allow; per connection, bfl is over it: bfl deletes nothing, cohere goes on.
    with Simulator(
        accounts(selected=4, others=6, bfl=2), cohere_key=COHERE_KEY, bfl_key=BFL_KEY
    ) as sim:
        job = write(tmp_path, sim, "max_deletions_percent: 50", ["lora-0", "lora-1"])
        entry = plan_json(job, capsys)
        blocked = {
            (d["connection"], d["id"]) for d in entry["decisions"] if d["decision"] == "blocked"
        }
        assert blocked == {("bfl", "lora-0"), ("bfl", "lora-1")}
        assert main(["run", job, "--yes", "--now", NOW_ARG]) == 1
        out = capsys.readouterr().out
        assert "would delete 2 of 2 models on bfl, over its max_deletions_percent of 50%" in out
        assert "on cohere" not in out
        assert sorted(sim.deleted) == [("cohere", f"exp-{i}") for i in range(4)]
        assert (audit(tmp_path)[-1]["status"], audit(tmp_path)[-1]["deleted"]) == ("aborted", 4)


def test_a_busy_connection_does_not_hide_a_wiped_one(
    tmp_path: Path, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # cohere: 6 of 10 (60%); bfl: 1 of 10 (10%). Overall 7 of 20 = 35%: per connection,
    # cohere is over 50%.
    with Simulator(
        accounts(selected=6, others=4, bfl=10), cohere_key=COHERE_KEY, bfl_key=BFL_KEY
    ) as sim:
        job = write(tmp_path, sim, "max_deletions_percent: 50", ["lora-0"])
        assert main(["run", job, "--yes", "--now", NOW_ARG]) == 1
        out = capsys.readouterr().out
        assert "would delete 6 of 10 models on cohere, over its max_deletions_percent of 50%" in out
        assert "on bfl" not in out
        # cohere deletes nothing; bfl, under the limit, goes on.
        assert sim.deleted == [("bfl", "lora-0")]
        # Under the limit on both, it deletes on both.
        (tmp_path / "job.yaml").write_text(
            job_text(sim.url, "max_deletions_percent: 60", ["lora-0"])
        )
        assert main(["run", job, "--yes", "--now", NOW_ARG]) == 0
        assert len(sim.deleted) == 7 and ("bfl", "lora-0") in sim.deleted


def test_already_deleted_models_do_not_dilute_the_percentage(
    tmp_path: Path, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Cohere keeps listing deleted models (STATUS_DELETED). Ten such tombstones beside ten
    # live models: deleting 6 of the live ones is 60% of what is there, not 30%.
    with Simulator(
        accounts(selected=6, others=4, tombstones=10), cohere_key=COHERE_KEY, bfl_key=BFL_KEY
    ) as sim:
        job = write(tmp_path, sim, "max_deletions_percent: 50")
        assert main(["run", job, "--yes", "--now", NOW_ARG]) == 1
        assert "would delete 6 of 10 models on cohere" in capsys.readouterr().out
        assert_nothing_sent_and_aborted(sim, tmp_path, "max_deletions_percent of 50%")


def test_unusable_models_are_not_counted(
    tmp_path: Path, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two listed items that can never be deleted (an unsafe ID, no ID at all) are no part of
    # the base: 6 of 10 usable trips 50%, though 6 of 12 listed would not.
    acc = accounts(selected=6, others=4)
    acc.add_cohere(cohere_model("bad id/..", "exp-bad", "STATUS_READY", OLD))
    acc.cohere["no-id"] = {"name": "exp-noid", "status": "STATUS_READY"}
    acc.cohere_order.append("no-id")
    with Simulator(acc, cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as sim:
        job = write(tmp_path, sim, "max_deletions_percent: 50")
        assert main(["run", job, "--yes", "--now", NOW_ARG]) == 1
        assert "would delete 6 of 10 models on cohere" in capsys.readouterr().out
        assert_nothing_sent_and_aborted(sim, tmp_path, "max_deletions_percent of 50%")

"""Fleets: one target over many connections (a list or a glob), each judged and limited on
its own, against one simulator per account (so each connection sees its own models)."""

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from runner.audit import read_records
from runner.simulator import Accounts, Fault, Simulator, cohere_model
from tests.conftest import COHERE_KEY
from tests.helpers import TEST_PACE, cli, job_yaml, write_job

NOW_ARG = "2024-03-01T12:00:00Z"
OLD = datetime(2024, 3, 1, 12, 0, tzinfo=UTC) - timedelta(days=90)
TEAMS = ("cohere-a", "cohere-b", "cohere-c")


def account(selected: int, others: int = 0) -> Accounts:
    acc = Accounts()
    for i in range(selected):
        acc.add_cohere(cohere_model(f"exp-{i}", f"exp-{i}", "STATUS_READY", OLD))
    for i in range(others):
        acc.add_cohere(cohere_model(f"prod-{i}", f"prod-{i}", "STATUS_READY", OLD))
    acc.sort()
    return acc


@pytest.fixture
def fleet() -> Iterator[dict[str, Simulator]]:
    """Three Cohere accounts: 2, 5 and 1 experiments (and 2 production models each)."""
    with ExitStack() as stack:
        sims = {
            name: stack.enter_context(Simulator(account(n, 2), cohere_key=COHERE_KEY))
            for name, n in zip(TEAMS, (2, 5, 1), strict=True)
        }
        yield sims


def fleet_job(tmp_path: Path, sims: dict[str, Simulator], provider: str, limits: str = "") -> str:
    providers: dict[str, dict[str, object]] = {
        name: {"type": "cohere", "base_url": sim.url, "requests_per_minute": TEST_PACE}
        for name, sim in sims.items()
    }
    jobs = f"""  - name: sweep
{limits}    targets:
      - {{provider: {provider}, name: "exp-*", older_than: 30d}}
"""
    return write_job(tmp_path, job_yaml(providers, jobs))


def records(tmp_path: Path) -> list[dict[str, Any]]:
    return list(read_records(tmp_path / "audit" / "ftjanitor.jsonl"))


@pytest.mark.parametrize("provider", ['"cohere-*"', "[cohere-a, cohere-b, cohere-c]"])
def test_a_glob_or_a_list_covers_each_connection(
    tmp_path: Path,
    fleet: dict[str, Simulator],
    keys: None,
    capsys: pytest.CaptureFixture[str],
    provider: str,
) -> None:
    job = fleet_job(tmp_path, fleet, provider)
    metrics = tmp_path / "metrics.prom"
    code, _, err = cli(
        capsys, "run", job, "--yes", "--now", NOW_ARG, "--metrics-file", str(metrics)
    )
    assert code == 0, err
    for name, n in zip(TEAMS, (2, 5, 1), strict=True):
        assert (
            f'ftjanitor_deletions_total{{job="sweep",provider="{name}",result="deleted"}} {n}'
            in metrics.read_text()
        )
    # Each connection deleted its own experiments and nothing else.
    assert [len(sim.deleted) for sim in fleet.values()] == [2, 5, 1]
    outcomes = [r for r in records(tmp_path) if r["event"] == "delete.outcome"]
    assert sorted((r["provider"], r["model_id"]) for r in outcomes) == sorted(
        (name, f"exp-{i}") for name, n in zip(TEAMS, (2, 5, 1), strict=True) for i in range(n)
    )


def test_a_connection_over_its_limit_deletes_nothing_and_the_others_go_on(
    tmp_path: Path, fleet: dict[str, Simulator], keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = fleet_job(tmp_path, fleet, '"cohere-*"', "    max_deletions: 3\n")
    code, out, _ = cli(capsys, "plan", job, "--now", NOW_ARG)
    assert code == 1
    assert "would delete 5 models on cohere-b, over its max_deletions of 3" in out
    assert "cohere-a, over" not in out and "cohere-c, over" not in out
    code, out, _ = cli(capsys, "run", job, "--yes", "--now", NOW_ARG)
    assert code == 1
    assert [len(sim.deleted) for sim in fleet.values()] == [2, 0, 1]
    assert fleet["cohere-b"].mutations() == []
    end = records(tmp_path)[-1]
    assert (end["event"], end["status"], end["deleted"]) == ("run.end", "aborted", 3)
    assert "nothing deleted on cohere-b" in end["message"]


def test_percent_limits_name_each_tripped_connection(
    tmp_path: Path, fleet: dict[str, Simulator], keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2 of 4, 5 of 7, 1 of 3: over 60% only on cohere-b.
    job = fleet_job(
        tmp_path, fleet, "[cohere-a, cohere-b, cohere-c]", "    max_deletions_percent: 60\n"
    )
    code, out, _ = cli(capsys, "run", job, "--yes", "--now", NOW_ARG)
    assert code == 1
    assert "would delete 5 of 7 models on cohere-b, over its max_deletions_percent of 60%" in out
    assert [len(sim.deleted) for sim in fleet.values()] == [2, 0, 1]


BAD = [
    ('"openai-*"', "'openai-*' matches no connection (connections: cohere-a, cohere-b, cohere-c)"),
    ("[cohere-a, cohere-a]", "'cohere-a' names connection 'cohere-a' again"),
    ('[cohere-b, "cohere-*"]', "'cohere-*' names connection 'cohere-b' again"),
    ("[]", "[] is not a connection name or a glob over them"),
    ('"a b"', "'a b' is not a connection name or a glob over them"),
]


@pytest.mark.parametrize(("provider", "message"), BAD)
def test_bad_globs_and_lists_are_invalid_at_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], provider: str, message: str
) -> None:
    sims = {name: Simulator() for name in TEAMS}  # never started: validate sends nothing
    job = fleet_job(tmp_path, sims, provider)
    code, _, err = cli(capsys, "validate", job)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith(f"{job}:9:")
    assert "jobs[0].targets[0].provider" in line and line.endswith(message)


# -- connections at once ---------------------------------------------------------------------

LATENCY = 0.4  # each simulated answer's delay: what makes overlap (or its absence) visible


def arrivals(sims: dict[str, Simulator], method: str) -> list[float]:
    """When each connection's first request of ``method`` arrived, in connection order."""
    return [min(r.ts for r in sim.requests if r.method == method) for sim in sims.values()]


@pytest.mark.parametrize("parallel", [1, 4])
def test_connections_are_read_and_deleted_on_at_once_up_to_parallel_connections(
    tmp_path: Path, keys: None, capsys: pytest.CaptureFixture[str], parallel: int
) -> None:
    with ExitStack() as stack:
        sims = {
            f"team-{i}": stack.enter_context(
                Simulator(account(1), cohere_key=COHERE_KEY, latency=LATENCY)
            )
            for i in range(4)
        }
        job = fleet_job(tmp_path, sims, '"team-*"')
        text = Path(job).read_text().replace("jobs:", f"parallel_connections: {parallel}\njobs:")
        Path(job).write_text(text)
        code, _, err = cli(capsys, "run", job, "--yes", "--now", NOW_ARG)
        assert code == 0, err
        assert [sim.deleted for sim in sims.values()] == [[("cohere", "exp-0")]] * 4
        for method in ("GET", "DELETE"):
            seen = sorted(arrivals(sims, method))
            if parallel == 1:
                # One connection at a time: each starts after the one before was answered.
                assert all(b - a >= LATENCY * 0.9 for a, b in pairwise(seen)), seen
            else:
                assert seen[-1] - seen[0] < LATENCY, seen


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_parallel_connections_is_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    sims = {name: Simulator() for name in TEAMS}  # never started: validate sends nothing
    job = fleet_job(tmp_path, sims, '"cohere-*"')
    Path(job).write_text(f"parallel_connections: {value}\n" + Path(job).read_text())
    code, _, err = cli(capsys, "validate", job)
    assert code == 2 and f"{job}:1:" in err and "parallel_connections" in err


def test_failures_are_listed_per_connection_in_the_jobs_order(
    tmp_path: Path, fleet: dict[str, Simulator], keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # Every delete fails on cohere-c and cohere-a; they settle interleaved, and are told
    # per connection all the same.
    for name in ("cohere-c", "cohere-a"):
        fleet[name].faults = [Fault("status", method="DELETE", status=400)]
    job = fleet_job(tmp_path, fleet, "[cohere-c, cohere-b, cohere-a]")
    code, out, _ = cli(capsys, "run", job, "--yes", "--now", NOW_ARG)
    assert code == 1
    failed = [line.split()[1] for line in out.splitlines() if line.strip().startswith("failed:")]
    assert failed == ["cohere-c"] + ["cohere-a"] * 2, out


def test_keep_latest_keeps_the_newest_on_each_connection(
    tmp_path: Path, fleet: dict[str, Simulator], keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    providers: dict[str, dict[str, object]] = {
        name: {"type": "cohere", "base_url": sim.url, "requests_per_minute": TEST_PACE}
        for name, sim in fleet.items()
    }
    target = '{provider: "cohere-*", name: "exp-*", older_than: 30d, keep_latest: 1}'
    job = write_job(
        tmp_path, job_yaml(providers, f"  - name: sweep\n    targets:\n      - {target}\n")
    )
    code, _, err = cli(capsys, "run", job, "--yes", "--now", NOW_ARG)
    assert code == 0, err
    assert [len(sim.deleted) for sim in fleet.values()] == [1, 4, 0]

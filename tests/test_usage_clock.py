"""A rules' clock no usage read can cover is "usage unknown", never "unused": --now after
the wall clock (use still to come cannot be read) or so early that the window would start
before the year 1. Both through the CLI, with Cohere's listing source: the job is partial,
exit 1, one note line, and nothing mutating is sent, in a dry run and a real run alike."""

import json
from pathlib import Path

import pytest

from runner.simulator import Simulator
from tests.helpers import cli, demo_connections, job_yaml, one_job, write_job

pytestmark = pytest.mark.usefixtures("keys")  # every simulated type's key (conftest)


FUTURE = "the rules' clock ({}) is after today: later use cannot be read"
EARLY = "the window starts before the year 1"


@pytest.mark.parametrize(
    ("command", "now", "why"),
    [
        (("plan",), "9999-12-31T23:59:59Z", FUTURE.format("9999-12-31")),
        (("plan",), "2999-01-01T00:00:00Z", FUTURE.format("2999-01-01")),
        (("plan",), "0001-01-01T00:00:00Z", EARLY),
        # run refuses a --now in the future by itself; the past it takes.
        (("run", "--yes"), "0001-01-01T00:00:00Z", EARLY),
    ],
)
def test_a_clock_no_read_can_cover_keeps_everything(
    tmp_path: Path,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
    now: str,
    why: str,
    command: tuple[str, ...],
) -> None:
    targets = ["{provider: cohere, unused_for: 30d}"]
    job = write_job(tmp_path, job_yaml(demo_connections(sim.url), one_job("idle", targets)))
    code, out, err = cli(capsys, *command, job, "--now", now, "--json")
    assert code == 1, err
    (entry,) = json.loads(out)["jobs"]
    assert entry["end"]["status"] == "partial"
    decisions = entry["decisions"]
    assert not [d for d in decisions if d["decision"] == "delete"]
    unknown = [d for d in decisions if d["reason"] == f"usage unknown: listing: {why}"]
    assert unknown and all(d["decision"] == "skip" for d in unknown)
    assert entry["notes"] == [f"cohere: usage unknown: listing: {why}; nothing there is"
                              " selected by unused_for"]  # fmt: skip
    assert "Traceback" not in err and sim.mutations() == []

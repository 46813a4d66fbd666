"""What the planner makes of doubtful use (issue 18), through the CLI against the simulator
with Cohere's models: an item a read could not vouch for ends the job partial (exit 1) just
as a failed read does; a use at the very start of the window is in it; and a reviewed plan
claiming a last use after its own making cannot hide a use since."""

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from runner.providers.base import ModelRecord
from runner.ref import ResourceRef
from runner.simulator import Simulator
from runner.usage import Seen, UsageSource
from tests.helpers import (
    NOW_ARG,
    cli,
    demo_connections,
    job_yaml,
    one_job,
    read_usage_from,
    used_at,
    write_job,
)
from tests.test_planfile import resign
from tests.test_usage_reviewed import (
    NOW,
    USED_LONG_AGO,
    _apply,
    _deleted_ids,
    _drift,
    _entries,
    _reviewed,
)

pytestmark = pytest.mark.usefixtures("keys")  # every simulated type's key (conftest)

DAY = timedelta(days=1)


class ShortUsage(UsageSource):
    """A source that reads only the last day, and leaves the first item out of its answer."""

    name: ClassVar[str] = "test-short"
    reads: ClassVar[str] = "the last day only"

    def read(
        self,
        lister: Any,
        items: Sequence[tuple[ResourceRef, ModelRecord]],
        start: datetime,
        now: datetime,
    ) -> Mapping[ResourceRef, Seen]:
        return {ref: Seen(None, since=now - DAY) for ref, _ in items[1:]}


def _job(tmp_path: Path, sim: Simulator, rule: str = "30d") -> str:
    targets = [f"{{provider: cohere, unused_for: {rule}}}"]
    return write_job(tmp_path, job_yaml(demo_connections(sim.url), one_job("idle", targets)))


@pytest.mark.parametrize("command", [("plan",), ("run", "--yes")], ids=["plan", "run"])
def test_items_a_read_cannot_vouch_for_end_the_job_partial(
    tmp_path: Path,
    sim: Simulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
) -> None:
    read_usage_from(monkeypatch, ShortUsage())
    code, out, err = cli(capsys, *command, _job(tmp_path, sim), "--json", "--now", NOW_ARG)
    assert code == 1, err
    (entry,) = json.loads(out)["jobs"]
    assert entry["end"]["status"] == "partial"
    skipped = [d for d in entry["decisions"] if d["reason"].startswith("usage unknown: ")]
    assert len(skipped) >= 2 and {d["decision"] for d in skipped} == {"skip"}
    reasons = {d["reason"] for d in skipped}
    assert "usage unknown: the usage read did not answer for it" in reasons
    assert "usage unknown: the read covers only since 2026-05-31, not unused_for 30d" in reasons
    (note,) = [n for n in entry["notes"] if "usage unknown" in n]
    assert note.startswith("cohere: usage unknown: ")
    assert note.endswith(f"; {len(skipped)} items kept so")
    assert entry["end"]["message"] == note
    assert not [d for d in entry["decisions"] if d["decision"] == "delete"]
    assert sim.mutations() == []


def test_a_use_at_the_very_start_of_the_window_is_in_it(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    used_at(sim, USED_LONG_AGO, NOW - 30 * DAY)
    code, out, err = cli(capsys, "plan", _job(tmp_path, sim), "--json", "--now", NOW_ARG)
    assert code == 0, err
    decided = {d["id"]: d for d in json.loads(out)["jobs"][0]["decisions"]}
    assert decided[USED_LONG_AGO]["decision"] == "keep"
    assert (
        decided[USED_LONG_AGO]["reason"] == "last used 2026-05-02 (30d ago), within unused_for 30d"
    )


def test_a_plan_claiming_a_last_use_after_its_making_cannot_hide_a_use_since(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    job, out = _reviewed(tmp_path, sim, capsys)
    body = json.loads(out.read_text())
    for entry in body["jobs"][0]["deletes"]:
        entry["last_used"] = "9999-12-31T00:00:00Z"  # an unsigned plan, edited and re-hashed
    resign(out, body)
    used_at(sim, USED_LONG_AGO, NOW + DAY)  # after the plan was made
    # Applied 40 days on: that use is outside the rule's 30 days, so the rule selects it.
    code, entry = _apply(capsys, job, out, "2026-07-11T12:00:00Z")
    assert code == 0, entry["end"]
    assert _drift(entry)[USED_LONG_AGO] == (
        "in the reviewed plan, used since the plan: last used 2026-06-02 (the plan saw 9999-12-31)"
    )
    assert USED_LONG_AGO not in _deleted_ids(sim)
    assert _deleted_ids(sim) == set(_entries(out)) - {USED_LONG_AGO}

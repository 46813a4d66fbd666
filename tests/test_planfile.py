"""Reviewed plans through the CLI against the simulator: plan --out, then run --plan."""

import hashlib
import json
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from runner.audit import read_records
from runner.chain import dumps
from runner.cli import main
from runner.simulator import Simulator
from tests.conftest import BFL_KEY, COHERE_KEY
from tests.helpers import demo_connections, job_yaml, one_job

NOW = "2026-06-01T12:00:00Z"
TARGETS = [
    "{provider: cohere, status: [STATUS_FAILED]}",
    '{provider: cohere, name: "exp-lr-*", older_than: 30d}',
    "{provider: bfl, ids: [scratch-lora-1]}",
]
REVIEWED = {
    ("cohere", "sim-cohere-0002"),
    ("cohere", "sim-cohere-0003"),
    ("cohere", "sim-cohere-0004"),
    ("cohere", "sim-cohere-0008"),
    ("bfl", "scratch-lora-1"),
}


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    monkeypatch.setenv("BFL_API_KEY", BFL_KEY)


def make_plan(tmp_path: Path, sim: Simulator, *extra: str) -> tuple[str, Path]:
    job = tmp_path / "job.yaml"
    job.write_text(job_yaml(demo_connections(sim.url), one_job("cleanup", TARGETS)))
    out = tmp_path / "plan.json"
    assert main(["plan", str(job), "--now", NOW, "--out", str(out), *extra]) == 0
    assert sim.mutations() == []
    return str(job), out


def test_plan_file_holds_the_reviewed_deletes_and_its_own_hash(
    tmp_path: Path, sim: Simulator, keys: None
) -> None:
    _, out = make_plan(tmp_path, sim)
    body = json.loads(out.read_text())
    assert (
        body["kind"] == "ftjanitor.plan"
        and body["v"] == 1
        and body["now"] == "2026-06-01T12:00:00.000000Z"
    )
    (job,) = body["jobs"]
    assert {(d["provider"], d["model_id"]) for d in job["deletes"]} == REVIEWED
    assert body["created"] < body["expires"]  # wall clock, whatever --now says


def test_apply_after_the_account_changed(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job, out = make_plan(tmp_path, sim)
    capsys.readouterr()
    # After review: one reviewed model is deleted elsewhere, one more becomes selectable.
    del sim.accounts.cohere["sim-cohere-0003"]
    sim.accounts.cohere["sim-cohere-0009"]["status"] = "STATUS_FAILED"
    code = main(["run", job, "--plan", str(out), "--yes", "--now", NOW])
    assert code == 0
    deleted = set(sim.deleted)
    assert deleted == REVIEWED - {("cohere", "sim-cohere-0003")}
    assert ("cohere", "sim-cohere-0009") not in deleted  # selectable now, never reviewed
    printed = capsys.readouterr().out
    assert "absent: cohere sim-cohere-0003 (in the reviewed plan, no longer listed)" in printed
    assert "drift: cohere sim-cohere-0009: not in the reviewed plan" in printed
    records = list(read_records(tmp_path / "audit" / "ftjanitor.jsonl"))
    start = [r for r in records if r["event"] == "run.start" and not r["dry_run"]][-1]
    assert start["plan_sha256"] == json.loads(out.read_text())["sha256"]
    absent = [r["model_id"] for r in records if r["event"] == "delete.absent"]
    assert absent == ["sim-cohere-0003"]


def resign(out: Path, body: dict[str, object]) -> None:
    """Sign a changed plan the way ftjanitor would, so only the change itself is judged."""
    body.pop("sha256")
    body["sha256"] = hashlib.sha256(dumps(body).encode()).hexdigest()
    out.write_text(json.dumps(body))


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("edit", "the plan was edited after it was made"),
        ("job", "changed since the plan was made"),
        ("expire", "the plan expired"),
        ("unknown-job", "names job 'ghost'"),
        ("garbage", "not a JSON plan file"),
    ],
)
def test_a_doubtful_plan_exits_2_and_sends_nothing(
    tmp_path: Path,
    sim: Simulator,
    keys: None,
    capsys: pytest.CaptureFixture[str],
    tamper: str,
    message: str,
) -> None:
    job, out = make_plan(tmp_path, sim)
    body = json.loads(out.read_text())
    if tamper == "edit":
        body["jobs"][0]["deletes"].append(
            {"provider": "cohere", "model_id": "sim-cohere-0012", "name": "prod", "reason": "x"}
        )
        out.write_text(json.dumps(body))
    elif tamper == "job":
        Path(job).write_text(Path(job).read_text() + "# changed\n")
    elif tamper == "unknown-job":
        body["jobs"][0]["job"] = "ghost"
        resign(out, body)
    elif tamper == "expire":  # a validly signed plan whose time is up: no waiting
        body["expires"] = "2000-01-01T00:00:00Z"
        resign(out, body)
    elif tamper == "garbage":
        out.write_text("{not json")
    requests_before = len(sim.requests)
    capsys.readouterr()
    assert main(["run", job, "--plan", str(out), "--yes"]) == 2
    assert message in capsys.readouterr().err
    assert sim.mutations() == [] and len(sim.requests) == requests_before  # nothing sent


def test_markdown_plan_renders_as_tables(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    sim.accounts.cohere["sim-cohere-0008"]["name"] = "evil|name\n| forged | row |<b>x</b>"
    job = tmp_path / "job.yaml"
    job.write_text(job_yaml(demo_connections(sim.url), one_job("cleanup", TARGETS)))
    assert main(["plan", str(job), "--now", NOW, "--format", "markdown"]) == 0
    text = capsys.readouterr().out
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert html.count("<table>") == 3  # one per target
    assert "<b>" not in html and "forged" in html  # escaped, never markup or a new row
    rows = [line for line in html.splitlines() if line.startswith("<tr>")]
    assert not any("forged</td>" in row for row in rows)
    assert "sim-cohere-0008" in html and "<td>delete</td>" in html
    assert "**cleanup**" in text and "4 to delete" not in text  # 5: the summary counts all
    assert "5 to delete" in text

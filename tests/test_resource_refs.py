"""ResourceRef through every layer: an item is (connection, kind, ID), so a model and a
deployment with one ID on one connection are two items in plans, marks, intents, audit
records, plan files, notifications and reports; and what 0.2 wrote (no kind) is a model."""

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from runner import events as ev
from runner.audit import AuditSink, read_records
from runner.chain import GENESIS, dumps, seal
from runner.cli import main
from runner.engine import PlanSet, RunReport
from runner.jobfile.model import Job, Target
from runner.notify import _Batch, json_body, slack_body
from runner.providers import REGISTRY
from runner.providers.base import ModelRecord
from runner.ref import ResourceRef
from runner.report import decision_json, render_markdown, render_outcome, render_plan
from runner.rules import JobPlan, plan_job
from runner.simulator import Simulator
from runner.state import Mark, OpenIntent, StateRef, StateStore
from runner.state import postgres as pg_state
from runner.state import sqlite as sqlite_state
from runner.state.open import open_state
from runner.state.sqlite import SqliteState
from tests.helpers import cli
from tests.pgserver import PgServer
from tests.test_planfile import NOW, REVIEWED, make_plan, resign
from tests.test_report import decision, outcome
from tests.test_report import job as report_job

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MODEL = ResourceRef.on("cohere", "ft-1")
DEPLOYMENT = ResourceRef.on("cohere", "ft-1", "deployment")


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import BFL_KEY, COHERE_KEY

    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    monkeypatch.setenv("BFL_API_KEY", BFL_KEY)


# -- decisions -------------------------------------------------------------------------------


def sweep(grace: timedelta | None = None, **plan_args: Any) -> JobPlan:
    """One old model, ft-1, that the job's one target selects."""
    target = Target("cohere", name="ft-*", older_than=timedelta(days=30), older_than_text="30d")
    job = Job("sweep", (target,), grace=grace)
    old = ModelRecord(id="ft-1", name="ft-1", status="READY", created_at=T0 - 60 * DAY)
    listed = ("cohere", "model")
    spec = REGISTRY["cohere"].kinds["model"]
    return plan_job(job, {listed: [old]}, {listed: spec}, T0, **plan_args)


def test_a_model_and_a_deployment_with_one_id_are_two_decisions() -> None:
    plan = sweep(reviewed={MODEL, DEPLOYMENT})
    decided = {d.ref: d.action for d in plan.decisions}
    assert decided == {MODEL: "delete", DEPLOYMENT: "absent"}


def test_marks_of_two_kinds_with_one_id_never_stand_for_each_other() -> None:
    # The deployment's mark is not the model's: the model is marked now (not due), and
    # the deployment's mark, no longer selected, is the one lifted.
    old_mark = Mark(DEPLOYMENT, T0 - 10 * DAY, T0 - 3 * DAY)
    plan = sweep(grace=timedelta(days=7), marks={DEPLOYMENT: old_mark}, wall_now=T0)
    (decision,) = plan.decisions
    assert (decision.ref, decision.action) == (MODEL, "mark")
    assert plan.unmarks == [old_mark]


# -- state -----------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        ref = StateRef(path=tmp_path / "state.sqlite3")
    else:
        ref = StateRef(url=request.getfixturevalue("pg_fresh_url"))
    with closing(open_state(ref)) as opened:
        yield opened


def test_state_keeps_marks_intents_and_sightings_per_kind(store: StateStore) -> None:
    store.mark("sweep", Mark(MODEL, T0, T0 + DAY))
    store.mark("sweep", Mark(DEPLOYMENT, T0, T0 + 2 * DAY))
    assert store.marks("sweep") == {
        MODEL: Mark(MODEL, T0, T0 + DAY),
        DEPLOYMENT: Mark(DEPLOYMENT, T0, T0 + 2 * DAY),
    }
    store.unmark("sweep", DEPLOYMENT)
    assert list(store.marks("sweep")) == [MODEL]

    model_intent = OpenIntent("sweep", MODEL, "run-1", 4)
    deployment_intent = OpenIntent("sweep", DEPLOYMENT, "run-1", 5)
    store.intent_opened(model_intent)
    store.intent_opened(deployment_intent)
    assert store.open_intents(["sweep"]) == [model_intent, deployment_intent]
    store.intent_closed("run-1", MODEL)
    assert store.open_intents(["sweep"]) == [deployment_intent]

    assert store.sight("cohere", ["ft-1"], T0) == {"ft-1": T0}
    assert store.sight("cohere", ["ft-1"], T0 + DAY, kind="deployment") == {"ft-1": T0 + DAY}
    assert store.sight("cohere", ["ft-1"], T0 + 2 * DAY) == {"ft-1": T0}


def _rows_of_02(run: Any) -> None:
    """What a 0.2 run leaves: a first sighting, a grace mark and an open intent."""
    run("INSERT INTO {p}sightings VALUES ('cohere', 'ft-1', {t})")
    run("INSERT INTO {p}marks VALUES ('sweep', 'cohere', 'ft-1', {t}, {t2})")
    run("INSERT INTO {p}intents VALUES ('run-0', 'cohere', 'ft-1', 'sweep', 7)")


def _check_migrated(state: StateStore) -> None:
    """0.2's rows read back as models, and a deployment with the same ID is another item."""
    assert state.marks("sweep") == {MODEL: Mark(MODEL, T0, T0 + DAY)}
    assert state.open_intents(["sweep"]) == [OpenIntent("sweep", MODEL, "run-0", 7)]
    assert state.sight("cohere", ["ft-1"], T0 + DAY) == {"ft-1": T0}
    state.mark("sweep", Mark(DEPLOYMENT, T0, T0 + DAY))
    state.intent_opened(OpenIntent("sweep", DEPLOYMENT, "run-0", 8))
    assert set(state.marks("sweep")) == {MODEL, DEPLOYMENT}
    assert len(state.open_intents(["sweep"])) == 2


def test_sqlite_state_of_02_is_migrated_with_its_rows_as_models(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    stamp, later = f"'{T0:%Y-%m-%dT%H:%M:%S}.000000Z'", f"'{T0 + DAY:%Y-%m-%dT%H:%M:%S}.000000Z'"
    with closing(sqlite3.connect(path)) as db, db:
        for step in (1, 2):  # the schema exactly as 0.2 made it: versions 1 and 2
            db.executescript(sqlite_state._MIGRATIONS[step])
        db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
        db.executemany("INSERT INTO schema_version VALUES (?, 'then')", [(1,), (2,)])
        _rows_of_02(lambda sql: db.execute(sql.format(p="", t=stamp, t2=later)))
    with closing(SqliteState(path)) as state:
        _check_migrated(state)
    with closing(sqlite3.connect(path)) as db:
        versions = [v for (v,) in db.execute("SELECT version FROM schema_version ORDER BY 1")]
        (index,) = db.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'intents'"
                              " AND type = 'index' AND name = 'intents_by_job'").fetchall()  # fmt: skip
    assert versions == [1, 2, 3, 4] and index == ("intents_by_job",)


def test_postgres_state_of_02_is_migrated_with_its_rows_as_models(
    pg_server: PgServer, pg_fresh_url: str
) -> None:
    with psycopg.connect(pg_fresh_url, autocommit=True) as conn:
        for statement in pg_state._MIGRATIONS[1]:  # the schema exactly as 0.2 made it
            conn.execute(statement)
        conn.execute(
            "CREATE TABLE ftjanitor_schema_version"
            " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute("INSERT INTO ftjanitor_schema_version (version) VALUES (1)")
        _rows_of_02(
            lambda sql: conn.execute(
                sql.format(p="ftjanitor_", t="%(t)s", t2="%(t2)s"), {"t": T0, "t2": T0 + DAY}
            )
        )
    with closing(open_state(StateRef(url=pg_fresh_url))) as state:
        _check_migrated(state)
    with psycopg.connect(pg_fresh_url) as conn:
        rows = conn.execute("SELECT version FROM ftjanitor_schema_version ORDER BY 1").fetchall()
    assert [v for (v,) in rows] == [1, 2, 3]


# -- audit -----------------------------------------------------------------------------------


class Chain:
    """An in-memory chain: what AuditSink appends, in order."""

    name = "memory"

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def append(
        self, event: str, run_id: str | None, fields: dict[str, Any], *, sync: bool = False
    ) -> dict[str, Any]:
        self.records.append((event, fields))
        return fields


def test_every_delete_record_names_the_kind() -> None:
    chain = Chain()
    sink = AuditSink(chain)  # type: ignore[arg-type]
    model = ev.ModelRef(DEPLOYMENT, "endpoint one", "unused")
    sink.emit(ev.Planned("sweep", "run-1", model))
    sink.emit(ev.Marked("sweep", "run-1", model, T0))
    sink.emit(ev.Unmarked("sweep", "run-1", model))
    sink.emit(ev.Absent("sweep", "run-1", model))
    sink.emit(ev.Intent("sweep", "run-1", model))
    sink.emit(ev.Outcome("sweep", "run-1", model, "deleted", 200, 1, None))
    sink.emit(ev.Reconciled("sweep", MODEL, "run-0", 3, "deleted"))
    kinds = [(event, fields["kind"], fields["model_id"]) for event, fields in chain.records]
    assert kinds == [
        ("delete.planned", "deployment", "ft-1"),
        ("delete.marked", "deployment", "ft-1"),
        ("delete.unmarked", "deployment", "ft-1"),
        ("delete.absent", "deployment", "ft-1"),
        ("delete.intent", "deployment", "ft-1"),
        ("delete.outcome", "deployment", "ft-1"),
        ("delete.reconciled", "model", "ft-1"),
    ]
    assert chain.records[0][1] == {
        "job": "sweep",
        "provider": "cohere",
        "kind": "deployment",
        "model_id": "ft-1",
        "name": "endpoint one",
        "reason": "unused",
    }


def write_02_log(path: Path) -> None:
    """A log as 0.2 wrote it: delete records without kind, then one of 0.3 with it."""
    lines, prev = [], GENESIS
    records: list[tuple[str, dict[str, Any]]] = [
        ("run.start", {"job": "sweep", "dry_run": False, "trigger": "manual"}),
        ("delete.planned", {"job": "sweep", "provider": "cohere", "model_id": "ft-old",
                            "name": None, "reason": "older_than 30d"}),
        ("delete.outcome", {"job": "sweep", "provider": "cohere", "model_id": "ft-old",
                            "result": "deleted", "http_status": 200, "attempts": 1,
                            "error": None}),
        ("delete.planned", {"job": "sweep", **DEPLOYMENT.fields(), "name": None,
                            "reason": "unused"}),
    ]  # fmt: skip
    for seq, (event, fields) in enumerate(records, 1):
        record = seal(seq, prev, "2026-06-01T12:00:00.000000Z", event, "run-1", fields)
        lines.append(dumps(record) + "\n")
        prev = record["hash"]
    path.write_text("".join(lines))


def test_a_02_audit_log_verifies_shows_and_exports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "audit.jsonl"
    write_02_log(log)
    code, out, _ = cli(capsys, "audit", "verify", str(log))
    assert code == 0 and "4 records" in out
    code, out, _ = cli(capsys, "audit", "show", str(log))
    rows = [line.split() for line in out.splitlines() if "delete." in line]
    assert code == 0 and [row[5:7] for row in rows] == [
        ["ft-old", "older_than"],
        ["ft-old", "deleted"],
        ["deployment", "ft-1"],
    ]
    code, out, _ = cli(capsys, "audit", "export", str(log))
    assert code == 0 and out == log.read_text()
    refs = [ResourceRef.from_fields(r) for r in read_records(log) if "model_id" in r]
    assert [r.kind for r in refs] == ["model", "model", "deployment"]


# -- plan files ------------------------------------------------------------------------------


def test_a_plan_file_names_the_kind_of_each_delete(
    tmp_path: Path, sim: Simulator, keys: None
) -> None:
    _, out = make_plan(tmp_path, sim)
    (job,) = json.loads(out.read_text())["jobs"]
    assert {d["kind"] for d in job["deletes"]} == {"model"}


def test_a_02_plan_file_without_kinds_applies_as_models(
    tmp_path: Path, sim: Simulator, keys: None
) -> None:
    job, out = make_plan(tmp_path, sim)
    body = json.loads(out.read_text())
    for entry in body["jobs"][0]["deletes"]:
        del entry["kind"]
    resign(out, body)
    assert main(["run", job, "--plan", str(out), "--yes", "--now", NOW]) == 0
    assert set(sim.deleted) == REVIEWED


def test_a_reviewed_deployment_is_not_the_model_with_its_id(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job, out = make_plan(tmp_path, sim)
    body = json.loads(out.read_text())
    deletes = body["jobs"][0]["deletes"]
    first = next(d for d in deletes if d["model_id"] == "sim-cohere-0002")
    first["kind"] = "deployment"
    resign(out, body)
    capsys.readouterr()
    assert main(["run", job, "--plan", str(out), "--yes", "--now", NOW]) == 0
    assert set(sim.deleted) == REVIEWED - {("cohere", "sim-cohere-0002")}
    printed = capsys.readouterr().out
    assert (
        "absent: cohere deployment sim-cohere-0002 (in the reviewed plan, no longer listed)"
        in printed
    )
    assert "drift: cohere sim-cohere-0002: not in the reviewed plan" in printed


def test_a_plan_entry_of_an_unknown_kind_is_refused_in_one_line(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job, out = make_plan(tmp_path, sim)
    body = json.loads(out.read_text())
    body["jobs"][0]["deletes"][0]["kind"] = "widget"
    resign(out, body)
    capsys.readouterr()
    code, stdout, stderr = cli(capsys, "run", job, "--plan", str(out), "--yes", "--now", NOW)
    assert code == 2 and sim.mutations() == [] and stdout == ""
    assert stderr.strip().endswith(
        "not a valid plan file: jobs[0].deletes[0].kind is 'widget', which this ftjanitor"
        " does not know (model, deployment)"
    )
    assert len(stderr.strip().splitlines()) == 1


def test_the_signature_covers_the_kind(
    tmp_path: Path, sim: Simulator, keys: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FTJANITOR_PLAN_KEY", "a-key-for-signing-plans")
    job, out = make_plan(tmp_path, sim)
    body = json.loads(out.read_text())
    body["jobs"][0]["deletes"][0]["kind"] = "deployment"
    resign(out, body)  # the self-hash matches again; only the key can sign
    assert main(["run", job, "--plan", str(out), "--yes", "--now", NOW]) == 2
    assert sim.mutations() == []


# -- notifications and reports ---------------------------------------------------------------


def test_notification_bodies_name_the_kind() -> None:
    batch = _Batch("sweep")
    for ref in (MODEL, DEPLOYMENT):
        model = ev.ModelRef(ref, None, "unused")
        batch.outcomes[ref] = ev.Outcome("sweep", "run-1", model, "deleted", 200, 1, None)
    body = json_body("deleted", "sweep", "run-1", batch)
    assert body["count"] == 2
    assert [(m["kind"], m["model_id"]) for m in body["models"]] == [
        ("model", "ft-1"),
        ("deployment", "ft-1"),
    ]
    lines = slack_body("deleted", "sweep", "run-1", batch)["text"].splitlines()
    assert lines[1:] == ["• cohere ft-1 — unused", "• cohere deployment ft-1 — unused"]


def test_reports_name_the_kind_of_items_that_are_not_models() -> None:
    plan = sweep(reviewed={MODEL, DEPLOYMENT})
    by_ref = {d.ref: d for d in plan.decisions}
    assert decision_json(by_ref[MODEL])["kind"] == "model"
    assert decision_json(by_ref[DEPLOYMENT])["kind"] == "deployment"
    table = render_plan(plan)
    assert "    ft-1 " in table and "deployment ft-1" not in table  # absent rows: no target
    failed = ev.Outcome("sweep", "r", ev.ModelRef(DEPLOYMENT), "failed", 409, 1, "in use")
    absent = ev.ModelRef(DEPLOYMENT, reason="listed by ID, not found at provider")
    lines = render_outcome(outcome(False, "partial", failures=[failed], absent=[absent]))
    assert "  absent: cohere deployment ft-1 (listed by ID, not found at provider)" in lines
    assert "  failed: cohere deployment ft-1: in use" in lines


def test_plan_rows_show_a_deployment_kind_in_table_and_markdown() -> None:
    deployment = dataclasses.replace(decision("ep-1", "delete"), ref=DEPLOYMENT)
    plan = JobPlan(report_job(), [decision("m-1", "delete"), deployment])
    table = render_plan(plan)
    assert "    deployment ft-1 " in table and "    m-1 " in table
    planned = dataclasses.replace(outcome(True, "ok"), plan=plan)
    markdown = render_markdown(RunReport(PlanSet(None, T0, {}), [planned], []))  # type: ignore[arg-type]
    assert "| deployment `ft-1` |" in markdown and "| `m-1` |" in markdown


def test_an_open_intent_of_another_kind_is_never_settled_from_the_model_listing(
    tmp_path: Path, sim: Simulator, keys: None
) -> None:
    """A crash left two intents: a model's and a deployment's, neither listed. Only the
    model's is settled (deleted); the listing of models proves nothing about a deployment."""
    job, _ = make_plan(tmp_path, sim)
    gone_model = ResourceRef.on("cohere", "ft-gone")
    gone_deployment = ResourceRef.on("cohere", "ft-gone", "deployment")
    with closing(SqliteState(tmp_path / "state" / "ftjanitor.sqlite3")) as state:
        state.intent_opened(OpenIntent("cleanup", gone_model, "run-0", 1))
        state.intent_opened(OpenIntent("cleanup", gone_deployment, "run-0", 2))
    assert main(["run", job, "--yes", "--now", NOW]) == 0
    settled = [r for r in read_records(tmp_path / "audit" / "ftjanitor.jsonl")
               if r["event"] == "delete.reconciled"]  # fmt: skip
    assert [(r["kind"], r["model_id"], r["result"]) for r in settled] == [
        ("model", "ft-gone", "deleted")
    ]
    with closing(SqliteState(tmp_path / "state" / "ftjanitor.sqlite3")) as state:
        # Now kept under the connection's account key (runner.accounts), not its name.
        left = [(i.ref.kind, i.ref.id, i.run_id, i.seq) for i in state.open_intents(["cleanup"])]
        assert left == [("deployment", "ft-gone", "run-0", 2)]

"""Stable account keys: the state keeps first sightings, marks and intents by the account a
connection reaches, so renaming the connection keeps them; rows written under a connection's
name (0.2, and 0.3 before keys) move to its key when a job file naming it opens the state."""

import json
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from runner.jobfile.model import Connection
from runner.jobfile.validate import load_job_file
from runner.ref import ResourceRef
from runner.simulator import Accounts, Simulator, cohere_model
from runner.state import Mark, OpenIntent, StateRef
from runner.state import postgres as pg_state
from runner.state import sqlite as sqlite_state
from runner.state.accounts import AccountKeyed
from runner.state.open import open_state
from tests.conftest import COHERE_KEY
from tests.helpers import TEST_PACE, cli, job_yaml, one_job, write_job

T0 = datetime(2026, 5, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def connections(tmp_path: Path, providers: dict[str, dict[str, object]]) -> list[Connection]:
    jobs = one_job("sweep", [f"{{provider: {name}, match_all: true}}" for name in providers])
    return list(load_job_file(write_job(tmp_path, job_yaml(providers, jobs))).connections.values())


FIREWORKS = {"type": "fireworks", "account_id": "acme-ml"}


def test_keys_come_from_the_type_host_and_account_fields(tmp_path: Path) -> None:
    fw, renamed, other, co, named = connections(
        tmp_path,
        {
            "fw": FIREWORKS,
            "fw-eu": {**FIREWORKS, "base_url": "https://eu.fireworks.example"},
            "fw-b": {"type": "fireworks", "account_id": "other"},
            "co": {"type": "cohere"},
            "co-team": {"type": "cohere", "base_url": "https://eu.cohere.example", "account": "t"},
        },
    )
    assert fw.key == "fireworks:api.fireworks.ai:account_id=acme-ml"
    assert renamed.key == "fireworks:eu.fireworks.example:account_id=acme-ml"
    assert other.key != fw.key
    # Cohere has no account field: one key per account on one host, so the name stays in
    # it unless the connection says which account it is.
    assert co.key == "cohere:api.cohere.com:connection=co"
    assert named.key == "cohere:eu.cohere.example:account=t"


def test_regions_are_accounts_of_their_own(tmp_path: Path) -> None:
    (east, west) = connections(
        tmp_path, {"aws": {"type": "bedrock", "regions": ["us-east-1", "us-west-2"]}}
    )
    assert (east.name, west.name) == ("aws/us-east-1", "aws/us-west-2")
    assert east.key == "bedrock:-:endpoint_url=,profile=,role_arn=,region=us-east-1"
    assert west.key.endswith("region=us-west-2")


def test_a_key_never_holds_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    (co,) = connections(tmp_path, {"co": {"type": "cohere", "api_key_env": "COHERE_API_KEY"}})
    assert COHERE_KEY not in co.key and "COHERE_API_KEY" not in co.key


def test_two_connections_of_one_account_are_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = one_job("sweep", ["{provider: a, match_all: true}", "{provider: b, match_all: true}"])
    text = job_yaml({"a": FIREWORKS, "b": FIREWORKS}, jobs)
    code, _, err = cli(capsys, "validate", write_job(tmp_path, text))
    assert code == 2
    assert ":4:3: providers.b: 'b' reaches the same account as 'a'" in err


# -- migration: rows under a name move to the key ------------------------------------------

OLD = ResourceRef.on("fw", "m-1")  # as a run names it
DEPLOYMENT = ResourceRef.on("fw", "d-1", "deployment")


def _seed(run: Callable[[str], Any], with_kind: bool) -> None:
    """What a run before keys leaves under the connection name ``fw``."""
    kind, model = (", kind", ", 'model'") if with_kind else ("", "")
    run(
        f"INSERT INTO {{p}}sightings (connection, model_id, first_seen{kind})"
        f" VALUES ('fw', 'm-1', {{t}}{model})"
    )
    run(
        f"INSERT INTO {{p}}marks (job, connection, model_id, marked_at, deletable_after{kind})"
        f" VALUES ('sweep', 'fw', 'm-1', {{t}}, {{t2}}{model})"
    )
    run(
        f"INSERT INTO {{p}}intents (run_id, connection, model_id, job, seq{kind})"
        f" VALUES ('run-0', 'fw', 'm-1', 'sweep', 7{model})"
    )


def _sqlite(path: Path, upto: int) -> StateRef:
    stamp, later = f"'{T0:%Y-%m-%dT%H:%M:%S}.000000Z'", f"'{T0 + DAY:%Y-%m-%dT%H:%M:%S}.000000Z'"
    with closing(sqlite3.connect(path)) as db, db:
        for step in range(1, upto + 1):
            db.executescript(sqlite_state._MIGRATIONS[step])
        db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
        db.executemany("INSERT INTO schema_version VALUES (?, 'then')", [(1,), (2,), (3,)][:upto])
        _seed(lambda sql: db.execute(sql.format(p="", t=stamp, t2=later)), upto >= 3)
    return StateRef(path=path)


def _postgres(url: str, upto: int) -> StateRef:
    with psycopg.connect(url, autocommit=True) as conn:
        for step in range(1, upto + 1):
            for statement in pg_state._MIGRATIONS[step]:
                conn.execute(statement)
        conn.execute(
            "CREATE TABLE ftjanitor_schema_version"
            " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version in range(1, upto + 1):
            conn.execute("INSERT INTO ftjanitor_schema_version (version) VALUES (%s)", (version,))
        _seed(
            lambda sql: conn.execute(
                sql.format(p="ftjanitor_", t="%(t)s", t2="%(t2)s"), {"t": T0, "t2": T0 + DAY}
            ),
            upto >= 2,
        )
    return StateRef(url=url)


# (store, the version 0.2 wrote, the version 0.3 wrote before keys)
SHAPES = [("sqlite", 2), ("sqlite", 3), ("postgres", 1), ("postgres", 2)]


@pytest.mark.parametrize(
    ("store", "upto"), SHAPES, ids=["sqlite-0.2", "sqlite-0.3", "pg-0.2", "pg-0.3"]
)
def test_a_state_before_keys_is_adopted_and_survives_a_rename(
    request: pytest.FixtureRequest, tmp_path: Path, store: str, upto: int
) -> None:
    if store == "sqlite":
        ref = _sqlite(tmp_path / "state.sqlite3", upto)
    else:
        ref = _postgres(request.getfixturevalue("pg_fresh_url"), upto)
    (fw,) = connections(tmp_path, {"fw": FIREWORKS})
    (renamed,) = connections(tmp_path, {"fw-prod": FIREWORKS})
    with closing(open_state(ref)) as raw:
        state = AccountKeyed(raw, [fw])
        assert state.marks("sweep") == {OLD: Mark(OLD, T0, T0 + DAY)}
        assert state.open_intents(["sweep"]) == [OpenIntent("sweep", OLD, "run-0", 7)]
        assert state.sight(fw.key, ["m-1"], T0 + DAY) == {"m-1": T0}
        state.mark("sweep", Mark(DEPLOYMENT, T0, T0 + DAY))
        # Stored under the key, never the name, from now on.
        assert {m.account for m in raw.marks("sweep")} == {fw.key}
    with closing(open_state(ref)) as raw:
        # The connection renamed: the same account, so the same marks, intents and sightings.
        state = AccountKeyed(raw, [renamed])
        new, deployment = (
            ResourceRef.on("fw-prod", "m-1"),
            ResourceRef.on("fw-prod", "d-1", "deployment"),
        )
        assert state.marks("sweep") == {
            new: Mark(new, T0, T0 + DAY),
            deployment: Mark(deployment, T0, T0 + DAY),
        }
        assert state.open_intents(["sweep"]) == [OpenIntent("sweep", new, "run-0", 7)]
        assert state.sight(renamed.key, ["m-1"], T0 + 2 * DAY) == {"m-1": T0}
        state.intent_closed("run-0", new)
        assert state.open_intents(["sweep"]) == []
    with closing(open_state(ref)) as raw:
        # A file without the connection shows its rows under the name it last had.
        assert set(AccountKeyed(raw, []).marks("sweep")) == {new, deployment}


# -- end to end: a renamed connection keeps its marks --------------------------------------

OLD_MODEL = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_renamed_connection_keeps_its_marks(
    tmp_path: Path, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    accounts = Accounts()
    accounts.add_cohere(cohere_model("exp-1", "exp-1", "STATUS_READY", OLD_MODEL))
    with Simulator(accounts, cohere_key=COHERE_KEY) as sim:

        def job(name: str) -> str:
            fields = {"type": "cohere", "base_url": sim.url, "account": "team-a"}
            providers = {name: {**fields, "requests_per_minute": TEST_PACE}}
            jobs = one_job("sweep", [f'{{provider: {name}, name: "exp-*"}}'], grace="7d")
            return write_job(tmp_path, job_yaml(providers, jobs))

        code, out, err = cli(capsys, "run", job("co"), "--yes")
        assert code == 0, err
        assert "marked" in out
        code, out, err = cli(capsys, "plan", job("cohere-team-a"), "--json")
        assert code == 0, err
        (entry,) = json.loads(out)["jobs"]
        (decision,) = entry["decisions"]
        assert (decision["connection"], decision["decision"]) == ("cohere-team-a", "pending")
        assert sim.deleted == []


def test_an_account_name_joins_a_types_own_fields(tmp_path: Path) -> None:
    (fw,) = connections(tmp_path, {"fw": {**FIREWORKS, "account": "prod"}})
    assert fw.key == "fireworks:api.fireworks.ai:account_id=acme-ml,account=prod"
    assert fw.account_name == "prod"

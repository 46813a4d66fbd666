"""The state stores, one suite over SQLite and PostgreSQL, and the audit chain in PostgreSQL.

PostgreSQL tests run against the throwaway server of tests/pgserver.py; each gets an empty
schema of its own. Subprocesses stand in for other daemons and CronJob pods.
"""

import hashlib
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.errors import ConfigError, StorageError
from runner.ref import ResourceRef
from runner.state import Mark, OpenIntent, StateRef, StateStore
from runner.state.open import open_audit_chain, open_state
from runner.state.pgurl import check_url, display
from runner.state.sqlite import SCHEMA_VERSION, SqliteState, lock_path
from tests.helpers import refused_port
from tests.pgserver import PASSWORD_ROLE, PgServer

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
DEADLINE = 15.0  # seconds any one wait on another process may take
# Appends per writer: enough (about half a second each) that two writers started together
# overlap even when one starts late on a loaded machine.
APPENDS = 600

pytestmark = pytest.mark.timeout(60)

# Another daemon or pod: python -c CHILD MODE REF [N]; says "ready", waits for a line on
# stdin, opens the state, acts, prints its result as JSON and (lock mode) then holds the
# lock until stdin closes.
CHILD = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from datetime import UTC, datetime, timedelta
    from runner.state import StateRef
    from runner.state.open import open_audit_chain, open_state

    mode, where = sys.argv[1], sys.argv[2]
    ref = StateRef(url=where) if where.startswith("postgresql://") else StateRef(path=Path(where))
    print("ready", flush=True)
    sys.stdin.readline()  # all children open at once: creating the schema is raced too
    if mode == "audit":
        target = open_audit_chain(ref, secrets=["sk-child-secret-0000"])
    else:
        target = open_state(ref)
    if mode == "claim":
        t0 = datetime(2026, 6, 1, tzinfo=UTC)
        won = [i for i in range(int(sys.argv[3])) if target.claim_fire_time("job", t0 + timedelta(minutes=i))]
        print(json.dumps(won), flush=True)
    elif mode == "audit":
        writer = int(sys.argv[3])
        print(json.dumps("opened"), flush=True)
        sys.stdin.readline()  # both chains open before either appends: they overlap
        for i in range(@APPENDS@):
            target.append("test.event", f"run-{writer}", {"writer": writer, "i": i})
        print(json.dumps("done"), flush=True)
    elif mode == "lock":
        with target.job_lock(sys.argv[3]) as holder:
            print(json.dumps(holder), flush=True)
            sys.stdin.readline()  # hold the lock until killed or told
    target.close()
    """
).replace("@APPENDS@", str(APPENDS))


def where(ref: StateRef) -> str:
    return str(ref.url if ref.url is not None else ref.path)


def spawn(mode: str, ref: StateRef, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, where(ref), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line != "ready\n":
        proc.kill()
        raise AssertionError(f"child did not start: {line!r} {proc.communicate()[1]}")
    return proc


def go(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()


def result(proc: subprocess.Popen[str]) -> Any:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise AssertionError(f"child failed: {proc.communicate(timeout=DEADLINE)[1]}")
    return json.loads(line)


@pytest.fixture(params=["sqlite", "postgres"])
def ref(request: pytest.FixtureRequest, tmp_path: Path) -> StateRef:
    if request.param == "sqlite":
        return StateRef(path=tmp_path / "state" / "ftjanitor.sqlite3")
    return StateRef(url=request.getfixturevalue("pg_fresh_url"))


@pytest.fixture
def store(ref: StateRef) -> Iterator[StateStore]:
    opened = open_state(ref)
    yield opened
    opened.close()


def schema_versions(ref: StateRef) -> list[int]:
    if ref.path is not None:
        with closing(sqlite3.connect(ref.path)) as db:
            return [v for (v,) in db.execute("SELECT version FROM schema_version ORDER BY 1")]
    import psycopg

    assert ref.url is not None
    with psycopg.connect(ref.url) as db:
        rows = db.execute("SELECT version FROM ftjanitor_schema_version ORDER BY 1").fetchall()
        return [v for (v,) in rows]


# first sightings


def test_first_sighting_is_kept_and_never_moved(store: StateStore) -> None:
    assert store.sight("cohere", ["a", "b"], T0) == {"a": T0, "b": T0}
    assert store.sight("cohere", ["b", "c"], T0 + DAY) == {"b": T0, "c": T0 + DAY}
    # neither a later nor an earlier clock rewrites a first sighting
    assert store.sight("cohere", ["a"], T0 - DAY) == {"a": T0}
    assert store.sight("cohere", ["a", "a"], T0 + 2 * DAY) == {"a": T0}
    # connections are separate namespaces
    assert store.sight("bfl", ["a"], T0 + 3 * DAY) == {"a": T0 + 3 * DAY}
    assert store.sight("cohere", [], T0) == {}


def test_sightings_of_ten_thousand_ids(store: StateStore) -> None:
    ids = [f"ft-{n:05d}" for n in range(10_000)]
    started = time.monotonic()
    first = store.sight("bfl", ids[:6_000], T0)
    second = store.sight("bfl", ids, T0 + DAY)
    elapsed = time.monotonic() - started
    assert len(first) == 6_000 and len(second) == 10_000
    assert all(second[i] == T0 for i in ids[:6_000])
    assert all(second[i] == T0 + DAY for i in ids[6_000:])
    assert store.sight("bfl", ids[:3], T0) == dict.fromkeys(ids[:3], T0)  # only those asked
    assert elapsed < 10, f"10k sightings took {elapsed:.1f}s"


# run history and fire times


def test_runs_and_last_run_ignore_dry_runs(store: StateStore) -> None:
    assert store.last_run("nightly") is None
    store.run_started("r1", "nightly", "schedule", False, T0, fire_time=T0)
    store.run_ended("r1", "ok", T0 + timedelta(minutes=1))
    store.run_started("r2", "nightly", "manual", True, T0 + DAY)  # a dry run
    store.run_ended("r2", "ok", T0 + DAY)
    store.run_started("r3", "other", "manual", False, T0 + 2 * DAY)
    assert store.last_run("nightly") == T0
    store.run_started("r4", "nightly", "manual", False, T0 + 3 * DAY)  # never ended
    assert store.last_run("nightly") == T0 + 3 * DAY
    assert store.last_run("other") == T0 + 2 * DAY


def test_fire_time_is_claimed_once_across_instances(ref: StateRef) -> None:
    with closing(open_state(ref)) as one, closing(open_state(ref)) as two:
        assert one.last_fire_time("nightly") is None
        assert one.claim_fire_time("nightly", T0) is True
        assert two.claim_fire_time("nightly", T0) is False
        assert one.claim_fire_time("nightly", T0) is False
        assert two.claim_fire_time("other", T0) is True  # per job
        assert two.claim_fire_time("nightly", T0 + DAY) is True
        assert one.claim_fire_time("nightly", T0 - DAY) is True  # a late claim still counts
        assert one.last_fire_time("nightly") == T0 + DAY
        assert two.last_fire_time("other") == T0


def test_fire_time_is_claimed_once_across_processes(ref: StateRef) -> None:
    children = [spawn("claim", ref, "60") for _ in range(2)]
    for child in children:
        go(child)
    won = [set(result(child)) for child in children]
    for child in children:
        child.communicate(timeout=DEADLINE)
        assert child.returncode == 0
    assert won[0].isdisjoint(won[1])
    assert won[0] | won[1] == set(range(60))


# grace marks and open intents


def test_marks(store: StateStore) -> None:
    first = Mark(ResourceRef.on("cohere", "m1"), T0, T0 + 7 * DAY)
    second = Mark(ResourceRef.on("bfl", "m2"), T0 + DAY, T0 + 8 * DAY)
    assert store.marks("sweep") == {}
    store.mark("sweep", first)
    store.mark("sweep", second)
    store.mark("other", Mark(ResourceRef.on("cohere", "m1"), T0, T0 + DAY))
    assert store.marks("sweep") == {
        ResourceRef.on("cohere", "m1"): first,
        ResourceRef.on("bfl", "m2"): second,
    }
    again = Mark(ResourceRef.on("cohere", "m1"), T0 + 2 * DAY, T0 + 9 * DAY)
    store.mark("sweep", again)  # marking again replaces
    store.unmark("sweep", ResourceRef.on("bfl", "m2"))
    store.unmark("sweep", ResourceRef.on("bfl", "never-marked"))
    assert store.marks("sweep") == {ResourceRef.on("cohere", "m1"): again}
    assert store.marks("other") == {
        ResourceRef.on("cohere", "m1"): Mark(ResourceRef.on("cohere", "m1"), T0, T0 + DAY)
    }


def test_open_intents_by_job(store: StateStore) -> None:
    a1 = OpenIntent("a", ResourceRef.on("cohere", "m1"), "run-1", 4)
    a2 = OpenIntent("a", ResourceRef.on("bfl", "m2"), "run-1", 6)
    b1 = OpenIntent("b", ResourceRef.on("cohere", "m1"), "run-2", 9)
    for intent in (b1, a2, a1):
        store.intent_opened(intent)
    assert store.open_intents(["a"]) == [a1, a2]
    assert store.open_intents(["a", "b", "c"]) == [a1, a2, b1]
    assert store.open_intents([]) == []
    store.intent_closed("run-1", ResourceRef.on("cohere", "m1"))
    store.intent_closed("run-1", ResourceRef.on("cohere", "not-open"))
    assert store.open_intents(["a", "b"]) == [a2, b1]


def test_one_store_shared_by_threads(store: StateStore) -> None:
    """The engine calls one store from its delete pool: calls must not trip over each other."""
    wins: list[int] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                if store.claim_fire_time("nightly", T0 + timedelta(minutes=i)):
                    wins.append(i)
                store.sight(f"c{n}", [f"m{i}"], T0)
                store.mark("sweep", Mark(ResourceRef.on(f"c{n}", f"m{i}"), T0, T0 + DAY))
                store.set_audit_head(f"log{n}", i, "a" * 64)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert errors == []
    assert sorted(wins) == list(range(25))
    assert len(store.marks("sweep")) == 100
    assert store.audit_head("log3") == (24, "a" * 64)


# job locks


def test_job_lock_refuses_a_second_holder(ref: StateRef, store: StateStore) -> None:
    with closing(open_state(ref)) as other:
        with store.job_lock("nightly") as held:
            assert held is None
            with store.job_lock("nightly") as again, other.job_lock("nightly") as elsewhere:
                assert again in (os.getpid(), 0)
                assert elsewhere in (os.getpid(), 0)
            with other.job_lock("weekly") as unrelated:
                assert unrelated is None
        for _ in range(20):  # released when the with block ends, not a moment later
            with other.job_lock("nightly") as after:
                assert after is None
            with store.job_lock("nightly") as back:
                assert back is None


def test_job_lock_dies_with_its_process(ref: StateRef, store: StateStore) -> None:
    child = spawn("lock", ref, "nightly job")
    go(child)
    assert result(child) is None  # the child holds it
    with store.job_lock("nightly job") as holder:
        assert holder in (child.pid, 0)
        assert holder == child.pid  # both backends can tell who holds it
    child.kill()  # SIGKILL: no cleanup of any kind
    child.communicate(timeout=DEADLINE)
    deadline = time.monotonic() + DEADLINE
    while True:  # the server notices the closed session a moment later
        with store.job_lock("nightly job") as holder:
            if holder is None:
                break
        assert time.monotonic() < deadline, f"lock still held by {holder} after SIGKILL"
        time.sleep(0.02)


# audit head anchors, reopening, schema


def test_audit_head(store: StateStore) -> None:
    assert store.audit_head("audit/a.jsonl") is None
    store.set_audit_head("audit/a.jsonl", 3, "c" * 64)
    store.set_audit_head("audit/a.jsonl", 7, "d" * 64)
    store.set_audit_head("postgresql://u@h:5432/db#audit", 1, "e" * 64)
    assert store.audit_head("audit/a.jsonl") == (7, "d" * 64)
    assert store.audit_head("postgresql://u@h:5432/db#audit") == (1, "e" * 64)


def test_reopening_keeps_everything(ref: StateRef) -> None:
    mark = Mark(ResourceRef.on("cohere", "m1"), T0, T0 + DAY)
    intent = OpenIntent("nightly", ResourceRef.on("cohere", "m2"), "run-1", 5)
    with closing(open_state(ref)) as first:
        first.sight("bfl", ["x"], T0)
        first.run_started("run-1", "nightly", "schedule", False, T0, fire_time=T0)
        first.claim_fire_time("nightly", T0)
        first.mark("nightly", mark)
        first.intent_opened(intent)
        first.set_audit_head("log", 5, "f" * 64)
    with closing(open_state(ref)) as second:
        assert second.sight("bfl", ["x"], T0 + DAY) == {"x": T0}
        assert second.last_run("nightly") == T0
        assert second.last_fire_time("nightly") == T0
        assert second.claim_fire_time("nightly", T0) is False
        assert second.marks("nightly") == {ResourceRef.on("cohere", "m1"): mark}
        assert second.open_intents(["nightly"]) == [intent]
        assert second.audit_head("log") == (5, "f" * 64)
    expected = [1, 2, 3, 4] if ref.path is not None else [1, 2, 3]
    assert schema_versions(ref) == expected


# SQLite specifics: migration from 0.1, file modes, broken files


def make_01_file(path: Path) -> None:
    """A state file exactly as ftjanitor 0.1 left it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(
            """
            PRAGMA journal_mode=WAL;
            CREATE TABLE sightings (connection TEXT NOT NULL, model_id TEXT NOT NULL,
                first_seen TEXT NOT NULL, PRIMARY KEY (connection, model_id));
            CREATE TABLE runs (run_id TEXT PRIMARY KEY, job TEXT NOT NULL, trigger TEXT NOT NULL,
                dry_run INTEGER NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, status TEXT);
            CREATE INDEX runs_by_job ON runs (job, started_at);
            INSERT INTO sightings VALUES ('bfl', 'old-1', '2026-01-01T00:00:00.000000Z');
            INSERT INTO runs VALUES ('r0', 'nightly', 'schedule', 0,
                '2026-05-01T03:00:00.000000Z', '2026-05-01T03:01:00.000000Z', 'ok');
            """
        )


def test_sqlite_migrates_a_01_file_in_place(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    make_01_file(path)
    with closing(SqliteState(path)) as state:
        january = datetime(2026, 1, 1, tzinfo=UTC)
        assert state.sight("bfl", ["old-1", "new"], T0) == {"old-1": january, "new": T0}
        assert state.last_run("nightly") == datetime(2026, 5, 1, 3, tzinfo=UTC)
        state.run_started("r1", "nightly", "schedule", False, T0, fire_time=T0)
        assert state.claim_fire_time("nightly", T0)
        state.mark("nightly", Mark(ResourceRef.on("bfl", "new"), T0, T0 + DAY))
        assert state.last_run("nightly") == T0
    assert schema_versions(StateRef(path=path)) == [1, 2, 3, 4]
    with closing(sqlite3.connect(path)) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
        fire = db.execute("SELECT fire_time FROM runs WHERE run_id = 'r1'").fetchone()
    assert "fire_time" in columns and fire == ("2026-06-01T12:00:00.000000Z",)
    SqliteState(path).close()  # and opening it again migrates nothing


def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    SqliteState(path).close()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("INSERT INTO schema_version VALUES (?, 'later')", (SCHEMA_VERSION + 1,))
    with pytest.raises(StorageError, match="written by a newer ftjanitor"):
        SqliteState(path)


def test_sqlite_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ftjanitor.sqlite3"
    with closing(SqliteState(path)) as state:
        state.sight("bfl", ["x"], T0)
        with state.job_lock("nightly"):
            lock = lock_path(path, "nightly")
            assert lock.read_text() == str(os.getpid())
        created = [path, lock, *path.parent.glob("*-wal"), *path.parent.glob("*-shm")]
        for file in created:
            assert file.stat().st_mode & 0o077 == 0, f"{file} is {file.stat().st_mode:o}"
    assert lock_path(path, "../x y").parent == lock.parent  # odd names stay in the folder


def one_line(error: pytest.ExceptionInfo[Exception]) -> str:
    message = str(error.value)
    assert "\n" not in message and message.strip() == message
    assert error.value.__cause__ is None  # no chained traceback behind the one line
    assert error.value.__context__ is None or error.value.__suppress_context__
    return message


def test_sqlite_garbage_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    garbage = b"this is not a database, it is my shopping list\n" * 100
    path.write_bytes(garbage)
    with pytest.raises(StorageError) as error:
        open_state(StateRef(path=path))
    assert one_line(error) == (
        f"{path}: not an ftjanitor state database (file is not a database);"
        " move it away or point state: elsewhere"
    )
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.sqlite3"]


def test_sqlite_foreign_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(StorageError) as error:
        open_state(StateRef(path=path))
    assert one_line(error).startswith(f"{path}: an SQLite database but not an ftjanitor state")
    with closing(sqlite3.connect(path)) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master")]
    assert tables == ["customers"]


def test_sqlite_path_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as error:
        open_state(StateRef(path=tmp_path))
    assert one_line(error) == f"{tmp_path}: is a directory; point state: at a file"


def test_sqlite_parent_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    for path in (tmp_path / "afile" / "state.sqlite3", tmp_path / "afile" / "sub" / "s.db"):
        with pytest.raises(StorageError) as error:
            open_state(StateRef(path=path))
        assert one_line(error) == (
            f"{path}: cannot create it: a parent of it is a file, not a folder"
        )


def test_sqlite_unwritable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    path = folder / "state.sqlite3"
    if os.geteuid() == 0:  # root writes anywhere: make the kernel's refusal by hand

        def refuse(file: Any, *args: Any, **kwargs: Any) -> int:
            raise PermissionError(13, "Permission denied", str(file))

        monkeypatch.setattr("runner.files.os.open", refuse)
    else:
        folder.chmod(0o500)
    try:
        with pytest.raises(StorageError) as error:
            open_state(StateRef(path=path))
    finally:
        folder.chmod(0o700)
    assert one_line(error) == f"{path}: cannot open it: permission denied"


def test_sqlite_state_never_imports_psycopg(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        sys.modules["psycopg"] = None  # as if the extra were not installed
        from runner.errors import ConfigError
        from runner.state import StateRef
        from runner.state.open import open_state
        open_state(StateRef(path=Path({str(tmp_path / "s.db")!r}))).close()
        try:
            open_state(StateRef(url="postgresql://u@db.example:5432/x"))
        except ConfigError as error:
            print(error)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=DEADLINE,
        check=True,
    )
    assert done.stdout.startswith("state: postgresql://u@db.example:5432/x needs psycopg 3")
    assert "pip install 'ftjanitor[postgres]'" in done.stdout


def test_audit_chain_needs_a_postgres_state(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="audit_log: state keeps the audit chain in a PostgreSQL"):
        open_audit_chain(StateRef(path=tmp_path / "s.db"))


# PostgreSQL specifics: connection failures, passwords, schema


def test_postgres_nothing_listening(pg_server: PgServer) -> None:
    with refused_port() as port, pytest.raises(StorageError) as error:
        url = f"postgresql://ftjanitor@127.0.0.1:{port}/ftjanitor_test"
        open_state(StateRef(url=url))
    # Our words naming the server; libpq's reason after them is its own and may change.
    message = one_line(error)
    assert message.startswith(
        f"postgresql://ftjanitor@127.0.0.1:{port}/ftjanitor_test: cannot connect: "
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://ops@db.example:6543/janitor", "postgresql://ops@db.example:6543/janitor"),
        (
            "postgres://ops@db.example/janitor?sslmode=require",
            "postgresql://ops@db.example:5432/janitor",
        ),
        ("postgresql://[::1]:5433/j?options=-csearch_path%3Dx", "postgresql://[::1]:5433/j"),
        ("postgresql://ops@a:1,b:2/j", "postgresql://ops@a:1/j"),
    ],
)
def test_postgres_urls_are_shown_without_options(
    url: str, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PGHOST", "PGPORT", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)
    check_url(url)
    assert display(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ftjanitor:hunter2-s3cret@db.example:5432/prod",
        "postgres://ftjanitor:hunter2-s3cret@db.example/prod",
        "postgresql://ftjanitor@db.example:5432/prod?password=hunter2-s3cret",
    ],
)
def test_a_password_in_the_url_is_refused(url: str) -> None:
    for opener in (open_state, open_audit_chain):
        with pytest.raises(ConfigError) as error:
            opener(StateRef(url=url))
        message = str(error.value)
        assert "hunter2" not in message and "s3cret" not in message
        assert "a password in the URL is not allowed; set PGPASSWORD" in message
        assert "ftjanitor@db.example:5432/prod" in message


@pytest.mark.usefixtures("pg_url")  # the session's database, where the schema is made
def test_pgpassword_is_used(pg_server: PgServer, monkeypatch: pytest.MonkeyPatch) -> None:
    url = pg_server.create_schema(owner=PASSWORD_ROLE)
    ref = StateRef(url=url)
    monkeypatch.setenv("PGPASSFILE", os.devnull)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    # Refused without the password and with a wrong one, in our words (libpq's and the
    # server's reasons after them may change); the right one opens it below.
    cannot = f"{display(url)}: cannot connect: "
    with pytest.raises(StorageError) as error:
        open_state(ref)
    assert one_line(error).startswith(cannot)
    monkeypatch.setenv("PGPASSWORD", "wrong-password-123")
    with pytest.raises(StorageError) as error:
        open_state(ref)
    message = one_line(error)
    assert message.startswith(cannot) and "wrong-password-123" not in message
    monkeypatch.setenv("PGPASSWORD", pg_server.password)
    with closing(open_state(ref)) as state:
        assert state.claim_fire_time("nightly", T0)
    assert schema_versions(ref) == [1, 2, 3]
    pg_server.drop_schema(url)


def test_postgres_reconnects_after_a_dropped_connection(
    pg_server: PgServer, pg_fresh_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("runner.state.postgres.IDLE_CHECK_SECONDS", 0.0)
    with closing(open_state(StateRef(url=pg_fresh_url))) as state:
        assert state.claim_fire_time("nightly", T0)
        with pg_server.admin("ftjanitor_test") as admin:  # a failover, an idle timeout...
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (f"ftjanitor state pid={os.getpid()}",),
            ).fetchone()
        assert killed == (1,)
        assert state.claim_fire_time("nightly", T0 + DAY)  # checked, reopened, claimed once
        assert state.last_fire_time("nightly") == T0 + DAY


def test_postgres_tables_are_all_prefixed(pg_fresh_url: str) -> None:
    import psycopg

    open_state(StateRef(url=pg_fresh_url)).close()
    schema = pg_fresh_url.rsplit("%3D", 1)[1]
    with psycopg.connect(pg_fresh_url) as db:
        rows = db.execute(
            "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s",
            (schema,),
        ).fetchall()
    names = [name for (name,) in rows]
    assert "ftjanitor_schema_version" in names and "ftjanitor_audit_log" in names
    assert all(name.startswith("ftjanitor_") for name in names), names


# the audit chain in PostgreSQL


def check_chain(lines: list[bytes]) -> int:
    """The README's ten-line check ("The audit log"), plus: each line is exactly the
    record's canonical JSON."""
    prev = "0" * 64
    for seq, line in enumerate(lines, start=1):
        record = json.loads(line)
        claimed = record.pop("hash")
        body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert record["seq"] == seq and record["prev"] == prev, f"chain broken at {seq}"
        assert hashlib.sha256(body.encode()).hexdigest() == claimed, f"hash wrong at {seq}"
        whole = json.dumps(
            {**record, "hash": claimed}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        assert line == (whole + "\n").encode(), f"line {seq} is not canonical JSON"
        prev = claimed
    return len(lines)


def fixed(at: datetime) -> Callable[[], datetime]:
    return lambda: at


def test_audit_chain_of_fifty(pg_fresh_url: str) -> None:
    ref = StateRef(url=pg_fresh_url)
    with closing(open_audit_chain(ref, clock=fixed(T0))) as chain:
        assert chain.name.endswith("/ftjanitor_test#audit") and "%3D" not in chain.name
        assert list(chain.lines()) == []
        records = [
            chain.append(
                "delete.outcome", "run-1", {"job": "j", "n": n, "name": "ünï"}, sync=n % 2 == 0
            )
            for n in range(50)
        ]
        lines = list(chain.lines())
    assert check_chain(lines) == 50
    assert [json.loads(line) for line in lines] == records
    assert records[0]["ts"] == "2026-06-01T12:00:00.000000Z" and records[0]["v"] == 1
    assert "ünï".encode() in lines[0]  # ensure_ascii=False, as the file format
    with closing(open_audit_chain(ref)) as again:  # a new writer continues the chain
        again.append("run.end", "run-1", {"status": "ok"})
        assert check_chain(list(again.lines())) == 51


def test_audit_chain_pages_past_a_thousand(pg_fresh_url: str) -> None:
    with closing(open_audit_chain(StateRef(url=pg_fresh_url))) as chain:
        for n in range(1_005):
            chain.append("e", None, {"n": n})
        assert check_chain(list(chain.lines())) == 1_005


def test_audit_chain_redacts_secrets(pg_fresh_url: str) -> None:
    secret = "co-live-key-9f8e7d6c5b"
    with closing(open_audit_chain(StateRef(url=pg_fresh_url), secrets=[secret, "ok"])) as chain:
        record = chain.append("delete.outcome", "r", {"error": f"401 for key {secret}", "r": "ok"})
        with pytest.raises(ValueError, match="may not set"):
            chain.append("x", None, {"seq": 99})
        lines = list(chain.lines())
    assert record["error"] == "401 for key [REDACTED]" and record["r"] == "ok"
    assert len(lines) == 1 and secret.encode() not in lines[0]
    assert check_chain(lines) == 1


def test_two_processes_keep_one_chain(pg_fresh_url: str) -> None:
    ref = StateRef(url=pg_fresh_url)
    writers = [spawn("audit", ref, str(n)) for n in (1, 2)]
    for writer in writers:
        go(writer)
    for writer in writers:
        assert result(writer) == "opened"
    for writer in writers:
        go(writer)
    for writer in writers:
        assert result(writer) == "done"
        writer.communicate(timeout=DEADLINE)
        assert writer.returncode == 0
    with closing(open_audit_chain(ref)) as chain:
        lines = list(chain.lines())
    assert check_chain(lines) == 2 * APPENDS
    records = [json.loads(line) for line in lines]
    for n in (1, 2):
        assert [r["i"] for r in records if r["writer"] == n] == list(range(APPENDS))
    interleaved = sum(a["writer"] != b["writer"] for a, b in itertools.pairwise(records))
    assert interleaved > 1, "the writers never overlapped: the test proved nothing"

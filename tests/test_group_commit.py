"""Group commit (runner.intents): deletes starting together share one state transaction
and one audit fsync, and still none is sent before its own intent is durable.

- Real runs against the simulator, on SQLite and a file audit and on PostgreSQL
  (``audit_log: state``): the simulator checks, the moment each DELETE arrives, that the
  intent is committed in the state and, for the file, covered by a finished fsync; and
  there are fewer fsyncs and intent transactions than deletes.
- A group whose write fails: none of its deletes is told durable, and none is heard of.
- SIGKILL while groups are in flight (closes not yet written): the next run settles every
  intent and nothing is deleted twice or without a recorded intent.
- Two processes appending groups to one file chain keep one chain, each group whole.
"""

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from runner import events as ev
from runner.audit import AuditLog, AuditSink, read_records
from runner.chain import verify_lines
from runner.cli import exit_code
from runner.engine import RunOptions, execute
from runner.errors import StorageError
from runner.intents import IntentGroups
from runner.jobfile.validate import load_job_file
from runner.ref import ResourceRef
from runner.simulator import Accounts, Fault, Simulator, cohere_model
from runner.simulator.core import Logged
from runner.state import OpenIntent, StateRef, StateStore
from runner.state.open import open_audit_chain, open_state
from runner.state.postgres import PostgresState
from runner.state.sqlite import SqliteState
from tests.chaos.helpers import check_promises, job_text
from tests.chaos.test_chaos import KEYS, NOW, PLANNED, accounts
from tests.conftest import COHERE_KEY, FAST
from tests.helpers import TEST_PACE, job_yaml, one_job
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
MODELS = [f"gc-{i:03d}" for i in range(24)]
CONCURRENCY = 8
NOW_ARG = "2026-06-01T00:00:00Z"  # NOW, for a child process


def old_models() -> Accounts:
    acc = Accounts()
    for model_id in MODELS:
        acc.add_cohere(
            cohere_model(model_id, f"old-{model_id}", "STATUS_READY", NOW - timedelta(days=90))
        )
    acc.sort()
    return acc


class Witness(Simulator):
    """The simulator, asking ``check`` about each DELETE as it arrives (before it is
    acted on): what the run had made durable by then."""

    def __init__(self, check: Callable[[str], list[str]], **kwargs: Any):
        super().__init__(**kwargs)
        self.check = check
        self.problems: list[str] = []
        self.checked = 0

    def arrived(self, entry: Logged) -> None:
        if entry.method == "DELETE":
            model_id = entry.path.rsplit("/", 1)[1]
            problems = self.check(model_id)
            with self.lock:
                self.checked += 1
                self.problems += problems
        super().arrived(entry)


class Fsyncs:
    """os.fsync, slowed like a busy disk (so intents pile up behind one), counted, and
    remembering how far into each file the finished ones reached."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, seconds: float = 0.02):
        self.real, self.seconds = os.fsync, seconds
        self.calls = 0
        self.durable: dict[str, int] = {}  # file -> bytes covered by a finished fsync
        self.lock = threading.Lock()
        monkeypatch.setattr(os, "fsync", self)

    def __call__(self, fd: int) -> None:
        size = os.fstat(fd).st_size  # everything written before the fsync starts
        name = os.readlink(f"/proc/self/fd/{fd}")
        time.sleep(self.seconds)
        self.real(fd)
        with self.lock:
            self.calls += 1
            self.durable[name] = max(self.durable.get(name, 0), size)


class Counted:
    """Counts the state's intent transactions that open intents."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store: type[StateStore]):
        self.groups: list[int] = []
        real = store.intents_recorded

        def counted(
            state: StateStore,
            opened: Sequence[OpenIntent],
            closed: Sequence[tuple[str, ResourceRef]],
        ) -> None:
            real(state, opened, closed)
            if opened:
                self.groups.append(len(opened))

        monkeypatch.setattr(store, "intents_recorded", counted)


def sweep_job(tmp_path: Path, sim: Simulator, top: str = "") -> str:
    cohere = {"base_url": sim.url, "concurrency": CONCURRENCY, "requests_per_minute": TEST_PACE}
    target = '{provider: cohere, name: "old-*", older_than: 30d}'
    path = tmp_path / "job.yaml"
    path.write_text(
        job_yaml({"cohere": cohere}, one_job("sweep", [target], max_deletions=100), top)
    )
    return str(path)


def run(job: str) -> int:
    options = RunOptions(dry_run=False, now=NOW, environ={"COHERE_API_KEY": COHERE_KEY})
    return exit_code(execute(load_job_file(job), options))


def intent_end(data: bytes, model_id: str) -> int | None:
    """Where the delete.intent record of ``model_id`` ends in the log (None: not there)."""
    end = 0
    for line in data.splitlines(keepends=True):
        end += len(line)
        if line.endswith(b"\n"):
            record = json.loads(line)
            if record["event"] == "delete.intent" and record["model_id"] == model_id:
                return end
    return None


def file_check(tmp_path: Path, fsyncs: Fsyncs) -> Callable[[str], list[str]]:
    state = tmp_path / "state" / "ftjanitor.sqlite3"
    audit = tmp_path / "audit" / "ftjanitor.jsonl"

    def check(model_id: str) -> list[str]:
        problems = []
        with sqlite3.connect(state) as db:  # another connection sees committed rows only
            (open_,) = db.execute(
                "SELECT count(*) FROM intents WHERE model_id = ?", (model_id,)
            ).fetchone()
        if open_ != 1:
            problems.append(f"{model_id}: no committed intent in the state")
        end = intent_end(audit.read_bytes(), model_id)
        if end is None:
            problems.append(f"{model_id}: no delete.intent in the audit log")
        else:
            with fsyncs.lock:
                durable = fsyncs.durable.get(str(audit.resolve()), 0)
            if durable < end:
                problems.append(f"{model_id}: its intent ends at {end}, fsynced to {durable}")
        return problems

    return check


def test_deletes_share_fsyncs_and_transactions_and_each_waits_for_its_own_intent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsyncs = Fsyncs(monkeypatch)
    counted = Counted(monkeypatch, SqliteState)
    slow = [Fault("delay", method="DELETE", seconds=0.05)]
    with Witness(
        file_check(tmp_path, fsyncs), accounts=old_models(), cohere_key=COHERE_KEY, faults=slow
    ) as sim:
        assert run(sweep_job(tmp_path, sim)) == 0
        deleted = len(sim.deleted)
    assert sim.problems == []
    assert sim.checked == deleted == len(MODELS)
    # Every intent written, in fewer transactions and fsyncs than there were deletes
    # (the fsyncs include run.start, run.end and closing the log).
    assert sum(counted.groups) == len(MODELS)
    assert len(counted.groups) < len(MODELS) and max(counted.groups) > 1
    assert fsyncs.calls < len(MODELS)
    records = list(read_records(tmp_path / "audit" / "ftjanitor.jsonl"))
    intents = [r["model_id"] for r in records if r["event"] == "delete.intent"]
    outcomes = [r["model_id"] for r in records if r["event"] == "delete.outcome"]
    assert sorted(intents) == sorted(outcomes) == MODELS
    with sqlite3.connect(tmp_path / "state" / "ftjanitor.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM intents").fetchone() == (0,)  # all closed


def test_on_postgresql_each_delete_waits_for_its_committed_intent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_fresh_url: str
) -> None:
    counted = Counted(monkeypatch, PostgresState)
    # A job file's URL takes no query string: the test's schema comes from libpq's env.
    base = pg_fresh_url.partition("?")[0]
    monkeypatch.setenv("PGOPTIONS", f"-csearch_path={pg_fresh_url.rsplit('%3D', 1)[1]}")
    watcher = psycopg.connect(pg_fresh_url, autocommit=True)
    lock = threading.Lock()

    def check(model_id: str) -> list[str]:
        # Another session sees committed rows only.
        with lock:
            state = watcher.execute(
                "SELECT count(*) FROM ftjanitor_intents WHERE model_id = %s", (model_id,)
            ).fetchone()
            chain = watcher.execute(
                "SELECT count(*) FROM ftjanitor_audit_log WHERE line LIKE %s",
                (f'%"event":"delete.intent"%"model_id":"{model_id}"%',),
            ).fetchone()
        problems = []
        if state != (1,):
            problems.append(f"{model_id}: no committed intent in the state")
        if chain != (1,):
            problems.append(f"{model_id}: no committed delete.intent in the chain")
        return problems

    slow = [Fault("delay", method="DELETE", seconds=0.05)]
    try:
        with Witness(check, accounts=old_models(), cohere_key=COHERE_KEY, faults=slow) as sim:
            top = f"state: {base}\naudit_log: state\n"
            assert run(sweep_job(tmp_path, sim, top)) == 0
            deleted = len(sim.deleted)
        assert sim.problems == []
        assert sim.checked == deleted == len(MODELS)
        assert sum(counted.groups) == len(MODELS) and len(counted.groups) < len(MODELS)
        assert watcher.execute("SELECT count(*) FROM ftjanitor_intents").fetchone() == (0,)
        lines = [
            str(line).encode() + b"\n"
            for (line,) in watcher.execute("SELECT line FROM ftjanitor_audit_log ORDER BY seq")
        ]
    finally:
        watcher.close()
    assert verify_lines(lines).ok
    events = [json.loads(line)["event"] for line in lines]
    assert events.count("delete.intent") == events.count("delete.outcome") == len(MODELS)


# -- a group that fails ------------------------------------------------------------------


class Refusing:
    """A state whose intent transactions fail once ``ok`` of them were written; the first
    one is held until every other intent is queued behind it, so those form one group."""

    def __init__(self, ok: int):
        self.ok = ok
        self.written: list[OpenIntent] = []
        self.started = threading.Event()
        self.queued: Callable[[], int] = lambda: 0

    def intents_recorded(
        self, opened: Sequence[OpenIntent], closed: Sequence[tuple[str, ResourceRef]]
    ) -> None:
        if not self.started.is_set():
            self.started.set()
            wait_for(lambda: self.queued() == THREADS - 1, what="the others to queue")
        if len(self.written) >= self.ok:
            raise StorageError("state.sqlite3: disk I/O error")
        self.written += opened


THREADS = 6


def intent(n: int) -> tuple[OpenIntent, ev.Intent]:
    ref = ResourceRef.on("cohere", f"m-{n}")
    return OpenIntent("sweep", ref, "run-1", 0), ev.Intent("sweep", "run-1", ev.ModelRef(ref))


def test_a_group_that_fails_fails_every_delete_in_it(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    state = Refusing(ok=1)
    groups = IntentGroups(state, ev.Fanout([AuditSink(log)]))  # type: ignore[arg-type]
    state.queued = lambda: groups.queued
    results: dict[int, str] = {}

    def open_one(n: int) -> None:
        try:
            groups.open(*intent(n))
            results[n] = "durable"
        except StorageError:
            results[n] = "failed"

    threads = [threading.Thread(target=open_one, args=(n,)) for n in range(THREADS)]
    threads[0].start()
    state.started.wait(10)  # the first group is being written
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    # The first alone, then the five that queued behind it as one group, which failed.
    assert results == {0: "durable", **{n: "failed" for n in range(1, THREADS)}}
    assert groups.groups == 2
    told = [r["model_id"] for r in read_records(tmp_path / "audit.jsonl")]
    assert told == ["m-0"]  # the failed group's intents were never heard of


# -- the stores' one transaction -----------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        ref = StateRef(path=tmp_path / "state.sqlite3")
    else:
        ref = StateRef(url=request.getfixturevalue("pg_fresh_url"))
    state = open_state(ref)
    yield state
    state.close()


def test_closes_go_before_opens_in_one_transaction(store: StateStore) -> None:
    """A retry reopens its intent with the key its first attempt closes: written in one
    transaction, the intent stays open."""
    a, b = ResourceRef.on("cohere", "m-a"), ResourceRef.on("cohere", "m-b")
    store.intents_recorded([OpenIntent("j", a, "run-1", 0), OpenIntent("j", b, "run-1", 0)], [])
    store.intents_recorded([OpenIntent("j", a, "run-1", 0)], [("run-1", a), ("run-1", b)])
    assert [i.ref for i in store.open_intents(["j"])] == [a]
    store.intents_recorded([], [("run-1", a)])
    assert store.open_intents(["j"]) == []


def test_append_many_on_postgresql_is_one_chain(pg_fresh_url: str) -> None:
    chain = open_audit_chain(StateRef(url=pg_fresh_url), secrets=["sk-secret-000000"])
    try:
        first = chain.append_many([("a", "r", {"n": 1}), ("b", "r", {"x": "sk-secret-000000"})])
        again = chain.append_many([("c", None, {"n": 3})], sync=True)
        lines = list(chain.lines())
    finally:
        chain.close()
    assert [r["seq"] for r in [*first, *again]] == [1, 2, 3]
    assert first[1]["x"] == "[REDACTED]" and b"sk-secret" not in b"".join(lines)
    assert verify_lines(lines).ok and [json.loads(line) for line in lines] == [*first, *again]


# -- SIGKILL while groups are in flight --------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sent_before_kill", [1, 9, 17])
def test_killed_while_groups_are_in_flight(sent_before_kill: int, tmp_path: Path) -> None:
    slow = [
        Fault("delay", method="DELETE", seconds=0.1),
        Fault("delay", method="POST", seconds=0.1),
    ]
    log = tmp_path / "audit" / "ftjanitor.jsonl"
    with Simulator(accounts(), max_page_size=7, faults=slow) as sim:
        path = tmp_path / "job.yaml"
        path.write_text(job_text(sim.url, concurrency=CONCURRENCY))
        child = subprocess.Popen(
            [sys.executable, "-m", "runner", "run", str(path), "--yes", "--now", NOW_ARG],
            env={**os.environ, **KEYS},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        try:
            wait_for(
                lambda: len(sim.mutations()) >= sent_before_kill or child.poll() is not None,
                what=f"{sent_before_kill} deletes sent",
            )
            assert child.poll() is None, "the run ended before the kill"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        wait_for(lambda: not any(r.status == 0 for r in list(sim.requests)))
        sent = len(sim.mutations())
        intents = {
            (r["provider"], r["model_id"])
            for r in read_records(log)
            if r["event"] == "delete.intent"
        }
        assert set(sim.deleted) <= intents, "a delete went out before its intent was written"
        with sqlite3.connect(tmp_path / "state" / "ftjanitor.sqlite3") as db:
            left_open = db.execute("SELECT count(*) FROM intents").fetchone()[0]
        assert sent >= sent_before_kill and left_open > 0
        report = execute(
            load_job_file(str(path)), RunOptions(dry_run=False, now=NOW, environ=KEYS, policy=FAST)
        )
        assert exit_code(report) == 0, [o.end for o in report.outcomes]
        check_promises(sim, tmp_path, PLANNED)  # every intent settled, nothing deleted twice
        assert set(sim.deleted) == PLANNED
    assert len(report.reconciled) == left_open
    with sqlite3.connect(tmp_path / "state" / "ftjanitor.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM intents").fetchone() == (0,)


def test_the_bench_switch_writes_one_intent_per_group(tmp_path: Path) -> None:
    """FTJANITOR_GROUP_COMMIT=0 (bench/run.py's figure without group commit): groups of one."""
    log = AuditLog(tmp_path / "audit.jsonl")
    state = SqliteState(tmp_path / "state.sqlite3")
    try:
        groups = IntentGroups(state, ev.Fanout([AuditSink(log)]), grouped=False)
        threads = [threading.Thread(target=groups.open, args=intent(n)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        groups.close("run-1", ResourceRef.on("cohere", "m-0"))  # written at once
        assert groups.groups == 5
        assert len(state.open_intents(["sweep"])) == 3
    finally:
        state.close()
        log.close()


# -- two processes, one file chain ---------------------------------------------------------

WRITER = """
import sys, time
from pathlib import Path
from runner.audit import AuditLog
path, writer, go = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
Path(f"{go}.{writer}").touch()  # imported: ready
while not go.exists():
    time.sleep(0.001)
log = AuditLog(path)
for batch in range(40):
    entries = [("e", None, {"writer": writer, "i": batch * 5 + k}) for k in range(5)]
    log.append_many(entries, sync=batch % 4 == 0)
    log.append("e", None, {"writer": writer, "i": 200 + batch})
log.close()
"""


def test_two_processes_appending_groups_keep_one_chain(tmp_path: Path) -> None:
    path, go = tmp_path / "audit.jsonl", tmp_path / "go"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(n), str(go)], cwd=ROOT)
        for n in (1, 2)
    ]
    wait_for(lambda: all(Path(f"{go}.{n}").exists() for n in (1, 2)), what="both writers")
    go.touch()
    for writer in writers:
        assert writer.wait(60) == 0
    lines = path.read_bytes().splitlines(keepends=True)
    assert verify_lines(lines).ok
    records = [json.loads(line) for line in lines]
    assert len(records) == 2 * 240
    for n in (1, 2):
        assert sorted(r["i"] for r in records if r["writer"] == n) == list(range(240))
    starts = [at for at, r in enumerate(records) if r["i"] < 200 and r["i"] % 5 == 0]
    for at in starts:  # each group is whole: its five records together, in order
        first = records[at]
        group = [(r["writer"], r["i"]) for r in records[at : at + 5]]
        assert group == [(first["writer"], first["i"] + k) for k in range(5)]
    switches = sum(a["writer"] != b["writer"] for a, b in itertools.pairwise(records))
    assert switches > 1, "the writers never overlapped: the test proved nothing"

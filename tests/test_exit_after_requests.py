"""Exit 2 means "nothing was deleted": once a delete went out it is 0 or 1, never 2.

- Every output path (`run --metrics-file`, `plan --out`) is checked before the first
  request: a bad one is one line, exit 2, and the simulator sees no request at all.
- An output that fails anyway after deletes (its folder removed mid-run) is exit 1.
- A state store that fails mid-run stops new deletes at once: no delete is sent without a
  durable intent, in-flight ones finish and are recorded, exit 1, and the message says the
  next run reconciles. The store is the real one, failing at our own seam (a StateStore
  that raises StorageError after k intents), and a real PostgreSQL restarted mid-run.
"""

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import runner.engine
from runner.audit import read_records
from runner.cli import exit_code, main
from runner.commands.run import print_report
from runner.engine import RunOptions, RunReport, execute
from runner.errors import StorageError
from runner.events import Event, Outcome
from runner.jobfile.model import JobFile
from runner.jobfile.validate import load_job_file
from runner.ref import ResourceRef
from runner.simulator import Accounts, Fault, Simulator, cohere_model
from runner.state import OpenIntent, StateStore
from runner.storage import open_storage
from tests.conftest import BFL_KEY, COHERE_KEY, FAST
from tests.pgserver import PgServer

pytestmark = pytest.mark.timeout(120)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NOW_ARG = "2026-06-01T12:00:00Z"
MODELS = [f"m-exp-{i:02}" for i in range(12)]
KEYS = {"COHERE_API_KEY": COHERE_KEY}


def accounts() -> Accounts:
    acc = Accounts()
    for model_id in MODELS:
        acc.add_cohere(
            cohere_model(model_id, model_id[2:], "STATUS_READY", NOW - timedelta(days=90))
        )
    acc.sort()
    return acc


@pytest.fixture
def xsim() -> Iterator[Simulator]:
    with Simulator(accounts(), cohere_key=COHERE_KEY) as server:
        yield server


def write_job(tmp_path: Path, sim: Simulator, *, concurrency: int = 4, state: str = "") -> str:
    path = tmp_path / "job.yaml"
    path.write_text(
        f"""version: 1
state: "{state or tmp_path / "state" / "ftjanitor.sqlite3"}"
audit_log: "{tmp_path / "audit" / "ftjanitor.jsonl"}"
providers:
  cohere: {{base_url: "{sim.url}", concurrency: {concurrency}, requests_per_minute: 600000}}
jobs:
  - name: sweep
    max_deletions: 100
    targets:
      - {{provider: cohere, name: "exp-*", older_than: 30d}}
"""
    )
    return str(path)


def deletes(sim: Simulator) -> list[str]:
    """The IDs of every DELETE that reached the simulator, in order."""
    return [r.path.rsplit("/", 1)[1] for r in sim.requests if r.method == "DELETE"]


def audited(tmp_path: Path, event: str) -> list[dict[str, Any]]:
    return [r for r in read_records(tmp_path / "audit" / "ftjanitor.jsonl") if r["event"] == event]


# -- output paths: checked before the first request --------------------------------------


def _missing_folder(tmp_path: Path) -> str:
    return "nodir/x.out"


def _a_folder(tmp_path: Path) -> str:
    (tmp_path / "out").mkdir()
    return "out"


def _under_a_file(tmp_path: Path) -> str:
    (tmp_path / "afile").write_text("")
    return "afile/x.out"


def _trailing_slash(tmp_path: Path) -> str:
    return "x.out/"


def _a_fifo(tmp_path: Path) -> str:
    os.mkfifo(tmp_path / "pipe")
    return "pipe"


def _read_only_folder(tmp_path: Path) -> str:
    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder anyway")
    (tmp_path / "ro").mkdir(mode=0o500)
    return "ro/x.out"


BAD_PATHS: dict[str, Callable[[Path], str]] = {
    "missing folder": _missing_folder,
    "a folder": _a_folder,
    "under a file": _under_a_file,
    "trailing slash": _trailing_slash,
    "a fifo": _a_fifo,
    "read-only folder": _read_only_folder,
}
COMMANDS = {
    "run --metrics-file": ["run", "--yes", "--metrics-file"],
    "run --dry-run --metrics-file": ["run", "--dry-run", "--metrics-file"],
    "plan --out": ["plan", "--out"],
}


@pytest.mark.parametrize("bad", BAD_PATHS, ids=list(BAD_PATHS))
@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
def test_a_bad_output_path_is_exit_2_before_any_request(
    tmp_path: Path,
    xsim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    bad: str,
    command: str,
) -> None:
    job = write_job(tmp_path, xsim)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    path = BAD_PATHS[bad](tmp_path)
    *words, option = COMMANDS[command]
    code = main([*words, job, "--now", NOW_ARG, option, path])
    err = capsys.readouterr().err
    assert code == 2, err
    assert xsim.requests == []  # not one request, not even a listing
    (line,) = err.splitlines()
    assert line.startswith(f"ftjanitor: {option} {path}: ") and "nothing was sent" in line
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


@pytest.mark.parametrize("command", COMMANDS, ids=list(COMMANDS))
def test_a_good_output_path_is_written(
    tmp_path: Path, xsim: Simulator, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    job = write_job(tmp_path, xsim)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    *words, option = COMMANDS[command]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.out").write_text("the previous one\n")  # replaced
    assert main([*words, job, "--now", NOW_ARG, option, "out/old.out"]) == 0
    assert (tmp_path / "out" / "old.out").read_text() != "the previous one\n"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["old.out"]


def test_metrics_file_failing_after_deletes_is_exit_1(
    tmp_path: Path,
    xsim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Checked before the first request, then its folder goes away mid-run: the deletes
    happened, so it is exit 1 and the run is still reported."""
    job = write_job(tmp_path, xsim)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    (tmp_path / "metrics").mkdir()
    xsim.faults = [Fault("delay", method="DELETE", seconds=0.3)]
    done = threading.Event()

    def remove_folder_once_deleting() -> None:
        while not deletes(xsim):
            if done.wait(0.01):
                return
        (tmp_path / "metrics").rmdir()

    remover = threading.Thread(target=remove_folder_once_deleting)
    remover.start()
    try:
        code = main(["run", job, "--yes", "--now", NOW_ARG, "--metrics-file", "metrics/x.prom"])
    finally:
        done.set()
        remover.join()
    out, err = capsys.readouterr()
    assert len(xsim.deleted) == len(MODELS)
    assert code == 1, err
    assert "cannot write metrics file" in err and "the deletes were made" in err
    assert f"deleted {len(MODELS)}" in out


# -- a state store failing mid-run ---------------------------------------------------------


class FailingStore:
    """The real store, whose writes fail like a lost database from the group of intents
    that would pass the first ``k``: for good (``recovers=False``) or for that one write
    only, the connection coming back at once (``recovers=True``: a failover), which is
    when a run that does not stop would carry on deleting."""

    WRITES = frozenset(
        {"sight", "run_started", "run_ended", "claim_fire_time", "mark", "unmark",
         "intent_opened", "intent_closed", "set_audit_head"}
    )  # fmt: skip

    def __init__(self, inner: StateStore, k: int, *, recovers: bool):
        self.inner, self.k, self.recovers = inner, k, recovers
        self.intents: list[str] = []  # durable intents, in order
        self.failed = False
        self._lock = threading.Lock()

    def intents_recorded(
        self, opened: Sequence[OpenIntent], closed: Sequence[tuple[str, ResourceRef]]
    ) -> None:
        with self._lock:
            beyond = len(self.intents) + len(opened) > self.k
            if opened and beyond and not (self.failed and self.recovers):
                self.failed = True
                raise StorageError("state/ftjanitor.sqlite3: disk I/O error")
            self._write("intents_recorded", opened, closed)
            self.intents.extend(intent.ref.id for intent in opened)

    def _write(self, name: str, *args: Any) -> Any:
        if self.failed and not self.recovers:
            raise StorageError("state/ftjanitor.sqlite3: disk I/O error")
        return getattr(self.inner, name)(*args)

    def __getattr__(self, name: str) -> Any:
        if name in self.WRITES:
            return lambda *args: self._write(name, *args)
        return getattr(self.inner, name)


def failing_at(monkeypatch: pytest.MonkeyPatch, k: int, *, recovers: bool) -> list[FailingStore]:
    """The engine's own seam: the state it opens is wrapped."""
    opened: list[FailingStore] = []

    def open_failing(
        job_file: JobFile, secrets: Any, clock: Any, stack: ExitStack
    ) -> tuple[Any, Any]:
        state, chain = open_storage(job_file, secrets, clock, stack)
        opened.append(FailingStore(state, k, recovers=recovers))
        return opened[-1], chain

    monkeypatch.setattr(runner.engine, "open_storage", open_failing)
    return opened


def real_run(job: str, sinks: list[Any] | None = None) -> RunReport:
    options = RunOptions(
        dry_run=False, now=NOW, environ=KEYS, policy=FAST, sinks=sinks or [], second_pass_pause=0
    )
    return execute(load_job_file(job), options)


def assert_stopped_and_reconciled_next(tmp_path: Path, sim: Simulator, job: str) -> None:
    """No delete went out without its intent in the audit; the next run settles the rest,
    and no model is deleted twice."""
    intents = {r["model_id"] for r in audited(tmp_path, "delete.intent")}
    assert set(deletes(sim)) <= intents
    follow_up = real_run(job)
    assert exit_code(follow_up) == 0
    assert sorted(deletes(sim)) == sorted(set(deletes(sim))) == sorted(MODELS)
    assert sorted(sim.accounts.cohere) == []


@pytest.mark.parametrize("recovers", [False, True], ids=["store lost", "store blips"])
@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_state_store_failing_after_k_intents_stops_the_deletes(
    tmp_path: Path,
    xsim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    concurrency: int,
    recovers: bool,
) -> None:
    # More durable intents than workers: the first round of deletes surely went out
    # before any failure (with fewer, all may be held back, and that is exit 2, below).
    k = concurrency + 2
    job = write_job(tmp_path, xsim, concurrency=concurrency)
    xsim.faults = [Fault("delay", method="DELETE", seconds=0.05)]
    opened = failing_at(monkeypatch, k, recovers=recovers)
    report = real_run(job)
    (store,) = opened
    sent = deletes(xsim)
    # Nothing beyond the intents that were durable: those k at most, none after.
    assert set(sent) <= set(store.intents[:k]) and len(sent) <= k
    if concurrency == 1:
        assert len(sent) == k
    assert exit_code(report) == 1
    print_report(report, output="text", show_plans=False)
    err = capsys.readouterr().err
    assert report.late_failure is not None and "next run reconciles" in report.late_failure
    assert "next run reconciles" in err and "disk I/O error" in err
    (outcome,) = report.outcomes
    assert outcome.status == "aborted" and "next run reconciles" in (outcome.end.message or "")
    monkeypatch.undo()
    assert_stopped_and_reconciled_next(tmp_path, xsim, job)


def test_nothing_sent_before_the_store_fails_is_still_exit_2(
    tmp_path: Path, xsim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The very first intent fails: nothing was deleted, so the broken store is exit 2."""
    job = write_job(tmp_path, xsim)
    failing_at(monkeypatch, 0, recovers=False)
    with pytest.raises(StorageError, match="disk I/O error"):
        real_run(job)
    assert xsim.mutations() == []


class RestartAfter:
    """A run-event subscriber that restarts PostgreSQL once ``n`` outcomes were recorded."""

    def __init__(self, server: PgServer, n: int):
        self.server, self.n, self.seen = server, n, 0
        self.sent_before: int | None = None
        self.sim: Simulator | None = None

    def emit(self, event: Event) -> None:
        if isinstance(event, Outcome) and not event.will_retry:
            self.seen += 1
            if self.seen == self.n:
                assert self.sim is not None
                self.sent_before = len(deletes(self.sim))
                self.server.restart()


def test_postgresql_restarted_mid_run_stops_the_deletes(
    tmp_path: Path,
    xsim: Simulator,
    pg_own_server: PgServer,
) -> None:
    concurrency = 2
    job = write_job(tmp_path, xsim, concurrency=concurrency, state=pg_own_server.url())
    pg_own_server.create_database("ftjanitor_test")
    xsim.faults = [Fault("delay", method="DELETE", seconds=0.05)]
    restart = RestartAfter(pg_own_server, 3)
    restart.sim = xsim
    report = real_run(job, sinks=[restart])
    assert restart.sent_before is not None
    sent = deletes(xsim)
    # The deletes in flight when the server went finish; none starts after.
    assert len(sent) <= restart.sent_before + concurrency < len(MODELS)
    assert exit_code(report) == 1
    assert report.late_failure is not None and "next run reconciles" in report.late_failure
    assert_stopped_and_reconciled_next(tmp_path, xsim, job)


def test_rejected_credentials_elsewhere_are_exit_1_once_deletes_were_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One connection's key is rejected (alone, that is exit 2); another job's deletes
    went out and every one failed: something was sent, so it is exit 1."""
    with Simulator(accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as sim:
        sim.faults = [Fault("status", method="DELETE", status=400)]
        path = tmp_path / "job.yaml"
        path.write_text(
            f"""version: 1
state: "{tmp_path / "state.sqlite3"}"
audit_log: "{tmp_path / "audit.jsonl"}"
providers:
  cohere: {{base_url: "{sim.url}", requests_per_minute: 600000}}
  bfl: {{base_url: "{sim.url}"}}
jobs:
  - name: sweep
    targets:
      - {{provider: cohere, name: "exp-*", older_than: 30d}}
  - name: lora
    targets:
      - {{provider: bfl, ids: [scratch-lora-1]}}
"""
        )
        monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
        monkeypatch.setenv("BFL_API_KEY", "bfl-wrong-key-000000")
        code = main(["run", str(path), "--yes", "--now", NOW_ARG])
        assert deletes(sim) and sim.deleted == []
    assert code == 1, capsys.readouterr().err

"""End to end on a PostgreSQL state (and ``audit_log: state``), with real processes.

The job files carry ``state: postgresql://ftjanitor@127.0.0.1:PORT/ftjanitor_test`` as a user
would write it (no password, no query string); each test's tables live in a schema of its
own (``pg_fresh_url``), chosen for every child process through libpq's ``PGOPTIONS``.

- the CLI: plan sends nothing mutating, run deletes exactly the plan, audit verify / export /
  show read the chain from the database, and the export passes the README's 10-line check;
  a URL holding a password exits 2 and never echoes it;
- two ``schedule`` daemons on one state: each fire time runs once, each model is deleted
  once, and when the daemon holding the job's lock is SIGKILLed the other runs the next fire
  times;
- the head anchor a run leaves stays a real record while another process appends;
- crash safety: a ``run`` SIGKILLed while deletes are in flight; the next run reconciles the
  orphan intents, the chain verifies and nothing is deleted twice.

Every wait has a deadline; every test has a timeout. These tests never skip in CI
(``FTJANITOR_REQUIRE_POSTGRES=1``).
"""

import hashlib
import json
import signal
import subprocess
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from runner.chain import verify_lines
from runner.clock import parse_instant
from runner.engine import RunOptions, execute
from runner.jobfile.validate import load_job_file
from runner.simulator import Fault, Simulator, cohere_model
from runner.state import StateRef
from runner.state.open import open_audit_chain
from tests.chaos.helpers import job_text as chaos_job_text
from tests.chaos.test_chaos import PLANNED as CHAOS_PLANNED
from tests.chaos.test_chaos import accounts as chaos_accounts
from tests.conftest import BFL_KEY, COHERE_KEY, FAST, seed_accounts
from tests.helpers import KEYS, demo_job, ftjanitor, listening_port, start_ftjanitor
from tests.pgserver import PASSWORD_ROLE, PgServer
from tests.test_daemon_ops import FIRST_RUN, http_get, parse_metrics, value
from tests.waiting import wait_for

# -- the database --------------------------------------------------------------------------


@dataclass(frozen=True)
class Pg:
    url: str  # as a job file writes it: postgresql://USER@HOST:PORT/DB
    env: dict[str, str]  # PGOPTIONS: this test's schema first on the search path
    schema_url: str  # the same, for the test's own queries

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.schema_url, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def enter(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """This test's processes and connections use its schema (``env``)."""
        for name, setting in self.env.items():
            monkeypatch.setenv(name, setting)

    def chain(self) -> list[bytes]:
        """The audit chain's lines as the database holds them (the test's own view)."""
        rows = self.query("SELECT line FROM ftjanitor_audit_log ORDER BY seq")
        return [line.encode() + b"\n" for (line,) in rows]

    def events(self, event: str) -> list[dict[str, Any]]:
        """The chain's records of one kind, in order; none before ftjanitor made its tables."""
        if self.query("SELECT to_regclass('ftjanitor_audit_log')") == [(None,)]:
            return []
        rows = self.query(
            "SELECT line FROM ftjanitor_audit_log WHERE line LIKE %s ORDER BY seq",
            f'%"event":"{event}"%',
        )
        return [r for r in (json.loads(line) for (line,) in rows) if r["event"] == event]

    def lock_holders(self) -> list[str]:
        """application_name of every session holding an advisory lock in this database (a
        job lock: ``ftjanitor lock pid=N host=H``)."""
        rows = self.query(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return [str(name) for (name,) in rows]


@pytest.fixture
def pg(pg_fresh_url: str) -> Pg:
    base, _, _ = pg_fresh_url.partition("?")
    schema = pg_fresh_url.rsplit("%3D", 1)[1]
    return Pg(base, {"PGOPTIONS": f"-csearch_path={schema}"}, pg_fresh_url)


# -- processes -------------------------------------------------------------------------------


def cli(pg: Pg, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return ftjanitor(*args, env=pg.env, timeout=timeout)


def popen(pg: Pg, args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return start_ftjanitor(args, log, pg.env)


# -- the chain -------------------------------------------------------------------------------


def readme_check(lines: list[bytes]) -> None:
    """The README's ten lines, over exported JSON Lines."""
    prev = "0" * 64
    for line in lines:
        record = json.loads(line)
        claimed = record.pop("hash")
        body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert record["prev"] == prev, record["seq"]
        assert hashlib.sha256(body.encode()).hexdigest() == claimed, record["seq"]
        prev = claimed


def exported(pg: Pg, job: Path) -> list[bytes]:
    done = cli(pg, "audit", "export", "--job-file", str(job))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.encode().splitlines(keepends=True)
    readme_check(lines)
    assert verify_lines(lines).ok
    assert lines == pg.chain()  # exactly the stored lines: the hashes the file would hold
    return lines


def pg_job(sim_url: str, url: str, name: str, schedule: str = "every 2s") -> str:
    """The daemon tests' demo job, with its state and audit chain in PostgreSQL."""
    return demo_job(
        sim_url,
        name=name,
        top=f"state: {url}\naudit_log: state\n",
        bfl_ids=("scratch-lora-1", "scratch-lora-2"),
        connection={"concurrency": 2},
        schedule=schedule,
    )


def planned(pg: Pg, job: Path) -> set[tuple[str, str]]:
    done = cli(pg, "plan", str(job), "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    return {
        (d["connection"], d["id"])
        for j in report["jobs"]
        for d in j["decisions"]
        if d["decision"] == "delete"
    }


# -- the CLI on a PostgreSQL state -----------------------------------------------------------


@pytest.mark.timeout(120)
def test_cli_plan_run_and_audit_on_a_postgres_state(tmp_path: Path, pg: Pg) -> None:
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as sim:
        job = tmp_path / "pg.yaml"
        job.write_text(pg_job(sim.url, pg.url, "pg-cli"))

        plan = planned(pg, job)
        assert plan == FIRST_RUN
        assert sim.mutations() == [] and sim.requests  # it looked, and changed nothing

        done = cli(pg, "run", str(job), "--yes", "--json")
        assert done.returncode == 0, done.stderr
        deleted = list(sim.deleted)
        assert len(deleted) == len(set(deleted)) and set(deleted) == plan
        assert len(sim.mutations()) == len(plan)  # one request per model, no more
        assert json.loads(done.stdout)["jobs"][0]["end"]["deleted"] == len(plan)

    # Nothing was kept on disk: state and chain are in the database.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pg.yaml"]
    runs = pg.query("SELECT job, trigger, dry_run, status FROM ftjanitor_runs ORDER BY started_at")
    assert runs == [("pg-cli", "manual", True, "ok"), ("pg-cli", "manual", False, "ok")]
    assert pg.query("SELECT count(*) FROM ftjanitor_intents") == [(0,)]

    verdict = cli(pg, "audit", "verify", "--job-file", str(job))
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    assert "intact" in verdict.stdout and "postgresql://ftjanitor@127.0.0.1" in verdict.stdout

    lines = exported(pg, job)
    records = [json.loads(line) for line in lines]
    shown = cli(pg, "audit", "show", "--job-file", str(job), "--json")
    assert shown.returncode == 0, shown.stderr
    assert [json.loads(line) for line in shown.stdout.splitlines()] == records
    events = Counter(r["event"] for r in records)
    assert events["run.start"] == events["run.end"] == 2
    assert events["delete.planned"] == 2 * len(plan)  # the plan's and the run's
    assert events["delete.intent"] == events["delete.outcome"] == len(plan)
    outcomes = {(r["provider"], r["model_id"]) for r in records if r["event"] == "delete.outcome"}
    assert outcomes == plan
    assert all(r["result"] == "deleted" for r in records if r["event"] == "delete.outcome")

    # show's table reads the same chain.
    table = cli(pg, "audit", "show", "--job-file", str(job), "--job", "pg-cli")
    assert table.returncode == 0 and table.stdout.count("delete.outcome") == len(plan)


@pytest.mark.timeout(120)
def test_a_password_in_the_state_url_exits_2_and_is_never_shown(
    tmp_path: Path, pg: Pg, pg_server: PgServer
) -> None:
    # The password that really opens the server for this role: pasted into a job file.
    secret = pg_server.password
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as sim:
        job = tmp_path / "pw.yaml"
        url = f"postgresql://{PASSWORD_ROLE}:{secret}@127.0.0.1:{pg_server.port}/ftjanitor_test"
        job.write_text(pg_job(sim.url, url, "pg-pw"))
        commands = [
            ["validate", str(job)],
            ["plan", str(job)],
            ["run", str(job), "--yes"],
            ["inventory", str(job)],
            ["audit", "verify", "--job-file", str(job)],
            ["audit", "export", "--job-file", str(job)],
            ["audit", "show", "--job-file", str(job)],
            ["schedule", str(job), "--log-format", "json"],
        ]
        for args in commands:
            done = cli(pg, *args, timeout=30)
            said = done.stdout + done.stderr
            assert done.returncode == 2, (args, said)
            assert secret not in said and secret[3:15] not in said, args
            assert "password" in said, (args, said)
        assert sim.requests == []  # refused before anything was sent
    # Nor was the URL used: that role never made a table.
    owned = pg.query("SELECT count(*) FROM pg_tables WHERE tableowner = %s", PASSWORD_ROLE)
    assert owned == [(0,)]


# -- the head anchor while others append -----------------------------------------------------


@pytest.mark.timeout(120)
def test_runs_anchor_a_real_record_while_others_append(
    tmp_path: Path, pg: Pg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each run leaves the state a head anchor, (seq, hash) of one record of the chain. With
    another process appending to the same chain all the while, that pair must still name one
    record, or the next run refuses ("records were removed or replaced") and every later one
    too: two daemons or CronJob pods sharing a state would stop for good."""
    pg.enter(monkeypatch)
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as sim:
        job = tmp_path / "anchor.yaml"
        job.write_text(pg_job(sim.url, pg.url, "pg-anchor"))
        job_file = load_job_file(str(job))
        other = open_audit_chain(StateRef(url=pg.url))
        stop = threading.Event()
        appended = 0

        def append_all_the_while() -> None:
            nonlocal appended
            while not stop.is_set():
                other.append("test.append", None, {"n": appended})
                appended += 1

        appender = threading.Thread(target=append_all_the_while, daemon=True)
        appender.start()
        try:
            for attempt in range(25):
                report = execute(
                    job_file, RunOptions(dry_run=True, environ=KEYS, policy=FAST)
                )  # raises StorageError when the anchor a run left names no record
                assert report.outcomes[0].status == "ok", attempt
                seq, record_hash = pg.query("SELECT seq, hash FROM ftjanitor_audit_heads")[0]
                (line,) = pg.query("SELECT line FROM ftjanitor_audit_log WHERE seq = %s", seq)[0]
                assert json.loads(line)["hash"] == record_hash, attempt
        finally:
            stop.set()
            appender.join(10)
            other.close()
        assert appended > 100  # the appender really ran alongside
        assert sim.mutations() == []
    lines = pg.chain()
    readme_check(lines)


# -- two daemons on one state ----------------------------------------------------------------


def scheduled(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """fire_time -> the run.start and run.skipped records for it."""
    by_fire: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record["event"] == "run.start" and record["trigger"] == "schedule":
            by_fire[record["fire_time"]].append(record)
        elif record["event"] == "run.skipped":
            assert record.get("fire_time"), record  # every skip names its fire time
            by_fire[record["fire_time"]].append(record)
    return by_fire


def starts_of(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in entries if r["event"] == "run.start"]


# Failed fine-tunes that turn up while the daemons run.
LATE = {f"late-cohere-{n:02d}" for n in range(4)}


def post_faults(sim: Simulator, faults: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        f"{sim.url}/_sim/faults", data=json.dumps(faults).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 200


@pytest.mark.timeout(180)
def test_two_daemons_share_one_postgres_state(
    tmp_path: Path, pg: Pg, reaper: list[subprocess.Popen[bytes]]
) -> None:
    name = "pg-shared"
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as sim:
        job = tmp_path / "shared.yaml"
        job.write_text(pg_job(sim.url, pg.url, name))
        plan = planned(pg, job)
        assert plan == FIRST_RUN and sim.mutations() == []

        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        listen = ["--listen", "127.0.0.1:0", "--log-format", "json"]
        daemons = [popen(pg, ["schedule", str(job), *listen], log) for log in logs]
        reaper.extend(daemons)
        ports = [listening_port(log, d) for log, d in zip(logs, daemons, strict=True)]
        for daemon, port in zip(daemons, ports, strict=True):
            wait_for(
                lambda d=daemon, p=port: (
                    d.poll() is None and http_get(p, "/readyz") == (200, "ready\n")
                ),
                30,
                "both daemons ready",
                every=0.05,
            )
        both_ready = time.time()

        # A few fire times, each fully settled (its run ended).
        def settled_fire_times() -> list[str]:
            ended = {r["run_id"] for r in pg.events("run.end")}
            done = [
                fire
                for fire, entries in scheduled(
                    pg.events("run.start") + pg.events("run.skipped")
                ).items()
                if starts_of(entries) and all(s["run_id"] in ended for s in starts_of(entries))
            ]
            return sorted(done)

        wait_for(lambda: len(settled_fire_times()) >= 4, 60, "four settled fire times", every=0.05)

        # Both daemons' metrics add up to what the shared chain says.
        def metrics_agree() -> bool:
            runs = Counter[str]()
            for port in ports:
                answer = http_get(port, "/metrics")
                assert answer is not None and answer[0] == 200
                samples = parse_metrics(answer[1])
                for status in ("ok", "skipped"):
                    runs[status] += int(
                        value(samples, "ftjanitor_runs_total", job=name, status=status) or 0
                    )
            chain = Counter[str]()
            chain["ok"] = sum(1 for r in pg.events("run.end") if not r["dry_run"])
            chain["skipped"] = len(pg.events("run.skipped"))
            return runs == chain

        wait_for(metrics_agree, 15, "the daemons' run counters to match the chain", every=0.05)

        # New failed fine-tunes appear, and deletes turn slow: the daemon that takes the next
        # fire time is SIGKILLed mid-deletes, holding the job's lock (its pid is read from the
        # lock's own session). Intents are in flight; the server still acts on them.
        post_faults(sim, [{"kind": "delay", "method": "DELETE", "seconds": 1.5}])
        created = datetime.now(UTC) - timedelta(hours=1)
        with sim.lock:
            for model_id in sorted(LATE):
                sim.accounts.add_cohere(
                    cohere_model(model_id, f"late-{model_id[-2:]}", "STATUS_FAILED", created)
                )  # the newest, so last in Cohere's order: no page shifts
        before = set(settled_fire_times())
        intent = wait_for(
            lambda: [r for r in pg.events("delete.intent") if r["model_id"] in LATE],
            20,
            "an intent to delete a new model",
            every=0.05,
        )
        holders = [h for h in pg.lock_holders() if h.startswith("ftjanitor lock pid=")]
        assert len(holders) == 1, holders
        pid = int(holders[0].split("pid=")[1].split()[0])
        victim = next(d for d in daemons if d.pid == pid)
        survivor = next(d for d in daemons if d.pid != pid)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(10) == -signal.SIGKILL
        post_faults(sim, [])
        (cut_short,) = {
            r["fire_time"] for r in pg.events("run.start") if r["run_id"] == intent[0]["run_id"]
        }
        assert cut_short not in before
        # The server drops the dead session's advisory lock...
        wait_for(
            lambda: not [h for h in pg.lock_holders() if f"pid={pid} " in h],
            10,
            "the dead daemon's lock to be released",
            every=0.05,
        )
        # ...and the survivor runs the next fire times, the first one settling the dead
        # daemon's intents and deleting what it left.
        wait_for(
            lambda: len([f for f in settled_fire_times() if f > cut_short]) >= 2,
            30,
            "two fire times run by the survivor",
            every=0.05,
        )
        assert survivor.poll() is None
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(15) == 0
        deleted = list(sim.deleted)
        mutations = len(sim.mutations())

    # Every selected model deleted once: the first plan by the first fire time, the new ones
    # by the victim or, after its death, by the survivor.
    assert len(deleted) == len(set(deleted)), "a model was deleted twice"
    assert set(deleted) == plan | {("cohere", m) for m in LATE}
    assert mutations == len(deleted)  # one delete request per model, never a second one

    lines = exported(pg, job)
    records = [json.loads(line) for line in lines]
    by_fire = scheduled(records)
    ends = {r["run_id"]: r for r in records if r["event"] == "run.end"}
    story = timeline(records, cut_short, pid)
    for fire, entries in sorted(by_fire.items()):
        starts = starts_of(entries)
        skips = [r for r in entries if r["event"] == "run.skipped"]
        assert len(starts) <= 1, f"fire time {fire} ran {len(starts)} times:\n{story}"
        if not starts:
            # Not run only because a run of an earlier fire time still held the lock (as one
            # daemon skips a fire time while its previous run is going).
            assert all("holds its lock" in r["message"] for r in skips), story
        if both_ready < fire_seconds(fire) and fire <= cut_short:
            # Both daemons reached it: one ran it, the other recorded the skip.
            assert len(skips) == 1, f"fire time {fire}:\n{story}"
        if fire > cut_short:
            assert len(starts) == 1 and skips == [], f"fire time {fire}:\n{story}"  # one left
            assert ends[starts[0]["run_id"]]["status"] == "ok", story
    assert len([f for f in by_fire if f < cut_short and starts_of(by_fire[f])]) >= 4, story
    # The run cut short is not run again, and it never ended.
    (killed,) = starts_of(by_fire[cut_short])
    assert killed["run_id"] not in ends, story
    # Its intents without an outcome were settled by the survivor's first run: as gone when
    # the server had the request and acted on it, as present when the kill came before the
    # request left (the intent is recorded first); then that run deleted it.
    after = sorted(f for f in by_fire if f > cut_short)
    first_after = starts_of(by_fire[after[0]])[0]
    outcomes = {(r["run_id"], r["model_id"]) for r in records if r["event"] == "delete.outcome"}
    orphans = {
        r["model_id"]
        for r in records
        if r["event"] == "delete.intent"
        and r["run_id"] == killed["run_id"]
        and (r["run_id"], r["model_id"]) not in outcomes
    }
    reconciled = [r for r in records if r["event"] == "delete.reconciled"]
    assert orphans and {r["model_id"] for r in reconciled} == orphans, story
    assert all(r["intent_run_id"] == killed["run_id"] for r in reconciled)
    survivor_outcomes = {
        r["model_id"]: r["result"]
        for r in records
        if r["event"] == "delete.outcome" and r["run_id"] == first_after["run_id"]
    }
    for record in reconciled:
        if record["result"] == "present":
            assert survivor_outcomes.get(record["model_id"]) == "deleted", story
        else:
            assert record["result"] == "deleted" and record["model_id"] not in survivor_outcomes
    first_seq = next(r["seq"] for r in records if r["run_id"] == first_after["run_id"])
    last_killed = max(r["seq"] for r in records if r["run_id"] == killed["run_id"])
    # Settled before the survivor's first run started its own records (reconciling comes
    # first), and after the dead run's last one.
    assert all(last_killed < r["seq"] < first_seq for r in reconciled), story
    assert pg.query("SELECT count(*) FROM ftjanitor_intents") == [(0,)]
    # Every skip says why: the other daemon held the lock, or the fire time had run.
    messages = {r["message"] for r in records if r["event"] == "run.skipped"}
    assert all("already ran" in m or "holds its lock" in m for m in messages), messages

    verdict = cli(pg, "audit", "verify", "--job-file", str(job))
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    survivor_log = logs[daemons.index(survivor)].read_text()
    assert '"level": "error"' not in survivor_log, survivor_log


def timeline(records: list[dict[str, Any]], cut_short: str, victim: int) -> str:
    """The scheduled runs as one line each, for assertion messages."""
    out = [f"(cut short: {cut_short}, victim pid {victim})"]
    for r in records:
        if r["event"] in ("run.start", "run.end", "run.skipped"):
            what = r.get("fire_time") or ""
            extra = r.get("message") or r.get("status") or r.get("trigger") or ""
            out.append(
                f"{r['seq']:4} {r['ts']} {r['event']:12} {str(r['run_id'])[:8]} {what} {extra}"
            )
    return "\n".join(out)


def fire_seconds(text: str) -> float:
    return parse_instant(text).timestamp()


# -- crash safety on PostgreSQL --------------------------------------------------------------


def quiet(sim: Simulator, seconds: float = 0.5) -> bool:
    """Every request the simulator got is answered, and none came for ``seconds``: what a
    killed process had sent has arrived and been acted on."""
    with sim.lock:
        if not sim.requests:
            return True
        pending = any(r.status == 0 for r in sim.requests)
        latest = max(r.ts for r in sim.requests)
    return not pending and time.time() - latest >= seconds


def crash_job(sim_url: str, url: str) -> str:
    return chaos_job_text(sim_url, concurrency=2) + f"state: {url}\naudit_log: state\n"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("intents_before_kill", [1, 8])
def test_sigkill_mid_run_on_postgres_reconciles_and_deletes_nothing_twice(
    intents_before_kill: int, tmp_path: Path, pg: Pg, reaper: list[subprocess.Popen[bytes]]
) -> None:
    slow = [
        Fault("delay", method="DELETE", seconds=0.4),  # Cohere deletes
        Fault("delay", method="POST", seconds=0.4),  # BFL deletes
    ]
    with Simulator(chaos_accounts(), max_page_size=7, faults=slow) as sim:
        job = tmp_path / "crash.yaml"
        job.write_text(crash_job(sim.url, pg.url))
        now = ["--now", "2026-06-01T00:00:00Z"]
        child = popen(pg, ["run", str(job), "--yes", *now], tmp_path / "killed.log")
        reaper.append(child)
        # Killed once intents are recorded (the chain is polled, not a random sleep).
        wait_for(
            lambda: child.poll() is None and len(pg.events("delete.intent")) >= intents_before_kill,
            60,
            f"{intents_before_kill} delete intents",
            every=0.05,
        )
        child.send_signal(signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
        wait_for(
            lambda: not pg.lock_holders(),
            10,
            "the killed run's job lock to be released",
            every=0.05,
        )
        wait_for(lambda: quiet(sim), 10, "the simulator to finish what it had received", every=0.05)
        deleted_before = set(sim.deleted)
        # Intents are kept under each connection's account key; its name is beside it.
        orphans = pg.query(
            "SELECT i.run_id, a.connection, i.model_id FROM ftjanitor_intents AS i"
            " JOIN ftjanitor_accounts AS a ON a.account = i.connection"
        )
        assert orphans, "the killed run left no open intent in the state"
        # Recorded as intents in the chain before the delete was sent.
        chain_intents = {
            (r["run_id"], r["provider"], r["model_id"]) for r in pg.events("delete.intent")
        }
        for run_id, connection, model_id in orphans:
            # An intent is in the state before the chain, and both before the delete is sent:
            # one the kill caught in between was never sent.
            if (run_id, connection, model_id) not in chain_intents:
                assert (connection, model_id) not in deleted_before

        again = cli(pg, "run", str(job), "--yes", "--json", *now, timeout=120)
        assert again.returncode == 0, again.stderr
        report = json.loads(again.stdout)
        deleted = list(sim.deleted)
        mutations = len(sim.mutations())

    # Nothing deleted twice, nothing outside the plan; every model got one request.
    assert len(deleted) == len(set(deleted)), "a model was deleted twice"
    assert set(deleted) == CHAOS_PLANNED
    assert mutations == len(CHAOS_PLANNED)  # no model was sent a second delete

    lines = exported(pg, Path(job))
    records = [json.loads(line) for line in lines]
    reconciled = [r for r in records if r["event"] == "delete.reconciled"]
    assert {(r["intent_run_id"], r["provider"], r["model_id"]) for r in reconciled} == set(orphans)
    assert len(report["reconciled"]) == len(orphans)
    for record in reconciled:
        # What the provider says now: gone if the server acted before the kill.
        was_deleted = (record["provider"], record["model_id"]) in deleted_before
        assert record["result"] == ("deleted" if was_deleted else "present"), record
    # Every intent ends in an outcome or a reconciliation; the state index is empty.
    closed = {
        (r["run_id"], r["provider"], r["model_id"])
        for r in records
        if r["event"] == "delete.outcome"
    }
    closed |= {(r["intent_run_id"], r["provider"], r["model_id"]) for r in reconciled}
    intents = {
        (r["run_id"], r["provider"], r["model_id"])
        for r in records
        if r["event"] == "delete.intent"
    }
    assert intents <= closed
    assert pg.query("SELECT count(*) FROM ftjanitor_intents") == [(0,)]
    deleted_keys = {(p, m) for _, p, m in intents}
    assert set(deleted) <= deleted_keys, "deleted without a recorded intent"
    # The killed run never ended; the second one did, ok.
    starts = [r for r in records if r["event"] == "run.start"]
    ends = {r["run_id"]: r for r in records if r["event"] == "run.end"}
    assert len(starts) == 2 and starts[0]["run_id"] not in ends
    assert ends[starts[1]["run_id"]]["status"] == "ok"
    verdict = cli(pg, "audit", "verify", "--job-file", str(job))
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr

"""The audit chain trusted only once rechecked (issue 16, items 10 and 11), on both sinks:
a JSON Lines file and the PostgreSQL state (``audit_log: state``).

- ``plan`` and ``run`` recompute the anchored record's hash (and the last record's, when the
  chain grew since): a record edited in place with its ``hash`` field kept is refused, exit 2,
  one line, nothing sent.
- ``audit export`` verifies as it goes: a damaged chain exports only the records before the
  damage and exits 1 with one line on stderr naming where.
"""

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from runner.audit import AuditLog, head_problem
from runner.chain import GENESIS, verify_lines
from runner.cli import main
from runner.clock import system_clock
from runner.jobfile.validate import load_job_file
from runner.simulator import Simulator
from runner.state import StateRef
from runner.state.open import open_audit_chain
from runner.storage import open_storage
from tests.conftest import BFL_KEY, COHERE_KEY, seed_accounts
from tests.test_postgres_e2e import Pg, pg, pg_job, readme_check  # noqa: F401 (fixture)
from tests.test_safety_holes import write_job

NOW_ARG = "2026-06-01T12:00:00Z"
Lines = list[bytes]


pytestmark = pytest.mark.usefixtures("keys")  # every simulated type's key (conftest)


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY) as server:
        yield server


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def edited(line: bytes, **changes: Any) -> bytes:
    """The record with fields changed and its stored ``hash`` kept, as a forger would."""
    record = json.loads(line)
    record.update(changes)
    return (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()


# -- item 10: the head anchor recomputes ----------------------------------------------------


class Chain:
    """The chain's stored lines, read and rewritten behind ftjanitor's back."""

    def __init__(self, read: Callable[[], Lines], write: Callable[[Lines], None]):
        self.read, self.write = read, write


def file_chain(tmp_path: Path) -> Chain:
    log = tmp_path / "audit" / "ftjanitor.jsonl"
    return Chain(
        lambda: log.read_bytes().splitlines(keepends=True),
        lambda lines: log.write_bytes(b"".join(lines)),
    )


def pg_chain(db: Pg) -> Chain:
    def write(lines: Lines) -> None:
        db.query("DELETE FROM ftjanitor_audit_log RETURNING seq")
        for seq, line in enumerate(lines, start=1):
            db.query(
                "INSERT INTO ftjanitor_audit_log (seq, line) VALUES (%s, %s) RETURNING seq",
                seq,
                line.decode().rstrip("\n"),
            )

    return Chain(db.chain, write)


def append_others(job: str, count: int) -> None:
    """Another writer on the job's chain (a second job file sharing it, say)."""
    with ExitStack() as stack:
        _, other = open_storage(load_job_file(job), (), system_clock, stack)
        for i in range(count):
            other.append("run.skipped", None, {"job": f"other-{i}"})


# (what is edited, how many records another writer appends after our anchor first)
DAMAGE = {
    "the newest record, which is the anchored one": (-1, 0),
    "the anchored record, the chain grown since": (-3, 2),
    "the last record, the chain grown past the anchor": (-1, 2),
}


def check_edit_refused(
    capsys: pytest.CaptureFixture[str],
    sim: Simulator,
    job: str,
    chain: Chain,
    damage: str,
) -> None:
    index, grown = DAMAGE[damage]
    assert cli(capsys, "plan", job, "--now", NOW_ARG)[0] == 0
    if grown:
        append_others(job, grown)
        assert cli(capsys, "audit", "verify", "--job-file", job)[0] == 0
    lines = chain.read()
    # A field a reader would care about, changed; the stored hash left as it was.
    lines[index] = edited(lines[index], job="someone-else", status="ok", deleted=0)
    chain.write(lines)
    requests = len(sim.requests)
    for command in (["plan", job], ["run", job, "--yes"]):
        code, out, err = cli(capsys, *command, "--now", NOW_ARG)
        assert (code, out) == (2, ""), err
        (line,) = err.splitlines()
        if grown and index == -1:
            assert f"has a damaged last record (seq {len(lines)}: edited" in line
        else:
            assert "has an edited record at that seq" in line
        assert line.endswith("nothing was sent")
    assert len(sim.requests) == requests  # refused before any request
    assert sim.mutations() == []
    code, out, _ = cli(capsys, "audit", "verify", "--job-file", job)
    assert code == 1 and "TAMPERED" in out
    # An edited chain is no chain to re-anchor on.
    code, _, err = cli(capsys, "audit", "verify", "--job-file", job, "--reanchor")
    assert code == 2 and "the chain itself is broken: not re-anchored" in err


@pytest.mark.parametrize("damage", DAMAGE)
def test_an_edited_record_stops_plan_and_run_on_a_file(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    job = write_job(tmp_path, sim.url)
    check_edit_refused(capsys, sim, job, file_chain(tmp_path), damage)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("damage", DAMAGE)
def test_an_edited_record_stops_plan_and_run_on_postgres(
    tmp_path: Path,
    pg: Pg,  # noqa: F811
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    damage: str,
) -> None:
    pg.enter(monkeypatch)
    job = tmp_path / "pg.yaml"
    job.write_text(pg_job(sim.url, pg.url, "pg-edit"))
    check_edit_refused(capsys, sim, str(job), pg_chain(pg), damage)


def test_an_untouched_chain_still_passes(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, sim.url)
    for _ in range(2):
        assert cli(capsys, "plan", job, "--now", NOW_ARG)[0] == 0
    append_others(job, 3)  # grown past the anchor: fine
    assert cli(capsys, "plan", job, "--now", NOW_ARG)[0] == 0
    assert cli(capsys, "run", job, "--yes", "--now", NOW_ARG)[0] == 0


# -- item 11: export verifies as it goes ----------------------------------------------------


def torn_tail(lines: Lines) -> Lines:
    return [*lines[:-1], lines[-1][: len(lines[-1]) // 2]]


def torn_inside(lines: Lines) -> Lines:
    return [*lines[:3], lines[3][:20] + b"\n", *lines[3:]]


# name -> (damage, seq reported, records exported before it)
EXPORT_DAMAGE: dict[str, tuple[Callable[[Lines], Lines], int, int]] = {
    "edited field": (lambda ls: [*ls[:4], edited(ls[4], job="x"), *ls[5:]], 5, 4),
    "deleted line": (lambda ls: [*ls[:4], *ls[5:]], 5, 4),
    "non-JSON line": (lambda ls: [*ls[:2], b"<html>oops</html>\n", *ls[2:]], 3, 2),
    "reordered lines": (lambda ls: [*ls[:3], ls[4], ls[3], *ls[5:]], 4, 3),
    "torn tail": (torn_tail, 8, 7),
    "torn line not followed by audit.recovered": (torn_inside, 4, 3),
}


def check_export(
    capsysbinary: pytest.CaptureFixture[bytes],
    args: list[str],
    name: str,
    stored: Lines,
    damage: str,
) -> None:
    _, seq, before = EXPORT_DAMAGE[damage]
    code = main(["audit", "export", *args])
    out, err = capsysbinary.readouterr()
    assert code == 1
    (line,) = err.decode().splitlines()
    assert line.startswith(f"{name}: TAMPERED or damaged at seq {seq}: line ")
    assert line.endswith(f"exported only the {before} records before it")
    exported = out.splitlines(keepends=True)
    assert exported == stored[:before]  # exactly the good prefix, nothing after it
    readme_check(exported)
    assert verify_lines(exported).ok


def eight_records(log: AuditLog | Any) -> None:
    for i in range(8):
        log.append("run.start", f"r{i}", {"job": "j", "i": i})
    log.close()


@pytest.mark.parametrize("damage", EXPORT_DAMAGE)
def test_export_of_a_damaged_file_stops_there_and_exits_1(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], damage: str
) -> None:
    path = tmp_path / "audit.jsonl"
    eight_records(AuditLog(path))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(EXPORT_DAMAGE[damage][0](lines)))
    check_export(capsysbinary, [str(path)], str(path), lines, damage)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("damage", EXPORT_DAMAGE)
def test_export_of_a_damaged_postgres_chain_stops_there_and_exits_1(
    tmp_path: Path,
    pg: Pg,  # noqa: F811
    sim: Simulator,
    monkeypatch: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
    damage: str,
) -> None:
    pg.enter(monkeypatch)
    job = tmp_path / "pg.yaml"
    job.write_text(pg_job(sim.url, pg.url, "pg-export"))
    chain = open_audit_chain(StateRef(url=pg.url))
    name = chain.name
    eight_records(chain)
    lines = pg.chain()
    pg_chain(pg).write(EXPORT_DAMAGE[damage][0](lines))  # a torn row: half a line's text
    check_export(capsysbinary, ["--job-file", str(job)], name, lines, damage)


def test_export_passes_a_recovered_torn_line_through_unchanged(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append("run.start", "r0", {"job": "j"})
    log.close()
    with open(path, "ab") as handle:
        handle.write(b'{"v":1,"seq":2,"ts"')  # a crash mid-write
    eight_records(AuditLog(path))  # recovers: ends the line, records audit.recovered
    assert main(["audit", "export", str(path)]) == 0
    out, err = capsysbinary.readouterr()
    assert out == path.read_bytes() and err == b""


def test_export_of_a_truncated_chain_says_so(
    tmp_path: Path, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, sim.url)
    assert cli(capsys, "plan", job, "--now", NOW_ARG)[0] == 0
    chain = file_chain(tmp_path)
    lines = chain.read()
    chain.write(lines[:-2])  # cut at a line boundary: the chain alone looks intact
    code, out, err = cli(capsys, "audit", "export", "--job-file", job)
    assert code == 1 and out.encode() == b"".join(lines[:-2])
    (line,) = err.splitlines()
    assert "TRUNCATED or replaced" in line and f"ends at seq {len(lines) - 2}" in line


def test_an_anchor_before_the_first_record_holds_only_on_an_empty_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")  # a run that wrote nothing anchors (0, GENESIS)
    try:
        assert head_problem(log, (0, GENESIS)) is None
        forged = head_problem(log, (0, "f" * 64))
        assert forged is not None and "has a different record at that seq" in forged
    finally:
        log.close()

"""Reading the audit log as evidence: `audit show` vouches for what it shows as export
does, and no line of a log, however long, is ever held whole in memory."""

import json
from pathlib import Path

import pytest

from runner import audit, chain
from runner.audit import AuditLog
from runner.chain import read_lines, verify_lines
from runner.cli import main
from runner.errors import StorageError
from tests.test_audit_integrity import EXPORT_DAMAGE, eight_records

BOUND = 4096  # the line bound these tests shrink to, so a "huge" line is cheap to write


@pytest.fixture
def small_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (chain, audit):
        monkeypatch.setattr(module, "MAX_LINE_BYTES", BOUND)


def damaged_log(tmp_path: Path, damage: str) -> Path:
    path = tmp_path / "audit.jsonl"
    eight_records(AuditLog(path))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(EXPORT_DAMAGE[damage][0](lines)))
    return path


@pytest.mark.parametrize("damage", EXPORT_DAMAGE)
def test_show_of_a_damaged_log_shows_only_what_it_can_vouch_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    path = damaged_log(tmp_path, damage)
    _, seq, before = EXPORT_DAMAGE[damage]
    assert main(["audit", "show", str(path), "--json"]) == 1
    out, err = capsys.readouterr()
    assert [json.loads(line)["seq"] for line in out.splitlines()] == list(range(1, before + 1))
    (line,) = err.splitlines()
    assert line.startswith(f"{path}: TAMPERED or damaged at seq {seq}: line ")
    assert line.endswith(f"showed only the {before} records before it")
    assert main(["audit", "show", str(path)]) == 1  # the table too
    assert "TAMPERED" in capsys.readouterr().err


def test_show_of_an_intact_log_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "audit.jsonl"
    eight_records(AuditLog(path))
    assert main(["audit", "show", str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 8 and err == ""


@pytest.mark.usefixtures("small_bound")
def test_an_over_long_line_is_read_cut_and_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    eight_records(AuditLog(path))
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([*lines[:3], b"x" * (50 * BOUND) + b"\n", *lines[3:]]))
    with open(path, "rb") as handle:
        read = list(read_lines(handle))
    assert max(map(len, read)) == BOUND + 1 and len(read) == 9  # cut, and the rest skipped
    verdict = verify_lines(read)
    assert (verdict.ok, verdict.bad_seq) == (False, 4)
    assert f"longer than {BOUND} bytes" in verdict.message
    assert main(["audit", "verify", str(path)]) == 1
    assert "seq 4" in capsys.readouterr().out


@pytest.mark.usefixtures("small_bound")
def test_a_log_ending_in_an_over_long_line_is_one_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    eight_records(AuditLog(path))
    with open(path, "ab") as handle:
        handle.write(b"y" * (30 * BOUND))  # past a read chunk, no newline: never a record
    with pytest.raises(StorageError) as caught:
        AuditLog(path)
    assert "\n" not in str(caught.value) and f"longer than {BOUND} bytes" in str(caught.value)


def test_a_torn_tail_after_a_record_longer_than_a_read_chunk_is_recovered(
    tmp_path: Path,
) -> None:
    # The tail is read backwards in 64 KiB chunks: the record before a torn tail must be
    # read whole, not from the middle of its last chunk.
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append("run.end", "r0", {"job": "j", "message": "m" * 200_000})
    log.close()
    with open(path, "ab") as handle:
        handle.write(b'{"v":1,"seq":2,"ts"')  # a crash mid-write
    AuditLog(path).close()  # recovers: ends the line, records audit.recovered
    events = [json.loads(line)["event"] for line in path.read_bytes().splitlines()[::2]]
    assert events == ["run.end", "audit.recovered"]
    assert verify_lines(path.read_bytes().splitlines(keepends=True)).ok


def test_the_log_may_follow_the_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "audit.jsonl"
    eight_records(AuditLog(path))
    assert main(["audit", "show", str(path), "--json"]) == 0
    first = capsys.readouterr().out
    assert main(["audit", "show", "--json", str(path)]) == 0
    assert capsys.readouterr().out == first
    assert main(["audit", "show", "--json", str(path), "again"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err

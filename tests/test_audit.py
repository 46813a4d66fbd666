"""The audit log on its own: verify's verdicts, torn-tail recovery, the head anchor
(head_problem) and redaction at write time. End-to-end truncation through the CLI is in
test_safety_holes (item 6)."""

import hashlib
import json
from pathlib import Path

import pytest

from runner.audit import AuditLog, head_problem, read_records, verify
from runner.chain import GENESIS
from runner.errors import StorageError
from runner.simulator import Simulator
from tests.helpers import NOW_ARG, run_cli
from tests.test_engine import write_job


def chain_of(path: Path, count: int) -> list[bytes]:
    log = AuditLog(path)
    for i in range(count):
        log.append("run.start", f"r{i}", {"job": "j", "i": i})
    log.close()
    return path.read_bytes().splitlines(keepends=True)


# -- verify's verdicts ----------------------------------------------------------------------


def test_an_intact_chain_says_so(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = chain_of(path, 4)
    verdict = verify(path)
    last_hash = json.loads(lines[-1])["hash"]
    assert (verdict.ok, verdict.records, verdict.last_seq, verdict.last_hash) == (
        True,
        4,
        4,
        last_hash,
    )
    assert verdict.message == f"intact: 4 records, last seq 4, last hash {last_hash[:16]}"
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert verify(empty).ok and verify(empty).last_hash == GENESIS


def test_an_edited_record_fails_verify(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    run_cli("run", write_job(tmp_path, sim), "--yes", "--now", NOW_ARG)
    log = tmp_path / "audit" / "ftjanitor.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    lines[4] = lines[4].replace("sim-cohere-0", "sim-cohere-9")
    log.write_text("".join(lines))
    capsys.readouterr()
    assert run_cli("audit", "verify", str(log)) == 1
    assert "TAMPERED or damaged at seq 5: line 5: hash does not match" in capsys.readouterr().out
    del lines[4]
    log.write_text("".join(lines))
    assert run_cli("audit", "verify", str(log)) == 1
    assert "at seq 5: line 5: seq 6 where 5 was due" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("swap two records", "line 3: seq 4 where 3 was due"),
        ("rehash an edited record", "line 4: prev does not match the hash of seq 3"),
        ("drop the first record", "line 1: seq 2 where 1 was due"),
        ("two garbage lines", "line 4: second unreadable line in a row"),
        ("garbage at the end", "line 6: unreadable line at the end"),
        ("torn last line", "line 6: torn last line (a crash mid-write?)"),
    ],
)
def test_every_kind_of_damage_names_its_line(tmp_path: Path, tamper: str, message: str) -> None:
    path = tmp_path / "audit.jsonl"
    lines = chain_of(path, 5)
    if tamper == "swap two records":
        lines[2], lines[3] = lines[3], lines[2]
    elif tamper == "rehash an edited record":
        record = json.loads(lines[2])
        record["job"] = "forged"
        body = {k: v for k, v in record.items() if k != "hash"}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        record["hash"] = hashlib.sha256(canonical.encode()).hexdigest()
        lines[2] = (json.dumps(record) + "\n").encode()
    elif tamper == "drop the first record":
        del lines[0]
    elif tamper == "two garbage lines":
        lines[2:2] = [b"junk\n", b"more junk\n"]
    elif tamper == "garbage at the end":
        lines.append(b"junk\n")
    else:
        lines.append(b'{"v":1,"seq":6')
    path.write_bytes(b"".join(lines))
    verdict = verify(path)
    assert not verdict.ok
    assert verdict.message.startswith(message), verdict.message


def test_a_garbage_line_inside_the_chain_fails_verify(tmp_path: Path) -> None:
    log_path = tmp_path / "audit.jsonl"
    log = AuditLog(log_path)
    for i in range(6):
        log.append("run.start", f"r{i}", {"job": "j"})
    log.close()
    lines = log_path.read_text().splitlines(keepends=True)
    lines.insert(4, "not a record\n")  # between two intact records: not a crash's torn line
    log_path.write_text("".join(lines))
    verdict = verify(log_path)
    assert not verdict.ok and verdict.bad_seq == 5
    assert verdict.message == "line 5: unreadable line not followed by its audit.recovered"


# -- torn tails -----------------------------------------------------------------------------


def test_a_torn_tail_is_recovered_and_verifies(
    tmp_path: Path, sim: Simulator, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    job = write_job(tmp_path, sim)
    run_cli("plan", job, "--now", NOW_ARG)
    log = tmp_path / "audit" / "ftjanitor.jsonl"
    torn = b'{"v":1,"seq":9,"event":"delete.int'
    with open(log, "ab") as handle:
        handle.write(torn)
    assert not verify(log).ok
    run_cli("plan", job, "--now", NOW_ARG)
    verdict = verify(log)
    assert verdict.ok, verdict.message
    recovered = [r for r in read_records(log) if r["event"] == "audit.recovered"]
    assert recovered and recovered[0]["torn_bytes"] == len(torn) + 1  # with the newline added


def test_a_whole_record_that_lost_only_its_newline_stands(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = chain_of(path, 3)
    path.write_bytes(b"".join(lines)[:-1])  # the crash came between the record and "\n"
    log = AuditLog(path)
    assert log.seq == 3
    log.append("run.end", "r9", {"job": "j"})
    log.close()
    events = [r["event"] for r in read_records(path)]
    assert events == ["run.start"] * 3 + ["run.end"]  # no audit.recovered: nothing was lost
    assert verify(path).ok


def test_an_unreadable_last_record_is_refused_not_chained_on(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = chain_of(path, 2)
    path.write_bytes(b"".join(lines) + b"not json at all\n")
    with pytest.raises(StorageError, match="the last complete record is unreadable"):
        AuditLog(path)


def test_a_directory_is_no_audit_log(tmp_path: Path) -> None:
    with pytest.raises(StorageError) as caught:
        AuditLog(tmp_path)
    assert str(caught.value) == f"{tmp_path}: cannot use as the audit log: Is a directory"


# -- the head anchor ------------------------------------------------------------------------


def test_head_problem_verdicts(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    lines = chain_of(path, 5)
    third = json.loads(lines[2])
    log = AuditLog(path)
    try:
        assert head_problem(log, None) is None  # no anchor yet: nothing to compare
        assert head_problem(log, (log.seq, log.prev)) is None  # the common case
        assert head_problem(log, (3, third["hash"])) is None  # grown past the anchor
        replaced = head_problem(log, (3, "f" * 64))
        assert replaced is not None and "has a different record at that seq" in replaced
        beyond = head_problem(log, (9, "e" * 64))
        assert beyond is not None and "ends at seq 5, but the state remembers seq 9" in beyond
        assert f"{path}: the audit log" in beyond and beyond.endswith("nothing was sent")
        assert "--reanchor" in beyond
    finally:
        log.close()
    path.write_bytes(b"".join(lines[:2] + lines[3:]))  # a hole where seq 3 was
    log = AuditLog(path)
    try:
        hole = head_problem(log, (3, third["hash"]))
        assert hole is not None and "lacks that record" in hole
    finally:
        log.close()


def test_secrets_are_redacted_when_written(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, secrets=["sk-live-0123456789", "ok"])
    log.append("delete.outcome", "r", {"error": "rejected sk-live-0123456789", "note": "ok"})
    log.close()
    (record,) = read_records(path)
    assert record["error"] == "rejected [REDACTED]"
    assert record["note"] == "ok"  # too short to be a secret: a coincidence, kept
    assert verify(path).ok  # redacted before hashing, so the chain holds

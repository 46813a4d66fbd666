"""Hostile input from both sides: job files and provider responses. Each gets a clear
error or is skipped with a reason; never a crash, never a wrong delete."""

import io
import json
import os
import signal
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.cli import main
from runner.simulator import Accounts, Simulator, cohere_model
from tests.chaos.conftest import TALLY
from tests.conftest import BFL_KEY, COHERE_KEY
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 6, 1, tzinfo=UTC)
VALID_TAIL = "jobs:\n  - {name: j, targets: [{provider: cohere, older_than: 1d}]}\n"

NASTY: dict[str, bytes] = {
    "huge float": b"version: 1e99999\n" + VALID_TAIL.encode(),
    "huge negative int": b"version: 1\njobs:\n  - {name: j, max_deletions: -99999999999999999999999, targets: [{provider: cohere, older_than: 1d}]}\n",
    "right-to-left override in a name": 'version: 1\njobs:\n  - {name: "evil\u202etxt", targets: [{provider: cohere, older_than: 1d}]}\n'.encode(),
    "zero-width space in a provider": 'version: 1\njobs:\n  - {name: j, targets: [{provider: "co\u200bhere", older_than: 1d}]}\n'.encode(),
    "lone surrogate escape": b'version: 1\njobs:\n  - {name: "\\ud800", targets: [{provider: cohere, older_than: 1d}]}\n',
    "line separator": "version: 1\u2028\n".encode() + VALID_TAIL.encode(),
    "BOM in the middle": b"version: 1\n\xef\xbb\xbf" + VALID_TAIL.encode(),
    "tabs for indentation": b"version: 1\njobs:\n\t- name: j\n",
    "complex key": b"version: 1\n? [a, b]\n: c\n" + VALID_TAIL.encode(),
    "anchor on a key": b"version: 1\n&k jobs: []\n",
    "null document": b"~\n",
    "only comments": b"# nothing\n# here\n",
    "deep flow nesting": b"version: 1\njobs: " + b"{a: " * 3000 + b"1" + b"}" * 3000 + b"\n",
    "deep block nesting": b"version: 1\njobs:\n"
    + b"".join(b"  " * i + b"- \n" for i in range(1, 200)),
    "CRLF with NUL": b"version: 1\r\n\x00jobs: []\r\n",
    "1 MiB of valid ids": b"version: 1\njobs:\n  - name: j\n    targets:\n      - provider: cohere\n        ids:\n"
    + b"".join(b"          - id-%07d\n" % i for i in range(40000)),
    "unicode escapes": b'version: 1\njobs:\n  - {name: "\\x00\\u0007", targets: [{provider: cohere, older_than: 1d}]}\n',
    "timestamp-looking version": b"version: 2001-12-14t21:59:43.10-05:00\n" + VALID_TAIL.encode(),
    "binary tag": b"version: !!binary aGVsbG8=\n" + VALID_TAIL.encode(),
    "set tag": b"version: 1\njobs: !!set {a, b}\n",
}


@pytest.mark.parametrize("name", list(NASTY))
def test_nasty_yaml(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nasty.yaml"
    path.write_bytes(NASTY[name])
    code = main(["validate", str(path)])
    _out, err = capsys.readouterr()
    assert code in (0, 2)
    assert "Traceback" not in err and "internal error" not in err, err
    for line in err.splitlines():
        assert line.startswith(f"{path}:"), line  # every error says where
    TALLY["nasty YAML files"] += 1


def hostile_accounts() -> Accounts:
    acc = Accounts()
    fine = [
        cohere_model(f"ok-{i}", f"ok-{i}", "STATUS_READY", NOW - timedelta(days=90))
        for i in range(3)
    ]
    hostile = [
        cohere_model("../datasets/x", "traversal", "STATUS_READY", NOW - timedelta(days=90)),
        cohere_model("a/b", "slash", "STATUS_READY", NOW - timedelta(days=90)),
        cohere_model("has space", "space", "STATUS_READY", NOW - timedelta(days=90)),
        cohere_model("ctrl\x07", "bell", "STATUS_READY", NOW - timedelta(days=90)),
        {"id": "wrong-types", "name": ["x"], "status": 5, "created_at": 12345},
        {
            "id": "future",
            "name": "future",
            "status": "STATUS_READY",
            "created_at": "2999-01-01T00:00:00Z",
        },
        {
            "id": "garbled-time",
            "name": "garbled",
            "status": "STATUS_READY",
            "created_at": "last tuesday",
        },
        {"id": "no-time", "name": "no-time", "status": "STATUS_READY"},
        {"id": 42, "name": "numeric id"},
        {"name": "no id at all"},
    ]
    for model in fine + hostile:
        key = str(model.get("id"))
        acc.cohere[key] = model  # type: ignore[assignment]
        acc.cohere_order.append(key)
    return acc


def test_hostile_provider_responses_are_skipped_with_reasons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    with Simulator(hostile_accounts()) as sim:
        job = tmp_path / "job.yaml"
        job.write_text(
            f'version: 1\nproviders: {{cohere: {{base_url: "{sim.url}", requests_per_minute: 600000}}}}\njobs:\n  - {{name: j, targets: [{{provider: cohere, older_than: 30d}}]}}\n'
        )
        assert main(["plan", str(job), "--json", "--now", "2026-06-01T00:00:00Z"]) == 0
        rows = json.loads(capsys.readouterr().out)["jobs"][0]["decisions"]
        decisions = {d["id"]: d for d in rows}
        assert main(["run", str(job), "--yes", "--now", "2026-06-01T00:00:00Z"]) == 0
    assert sorted(mid for _, mid in sim.deleted) == ["ok-0", "ok-1", "ok-2"]  # nothing else
    for unsafe in ("../datasets/x", "a/b", "has space", "ctrl\x07"):
        assert (
            decisions[unsafe]["decision"] == "skip" and "unsafe ID" in decisions[unsafe]["reason"]
        )
    assert (
        decisions["future"]["decision"] == "keep" and "too young" in decisions["future"]["reason"]
    )
    assert (
        decisions["garbled-time"]["decision"] == "skip"
        and "unreadable created_at" in decisions["garbled-time"]["reason"]
    )
    assert decisions["no-time"]["reason"] == "no creation time, so no age for older_than"
    assert decisions["wrong-types"]["reason"] == "unreadable created_at 12345"
    assert sum(1 for d in rows if d["reason"] == "listed item has no id") == 2
    assert all(r.path.count("/") == 4 for r in sim.requests if r.method == "DELETE")


def test_huge_and_odd_bodies_do_not_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    acc = Accounts()
    for i in range(200):  # a 10 MB page: heavy but legitimate
        model = cohere_model(f"m-{i}", f"m-{i}", "STATUS_READY", NOW)
        model["settings"]["hyperparameters"] = {"blob": "x" * 50_000}
        acc.add_cohere(model)
    with Simulator(acc) as sim:
        job = tmp_path / "job.yaml"
        job.write_text(
            f'version: 1\nproviders: {{cohere: {{base_url: "{sim.url}", requests_per_minute: 600000}}}}\njobs:\n  - {{name: j, targets: [{{provider: cohere, status: [STATUS_FAILED]}}]}}\n'
        )
        assert main(["plan", str(job)]) == 0
        assert "200 not matched" in capsys.readouterr().out


def test_secrets_never_leave_through_any_command(tmp_path: Path) -> None:
    cohere_key, bfl_key = "co-SECRET-7d1f0a9e3b", "bfl-SECRET-22c4e8a1f0"
    env = {**os.environ, "COHERE_API_KEY": cohere_key, "BFL_API_KEY": bfl_key}
    seen = io.StringIO()
    with Simulator(hostile_accounts(), cohere_key=cohere_key, bfl_key=bfl_key) as sim:
        job = tmp_path / "job.yaml"
        job.write_text(
            f'version: 1\nproviders: {{cohere: {{base_url: "{sim.url}", requests_per_minute: 600000}}, bfl: {{base_url: "{sim.url}", requests_per_minute: 600000}}}}\n'
            "jobs:\n  - {name: j, schedule: every 1s, targets: [{provider: cohere, older_than: 30d}, {provider: bfl, ids: [x]}]}\n"
        )
        commands = [
            ["validate", str(job)],
            ["inventory", str(job), "--json"],
            ["plan", str(job), "--json"],
            ["run", str(job), "--yes"],
            ["audit", "show", str(tmp_path / "audit" / "ftjanitor.jsonl")],
            ["--debug", "plan", str(job)],
        ]
        for args in commands:
            done = subprocess.run(
                [sys.executable, "-m", "runner", *args],
                env=env,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            seen.write(done.stdout + done.stderr)
        wrong = {**env, "COHERE_API_KEY": "wrong-" + cohere_key}
        done = subprocess.run(
            [sys.executable, "-m", "runner", "--debug", "run", str(job), "--yes"],
            env=wrong,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        seen.write(done.stdout + done.stderr)
        log_path = tmp_path / "daemon.log"
        with open(log_path, "wb") as log_file:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "runner", "schedule", str(job), "--log-format", "json"],
                env=env,
                stderr=log_file,
                cwd=ROOT,
            )
        try:  # two runs of the daemon, as they happen
            wait_for(lambda: log_path.read_text().count('"event": "run.end"') >= 2)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(20)
        daemon_log = log_path.read_text()
        seen.write(daemon_log)
    text = seen.getvalue() + (tmp_path / "audit" / "ftjanitor.jsonl").read_text()
    assert "run.end" in daemon_log and "HTTP 401" in text
    assert cohere_key not in text and bfl_key not in text


def test_audit_state_and_lock_files_are_owner_only(
    tmp_path: Path, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    monkeypatch.setenv("BFL_API_KEY", BFL_KEY)
    old = os.umask(0o022)
    try:
        job = tmp_path / "job.yaml"
        job.write_text(
            f'version: 1\nproviders: {{cohere: {{base_url: "{sim.url}", requests_per_minute: 600000}}}}\njobs:\n  - {{name: j, targets: [{{provider: cohere, status: [STATUS_FAILED]}}]}}\n'
        )
        assert main(["run", str(job), "--yes"]) == 0
    finally:
        os.umask(old)
    files = [tmp_path / "audit" / "ftjanitor.jsonl", tmp_path / "state" / "ftjanitor.sqlite3"]
    files += list((tmp_path / "state").glob("ftjanitor.sqlite3-*"))
    files += list((tmp_path / "state").glob("*.locks/*.lock"))
    assert len(files) >= 3
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_job_file_in_a_folder_others_can_write_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    job = shared / "job.yaml"
    job.write_text("version: 1\n" + VALID_TAIL)
    shared.chmod(0o777)
    assert main(["validate", str(job)]) == 0
    err = capsys.readouterr().err
    assert f"ftjanitor: warning: {job} is in a folder other users can write to" in err
    shared.chmod(0o755)
    job.chmod(0o666)
    assert main(["validate", str(job)]) == 0
    assert "can be written by other users (mode 666)" in capsys.readouterr().err
    job.chmod(0o644)
    assert main(["validate", str(job)]) == 0
    assert capsys.readouterr().err == ""

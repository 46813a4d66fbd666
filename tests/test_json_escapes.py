"""JSON that people read (report --format json, audit show --json, /api/status, the
daemon's JSON log lines) keeps names readable but writes every character a terminal would
act on or hide as its escape: the value read back is the same, no line carries it raw."""

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runner.logs import Log
from runner.text import json_text
from tests.audit_history import ChainWriter, append_to, history_path, report_job, write_history
from tests.helpers import cli
from tests.statuspage import Served

# A bidi override, a C1 control, a line separator, a zero-width tag beyond the BMP; and an
# accent that must stay as it is. (A lone surrogate never gets this far: runner.text's
# well_formed writes it as text when an answer is read; json_text escapes one all the same.)
SNEAKY = "ft-\u202eexe.txt\x85\u2028\U000e0001 é"
AT = datetime(2026, 6, 20, tzinfo=UTC)


def shown_exactly(text: str, value: Any) -> None:
    assert all(line.isprintable() for line in text.splitlines()), text
    assert "é" in text and "\\u202e" in text and "\\udb40\\udc01" in text
    assert json.loads(text) == value


@pytest.mark.parametrize("indent", [None, 2])
def test_json_text_escapes_what_a_terminal_would_obey(indent: int | None) -> None:
    value = {"name": SNEAKY + "\ud800", "list": [1, "two"]}
    shown_exactly(json_text(value, indent=indent), value)


def marked(tmp_path: Path) -> Path:
    """A year of history and then a pending mark on a model named SNEAKY; the job file."""
    job = write_history(tmp_path)
    with append_to(history_path(tmp_path)) as w:
        w.add(AT, "delete.marked", "r-mark", job="nightly", provider="cohere", kind="model",
              model_id="sneaky-1", name=SNEAKY, reason="r",
              deletable_after="2026-06-27T00:00:00.000000Z")  # fmt: skip
    return job


def test_audit_show_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marked(tmp_path)
    code, out, _ = cli(capsys, "audit", "show", str(history_path(tmp_path)), "--json")
    assert code == 0
    [line] = [line for line in out.splitlines() if "sneaky-1" in line]
    shown_exactly(line, json.loads(line))
    assert json.loads(line)["name"] == SNEAKY


def test_report_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    job = report_job(tmp_path)
    with open(history_path(tmp_path), "wb") as handle:
        w = ChainWriter(handle)
        w.add(AT, "delete.outcome", "r1", job="nightly", provider="cohere", kind="model",
              model_id="sneaky-1", name=SNEAKY, result="failed", error=SNEAKY)  # fmt: skip
    code, out, _ = cli(capsys, "report", "--job-file", str(job), "--format", "json")
    assert code == 0
    shown_exactly(out, json.loads(out))
    assert json.loads(out)["failures"][0]["error"] == SNEAKY


def test_api_status(tmp_path: Path) -> None:
    import http.client

    page = Served(marked(tmp_path))
    try:
        conn = http.client.HTTPConnection("127.0.0.1", page.port, timeout=10)
        conn.request("GET", "/api/status")
        body = conn.getresponse().read().decode()
        conn.close()
    finally:
        page.close()
    shown_exactly(body, json.loads(body))
    [pending] = [p for p in json.loads(body)["jobs"][0]["pending"] if p["model_id"] == "sneaky-1"]
    assert pending["name"] == SNEAKY


def test_daemon_json_log_lines() -> None:
    stream = io.StringIO()
    Log("json", stream, clock=lambda: AT).emit("job.failed", message=SNEAKY)
    [line] = stream.getvalue().splitlines()
    shown_exactly(line, json.loads(line))

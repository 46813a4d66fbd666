"""With ``--log-format json`` every line the daemon writes is one JSON object, third-party
loggers included (issue 16, item 14): APScheduler's own "skipped: maximum number of running
instances reached", urllib3's retries, Python warnings and a thread that dies."""

import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from runner import events as ev
from runner.commands.schedule import LogWaits
from runner.logs import Log, routed
from runner.ref import ResourceRef
from runner.simulator import Fault, Simulator
from tests.conftest import BFL_KEY, COHERE_KEY, seed_accounts
from tests.helpers import KEYS, ROOT
from tests.test_daemon_ops import job_text
from tests.waiting import wait_for


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line as a JSON object, or the assertion names the first one that is not."""
    objects = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            value = json.loads(line)
        except ValueError:
            pytest.fail(f"line {number} is not JSON: {line!r}")
        assert isinstance(value, dict), f"line {number} is not an object: {line!r}"
        objects.append(value)
    return objects


def test_routed_sends_every_logger_warning_and_dead_thread_through_the_log() -> None:
    stream = io.StringIO()
    log = Log("json", stream)
    before = (list(logging.getLogger().handlers), threading.excepthook)
    with routed(log):
        logging.getLogger("apscheduler.scheduler").warning(
            'Execution of job "%s" skipped: maximum number of running instances reached (%d)',
            "sweep\nforged",
            1,
        )
        logging.getLogger("urllib3.connectionpool").info("below the level: not shown")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a library's deprecation", DeprecationWarning, stacklevel=1)
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("somelib").exception("failed")

        def die() -> None:
            raise RuntimeError("a thread died")

        worker = threading.Thread(target=die, name="worker-1")
        worker.start()
        worker.join()
    assert (list(logging.getLogger().handlers), threading.excepthook) == before  # put back
    logging.getLogger("apscheduler.scheduler").warning("after: not ours any more")
    records = json_lines(stream.getvalue())
    assert [(r["event"], r["level"], r["logger"]) for r in records] == [
        ("log", "warning", "apscheduler.scheduler"),
        ("log", "warning", "py.warnings"),
        ("log", "error", "somelib"),
        ("log", "error", "ftjanitor"),
    ]
    assert records[0]["message"].endswith("maximum number of running instances reached (1)")
    assert "sweep\nforged" in records[0]["message"]  # one line all the same
    assert "ValueError: boom" in records[2]["exception"]
    assert records[3]["message"] == "thread worker-1 died"
    assert "RuntimeError: a thread died" in records[3]["exception"]


def test_text_format_keeps_a_library_message_on_one_line() -> None:
    stream = io.StringIO()
    with routed(Log("text", stream)):
        logging.getLogger("apscheduler.executors.default").error("two\nlines")
    (line,) = stream.getvalue().splitlines()
    assert line.endswith('ERROR log logger=apscheduler.executors.default message="two\\nlines"')


@pytest.mark.timeout(120)
def test_every_daemon_line_is_json_even_when_apscheduler_skips_an_overlapping_run(
    tmp_path: Path,
    reaper: list[subprocess.Popen[bytes]],
) -> None:
    # Each listing takes 3 s, the job fires every second: the next fire time comes while
    # the run is still going, and APScheduler logs that it skipped it.
    slow = [Fault("delay", method="GET", seconds=3.0)]
    with Simulator(seed_accounts(), cohere_key=COHERE_KEY, bfl_key=BFL_KEY, faults=slow) as sim:
        job = tmp_path / "overlap.yaml"
        job.write_text(job_text(sim.url, schedule="every 1s"))
        out, err = tmp_path / "stdout", tmp_path / "stderr"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "runner", "schedule", str(job), "--log-format", "json"],
                env={**os.environ, **KEYS},
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                cwd=ROOT,
            )
        reaper.append(daemon)
        wait_for(
            lambda: b"maximum number of running instances reached" in err.read_bytes(),
            60,
            "APScheduler's own warning",
        )
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(60) == 0
    records = json_lines(out.read_text()) + json_lines(err.read_text())
    theirs = [r for r in records if r.get("logger", "").startswith("apscheduler")]
    assert theirs and all(r["event"] == "log" and r["level"] == "warning" for r in theirs)
    assert any(r["event"] == "run.skipped" for r in records)  # our own word for it too
    assert records[-1]["event"] == "daemon.stopped"


def test_the_daemon_log_says_when_a_delete_is_waited_for() -> None:
    stream = io.StringIO()
    log = Log("json", stream)
    ref = ResourceRef.on("fw", "dep-\x1b[31m", "deployment")
    LogWaits(log).emit(ev.Waiting("nightly", "r1", ev.ModelRef(ref), 200, timedelta(minutes=10)))
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert (record["event"], record["job"], record["http_status"], record["within"]) == (
        "delete.waiting", "nightly", 200, "10m",
    )  # fmt: skip
    assert record["item"] == "fw deployment dep-\\x1b[31m"  # escaped, one line

"""Intents written by many threads at once share fsyncs, and none returns before its own
record is on disk (an fsync that started after its write)."""

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from runner.audit import AuditLog

THREADS = 8


def lines_in(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def test_waiting_intents_share_one_fsync_and_each_returns_only_once_durable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    real_fsync = os.fsync
    started: list[int] = []  # records in the file as each fsync starts

    def fsync(fd: int) -> None:
        if not started:
            # The first fsync holds on until every thread has written: they all queue.
            deadline = time.monotonic() + 10
            while lines_in(path) < THREADS and time.monotonic() < deadline:
                time.sleep(0.001)
        started.append(lines_in(path))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    late: list[Any] = []

    def intent(i: int) -> None:
        record = log.append("delete.intent", "run-1", {"model_id": f"m-{i}"}, sync=True)
        if max(started, default=0) < record["seq"]:
            late.append(record["seq"])  # returned before an fsync covered it

    threads = [threading.Thread(target=intent, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    assert late == []
    assert lines_in(path) == THREADS
    # The first covers at least the first record; one more covers all that waited behind
    # it, not one each (close() adds its own at the end).
    assert len(started) - 1 <= 2

"""Audit appends per second with ``audit_log: state`` on PostgreSQL (not a test).

Starts a throwaway server (tests/pgserver.py, fsync on unless --fsync off, so sync=True
means what it says), then times --appends durable appends (sync=True) from one process,
and the same number from each of two processes appending to the one chain at once.
Each figure is the median of --runs runs, each in an empty schema; every chain is
re-verified afterwards.

    .venv/bin/python -m bench.pg_audit [--appends 1000] [--runs 3] [--fsync on|off]
"""

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from runner.state import StateRef
from runner.state.open import open_audit_chain
from tests.pgserver import PgServer

ROOT = Path(__file__).resolve().parent.parent


def append_many(url: str, count: int, sync: bool, writer: int = 0) -> float:
    chain = open_audit_chain(StateRef(url=url))
    try:
        started = time.perf_counter()
        for n in range(count):
            chain.append("bench.append", f"run-{writer}", {"writer": writer, "n": n}, sync=sync)
        return time.perf_counter() - started
    finally:
        chain.close()


def verified(url: str) -> int:
    """DESIGN.md's ten-line check over the exported lines; the number of records."""
    chain = open_audit_chain(StateRef(url=url))
    prev, count = "0" * 64, 0
    try:
        for line in chain.lines():
            record = json.loads(line)
            claimed = record.pop("hash")
            body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            if record["prev"] != prev or hashlib.sha256(body.encode()).hexdigest() != claimed:
                raise SystemExit(f"chain broken at seq {record['seq']}")
            prev, count = claimed, count + 1
    finally:
        chain.close()
    return count


def worker(url: str, count: int, writer: int) -> None:
    """Child: open, say ready, wait for go, append, print the seconds it took."""
    chain = open_audit_chain(StateRef(url=url))
    chain.close()  # the schema exists before the clock starts
    print("ready", flush=True)
    sys.stdin.readline()
    print(append_many(url, count, True, writer), flush=True)


def two_processes(url: str, count: int) -> float:
    """Appends per second from two processes at once, over the wall time of both."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "bench.pg_audit", "--worker", url, str(count)]
    children = [
        subprocess.Popen(
            [*command, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        for n in (1, 2)
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
    started = time.perf_counter()
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        child.communicate(timeout=600)
        if child.returncode != 0:
            raise SystemExit(f"worker failed with exit code {child.returncode}")
    return 2 * count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fsync", choices=["on", "off"], default="on")
    parser.add_argument("--worker", nargs=3, metavar=("URL", "COUNT", "WRITER"))
    args = parser.parse_args()
    if args.worker:
        url, count, writer = args.worker
        worker(url, int(count), int(writer))
        return
    figures: dict[str, list[float]] = {"one": [], "one_nosync": [], "two": []}
    with PgServer(fsync=args.fsync == "on") as server:
        server.create_database("ftjanitor_test")
        for _ in range(args.runs):
            url = server.create_schema()
            append_many(url, 10, True)  # connect, create the schema: not timed
            figures["one"].append(args.appends / append_many(url, args.appends, True))
            figures["one_nosync"].append(args.appends / append_many(url, args.appends, False))
            figures["two"].append(two_processes(url, args.appends))
            assert verified(url) == 10 + 4 * args.appends
    print(
        f"PostgreSQL, fsync={args.fsync}: audit appends/s, median of {args.runs} runs of"
        f" {args.appends} appends per process"
    )
    print(f"  one process,   sync=True : {statistics.median(figures['one']):8.0f}")
    print(f"  one process,   sync=False: {statistics.median(figures['one_nosync']):8.0f}")
    print(f"  two processes, sync=True : {statistics.median(figures['two']):8.0f} (both together)")


if __name__ == "__main__":
    main()

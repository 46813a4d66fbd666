"""`make bench`: ``report`` over a long audit log, and ``/api/status`` under load (not a test).

1. Writes chained audit logs of --records records (default 1,000,000; and a tenth of it, to
   show memory stays flat), runs ``ftjanitor report --format json`` over each in its own
   process, and prints wall time and peak RSS.
2. Starts ``ftjanitor schedule --listen`` over a --status-records log (default 100,000),
   times the first /api/status (the one full read), then lets --clients threads request
   /api/status for --seconds seconds while a run is appended to the log every second (so
   the cache is renewed, from the new records only), and prints the latency percentiles.

    .venv/bin/python -m bench.reports [--records 1000000] [--status-records 100000]
"""

import argparse
import http.client
import itertools
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.audit_history import ChainWriter, Delete, append_to, report_job

ROOT = Path(__file__).resolve().parent.parent
MEASURE = [sys.executable, "-m", "bench.measure"]  # the CLI, with its peak RSS on stderr
DAEMON = [sys.executable, "-m", "runner", "schedule"]
DELETES_PER_RUN = 10  # a run is 3 records a delete plus its start and end


def write_log(folder: Path, records: int) -> Path:
    """About ``records`` records of real-looking runs spread over two years; the job file."""
    runs = max(records // (3 * DELETES_PER_RUN + 2), 1)
    first = datetime(2024, 7, 1, tzinfo=UTC)
    step = timedelta(days=730) / runs
    with open(folder / "audit.jsonl", "wb") as handle:
        writer = ChainWriter(handle)
        for n in range(runs):
            deletes = [
                Delete(
                    "cohere" if i % 3 else "together",
                    f"m{n}-{i}",
                    result="failed" if (n + i) % 97 == 0 else "deleted",
                    kind="model" if i % 3 else "deployment",
                    name=f"experiment {n}.{i}",
                    monthly_cost=2.0 if i % 3 else 2912.7,
                )
                for i in range(DELETES_PER_RUN)
            ]
            writer.run(first + n * step, "nightly", deletes)
    return report_job(folder)


def report_figures(job: Path) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak RSS MiB, records) of one ``report`` process. CPU
    time is given too: on a shared machine the wall time also counts others' work."""
    out = job.parent / "report.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [*MEASURE, "report", "--job-file", str(job), "--format", "json", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    peak_kib = int(done.stderr.strip().splitlines()[-1].split()[-1])
    records = int(json.loads(out.read_text())["audit"]["records"])
    return wall, cpu, peak_kib / 1024, records


def get(port: int, path: str) -> float:
    """Seconds for one request on a fresh connection (the server closes each)."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{path}: HTTP {answer.status}")
    finally:
        conn.close()
    return time.perf_counter() - started


def listening(log: Path, daemon: "subprocess.Popen[bytes]") -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited: {log.read_text(errors='replace')}")
        for line in log.read_text(errors="replace").splitlines():
            if '"daemon.listening"' in line:
                return int(json.loads(line)["address"].rpartition(":")[2])
        time.sleep(0.05)
    raise RuntimeError("the daemon never said where it listens")


def status_load(job: Path, seconds: float, clients: int) -> dict[str, float]:
    log = job.parent / "daemon.log"
    with open(log, "wb") as stderr:
        daemon = subprocess.Popen(
            [*DAEMON, str(job), "--listen", "127.0.0.1:0", "--log-format", "json"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=ROOT,
        )
    try:
        port = listening(log, daemon)
        first = get(port, "/api/status")
        stop = threading.Event()
        latencies: list[list[float]] = [[] for _ in range(clients)]

        def client(mine: list[float]) -> None:
            while not stop.is_set():
                mine.append(get(port, "/api/status"))

        def appender() -> None:
            with append_to(job.parent / "audit.jsonl", first_run=10**7) as writer:
                at = datetime(2026, 7, 1, tzinfo=UTC)
                for n in itertools.count():
                    if stop.wait(1.0):
                        return
                    writer.run(at + timedelta(minutes=n), "nightly", [Delete("cohere", f"x{n}")])
                    writer.handle.flush()

        threads = [threading.Thread(target=client, args=(mine,)) for mine in latencies]
        threads.append(threading.Thread(target=appender))
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join()
    finally:
        daemon.terminate()
        daemon.wait(30)
    every = sorted(itertools.chain.from_iterable(latencies))
    cuts = statistics.quantiles(every, n=100)
    return {
        "first": first,
        "requests": len(every),
        "rate": len(every) / seconds,
        "p50": cuts[49],
        "p99": cuts[98],
        "max": every[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--status-records", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    opts = parser.parse_args()
    print(f"{'scenario':<52} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9}")
    with tempfile.TemporaryDirectory(prefix="ftjanitor-bench-report-") as tmp:
        for records in (opts.records // 10, opts.records):
            folder = Path(tmp, str(records))
            folder.mkdir()
            wall, cpu, rss, read = report_figures(write_log(folder, records))
            label = f"report --format json, {read:,} records"
            print(f"{label:<52} {wall:8.2f} {cpu:8.2f} {rss:9.1f}")
        folder = Path(tmp, "status")
        folder.mkdir()
        load = status_load(write_log(folder, opts.status_records), opts.seconds, opts.clients)
    print()
    print(
        f"/api/status over {opts.status_records:,} records: first request (the full read)"
        f" {load['first'] * 1000:.0f} ms; then {opts.clients} clients for {opts.seconds:.0f} s"
        f" with a run appended every second: {load['requests']:.0f} requests"
        f" ({load['rate']:.0f}/s), p50 {load['p50'] * 1000:.1f} ms,"
        f" p99 {load['p99'] * 1000:.1f} ms, max {load['max'] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()

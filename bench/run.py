"""`make bench`: ftjanitor against the simulator, the official-SDK peer and the bounds.

Every scenario starts its own simulator process (so it never shares our interpreter),
times whole processes as a user would feel them, and reports the median of --runs
runs. Ratios are computed from figures measured in this same run: the machine is noisy,
so ratios are what count. The 2,000-delete run is measured with group commit and, in
turns with it, without (``FTJANITOR_GROUP_COMMIT=0``, read by runner.intents alone).

    .venv/bin/python -m bench.run [--runs 3] [--latency 0.025]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.validate import measure as measure_validate

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"COHERE_API_KEY": "bench-cohere-key-000000", "BFL_API_KEY": "bench-bfl-key-000000"}
PAGE = 1000  # Cohere page size ftjanitor asks for (runner/providers/cohere.py)


@dataclass
class Figure:
    name: str
    seconds: list[float] = field(default_factory=list)
    requests: int = 0
    throttled: int = 0
    peak_mib: list[float] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rss(self) -> float | None:
        return statistics.median(self.peak_mib) if self.peak_mib else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sim:
    """`ftjanitor simulate` in its own process."""

    def __init__(self, args: list[str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "runner", "simulate", "--port", str(self.port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"simulator did not start: {line}")

    def requests(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/_sim/requests") as answer:
            records: list[dict[str, Any]] = json.load(answer)
        return records

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def seed_file(folder: Path, cohere_old: int, cohere_new: int, bfl: int) -> Path:
    path = folder / f"seed-{cohere_old}-{cohere_new}-{bfl}.json"
    if not path.exists():
        cohere = [
            {"id": str(uuid.UUID(int=i + 1)), "name": f"old-{i:06d}", "age_days": 100}
            for i in range(cohere_old)
        ] + [
            {"id": str(uuid.UUID(int=10**9 + i)), "name": f"new-{i:06d}", "age_days": 5}
            for i in range(cohere_new)
        ]
        path.write_text(
            json.dumps({"cohere": cohere, "bfl": [f"lora-{i:06d}" for i in range(bfl)]})
        )
    return path


def job_file(folder: Path, url: str, target: str, concurrency: int = 8, rpm: int = 10**6) -> Path:
    path = folder / f"job-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(
        f"""version: 1
providers:
  cohere: {{base_url: "{url}", concurrency: {concurrency}, requests_per_minute: {rpm}}}
  bfl: {{base_url: "{url}", concurrency: {concurrency}, requests_per_minute: {rpm}}}
audit_log: {path.stem}/audit.jsonl
state: {path.stem}/state.sqlite3
jobs:
  - name: bench
    max_deletions: 1000000
    targets:
      - {target}
"""
    )
    return path


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float | None]:
    """Wall seconds and peak RSS (MiB, when the command reports it) of one process, with
    the keys and ``env`` added to its environment."""
    start = time.perf_counter()
    environ = {**os.environ, **KEYS, **(env or {})}
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=environ)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])}... exited {done.returncode}: {done.stderr[-800:]}")
    peak = None
    for line in done.stderr.splitlines():
        if line.startswith("PEAK_RSS_KIB "):
            peak = int(line.split()[1]) / 1024
    return wall, peak


def ftj(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.measure", *args]


def scenario(
    figure: Figure,
    runs: int,
    sim_args: list[str],
    command: Callable[[Sim], list[str]],
    env: dict[str, str] | None = None,
    requests: list[list[dict[str, Any]]] | None = None,
) -> Figure:
    """``runs`` timings of ``command``, each against a fresh simulator; each run's request
    log is appended to ``requests`` when given (a bound computed from what was sent)."""
    for _ in range(runs):
        sim = Sim(sim_args)
        try:
            wall, peak = timed(command(sim), env)
            log = sim.requests()
        finally:
            sim.stop()
        if requests is not None:
            requests.append(log)
        figure.seconds.append(wall)
        if peak is not None:
            figure.peak_mib.append(peak)
        figure.requests = len(log)
        figure.throttled = sum(1 for r in log if r["status"] == 429)
    return figure


def grouped_and_not(
    runs: int, sim_args: list[str], command: Callable[[Sim], list[str]]
) -> dict[str, Figure]:
    """The 2,000-delete run with group commit (the default) and without it
    (FTJANITOR_GROUP_COMMIT=0: each intent its own state transaction and fsync, each close
    its own transaction, as before runner.intents), taken in turns so that both see the
    same machine."""
    figures = {
        "run_10k": Figure("run: Cohere 10,000, delete 2,000, concurrency 8"),
        "run_10k_ungrouped": Figure("  the same without group commit"),
    }
    for _ in range(runs):
        scenario(figures["run_10k"], 1, sim_args, command)
        scenario(
            figures["run_10k_ungrouped"], 1, sim_args, command, {"FTJANITOR_GROUP_COMMIT": "0"}
        )
    return figures


def idle_cpu(folder: Path, seconds: float) -> float:
    """CPU seconds a `schedule` daemon uses while idle for ``seconds``."""
    job = folder / "idle.yaml"
    job.write_text(
        """version: 1
providers: {cohere: {base_url: "http://127.0.0.1:9"}}
audit_log: idle/audit.jsonl
state: idle/state.sqlite3
jobs:
  - {name: yearly, schedule: "0 3 1 1 *", targets: [{provider: cohere, status: [STATUS_FAILED]}]}
"""
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "runner", "schedule", str(job)],
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env={**os.environ, **KEYS},
    )
    try:
        time.sleep(2)  # past start-up
        process = psutil.Process(daemon.pid)
        before = process.cpu_times()
        time.sleep(seconds)
        after = process.cpu_times()
        if daemon.poll() is not None:
            raise RuntimeError("the schedule daemon exited: its idle CPU was not measured")
    finally:
        daemon.terminate()
        daemon.wait(30)
    return (after.user - before.user) + (after.system - before.system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.025)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    opts = parser.parse_args()
    lat, runs = opts.latency, opts.runs
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seed_10k = seed_file(folder, 2000, 8000, 0)
        seed_bfl = seed_file(folder, 0, 0, 2000)
        seed_rl = seed_file(folder, 500, 1500, 0)
        rule = '{provider: cohere, name: "old-*", older_than: 30d}'
        ids = json.dumps([f"lora-{i:06d}" for i in range(0, 2000, 2)])
        none = '{provider: cohere, status: [STATUS_FAILED], name: "none-*"}'
        base = ["--latency", str(lat)]

        def plan_with(target: str, conc: int = 8, rpm: int = 10**6) -> Callable[[Sim], list[str]]:
            return lambda sim: ftj("plan", str(job_file(folder, sim.url, target, conc, rpm)))

        def run_with(target: str, conc: int = 8, rpm: int = 10**6) -> Callable[[Sim], list[str]]:
            return lambda sim: ftj(
                "run", str(job_file(folder, sim.url, target, conc, rpm)), "--yes"
            )

        print(
            f"benchmark: {runs} runs per figure, simulator latency {lat * 1000:.0f} ms", flush=True
        )
        figures = {
            "plan_10k": scenario(
                Figure("plan: Cohere 10,000 (2,000 selected)"),
                runs,
                [*base, "--seed", str(seed_10k)],
                plan_with(rule),
            ),
            **grouped_and_not(
                runs,
                [*base, "--seed", str(seed_10k)],
                run_with(rule),
            ),
            "sdk_10k": scenario(
                Figure("official cohere SDK loop, same 2,000"),
                runs,
                [*base, "--seed", str(seed_10k)],
                lambda sim: [sys.executable, "-m", "bench.sdk_loop", sim.url, "old-"],
            ),
            "bfl": scenario(
                Figure("run: BFL 2,000, delete 1,000 by ID"),
                runs,
                [*base, "--seed", str(seed_bfl)],
                run_with(f"{{provider: bfl, ids: {ids}}}"),
            ),
            "rate": scenario(
                Figure("run: Cohere 2,000, delete 500, server limit 50/s"),
                runs,
                [*base, "--seed", str(seed_rl), "--rate-limit", "50"],
                run_with(rule, 8, 3000),
            ),
            "plan_10k_mem": scenario(
                Figure("plan: Cohere 10,000, zero latency"),
                runs,
                ["--models", "10000", "--bfl-models", "0"],
                plan_with(none),
            ),
            "plan_100k_mem": scenario(
                Figure("plan: Cohere 100,000, zero latency"),
                runs,
                ["--models", "100000", "--bfl-models", "0"],
                plan_with(none),
            ),
        }
        validate = measure_validate()
        idle = idle_cpu(folder, opts.idle_seconds)
    report(figures, validate, idle, lat)


def report(figures: dict[str, Figure], validate: dict[str, float], idle: float, lat: float) -> None:
    print()
    print(f"{'scenario':<52} {'wall s':>8} {'requests':>9} {'429s':>6} {'peak MiB':>9}")
    for figure in figures.values():
        rss = f"{figure.rss:9.1f}" if figure.rss is not None else f"{'-':>9}"
        print(
            f"{figure.name:<52} {figure.wall:8.2f} {figure.requests:9d} {figure.throttled:6d} {rss}"
        )
    print(f"{'validate one file (whole process)':<52} {validate['validate_1_file_s']:8.3f}")
    print(f"{'validate 1,000 files (whole process)':<52} {validate['validate_1000_files_s']:8.3f}")
    print(f"{'schedule: CPU seconds while idle 60 s':<52} {idle:8.3f}")
    run, sdk, rate = figures["run_10k"], figures["sdk_10k"], figures["rate"]
    ungrouped = figures["run_10k_ungrouped"]
    pages = 10_000 // PAGE
    bound = pages * lat + 2000 * lat / 8
    rate_bound = rate.requests / 50
    small, big = figures["plan_10k_mem"], figures["plan_100k_mem"]
    growth = ((big.rss or 0) - (small.rss or 0)) / 90
    print()
    checks = [
        (
            "run vs official SDK loop (goal >= 6x faster)",
            sdk.wall / run.wall,
            sdk.wall / run.wall >= 6,
        ),
        (
            f"run vs bound {pages} pages x lat + 2000 x lat / 8 = {bound:.2f} s (goal <= 1.15)",
            run.wall / bound,
            run.wall / bound <= 1.15,
        ),
        (
            "  the same without group commit (for comparison)",
            ungrouped.wall / bound,
            True,
        ),
        (
            f"rate-limited run vs requests / limit = {rate_bound:.2f} s (goal <= 1.2)",
            rate.wall / rate_bound,
            rate.wall / rate_bound <= 1.2,
        ),
        (
            "rate-limited: share of requests answered 429 (goal < 1%)",
            100 * rate.throttled / max(rate.requests, 1),
            rate.throttled < 0.01 * rate.requests,
        ),
        ("plan 100,000: peak RSS MiB (goal <= 150)", big.rss or 0, (big.rss or 0) <= 150),
        ("plan: RSS growth MiB per 1,000 models (goal <= 1)", growth, growth <= 1),
        (
            "validate one file, ms (goal <= 150)",
            validate["validate_1_file_s"] * 1000,
            validate["validate_1_file_s"] <= 0.150,
        ),
        ("schedule idle 60 s, CPU s (goal < 0.2)", idle, idle < 0.2),
    ]
    for label, value, ok in checks:
        print(f"{'ok  ' if ok else 'MISS'} {label}: {value:.2f}")


if __name__ == "__main__":
    main()

"""CloudWatch usage benchmark: 2,000 Bedrock custom models planned with ``unused_for``.

The simulator in its own process serves the 2,000 models (100 days old) at 25 ms a
request; CloudWatch is moto's server behind a small proxy that adds the same 25 ms to each
call (tests.motoserver), seeded with yesterday's use of 10 models. The same plan is
timed with ``unused_for: 30d`` and with ``older_than: 30d`` (the same models listed, no
usage read), one after the other, --runs times.

What the usage read adds is its GetMetricData calls (one per 500 models, all of them at
once up to the connection's concurrency) and the work around them. The ratio reported is

    (plan with unused_for - plan without) / (GetMetricData calls x latency)

with a goal of at most 1.3: the calls run concurrently, so the network alone would allow
less than 1. Two things blur it, and are reported beside it: moto's own time answering
(it filters every data point for each of 500 queries and 31 days, under one GIL), timed at
the proxy; and whole-process noise on a busy machine, which is why the usage read is also
timed inside the plan (bench/usage_read.py).

    .venv/bin/python -m bench.cloudwatch [--runs 3] [--latency 0.025]
"""

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.run import Sim, timed
from tests.motoserver import REGION, MotoServer, Reply, StubServer, forward, invoked, stub
from tests.motoserver import Seen as Request

MODELS = 2000
USED = 10  # models invoked yesterday
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
ENV = {
    "AWS_ACCESS_KEY_ID": "AKIABENCH0000000000",
    "AWS_SECRET_ACCESS_KEY": "bench-aws-secret-000000",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}


RULES = {"unused_for": "unused_for: 30d", "older_than": "older_than: 30d"}


def names() -> list[str]:
    return [f"ft-{i:04d}" for i in range(MODELS)]


def seed_file(folder: Path) -> Path:
    path = folder / "cloudwatch-seed.json"
    models = [{"name": name, "age_days": 100} for name in names()]
    path.write_text(json.dumps({"bedrock": {"model": models}}))
    return path


def job_file(folder: Path, sim: Sim, rule: str) -> Path:
    path = folder / f"job-{len(list(folder.glob('job-*.yaml'))):03d}.yaml"
    path.write_text(
        f"""version: 1
providers:
  aws: {{type: bedrock, region: {REGION}, endpoint_url: "{sim.url}/bedrock", concurrency: 8,
        requests_per_minute: 1000000}}
audit_log: {path.stem}/audit.jsonl
state: {path.stem}/state.sqlite3
jobs:
  - name: bench
    max_deletions: 1000000
    targets:
      - {{provider: aws, {rule}}}
"""
    )
    return path


def seed_use(moto: MotoServer, sim: Sim) -> None:
    """Yesterday's invocations of USED of the models, by their ARNs as listed."""
    import boto3

    bedrock = boto3.client(
        "bedrock",
        region_name=REGION,
        endpoint_url=f"{sim.url}/bedrock",
        aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"],
    )
    pages = bedrock.get_paginator("list_custom_models").paginate()
    arns = [m["modelArn"] for page in pages for m in page["modelSummaries"]][:USED]
    invoked(moto, arns, NOW - timedelta(days=1), 5)


def answering(moto: MotoServer, seen: Request, spans: list[tuple[float, float]]) -> Reply:
    """moto's answer, noting when moto was at work on it (its own time is the fake's)."""
    began = time.perf_counter()
    try:
        return forward(moto.url, seen, raw=True)
    finally:
        spans.append((began, time.perf_counter()))


def busy(spans: list[tuple[float, float]]) -> float:
    """How long, in all, at least one of ``spans`` was under way."""
    total, reach = 0.0, float("-inf")
    for began, ended in sorted(spans):
        if ended > reach:
            total += ended - max(began, reach)
            reach = ended
    return total


def calls(proxy: StubServer) -> int:
    return sum(1 for seen in proxy.seen if seen.operation == "GetMetricData")


def measure(folder: Path, runs: int, lat: float) -> dict[str, float]:
    """Each run plans with, then without, unused_for on the same simulator and moto: what
    the usage read adds is the median of those paired differences (the machine's load
    drifts between runs more than within a pair)."""
    seed = seed_file(folder)
    sim = Sim(["--latency", str(lat), "--seed", str(seed)])
    timings: dict[str, list[float]] = {key: [] for key in RULES}
    fake: list[float] = []  # per plan with unused_for: how long moto was at work
    reads: list[float] = []  # per plan with unused_for: its usage read, timed inside
    per_run = 0
    now = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        with MotoServer() as moto:
            seed_use(moto, sim)
            spans: list[tuple[float, float]] = []
            with stub(lambda seen: answering(moto, seen, spans), delay=lat) as proxy:
                env = {**ENV, "AWS_ENDPOINT_URL_CLOUDWATCH": proxy.url}
                for run in range(runs):
                    for key, rule in RULES.items():
                        before = calls(proxy)
                        spans.clear()
                        job = job_file(folder, sim, rule)
                        log = folder / f"reads-{run}-{key}.txt"
                        command = [sys.executable, "-m", "bench.usage_read", "plan", str(job)]
                        extra = {"BENCH_USAGE_READ_FILE": str(log)}
                        wall, _ = timed([*command, "--now", now], {**env, **extra})
                        timings[key].append(wall)
                        if key == "unused_for":
                            per_run = calls(proxy) - before
                            fake.append(busy(spans))
                            reads.append(sum(float(t) for t in log.read_text().split()))
    finally:
        sim.stop()
    added = [w - wo for w, wo in zip(timings["unused_for"], timings["older_than"], strict=True)]
    bound = per_run * lat
    median = statistics.median
    return {
        "with": median(timings["unused_for"]),
        "without": median(timings["older_than"]),
        "calls": per_run,
        "added": median(added),
        "fake": median(fake),
        "read": median(reads),
        "read_ratio": median(reads) / bound if bound else float("inf"),
        "read_net": median(r - f for r, f in zip(reads, fake, strict=True)) / bound if bound else 0,
        "ratio": median(added) / bound if bound else float("inf"),
        "net": median(a - f for a, f in zip(added, fake, strict=True)) / bound if bound else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.025)
    opts = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs each request
    ms = f"{opts.latency * 1000:.0f} ms"
    print(f"cloudwatch benchmark: {opts.runs} runs per figure, latency {ms}")
    with tempfile.TemporaryDirectory() as tmp:
        found = measure(Path(tmp), opts.runs, opts.latency)
    print(f"plan: {MODELS} Bedrock models, unused_for 30d   {found['with']:7.2f} s")
    print(f"plan: the same with older_than 30d        {found['without']:7.2f} s")
    print(f"GetMetricData calls per plan              {found['calls']:7.0f}")
    print(f"added by the usage read                   {found['added']:7.2f} s")
    print(f"  of which moto at work on the calls      {found['fake']:7.2f} s")
    bound = found["calls"] * opts.latency
    label = f"added time vs calls x latency = {bound:.3f} s (goal <= 1.3)"
    ok = found["ratio"] <= 1.3
    print(f"{'ok  ' if ok else 'MISS'} {label}: {found['ratio']:.2f}")
    print(f"     the same without moto's own time: {found['net']:.2f}")
    print(f"the usage read itself, timed inside the plan {found['read']:7.3f} s")
    print(
        f"     vs calls x latency: {found['read_ratio']:.2f}; without moto's own time:"
        f" {found['read_net']:.2f}"
    )


if __name__ == "__main__":
    main()

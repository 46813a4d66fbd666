"""Deployments benchmark: 500 deployments across three types, planned and deleted.

A simulator in its own process (25 ms per request) holds 167 Bedrock Provisioned
Throughputs, 167 Together dedicated endpoints and 166 Fireworks deployments, all 40 days
old. One job with one ``kind: deployment`` target per type (``older_than: 30d``, all of
them) is planned, then run, on fresh simulator state; each is timed as a whole process,
median of --runs. Three connections, concurrency 8 each (--concurrency N).

The bound is what the network allows for the requests the simulator logged, per type:
its listing requests one after another (a page needs the previous page's token) and its
item requests (Together's detail reads, the deletes) spread over its concurrency C. The
types are independent, so each phase takes as long as its slowest type; the deletes start
once the whole plan is made (the plan's limits count every item first):

    bound = max over types (lists x lat + item reads x lat / C)
          + max over types (deletes x lat / C)

The same run at zero latency is the runner's own time (start-up, boto3, audit and state
writes per delete), which the network's wait can at best hide.

    .venv/bin/python -m bench.deployments [--runs 3] [--latency 0.025] [--concurrency 8]
"""

import argparse
import json
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.run import Figure, Sim, ftj, scenario
from runner.jobfile.validate import DEFAULT_CONCURRENCY

PER_TYPE = {"bedrock": 167, "together": 167, "fireworks": 166}  # 500 in all
CONCURRENCY = DEFAULT_CONCURRENCY
WIDER = 8  # the run again with more parallel requests per connection
ACCOUNT = "bench-acct"
REGION = "us-east-1"
# The environment each ftjanitor process gets: keys the simulator takes (it takes any),
# and fake AWS credentials with no profile, config file or metadata service to read.
ENV = {
    "TOGETHER_API_KEY": "bench-together-key-000000",
    "FIREWORKS_API_KEY": "bench-fireworks-key-000000",
    "AWS_ACCESS_KEY_ID": "AKIABENCH0000000000",
    "AWS_SECRET_ACCESS_KEY": "bench-aws-secret-000000",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def ids(type_: str) -> list[str]:
    """The IDs ftjanitor knows each type's deployments by (and the simulator's paths hold)."""
    prefix = {"bedrock": "pt", "together": "endpoint", "fireworks": "dep"}[type_]
    return [f"{prefix}-{i:04d}" for i in range(PER_TYPE[type_])]


def seed_file(folder: Path) -> Path:
    seed = {
        "bedrock": {"deployment": [{"name": i, "age_days": 40} for i in ids("bedrock")]},
        "together": {"deployment": [{"id": i, "age_days": 40} for i in ids("together")]},
        "fireworks": {
            "deployment": [{"id": i, "account": ACCOUNT, "age_days": 40} for i in ids("fireworks")]
        },
    }
    path = folder / "deployments-seed.json"
    path.write_text(json.dumps(seed))
    return path


def job_file(folder: Path, sim: Sim, concurrency: int = CONCURRENCY) -> Path:
    path = folder / f"job-{len(list(folder.glob('job-*.yaml'))):03d}.yaml"
    pace = f"concurrency: {concurrency}, requests_per_minute: 1000000"
    path.write_text(
        f"""version: 1
providers:
  pts: {{type: bedrock, region: {REGION}, endpoint_url: "{sim.url}/bedrock", {pace}}}
  endpoints: {{type: together, base_url: "{sim.url}/together", {pace}}}
  deployments: {{type: fireworks, account_id: {ACCOUNT}, base_url: "{sim.url}/fireworks", {pace}}}
audit_log: {path.stem}/audit.jsonl
state: {path.stem}/state.sqlite3
jobs:
  - name: bench
    max_deletions: 1000000
    targets:
      - {{provider: pts, kind: deployment, older_than: 30d}}
      - {{provider: endpoints, kind: deployment, older_than: 30d}}
      - {{provider: deployments, kind: deployment, older_than: 30d}}
"""
    )
    return path


def phases(requests: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Per type, its requests as lists (one after another), item reads and deletes (each
    spread over the connection's concurrency). An item request names a seeded ID."""
    found: dict[str, Counter[str]] = {t: Counter() for t in PER_TYPE}
    seeded = {t: set(ids(t)) for t in PER_TYPE}
    for r in requests:
        if r["api"] not in found:
            continue
        last = r["path"].split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if r["method"] == "DELETE":
            what = "deletes"
        elif last in seeded[r["api"]]:
            what = "item reads"
        else:
            what = "lists"
        found[r["api"]][what] += 1
    return found


def bound(counts: dict[str, Counter[str]], lat: float, concurrency: int) -> float:
    listing = max(c["lists"] * lat + c["item reads"] * lat / concurrency for c in counts.values())
    deleting = max(c["deletes"] * lat / concurrency for c in counts.values())
    return listing + deleting


def measure(
    folder: Path, runs: int, lat: float, concurrency: int = CONCURRENCY
) -> dict[str, tuple[Figure, float]]:
    """The plan and the run, each with its bound from the requests it sent; the run at
    concurrency 8 with its own bound; and the run at zero latency, the runner's own time
    (its bound is 0: no ratio)."""
    seed = seed_file(folder)
    found: dict[str, tuple[Figure, float]] = {}

    def command(step: list[str], width: int) -> Callable[[Sim], list[str]]:
        return lambda sim: ftj(step[0], str(job_file(folder, sim, width)), *step[1:])

    plan, run = ["plan"], ["run", "--yes"]
    figures = [("plan", plan, lat, concurrency), ("run", run, lat, concurrency)]
    if concurrency != WIDER:
        figures.append(("run_wider", run, lat, WIDER))
    figures.append(("run_0", run, 0.0, concurrency))
    for key, step, latency, width in figures:
        seen: list[list[dict[str, Any]]] = []
        at = f"{latency * 1000:.0f} ms" if latency else "zero latency"
        figure = scenario(
            Figure(f"{step[0]}: 500 deployments, 3 types, concurrency {width}, {at}"),
            runs,
            ["--latency", str(latency), "--seed", str(seed)],
            command(step, width),
            env=ENV,
            requests=seen,
        )
        found[key] = (figure, bound(phases(seen[-1]), latency, width))
    return found


def check(found: dict[str, tuple[Figure, float]]) -> tuple[str, float, bool]:
    """The goal: the run, at the concurrency a connection has by default, within 1.3 times
    its bound."""
    run, limit = found["run"]
    ratio = run.wall / limit
    return f"deployments run vs bound {limit:.2f} s (goal <= 1.3)", ratio, ratio <= 1.3


def report(found: dict[str, tuple[Figure, float]]) -> None:
    print(f"{'scenario':<62} {'wall s':>7} {'requests':>9} {'bound s':>8} {'ratio':>6} {'MiB':>6}")
    for figure, limit in found.values():
        ratio = f"{figure.wall / limit:6.2f}" if limit else f"{'-':>6}"
        rss = f"{figure.rss:6.1f}" if figure.rss is not None else f"{'-':>6}"
        print(
            f"{figure.name:<62} {figure.wall:7.2f} {figure.requests:9d} {limit:8.2f} {ratio} {rss}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.025)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    opts = parser.parse_args()
    print(
        f"deployments benchmark: {opts.runs} runs per figure, latency {opts.latency * 1000:.0f} ms"
    )
    with tempfile.TemporaryDirectory() as tmp:
        found = measure(Path(tmp), opts.runs, opts.latency, opts.concurrency)
    report(found)
    label, ratio, ok = check(found)
    print(f"{'ok  ' if ok else 'MISS'} {label}: {ratio:.2f}")


if __name__ == "__main__":
    main()

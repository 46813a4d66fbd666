"""Fleet benchmark: one job over 16 connections, 500 models each, 25 ms per request.

A simulator in its own process holds 16 Fireworks accounts of 500 models each (100 of them
40 days old, the rest 5). One job with one target, ``provider: "fw-*"`` and
``older_than: 30d``, is planned and then run (100 deletes per connection, each connection
at its default concurrency) with ``parallel_connections`` 8 (the default) and 1 (one
connection after another: the serial sum), each timed as a whole process, median of
--runs, on fresh simulator state.

Each connection's bound is what the network allows for the requests the simulator logged
for its account: each kind's listing pages one after another (a page needs the previous
page's token; its kinds are listed at once), its deletes spread over its concurrency C:

    plan bound(connection) = max over kinds (pages x lat)
    run bound(connection)  = plan bound + deletes x lat / C

The goal: plan within 1.3 x (the slowest connection's plan bound x ceil(16 / P)). A
whole process also starts Python, imports the runner, decides about 8,000 models and
audits 1,600 planned deletes; the same plan at zero latency (the runner's own time) is
shown beside it, and how much of the network's wait was left over it; and so is one
connection planned alone by a whole process, the same start-up included, against which
the fleet's ceil(16 / P) rounds are set.

    .venv/bin/python -m bench.fleet [--runs 3] [--latency 0.025] [--parallel 8]
"""

import argparse
import json
import math
import re
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.run import Figure, Sim, ftj, scenario
from runner.jobfile.validate import DEFAULT_CONCURRENCY, DEFAULT_PARALLEL_CONNECTIONS

CONNECTIONS = 16
MODELS = 500
SELECTED = 100  # per connection: what the run deletes
ENV = {"FIREWORKS_API_KEY": "bench-fireworks-key-000000"}
_ITEM = re.compile(r"/accounts/([^/]+)/(\w+)")


def account(index: int) -> str:
    return f"fleet-{index:02d}"


def seed_file(folder: Path) -> Path:
    models = [
        {"id": f"m-{i:04d}", "account": account(c), "age_days": 40 if i < SELECTED else 5}
        for c in range(CONNECTIONS)
        for i in range(MODELS)
    ]
    path = folder / "fleet-seed.json"
    path.write_text(json.dumps({"fireworks": {"model": models}}))
    return path


def job_file(folder: Path, sim: Sim, parallel: int, connections: int = CONNECTIONS) -> Path:
    path = folder / f"job-{len(list(folder.glob('job-*.yaml'))):03d}.yaml"
    providers = "\n".join(
        f"  fw-{c:02d}: {{type: fireworks, account_id: {account(c)},"
        f' base_url: "{sim.url}/fireworks", requests_per_minute: 1000000}}'
        for c in range(connections)
    )
    path.write_text(
        f"""version: 1
parallel_connections: {parallel}
providers:
{providers}
audit_log: {path.stem}/audit.jsonl
state: {path.stem}/state.sqlite3
jobs:
  - name: fleet
    max_deletions: 1000000
    targets:
      - {{provider: "fw-*", older_than: 30d}}
"""
    )
    return path


def bounds(requests: list[dict[str, Any]], lat: float) -> dict[str, tuple[float, float]]:
    """Per account, its (plan bound, run bound) from the requests it was sent."""
    pages: dict[str, Counter[str]] = defaultdict(Counter)
    deletes: Counter[str] = Counter()
    for r in requests:
        found = _ITEM.search(r["path"])
        if found is None:
            continue
        if r["method"] == "DELETE":
            deletes[found.group(1)] += 1
        elif "/" not in r["path"].split("?", 1)[0][found.end() :].strip("/"):
            pages[found.group(1)][found.group(2)] += 1  # a listing page, not an item
    out = {}
    for name, kinds in pages.items():
        listing = max(kinds.values()) * lat
        out[name] = (listing, listing + deletes[name] * lat / DEFAULT_CONCURRENCY)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.025)
    parser.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL_CONNECTIONS)
    opts = parser.parse_args()
    lat, runs, parallel = opts.latency, opts.runs, opts.parallel
    print(
        f"fleet benchmark: {CONNECTIONS} connections x {MODELS} models, {runs} runs per"
        f" figure, simulator latency {lat * 1000:.0f} ms",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seed = seed_file(folder)

        def command(step: list[str], width: int, count: int) -> Callable[[Sim], list[str]]:
            return lambda sim: ftj(step[0], str(job_file(folder, sim, width, count)), *step[1:])

        figures: dict[str, tuple[Figure, list[list[dict[str, Any]]]]] = {}
        for key, step, width, latency, count in (
            ("plan", ["plan"], parallel, lat, CONNECTIONS),
            ("plan_serial", ["plan"], 1, lat, CONNECTIONS),
            ("plan_0", ["plan"], parallel, 0.0, CONNECTIONS),
            ("plan_one", ["plan"], parallel, lat, 1),
            ("run", ["run", "--yes"], parallel, lat, CONNECTIONS),
            ("run_serial", ["run", "--yes"], 1, lat, CONNECTIONS),
        ):
            seen: list[list[dict[str, Any]]] = []
            at = f"{latency * 1000:.0f} ms" if latency else "zero latency"
            what = "one connection alone" if count == 1 else f"parallel_connections {width}"
            figure = scenario(
                Figure(f"{step[0]}: {what}, {at}"),
                runs,
                ["--latency", str(latency), "--seed", str(seed)],
                command(step, width, count),
                ENV,
                seen,
            )
            figures[key] = (figure, seen)
    report(figures, lat, parallel)


def report(
    figures: dict[str, tuple[Figure, list[list[dict[str, Any]]]]], lat: float, parallel: int
) -> None:
    print()
    print(f"{'scenario':<52} {'wall s':>8} {'requests':>9}")
    for figure, _ in figures.values():
        print(f"{figure.name:<52} {figure.wall:8.2f} {figure.requests:9d}")
    rounds = math.ceil(CONNECTIONS / parallel)
    plan, plan_log = figures["plan"]
    run, run_log = figures["run"]
    own = figures["plan_0"][0].wall
    alone = figures["plan_one"][0].wall
    plan_bounds = bounds(plan_log[-1], lat)
    run_bounds = bounds(run_log[-1], lat)
    slowest_plan = max(b[0] for b in plan_bounds.values())
    slowest_run = max(b[1] for b in run_bounds.values())
    serial_plan = sum(b[0] for b in plan_bounds.values())
    serial_run = sum(b[1] for b in run_bounds.values())
    goal = slowest_plan * rounds
    print()
    print(f"slowest connection: plan bound {slowest_plan:.3f} s, run bound {slowest_run:.3f} s")
    print(f"serial sum of bounds: plan {serial_plan:.3f} s, run {serial_run:.3f} s")
    print(
        f"measured serially (parallel_connections 1): plan"
        f" {figures['plan_serial'][0].wall:.2f} s, run {figures['run_serial'][0].wall:.2f} s"
    )
    checks = [
        (
            f"plan vs slowest bound x ceil({CONNECTIONS}/{parallel}) = {goal:.3f} s"
            " (goal <= 1.3, whole process)",
            plan.wall / goal,
            plan.wall / goal <= 1.3,
        ),
        (
            f"plan's time over the same plan at zero latency ({own:.2f} s) vs the same bound"
            " (the network wait not hidden behind the runner's own work)",
            (plan.wall - own) / goal,
            True,
        ),
        (
            f"plan vs one connection planned alone ({alone:.2f} s, whole process)"
            f" x ceil({CONNECTIONS}/{parallel})",
            plan.wall / (alone * rounds),
            True,
        ),
        ("plan: serial / parallel", figures["plan_serial"][0].wall / plan.wall, True),
        (
            f"run vs slowest run bound x ceil({CONNECTIONS}/{parallel})"
            f" = {slowest_run * rounds:.3f} s",
            run.wall / (slowest_run * rounds),
            True,
        ),
        ("run: serial / parallel", figures["run_serial"][0].wall / run.wall, True),
    ]
    for label, value, ok in checks:
        print(f"{'ok  ' if ok else 'MISS'} {label}: {value:.2f}")


if __name__ == "__main__":
    main()

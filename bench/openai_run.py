"""OpenAI benchmark: ftjanitor against the official ``openai`` SDK loop and the bound.

A simulator in its own process (25 ms per request) holds 2,000 OpenAI fine-tunes and the
base models; half the fine-tunes' suffixes start ``old-``. Each figure deletes those
1,000 on fresh simulator state and is timed as a whole process, median of --runs:

- ftjanitor: ``run --yes`` of a job with ``name: "old-*"``, concurrency 8;
- the SDK loop: ``client.models.list()``, the same selection, ``client.models.delete``
  one at a time (``--sdk-loop``, what a user writes without ftjanitor);
- the bound: one list request plus 1,000 deletes spread over 8 connections.

    .venv/bin/python -m bench.openai_run [--runs 3] [--latency 0.025]
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from bench.run import Figure, Sim, ftj, scenario

KEY_ENV = "OPENAI_API_KEY"
BASES = ("gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4.1-mini-2025-04-14")
FINE_TUNES = 2000
SELECTED = "old-"  # the suffix prefix of the half that goes
CONCURRENCY = 8


def seed_file(folder: Path) -> Path:
    """Base models, then fine-tunes alternating old-/new- suffixes over the bases."""
    models: list[dict[str, object]] = [{"id": base, "age_days": 400} for base in BASES]
    for i in range(FINE_TUNES):
        suffix = f"{SELECTED if i % 2 == 0 else 'new-'}{i:06d}"
        model_id = f"ft:{BASES[i % len(BASES)]}:bench-org:{suffix}:B{i:07d}"
        models.append({"id": model_id, "age_days": 10 + i % 90})
    path = folder / "openai-seed.json"
    path.write_text(json.dumps({"openai": models}))
    return path


def job_file(folder: Path, base_url: str) -> Path:
    path = folder / f"job-{os.urandom(4).hex()}.yaml"
    path.write_text(
        f"""version: 1
providers:
  openai: {{base_url: "{base_url}", concurrency: {CONCURRENCY}, requests_per_minute: 1000000}}
audit_log: {path.stem}/audit.jsonl
state: {path.stem}/state.sqlite3
jobs:
  - name: bench
    max_deletions: {FINE_TUNES // 2}
    targets:
      - {{provider: openai, name: "{SELECTED}*"}}
"""
    )
    return path


def mount(sim: Sim) -> str:
    """Where the simulator serves OpenAI: a job file's base_url (the SDK adds /v1)."""
    return sim.url + "/openai"


def sdk_loop(base_url: str) -> None:
    """The peer to beat, with the official SDK: list, pick the same models, delete each."""
    import openai

    client = openai.OpenAI(api_key=os.environ[KEY_ENV], base_url=base_url + "/v1", max_retries=0)
    selected = [
        model.id
        for model in client.models.list()
        if model.id.startswith("ft:")
        and len(parts := model.id.split(":")) >= 5
        and parts[3].startswith(SELECTED)
    ]
    for model_id in selected:
        client.models.delete(model_id)
    print(len(selected))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.025)
    parser.add_argument("--sdk-loop", metavar="BASE_URL", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.sdk_loop:
        sdk_loop(opts.sdk_loop)
        return
    os.environ.setdefault(KEY_ENV, "bench-openai-key-000000")  # the simulator takes any key
    lat, runs = opts.latency, opts.runs
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sim_args = ["--latency", str(lat), "--seed", str(seed_file(folder))]
        print(f"OpenAI benchmark: {runs} runs per figure, latency {lat * 1000:.0f} ms", flush=True)
        run = scenario(
            Figure(f"run: OpenAI 2,000, delete 1,000, concurrency {CONCURRENCY}"),
            runs,
            sim_args,
            lambda sim: ftj("run", str(job_file(folder, mount(sim))), "--yes"),
        )
        sdk = scenario(
            Figure("official openai SDK loop, same 1,000"),
            runs,
            sim_args,
            lambda sim: [sys.executable, "-m", "bench.openai_run", "--sdk-loop", mount(sim)],
        )
    report(run, sdk, lat)


def report(run: Figure, sdk: Figure, lat: float) -> None:
    bound = lat + (FINE_TUNES // 2) * lat / CONCURRENCY
    print()
    print(f"{'scenario':<52} {'wall s':>8} {'requests':>9} {'429s':>6} {'peak MiB':>9}")
    for figure in (run, sdk):
        rss = f"{figure.rss:9.1f}" if figure.rss is not None else f"{'-':>9}"
        print(
            f"{figure.name:<52} {figure.wall:8.2f} {figure.requests:9d} {figure.throttled:6d} {rss}"
        )
    print(f"{'bound: 1 list + 1,000 deletes / 8':<52} {bound:8.2f}")
    print()
    faster, over = sdk.wall / run.wall, run.wall / bound
    for label, value, ok in (
        ("run vs official SDK loop (goal >= 6x faster)", faster, faster >= 6),
        (f"run vs bound {bound:.2f} s (goal <= 1.3)", over, over <= 1.3),
    ):
        print(f"{'ok  ' if ok else 'MISS'} {label}: {value:.2f}")


if __name__ == "__main__":
    main()

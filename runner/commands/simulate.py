"""``ftjanitor simulate``: serve the fake Cohere + BFL APIs until SIGTERM/SIGINT."""

import argparse
import json
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

import yaml

from runner.errors import EXIT_OK, CommandError
from runner.simulator import Accounts, Simulator, generate, load_seed


def accounts_from(args: argparse.Namespace) -> Accounts:
    now = datetime.now(UTC)
    if args.seed:
        try:
            text = Path(args.seed).read_text("utf-8")
            # Big generated seeds are JSON: parsing them as YAML would take seconds.
            data = json.loads(text) if args.seed.endswith(".json") else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise CommandError(f"{args.seed}: cannot read seed file: {exc}") from None
        if not isinstance(data, dict):
            raise CommandError(f"{args.seed}: a seed file is a mapping with cohere: and bfl: lists")
        try:
            return load_seed(data, now)
        except (KeyError, TypeError, ValueError) as exc:
            raise CommandError(f"{args.seed}: bad seed entry: {exc!r}") from None
    return generate(args.models, args.bfl_models, now)


def run(args: argparse.Namespace) -> int:
    sim = Simulator(
        accounts_from(args),
        port=args.port,
        cohere_key=args.cohere_key,
        bfl_key=args.bfl_key,
        latency=args.latency,
        rate_limit=args.rate_limit,
        deleted_mode=args.deleted_mode,
        log_path=args.log,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sim.start()
    summary = {"cohere": len(sim.accounts.cohere), "bfl": len(sim.accounts.bfl)}
    print(f"simulator listening on {sim.url} {json.dumps(summary)}", flush=True)
    stop.wait()
    sim.stop()
    print("simulator stopped", flush=True)
    return EXIT_OK

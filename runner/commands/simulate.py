"""``ftjanitor simulate``: serve the fake Cohere + BFL APIs until SIGTERM/SIGINT."""

import argparse
import json
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

import yaml

from runner.errors import EXIT_OK, ConfigError
from runner.simulator import Accounts, Simulator, generate, load_seed


def accounts_from(args: argparse.Namespace) -> Accounts:
    now = datetime.now(UTC)
    if args.seed:
        try:
            text = Path(args.seed).read_text("utf-8")
            # Big generated seeds are JSON: parsing them as YAML would take seconds.
            data = json.loads(text) if args.seed.endswith(".json") else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise ConfigError(f"{args.seed}: cannot read seed file: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{args.seed}: a seed file is a mapping with cohere: and bfl: lists")
        try:
            return load_seed(data, now)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{args.seed}: bad seed entry: {exc!r}") from None
    return generate(args.models, args.bfl_models, now)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--port", type=int, default=8765, help="port on 127.0.0.1 (default: %(default)s)"
    )
    p.add_argument("--seed", metavar="FILE", help="YAML/JSON with cohere: and bfl: lists")
    p.add_argument(
        "--models", type=int, default=50, help="generated Cohere fine-tunes (default: %(default)s)"
    )
    p.add_argument(
        "--bfl-models", type=int, default=10, help="generated BFL finetunes (default: %(default)s)"
    )
    p.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds added to each request (default: %(default)s)",
    )
    p.add_argument(
        "--rate-limit", type=float, default=None, help="requests/s before 429 (default: none)"
    )
    p.add_argument("--cohere-key", help="the only Cohere key accepted (default: any)")
    p.add_argument("--bfl-key", help="the only BFL key accepted (default: any)")
    p.add_argument(
        "--deleted-mode",
        choices=["vanish", "status"],
        default="vanish",
        help="what a delete does (default: %(default)s)",
    )
    p.add_argument("--log", metavar="FILE", help="append every request as a JSON line")


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

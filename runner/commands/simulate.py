"""``ftjanitor simulate``: serve the fake provider APIs until SIGTERM/SIGINT."""

import argparse
import errno
import json
import signal
import textwrap
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import yaml

from runner.errors import EXIT_OK, ConfigError
from runner.files import NotReadable, read_bounded
from runner.simulator import FAULT_KINDS, REGISTRY, Accounts, Fault, Simulator, generate, load_seed

MAX_SEED_BYTES = 256 * 1024 * 1024  # far above any seed bench/ generates
FAULT_OPTIONS: dict[str, Callable[[str], Any]] = {
    "status": int,
    "times": int,
    "after": int,
    "every": int,
    "probability": float,
    "seconds": float,
    "retry_after": float,
    "api": str,
    "polls": int,
}


def _seed_keys() -> str:
    """Each wire's own seed keys, per kind (``Wire.seed_keys``), as the epilog's lines."""
    rows = [
        (f"{wire.kind} {kind}", text)
        for wire in sorted(REGISTRY.values(), key=lambda w: w.kind)
        for kind, text in wire.seed_keys.items()
    ]
    width = max((len(label) for label, _ in rows), default=0) + 2
    lines = []
    for label, text in rows:
        wrapped = textwrap.wrap(text, 88 - 4 - width) or [""]
        lines.append(f"    {label:<{width}}{wrapped[0]}")
        lines.extend(" " * (4 + width) + more for more in wrapped[1:])
    return "\n".join(lines)


EPILOG = f"""\
where each provider is served:
  every type under /TYPE on the port, http://127.0.0.1:PORT/TYPE, TYPE one of
  {", ".join(sorted(REGISTRY))}:
  that is a job file's base_url (Bedrock's endpoint_url, for boto3). The OpenAI and
  together SDKs want base_url + "/v1". Cohere and BFL also answer at the root, as they
  always did.

seed format (--seed): a mapping of TYPE to a list of its models, or to a mapping of kind to
  a list: TYPE: {{model: [...], deployment: [...]}}. Each entry is a mapping (BFL: also a
  bare ID) whose keys replace the item's fields; age_days sets its creation time, drop:
  [FIELD...] removes fields. Keys that are not fields:
{_seed_keys()}
  A type the file leaves out serves its wire's own demo entries, if it has any.
  e.g. scripts/demo-seed.yaml

fault syntax (--fault, repeatable; the first matching fault applies to a request):
  KIND[:METHOD[:PATH]][,NAME=VALUE]...
  KIND    {", ".join(FAULT_KINDS)}
  METHOD  GET, POST or DELETE; empty = any
  PATH    a path prefix, with or without the /TYPE mount; empty = any
  NAME    {", ".join(FAULT_OPTIONS)}
  e.g. status:DELETE,status=503,times=2   delay:GET,seconds=0.5,probability=0.1
       status::/openai/v1/models,status=410,after=3   repeat_token,api=fireworks
       accepted:DELETE,status=202,polls=3 (found by 3 more lookups, then gone)

admin routes (no auth, never faulted):
  GET  /_sim/requests   every request so far, as JSON (method, path, status, api, fault,
                        mutating)
  GET  /_sim/state      the IDs each provider holds, and the deletions in order
  POST /_sim/faults     replace the faults: a JSON list of objects with Fault's fields,
                        e.g. [{{"kind": "status", "method": "DELETE", "status": 503}}]
  POST /_sim/latency    {{"seconds": 0.05}}: added to every provider request
"""


def default_counts() -> dict[str, int]:
    """Made-up models per type for a seedless run, as each wire declares."""
    return {kind: wire.default_count for kind, wire in REGISTRY.items() if wire.default_count}


def _pair(what: str, value_type: Callable[[str], Any]) -> Callable[[str], tuple[str, Any]]:
    """An argparse type for TYPE=VALUE, TYPE being a provider type the simulator serves."""

    def parse(text: str) -> tuple[str, Any]:
        kind, sep, value = text.partition("=")
        if not sep or kind not in REGISTRY:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not TYPE={what} with TYPE one of {', '.join(REGISTRY)}"
            )
        try:
            return kind, value_type(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: {value!r} is not a valid {what}") from None

    return parse


def parse_fault(text: str) -> Fault:
    """``KIND[:METHOD[:PATH]][,NAME=VALUE]...`` (see the epilog) as a Fault."""

    def bad(reason: str) -> argparse.ArgumentTypeError:
        return argparse.ArgumentTypeError(f"{text!r}: {reason}")

    head, *options = text.split(",")
    kind, method, path = [*head.split(":", 2), "", ""][:3]
    if method.upper() not in ("", "GET", "POST", "DELETE"):
        raise bad(f"method {method!r} is not GET, POST or DELETE")
    fields: dict[str, Any] = {"kind": kind, "method": method.upper() or None, "path": path or None}
    for option in options:
        name, sep, value = option.partition("=")
        if not sep or name not in FAULT_OPTIONS:
            raise bad(f"{option!r} is not NAME=VALUE with NAME one of {', '.join(FAULT_OPTIONS)}")
        try:
            fields[name] = FAULT_OPTIONS[name](value)
        except ValueError:
            raise bad(f"{name}={value!r} is not a number") from None
    try:
        return Fault(**fields)
    except ValueError as exc:
        raise bad(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``simulate``, on the subparser the command line made for it."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # keeps the epilog's layout
    parser.description = "Serve fake fine-tune APIs of every HTTP provider type on 127.0.0.1."
    parser.epilog = EPILOG
    add = parser.add_argument
    add(
        "--port",
        metavar="N",
        type=int,
        default=8765,
        help="port on 127.0.0.1; 0 picks one (default: %(default)s)",
    )
    add(
        "--seed",
        metavar="FILE",
        help="YAML/JSON mapping of type to its models and deployments (format below); "
        "None generates models (default: %(default)s)",
    )
    add(
        "--models",
        metavar="N",
        type=int,
        default=50,
        help="generated Cohere fine-tunes (default: %(default)s)",
    )
    add(
        "--bfl-models",
        metavar="N",
        type=int,
        default=10,
        help="generated BFL finetunes (default: %(default)s)",
    )
    counts = " ".join(f"{k}={v}" for k, v in default_counts().items())
    add(
        "--count",
        type=_pair("N", int),
        action="append",
        default=[],
        metavar="TYPE=N",
        help="generated models of TYPE, repeatable; cohere= and bfl= override --models and "
        f"--bfl-models (default: {counts})",
    )
    add(
        "--latency",
        metavar="SECONDS",
        type=float,
        default=0.0,
        help="seconds added to each request (default: %(default)s)",
    )
    add(
        "--rate-limit",
        metavar="PER_SECOND",
        type=float,
        help="requests/s per provider type before 429; None is no limit (default: %(default)s)",
    )
    add(
        "--cohere-key",
        metavar="KEY",
        help="the only Cohere key accepted; None takes any (default: %(default)s)",
    )
    add(
        "--bfl-key",
        metavar="KEY",
        help="the only BFL key accepted; None takes any (default: %(default)s)",
    )
    add(
        "--key",
        type=_pair("KEY", str),
        action="append",
        default=[],
        metavar="TYPE=KEY",
        help="the only key TYPE accepts, repeatable (default: none; any non-empty key)",
    )
    variants = "; ".join(f"{k}: {', '.join(w.variants)}" for k, w in REGISTRY.items() if w.variants)
    add(
        "--variant",
        type=_pair("VARIANT", str),
        action="append",
        default=[],
        metavar="TYPE=VARIANT",
        help=f"an alternative error shape ({variants}), repeatable (default: none; the first)",
    )
    add(
        "--deleted-mode",
        choices=["vanish", "status"],
        default="vanish",
        help="a deleted Cohere model vanishes or stays listed as STATUS_DELETED "
        "(default: %(default)s)",
    )
    add(
        "--max-page-size",
        metavar="N",
        type=int,
        default=1000,
        help="larger page sizes are coerced down (default: %(default)s)",
    )
    add(
        "--fault",
        type=parse_fault,
        action="append",
        default=[],
        metavar="SPEC",
        help="inject a fault, repeatable; syntax below (default: none)",
    )
    add("--log", metavar="FILE", help="append every request as a JSON line (default: %(default)s)")


def accounts_from(args: argparse.Namespace) -> Accounts:
    now = datetime.now(UTC)
    if args.seed:
        try:
            raw = read_bounded(args.seed, MAX_SEED_BYTES, "seed file")
        except NotReadable as exc:
            raise ConfigError(f"{args.seed}: {exc}") from None
        try:
            text = raw.decode("utf-8")
            # Big generated seeds are JSON: parsing them as YAML would take seconds.
            data = json.loads(text) if args.seed.endswith(".json") else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise ConfigError(f"{args.seed}: cannot read seed file: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"{args.seed}: a seed file is a mapping of provider type to a list of models"
            )
        try:
            return load_seed(data, now, demos=True)
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{args.seed}: bad seed entry: {exc!r}") from None
    return generate(args.models, args.bfl_models, now, **{**default_counts(), **dict(args.count)})


def run(args: argparse.Namespace) -> int:
    accounts = accounts_from(args)
    try:
        sim = Simulator(
            accounts,
            port=args.port,
            keys=dict(args.key),
            cohere_key=args.cohere_key,
            bfl_key=args.bfl_key,
            latency=args.latency,
            rate_limit=args.rate_limit,
            deleted_mode=args.deleted_mode,
            max_page_size=args.max_page_size,
            faults=args.fault,
            log_path=args.log,
            variants=dict(args.variant),
        )
    except ValueError as exc:  # a key or variant for the wrong type
        raise ConfigError(str(exc)) from None
    except OSError as exc:
        if exc.filename:  # the log file, not the socket
            raise ConfigError(f"{exc.filename}: cannot open the log: {exc.strerror}") from None
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ConfigError(f"cannot listen on 127.0.0.1:{args.port}: {reason or exc}") from None
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sim.start()
    urls = " ".join(f"{kind}={sim.base_url(kind)}" for kind in REGISTRY)
    print(
        f"simulator listening on {sim.url} {json.dumps(sim.counts())}; base URLs: {urls} "
        "(cohere and bfl also at the root)",
        flush=True,
    )
    stop.wait()
    sim.stop()
    print("simulator stopped", flush=True)
    return EXIT_OK

"""The simulator's core: one HTTP server on 127.0.0.1 serving every fake provider.

Auth, faults, latency, rate limits, the request log and the /_sim/ admin routes live here.
Each provider's paths, auth header, error shape and state live in its wire module, which
registers a `Wire` with `register`. Every provider is served under ``/<type>/`` (OpenAI and
Mistral share ``/v1/models``); a wire may also claim path prefixes at the root, which is how
Cohere and BFL stay where they always were.
"""

import base64
import binascii
import contextlib
import json
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

FAULT_KINDS = (
    "status",
    "drop_before",
    "drop_after",
    "garbage",
    "delay",
    "repeat_token",
    "huge_body",
    "overlap",
    "duplicate",
    "body",
    "accepted",
)
DEFAULT_FIREWORKS_ACCOUNT = "sim-account"
# What a fault or the rate limiter says, in each provider's own error shape.
STATUS_MESSAGES = {
    429: "You are past the per minute request limit, please wait and try again later.",
    401: "invalid api token",
    404: "Not Found",
    410: "Gone",
}

Answer = tuple[int, Any]  # HTTP status, JSON body (none is sent with a 204)


@dataclass
class Fault:
    """One injected misbehaviour, applied to matching requests.

    kind: status (answer ``status`` in the provider's error shape, with ``retry_after`` if
    set), drop_before (close without acting), drop_after (act, then close without answering),
    garbage (200 with a non-JSON body), delay (sleep ``seconds`` first), repeat_token (paged
    lists — Cohere, Fireworks, OpenAI's usage — keep sending one page's token), huge_body
    (200 with a 20 MB body), overlap (paged lists start each next page one item early, so a page's
    last item is listed again), duplicate (a list answer lists its first item again at the
    end, with ``changes`` applied to that copy when given), body (answer ``status`` with
    ``body`` as it is, without acting: a 2xx that says anything), accepted (a long-running
    delete: answer ``status`` with ``body`` without acting, then let ``polls`` lookups of
    the same path still find the item, listed as before, and carry the delete out on the
    next one; ``polls`` None: it never goes).
    """

    kind: str
    method: str | None = None  # GET, DELETE, POST; None = any
    # Prefix of the request path, with or without the /<type> mount; None = any.
    path: str | None = None
    status: int = 503
    retry_after: float | None = None
    times: int | None = None  # the first N matching requests; None = all of them
    after: int = 0  # let this many matching requests through first (an API gone mid-run)
    every: int = 1  # only every Nth matching request (after ``after``): the Nth, 2Nth, ...
    probability: float = 1.0
    seconds: float = 0.0
    api: str | None = None  # only this provider type; None = any
    body: str = ""  # kind body: the answer's raw text
    changes: dict[str, Any] | None = None  # kind duplicate: fields the copy says otherwise
    polls: int | None = None  # kind accepted: lookups that still find the item

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of {', '.join(FAULT_KINDS)})")
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f"every must be a whole number of at least 1, not {self.every!r}")
        if self.polls is not None and (
            isinstance(self.polls, bool) or not isinstance(self.polls, int) or self.polls < 0
        ):
            raise ValueError(f"polls must be a whole number of at least 0, not {self.polls!r}")
        if self.api is not None and self.api not in REGISTRY:
            raise ValueError(f"unknown provider type {self.api!r} (one of {', '.join(REGISTRY)})")

    def matches(self, method: str, path: str, below: str, api: str) -> bool:
        return (
            (self.method is None or self.method == method)
            and (self.api is None or self.api == api)
            and (self.path is None or path.startswith(self.path) or below.startswith(self.path))
        )


@dataclass
class Logged:
    ts: float
    method: str
    path: str  # as it arrived: mount included, still percent-encoded
    status: int  # -1 when the connection was dropped
    api: str  # a provider type, or admin
    fault: str | None = None
    mutating: bool = False  # a request that changes something (or would, had it been answered)


@dataclass
class Accounts:
    """What the fake providers hold. Dicts keep list order; Cohere keeps its own order list
    (by created_at) so that deleting a model never shifts the pages after it.

    A new wire keeps its state in ``store(its type)`` and needs no field here: the typed
    fields below are the older wires', kept as they are."""

    cohere: dict[str, dict[str, Any]] = field(default_factory=dict)
    cohere_order: list[str] = field(default_factory=list)
    bfl: dict[str, dict[str, Any]] = field(default_factory=dict)
    bfl_items: dict[str, Any] = field(default_factory=dict)  # id -> the item as listed
    openai: dict[str, dict[str, Any]] = field(default_factory=dict)  # base models too
    openai_jobs: list[dict[str, Any]] = field(default_factory=list)  # newest first
    mistral: dict[str, dict[str, Any]] = field(default_factory=dict)  # base and fine-tuned cards
    together: dict[str, dict[str, Any]] = field(default_factory=dict)  # fine-tune jobs
    together_endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)  # by endpoint ID
    # account -> model ID (the last segment of its name) -> model; an account exists once here.
    fireworks: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {DEFAULT_FIREWORKS_ACCOUNT: {}}
    )
    # account -> deployment ID -> deployment, and account -> deployed-model ID -> deployed model
    fireworks_deployments: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    fireworks_deployed: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    bedrock: dict[str, dict[str, Any]] = field(default_factory=dict)  # custom models by name
    bedrock_pts: dict[str, dict[str, Any]] = field(default_factory=dict)  # PTs by name
    bedrock_tags: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # ARN -> tags
    stores: dict[str, dict[str, Any]] = field(default_factory=dict)  # see ``store``

    def store(self, kind: str) -> dict[str, Any]:
        """A wire's own state, by provider type: what it holds, however it likes, created
        empty on first use (a seed, ``generate`` and the routes all reach it this way)."""
        return self.stores.setdefault(kind, {})

    def add_cohere(self, model: dict[str, Any]) -> None:
        self.cohere[model["id"]] = model
        self.cohere_order.append(model["id"])

    def add_bfl(self, item: Any, details: dict[str, Any] | None = None) -> None:
        finetune_id = item if isinstance(item, str) else item.get("id", item.get("finetune_id"))
        self.bfl[str(finetune_id)] = details or {"finetune_comment": f"finetune {finetune_id}"}
        self.bfl_items[str(finetune_id)] = item

    def sort(self) -> None:
        self.cohere_order.sort(key=lambda i: (str(self.cohere[i].get("created_at", "")), i))


@dataclass
class Request:
    """A provider request as a route handler sees it."""

    method: str
    path: str  # below the mount, still percent-encoded
    query: dict[str, list[str]]
    body: bytes
    fault: Fault | None
    variant: str  # the error-shape variant chosen for this provider ("" = its default)
    params: dict[str, str] = field(default_factory=dict)  # route placeholders, decoded
    # The request's headers, for a route whose key differs from its wire's (OpenAI's
    # admin key on the Usage API); the wire's ``authorize`` has seen them first.
    headers: Message = field(default_factory=Message)

    def arg(self, name: str, default: str = "") -> str:
        return (self.query.get(name) or [default])[0]

    def int_arg(self, name: str, default: int) -> int:
        text = self.arg(name)
        try:
            return int(text) if text else default
        except ValueError:
            raise BadRequest(f"{name} must be an integer, not {text[:40]!r}") from None


class BadRequest(Exception):
    """A handler's answer to malformed input: HTTP 400 in the provider's error shape."""


Handler = Callable[["Simulator", Request], Answer]
Seeder = Callable[[Accounts, list[Any], datetime], None]  # (accounts, a seed list, now)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # literal segments and {name} placeholders; a placeholder is one segment
    handler: Handler

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        parts = self.pattern.split("/")
        if method != self.method or len(parts) != len(segments):
            return None
        params: dict[str, str] = {}
        for part, segment in zip(parts, segments, strict=True):
            if part.startswith("{"):
                if not segment:
                    return None
                params[part[1:-1]] = unquote(segment)
            elif part != segment:
                return None
        return params


def writes(method: str, path: str) -> bool:
    """Every request but a read mutates: a DELETE anywhere, and a POST too, which on these
    APIs creates, cancels or archives — and at BFL deletes. A stray one in a dry run shows."""
    return method not in ("GET", "HEAD")


@dataclass(frozen=True)
class Wire:
    """One provider's wire format, as the core dispatches to it."""

    kind: str  # the provider type; also its mount, /<kind>
    routes: tuple[Route, ...]
    # (request headers, the one key accepted or None for any) -> a refusal, or None to go on
    authorize: Callable[[Message, str | None], Answer | None]
    error: Callable[[int, str, str], Any]  # (status, message, variant) -> error body
    unknown: Callable[[str, str], Answer]  # (method, path below the mount) -> no such route
    seed: Seeder  # a seed file's list of this type's models
    generate: Callable[[Accounts, int, random.Random, datetime], None]  # N made-up models
    ids: Callable[[Accounts], list[str]]  # what it holds, for /_sim/state and counts
    # Made-up models a seedless ``simulate`` serves (Cohere's and BFL's have options of
    # their own, --models and --bfl-models).
    default_count: int = 0
    # Its entry in a seed file (the format of ``seed_kinds``) for a seed that leaves the
    # type out, such as scripts/demo-seed.yaml: see ``load_seed``.
    demo: Any = None
    root_prefixes: tuple[str, ...] = ()  # also served at these root path prefixes
    mutating: Callable[[str, str], bool] = writes  # (method, path below the mount)
    variants: tuple[str, ...] = ()  # alternative error shapes a Simulator may choose
    # Seeders of the type's other resource kinds ({"deployment": ...}), beside ``seed``.
    kinds: Mapping[str, Seeder] = field(default_factory=dict)
    # Per kind, the keys of a seed entry that are not the item's own fields, for people
    # (``simulate --help``): {"deployment": "id (required), min_replicas"}.
    seed_keys: Mapping[str, str] = field(default_factory=dict)
    # (status, body) -> extra response headers and the body sent: for wires (Bedrock) whose
    # error code travels in a header rather than the body.
    reply: Callable[[int, Any], tuple[dict[str, str], Any]] | None = None

    def seed_kinds(self, accounts: Accounts, items: Any, now: datetime) -> None:
        """A seed file's entry for this type: a list of models, or a mapping of kind
        (``model``, ``deployment``...) to a list of that kind."""
        if not isinstance(items, Mapping):
            items = {"model": items}
        seeders = {"model": self.seed, **self.kinds}
        if unknown := [str(kind) for kind in items if kind not in seeders]:
            raise TypeError(
                f"{self.kind}: expected a list, or a mapping of kind ({', '.join(seeders)}) to"
                f" a list; not a mapping with {', '.join(unknown)}"
            )
        # Models first, whatever the file's order: a deployment may name a seeded model.
        for kind, seeder in seeders.items():
            listed = items.get(kind) or []
            if not isinstance(listed, list):
                raise TypeError(f"{self.kind}: expected a list, not {type(listed).__name__}")
            seeder(accounts, listed, now)


REGISTRY: dict[str, Wire] = {}


def register(wire: Wire) -> Wire:
    REGISTRY[wire.kind] = wire
    return wire


def stamp(at: datetime, timespec: str = "microseconds") -> str:
    """RFC 3339 in UTC with a Z, as the providers write it."""
    return at.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def seeded_at(entry: Mapping[str, Any], now: datetime) -> datetime:
    """A seed entry's creation time: ``age_days`` before ``now``."""
    return now - timedelta(days=float(entry.get("age_days", 0)))


def entries(kind: str, items: list[Any]) -> list[Mapping[str, Any]]:
    """A seed list whose entries must be mappings."""
    for item in items:
        if not isinstance(item, Mapping):
            raise TypeError(f"{kind}: a seed entry is a mapping, not {item!r}")
    return items


def overridden(item: dict[str, Any], entry: Mapping[str, Any], *seed_only: str) -> dict[str, Any]:
    """A seed entry's keys replace the built item's fields, so tests can craft hostile
    items; ``drop:`` lists fields to remove. ``age_days`` and ``seed_only`` keys are not
    fields."""
    skip = {"age_days", "drop", *seed_only}
    item.update({k: v for k, v in entry.items() if k not in skip})
    for name in entry.get("drop") or []:
        item.pop(name, None)
    return item


def page_token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def read_page_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest(f"invalid page token: {token[:40]!r}") from None


def generate(
    cohere_count: int, bfl_count: int, now: datetime, seed: int = 7, **counts: int
) -> Accounts:
    """A deterministic spread of ages (0-120 days), statuses and names; ``counts`` gives
    other types' numbers (openai=20, ...). Each type draws from its own random stream, so
    one type's count never changes another's models."""
    counts = {"cohere": cohere_count, "bfl": bfl_count, **counts}
    if unknown := set(counts) - set(REGISTRY):
        raise ValueError(f"unknown provider type(s): {', '.join(sorted(unknown))}")
    accounts = Accounts()
    for kind, count in counts.items():
        if count:
            REGISTRY[kind].generate(accounts, count, random.Random(f"{seed}/{kind}"), now)
    accounts.sort()
    return accounts


def load_seed(data: Mapping[str, Any], now: datetime, *, demos: bool = False) -> Accounts:
    """A seed file: one top-level entry per provider type (``cohere:``...), a list of its
    models or a mapping of kind to a list (``together: {model: [...], deployment: [...]}``);
    each wire module documents its entries. ``age_days`` stands for the creation time,
    relative to ``now``. With ``demos`` (a seed file given to ``simulate``, the demo seed),
    a type the file leaves out serves its wire's own ``demo`` entries, so a new type is in
    the demo without an edit to the file."""
    if unknown := set(data) - set(REGISTRY):
        raise ValueError(
            f"unknown provider type(s) in seed: {', '.join(sorted(map(str, unknown)))}"
        )
    if demos:
        data = {k: w.demo for k, w in REGISTRY.items() if w.demo is not None} | dict(data)
    accounts = Accounts()
    for kind, wire in REGISTRY.items():
        wire.seed_kinds(accounts, data.get(kind) or [], now)
    accounts.sort()
    return accounts


class Simulator:
    """The server plus its state; start() runs it on a background thread."""

    def __init__(
        self,
        accounts: Accounts | None = None,
        *,
        port: int = 0,
        keys: Mapping[str, str] | None = None,
        cohere_key: str | None = None,
        bfl_key: str | None = None,
        latency: float = 0.0,
        rate_limit: float | None = None,
        rate_limit_retry_after: float | None = 1.0,
        deleted_mode: str = "vanish",
        max_page_size: int = 1000,
        faults: Iterable[Fault] = (),
        log_path: str | None = None,
        seed: int = 7,
        variants: Mapping[str, str] | None = None,
    ):
        self.accounts = accounts or Accounts()
        # The one key each type accepts; a type not named accepts any non-empty key.
        self.keys: dict[str, str] = dict(keys or {})
        for kind, key in (("cohere", cohere_key), ("bfl", bfl_key)):
            if key is not None:
                self.keys[kind] = key
        self.variants: dict[str, str] = dict(variants or {})
        for kind in self.keys.keys() | self.variants.keys():
            if kind not in REGISTRY:
                raise ValueError(f"unknown provider type {kind!r} (one of {', '.join(REGISTRY)})")
        for kind, variant in self.variants.items():
            if variant not in REGISTRY[kind].variants:
                choices = ", ".join(REGISTRY[kind].variants) or "none"
                raise ValueError(f"{kind} has no error variant {variant!r} (choices: {choices})")
        self.latency = latency
        self.rate_limit = rate_limit  # requests/s per provider type
        self.rate_limit_retry_after = rate_limit_retry_after
        self.deleted_mode = deleted_mode  # vanish | status (Cohere: stays as STATUS_DELETED)
        self.max_page_size = max_page_size  # larger requests are coerced down (AIP-158)
        self.faults: list[Fault] = list(faults)
        self.fault_hits: dict[int, int] = {}
        self.fault_seen: dict[int, int] = {}
        self.requests: list[Logged] = []
        self.deleted: list[tuple[str, str]] = []  # (api, id) in the order they happened
        # Deletes a fault ``accepted``: (api, path below the mount) -> lookups left before
        # the delete is carried out (None: never).
        self.accepted: dict[tuple[str, str], int | None] = {}
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self._buckets: dict[str, tuple[float, float]] = {}
        self.server = _Server(("127.0.0.1", port), _handler(self))
        try:
            self._log = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
        except OSError:
            self.server.server_close()
            raise
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_url(self, kind: str) -> str:
        """Where one provider type is served: its own mount, free of collisions."""
        if kind not in REGISTRY:
            raise ValueError(f"unknown provider type {kind!r} (one of {', '.join(REGISTRY)})")
        return f"{self.url}/{kind}"

    def counts(self) -> dict[str, int]:
        with self.lock:
            return {kind: len(wire.ids(self.accounts)) for kind, wire in REGISTRY.items()}

    def start(self) -> "Simulator":
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="simulator", daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._log:
            self._log.close()

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def mutations(self) -> list[Logged]:
        with self.lock:
            return [r for r in self.requests if r.mutating]

    def arrived(self, entry: Logged) -> None:
        with self.lock:
            self.requests.append(entry)

    def answered(self, entry: Logged, status: int) -> None:
        with self.lock:
            entry.status = status
            if self._log:
                self._log.write(json.dumps(asdict(entry)) + "\n")
                self._log.flush()

    def pick_fault(self, method: str, path: str, below: str, api: str) -> Fault | None:
        with self.lock:
            for index, fault in enumerate(self.faults):
                if not fault.matches(method, path, below, api):
                    continue
                self.fault_seen[index] = seen = self.fault_seen.get(index, 0) + 1
                if seen <= fault.after or (seen - fault.after) % fault.every:
                    continue
                if fault.times is not None and self.fault_hits.get(index, 0) >= fault.times:
                    continue
                if fault.probability < 1.0 and self.rng.random() >= fault.probability:
                    continue
                self.fault_hits[index] = self.fault_hits.get(index, 0) + 1
                return fault
        return None

    def over_rate_limit(self, api: str) -> bool:
        """A token bucket per provider type, holding one second's worth of requests."""
        if not self.rate_limit:
            return False
        with self.lock:
            tokens, last = self._buckets.get(api, (self.rate_limit, time.monotonic()))
            now = time.monotonic()
            tokens = min(self.rate_limit, tokens + (now - last) * self.rate_limit)
            if tokens < 1.0:
                self._buckets[api] = (tokens, now)
                return True
            self._buckets[api] = (tokens - 1.0, now)
            return False

    @staticmethod
    def mount(path: str) -> tuple[Wire, str] | None:
        """The wire serving a path and the path below its mount; the longest mount wins."""
        options: list[tuple[int, Wire, str]] = []
        for wire in REGISTRY.values():
            own = "/" + wire.kind
            if path == own or path.startswith(own + "/"):
                options.append((len(own), wire, path[len(own) :] or "/"))
            options += [(len(p), wire, path) for p in wire.root_prefixes if path.startswith(p)]
        if not options:
            return None
        _, wire, below = max(options, key=lambda option: option[0])
        return wire, below

    def accept(self, wire: Wire, request: Request, polls: int | None) -> None:
        with self.lock:
            self.accepted[(wire.kind, request.path)] = polls

    def looked_up(self, wire: Wire, request: Request, headers: Message) -> None:
        """A GET of a path whose delete was accepted: counted, and the last one it is
        found by carries the delete out first (as the same caller, through its route)."""
        key = (wire.kind, request.path)
        with self.lock:
            if key not in self.accepted:
                return
            left = self.accepted[key]
            if left is None:
                return
            if left > 0:
                self.accepted[key] = left - 1
                return
            del self.accepted[key]
        deleting = Request("DELETE", request.path, {}, b"", None, request.variant, {}, headers)
        self.handle(wire, deleting, headers)

    def handle(self, wire: Wire, request: Request, headers: Message) -> Answer:
        if denied := wire.authorize(headers, self.keys.get(wire.kind)):
            return denied
        segments = request.path.split("/")
        for route in wire.routes:
            params = route.match(request.method, segments)
            if params is not None:
                request.params = params
                try:
                    return route.handler(self, request)
                except BadRequest as exc:
                    return 400, wire.error(400, str(exc), request.variant)
        return wire.unknown(request.method, request.path)

    def admin(self, method: str, path: str, raw_body: bytes) -> Answer:
        if path == "/_sim/requests" and method == "GET":
            with self.lock:
                return 200, [asdict(r) for r in self.requests]
        if path == "/_sim/state" and method == "GET":
            with self.lock:
                state: dict[str, Any] = {k: w.ids(self.accounts) for k, w in REGISTRY.items()}
                state["deleted"] = list(self.deleted)
                return 200, state
        try:
            if path == "/_sim/faults" and method == "POST":
                faults = [Fault(**f) for f in json.loads(raw_body or b"[]")]
                with self.lock:
                    self.faults, self.fault_hits, self.fault_seen = faults, {}, {}
                return 200, {"faults": len(faults)}
            if path == "/_sim/latency" and method == "POST":
                self.latency = float(json.loads(raw_body)["seconds"])
                return 200, {"latency": self.latency}
        except (ValueError, TypeError, KeyError) as exc:
            return 400, {"message": f"bad admin request: {exc}"}
        return 404, {"message": "unknown admin path"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-answer (timeouts, oversize bodies) is normal here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Drop(Exception):
    """Close the connection without answering."""


def _handler(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
        # Headers and body go out as separate writes: without this, Nagle's algorithm
        # and delayed ACKs add ~40 ms to every answer.
        disable_nagle_algorithm = True
        server_version = "ftjanitor-simulator"

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests are logged as JSON lines instead

        def do_GET(self) -> None:
            self._serve("GET")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def do_POST(self) -> None:
            self._serve("POST")

        # The request being answered: its status is logged before the answer leaves, so a
        # client that has its answer always finds it in the log.
        entry: Logged | None = None

        def _serve(self, method: str) -> None:
            self.entry = None
            parts = urlsplit(self.path)
            path = parts.path
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            if path.startswith("/_sim/"):
                self.entry = Logged(time.time(), method, path, 0, "admin")
                sim.arrived(self.entry)
                status, body = sim.admin(method, path, raw_body)
                self._send(status, body)
                return
            mounted = sim.mount(path)
            if mounted is None:  # only when no wire claims the root
                self._send(404, {"message": "no provider is served at this path"})
                return
            wire, below = mounted
            fault = sim.pick_fault(method, path, below, wire.kind)
            # Logged on arrival, so the log's order is the order requests came in.
            entry = Logged(
                time.time(),
                method,
                path,
                0,
                wire.kind,
                fault.kind if fault else None,
                wire.mutating(method, below),
            )
            sim.arrived(entry)
            self.entry = entry
            request = Request(
                method,
                below,
                parse_qs(parts.query),
                raw_body,
                fault,
                sim.variants.get(wire.kind, ""),
                headers=self.headers,
            )
            try:
                if sim.latency:
                    time.sleep(sim.latency)
                if fault and fault.kind == "delay":
                    time.sleep(fault.seconds)
                if fault and fault.kind == "drop_before":
                    raise _Drop
                if sim.over_rate_limit(wire.kind):
                    body = wire.error(429, STATUS_MESSAGES[429], request.variant)
                    self._send(429, body, sim.rate_limit_retry_after, wire)
                    return
                if fault and fault.kind == "status":
                    status = fault.status
                    message = STATUS_MESSAGES.get(status, f"simulated error {status}")
                    body = wire.error(status, message, request.variant)
                    self._send(status, body, fault.retry_after, wire)
                    return
                if fault and fault.kind == "accepted":
                    sim.accept(wire, request, fault.polls)
                if fault and fault.kind in ("body", "accepted"):
                    status = fault.status
                    json_like = fault.body.lstrip().startswith(("{", "["))
                    kind = "application/json" if json_like else "text/html"
                    self._send_raw(status, fault.body.encode(), kind)
                    return
                if method == "GET":
                    sim.looked_up(wire, request, self.headers)
                status, body = sim.handle(wire, request, self.headers)
                if fault and fault.kind == "duplicate":
                    body = _listed_twice(body, fault.changes)
                if fault and fault.kind == "drop_after":
                    raise _Drop
                if fault and fault.kind == "garbage":
                    self._send_raw(200, b"<html>upstream proxy error</html>{not json", "text/html")
                elif fault and fault.kind == "huge_body":
                    self._send_raw(
                        200, b'{"pad": "' + b"x" * (20 * 1024 * 1024) + b'"}', "application/json"
                    )
                else:
                    self._send(status, body, wire=wire)
            except _Drop:
                sim.answered(entry, -1)
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)

        def _send(
            self,
            status: int,
            body: Any,
            retry_after: float | None = None,
            wire: Wire | None = None,
        ) -> None:
            headers: dict[str, str] = {}
            if wire is not None and wire.reply is not None:
                headers, body = wire.reply(status, body)
            # A 204 has no body at all: clients that read one (``null``) would be wrong to.
            payload = b"" if status == 204 else json.dumps(body).encode()
            self._send_raw(status, payload, "application/json", retry_after, headers)

        def _send_raw(
            self,
            status: int,
            payload: bytes,
            content_type: str,
            retry_after: float | None = None,
            headers: Mapping[str, str] | None = None,
        ) -> None:
            if self.entry is not None:
                sim.answered(self.entry, status)
            self.send_response(status)
            if payload:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            if retry_after is not None:
                self.send_header("Retry-After", str(int(retry_after)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _listed_twice(body: Any, changes: Mapping[str, Any] | None) -> Any:
    """A list answer whose first list lists its first item again at the end."""
    if not isinstance(body, dict):
        return body
    for key, items in body.items():
        if isinstance(items, list) and items:
            copy = items[0]
            if isinstance(copy, dict):
                copy = {**copy, **(changes or {})}
            return {**body, key: [*items, copy]}
    return body


def bearer(headers: Message) -> str:
    """The token of an ``Authorization: Bearer`` header, or "" when there is none."""
    header = headers.get("Authorization", "")
    return header[7:].strip() if header.startswith("Bearer ") else ""

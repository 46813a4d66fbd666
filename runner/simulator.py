"""A local fake of Cohere's and BFL's fine-tune APIs, for the demo, tests and benchmarks.

Real HTTP on 127.0.0.1, both providers on one port (their paths do not collide), auth
checked, every request logged, and faults injected on demand.
"""

import base64
import contextlib
import json
import random
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

COHERE_PREFIX = "/v1/finetuning/finetuned-models"
BFL_LIST, BFL_DETAILS, BFL_DELETE = (
    "/v1/my_finetunes",
    "/v1/finetune_details",
    "/v1/delete_finetune",
)
FAULT_KINDS = (
    "status",
    "drop_before",
    "drop_after",
    "garbage",
    "delay",
    "repeat_token",
    "huge_body",
)


@dataclass
class Fault:
    """One injected misbehaviour, applied to matching requests.

    kind: status (answer ``status``, with ``retry_after`` if set), drop_before (close
    without acting), drop_after (act, then close without answering), garbage (200 with
    a non-JSON body), delay (sleep ``seconds`` first), repeat_token (Cohere's list keeps
    sending the same page token), huge_body (200 with a 20 MB body).
    """

    kind: str
    method: str | None = None  # GET, DELETE, POST; None = any
    path: str | None = None  # prefix of the request path; None = any
    status: int = 503
    retry_after: float | None = None
    times: int | None = None  # the first N matching requests; None = all of them
    after: int = 0  # let this many matching requests through first (an API gone mid-run)
    probability: float = 1.0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of {', '.join(FAULT_KINDS)})")

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or path.startswith(self.path)
        )


@dataclass
class Logged:
    ts: float
    method: str
    path: str
    status: int
    api: str  # cohere, bfl, admin
    fault: str | None = None

    @property
    def mutating(self) -> bool:
        return self.method == "DELETE" or (self.method == "POST" and self.path == BFL_DELETE)


@dataclass
class Accounts:
    """What the fake providers hold. Cohere models keep list order (by created_at)."""

    cohere: dict[str, dict[str, Any]] = field(default_factory=dict)
    cohere_order: list[str] = field(default_factory=list)
    bfl: dict[str, dict[str, Any]] = field(default_factory=dict)
    bfl_items: dict[str, Any] = field(default_factory=dict)  # id -> the item as listed

    def add_cohere(self, model: dict[str, Any]) -> None:
        self.cohere[model["id"]] = model
        self.cohere_order.append(model["id"])

    def add_bfl(self, item: Any, details: dict[str, Any] | None = None) -> None:
        finetune_id = item if isinstance(item, str) else item.get("id", item.get("finetune_id"))
        self.bfl[str(finetune_id)] = details or {"finetune_comment": f"finetune {finetune_id}"}
        self.bfl_items[str(finetune_id)] = item

    def sort(self) -> None:
        self.cohere_order.sort(key=lambda i: (str(self.cohere[i].get("created_at", "")), i))


STATUS_SPREAD = [
    ("STATUS_READY", 70),
    ("STATUS_FAILED", 14),
    ("STATUS_PAUSED", 4),
    ("STATUS_FINETUNING", 4),
    ("STATUS_QUEUED", 3),
    ("STATUS_DEPLOYING_API", 2),
    ("STATUS_DELETED", 3),
]
NAME_PREFIXES = ["exp", "prod", "tmp", "sweep", "eval", "demo"]


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def cohere_model(model_id: str, name: str, status: str, created: datetime) -> dict[str, Any]:
    """A FinetunedModel as Cohere's API documents it."""
    return {
        "id": model_id,
        "name": name,
        "creator_id": "sim-user",
        "organization_id": "sim-org",
        "settings": {
            "base_model": {"name": "command-r", "version": "1", "base_type": "BASE_TYPE_CHAT"},
            "dataset_id": f"ds-{name}",
            "hyperparameters": {"train_epochs": 1},
        },
        "status": status,
        "created_at": _stamp(created),
        "updated_at": _stamp(created + timedelta(hours=2)),
        **(
            {"completed_at": _stamp(created + timedelta(hours=2))}
            if status == "STATUS_READY"
            else {}
        ),
    }


def generate(cohere_count: int, bfl_count: int, now: datetime, seed: int = 7) -> Accounts:
    """A deterministic spread of ages (0-120 days), statuses and names."""
    rng = random.Random(seed)
    accounts = Accounts()
    statuses = [s for s, weight in STATUS_SPREAD for _ in range(weight)]
    for i in range(cohere_count):
        created = now - timedelta(seconds=rng.randrange(0, 120 * 86400))
        model_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        name = f"{rng.choice(NAME_PREFIXES)}-{i:06d}"
        accounts.add_cohere(cohere_model(model_id, name, rng.choice(statuses), created))
    for i in range(bfl_count):
        accounts.add_bfl(
            f"lora-{i:06d}" if i % 2 else str(uuid.UUID(int=rng.getrandbits(128), version=4))
        )
    accounts.sort()
    return accounts


def load_seed(data: Mapping[str, Any], now: datetime) -> Accounts:
    """A seed file: ``cohere:`` list of models (``age_days`` instead of ``created_at`` is
    fine), ``bfl:`` list of IDs or objects."""
    accounts = Accounts()
    for entry in data.get("cohere") or []:
        created = now - timedelta(days=float(entry.get("age_days", 0)))
        model = cohere_model(
            entry["id"],
            entry.get("name", entry["id"]),
            entry.get("status", "STATUS_READY"),
            created,
        )
        model.update({k: v for k, v in entry.items() if k != "age_days"})
        accounts.add_cohere(model)
    for entry in data.get("bfl") or []:
        accounts.add_bfl(entry)
    accounts.sort()
    return accounts


class Simulator:
    """The server plus its state; start() runs it on a background thread."""

    def __init__(
        self,
        accounts: Accounts | None = None,
        *,
        port: int = 0,
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
    ):
        self.accounts = accounts or Accounts()
        self.cohere_key, self.bfl_key = cohere_key, bfl_key
        self.latency = latency
        self.rate_limit = rate_limit
        self.rate_limit_retry_after = rate_limit_retry_after
        self.deleted_mode = deleted_mode  # vanish | status (stays listed as STATUS_DELETED)
        self.max_page_size = max_page_size  # larger requests are coerced down (AIP-158)
        self.faults: list[Fault] = list(faults)
        self.fault_hits: dict[int, int] = {}
        self.fault_seen: dict[int, int] = {}
        self.requests: list[Logged] = []
        self.deleted: list[tuple[str, str]] = []  # (api, id) in the order they happened
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self._bucket = (rate_limit or 0.0, time.monotonic())
        self._log = open(log_path, "a", encoding="utf-8") if log_path else None  # noqa: SIM115
        self.server = _Server(("127.0.0.1", port), _handler(self))
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

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

    def pick_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for index, fault in enumerate(self.faults):
                if not fault.matches(method, path):
                    continue
                self.fault_seen[index] = seen = self.fault_seen.get(index, 0) + 1
                if seen <= fault.after:
                    continue
                if fault.times is not None and self.fault_hits.get(index, 0) >= fault.times:
                    continue
                if fault.probability < 1.0 and self.rng.random() >= fault.probability:
                    continue
                self.fault_hits[index] = self.fault_hits.get(index, 0) + 1
                return fault
        return None

    def over_rate_limit(self) -> bool:
        """Token bucket holding one second's worth of requests."""
        if not self.rate_limit:
            return False
        with self.lock:
            tokens, last = self._bucket
            now = time.monotonic()
            tokens = min(self.rate_limit, tokens + (now - last) * self.rate_limit)
            if tokens < 1.0:
                self._bucket = (tokens, now)
                return True
            self._bucket = (tokens - 1.0, now)
            return False


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

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            path, query = parts.path, parse_qs(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw_body = self.rfile.read(length) if length else b""
            api = (
                "admin"
                if path.startswith("/_sim/")
                else "bfl"
                if path.startswith(("/v1/my_", "/v1/finetune_", "/v1/delete_"))
                else "cohere"
            )
            fault = sim.pick_fault(method, path) if api != "admin" else None
            # Logged on arrival, so the log's order is the order requests came in.
            entry = Logged(time.time(), method, path, 0, api, fault.kind if fault else None)
            sim.arrived(entry)
            status = 0
            try:
                if sim.latency and api != "admin":
                    time.sleep(sim.latency)
                if fault and fault.kind == "delay":
                    time.sleep(fault.seconds)
                if fault and fault.kind == "drop_before":
                    raise _Drop
                if api != "admin" and sim.over_rate_limit():
                    status = 429
                    body = _error_body(api, 429)
                    self._send(429, body, retry_after=sim.rate_limit_retry_after)
                    return
                if fault and fault.kind == "status":
                    status = fault.status
                    self._send(status, _error_body(api, status), retry_after=fault.retry_after)
                    return
                status, body = self._route(method, path, query, raw_body, api, fault)
                if fault and fault.kind == "drop_after":
                    raise _Drop
                if fault and fault.kind == "garbage":
                    status = 200
                    self._send_raw(200, b"<html>upstream proxy error</html>{not json", "text/html")
                elif fault and fault.kind == "huge_body":
                    self._send_raw(
                        200, b'{"pad": "' + b"x" * (20 * 1024 * 1024) + b'"}', "application/json"
                    )
                else:
                    self._send(status, body)
            except _Drop:
                status = -1
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
            finally:
                sim.answered(entry, status)

        def _authorized(self, api: str) -> tuple[int, dict[str, Any]] | None:
            if api == "cohere":
                header = self.headers.get("Authorization", "")
                if not header.startswith("Bearer ") or not header[7:].strip():
                    return 401, {"message": "no api key supplied"}
                if sim.cohere_key is not None and header[7:] != sim.cohere_key:
                    return 401, {"message": "invalid api token"}
            elif api == "bfl":
                key = self.headers.get("x-key", "")
                if not key:
                    return 401, {"detail": "Not authenticated"}
                if sim.bfl_key is not None and key != sim.bfl_key:
                    return 403, {"detail": "Invalid API key"}
            return None

        def _route(
            self,
            method: str,
            path: str,
            query: dict[str, list[str]],
            raw_body: bytes,
            api: str,
            fault: Fault | None,
        ) -> tuple[int, Any]:
            if api == "admin":
                return self._admin(method, path, raw_body)
            if denied := self._authorized(api):
                return denied
            if api == "cohere" and path == COHERE_PREFIX and method == "GET":
                return self._cohere_list(query, fault)
            if api == "cohere" and path.startswith(COHERE_PREFIX + "/"):
                raw_id = path[len(COHERE_PREFIX) + 1 :]
                if "/" in raw_id:  # an ID must be exactly one path segment
                    return 404, {"message": "Not Found"}
                return self._cohere_one(method, unquote(raw_id))
            if api == "bfl" and path == BFL_LIST and method == "GET":
                with sim.lock:
                    return 200, {"finetunes": list(sim.accounts.bfl_items.values())}
            if api == "bfl" and path == BFL_DETAILS and method == "GET":
                finetune_id = (query.get("finetune_id") or [""])[0]
                with sim.lock:
                    details = sim.accounts.bfl.get(finetune_id)
                if details is None:
                    return 404, {"detail": f"Finetune {finetune_id} not found"}
                return 200, {"finetune_details": details}
            if api == "bfl" and path == BFL_DELETE and method == "POST":
                return self._bfl_delete(raw_body)
            return 404, {"message": "Not Found"} if api == "cohere" else {"detail": "Not Found"}

        def _cohere_list(self, query: dict[str, list[str]], fault: Fault | None) -> tuple[int, Any]:
            size = min(int((query.get("page_size") or ["0"])[0] or 0) or 50, sim.max_page_size)
            token = (query.get("page_token") or [""])[0]
            try:
                start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
            except ValueError:
                return 400, {"message": f"invalid page_token: {token[:40]!r}"}
            order = sim.accounts.cohere_order
            page: list[dict[str, Any]] = []
            index = start
            with sim.lock:
                while index < len(order) and len(page) < size:
                    model = sim.accounts.cohere.get(order[index])
                    if model is not None:
                        page.append(model)
                    index += 1
                more = index < len(order)
                total = len(sim.accounts.cohere)
            next_token = base64.urlsafe_b64encode(str(index).encode()).decode() if more else ""
            if fault and fault.kind == "repeat_token":
                next_token = base64.urlsafe_b64encode(b"0").decode()
            return 200, {
                "finetuned_models": page,
                "next_page_token": next_token,
                "total_size": total,
            }

        def _cohere_one(self, method: str, model_id: str) -> tuple[int, Any]:
            with sim.lock:
                model = sim.accounts.cohere.get(model_id)
                gone = model is None or model.get("status") == "STATUS_DELETED"
                if method == "GET":
                    if model is None:
                        return 404, {"message": f"finetuned model {model_id} not found"}
                    return 200, {"finetuned_model": model}
                if method != "DELETE":
                    return 405, {"message": "method not allowed"}
                if gone:
                    return 404, {"message": f"finetuned model {model_id} not found"}
                if sim.deleted_mode == "status":
                    assert model is not None
                    model["status"] = "STATUS_DELETED"
                else:
                    del sim.accounts.cohere[model_id]
                sim.deleted.append(("cohere", model_id))
            return 200, {}  # the official SDK treats an empty body as an error

        def _bfl_delete(self, raw_body: bytes) -> tuple[int, Any]:
            try:
                body = json.loads(raw_body or b"null")
                finetune_id = body["finetune_id"]
                if not isinstance(finetune_id, str):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                return 422, {
                    "detail": [
                        {
                            "loc": ["body", "finetune_id"],
                            "msg": "field required",
                            "type": "value_error.missing",
                        }
                    ]
                }
            with sim.lock:
                if finetune_id not in sim.accounts.bfl:
                    return 404, {"detail": f"Finetune {finetune_id} not found"}
                del sim.accounts.bfl[finetune_id]
                del sim.accounts.bfl_items[finetune_id]
                sim.deleted.append(("bfl", finetune_id))
            return 200, {
                "status": "success",
                "message": "Finetune deleted",
                "deleted_finetune_id": finetune_id,
                "timestamp": _stamp(datetime.now(UTC)),
            }

        def _admin(self, method: str, path: str, raw_body: bytes) -> tuple[int, Any]:
            if path == "/_sim/requests" and method == "GET":
                with sim.lock:
                    return 200, [asdict(r) for r in sim.requests]
            if path == "/_sim/state" and method == "GET":
                with sim.lock:
                    return 200, {
                        "cohere": sorted(sim.accounts.cohere),
                        "bfl": sorted(sim.accounts.bfl),
                        "deleted": sim.deleted,
                    }
            if path == "/_sim/faults" and method == "POST":
                faults = [Fault(**f) for f in json.loads(raw_body or b"[]")]
                with sim.lock:
                    sim.faults, sim.fault_hits, sim.fault_seen = faults, {}, {}
                return 200, {"faults": len(faults)}
            if path == "/_sim/latency" and method == "POST":
                sim.latency = float(json.loads(raw_body)["seconds"])
                return 200, {"latency": sim.latency}
            return 404, {"message": "unknown admin path"}

        def _send(self, status: int, body: Any, retry_after: float | None = None) -> None:
            self._send_raw(status, json.dumps(body).encode(), "application/json", retry_after)

        def _send_raw(
            self, status: int, payload: bytes, content_type: str, retry_after: float | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            if retry_after is not None:
                self.send_header("Retry-After", str(int(retry_after)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


def _error_body(api: str, status: int) -> dict[str, Any]:
    messages = {
        429: "You are past the per minute request limit, please wait and try again later.",
        401: "invalid api token",
        404: "Not Found",
        410: "Gone",
    }
    message = messages.get(status, f"simulated error {status}")
    return {"message": message} if api == "cohere" else {"detail": message}

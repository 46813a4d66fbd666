"""The daemon's HTTP endpoints (``schedule --listen HOST:PORT``): /metrics, /healthz, /readyz,
and the pages it is given (the status page: runner.reports.status).

A ``ThreadingHTTPServer`` on a daemon thread, serving at most 64 connections at once;
nothing is logged per request. Read-only: any method but GET and HEAD gets 405. Every
answer forbids the browser to load anything (CSP) or to guess a type (nosniff): a page
holds provider text.
"""

import re
import socket
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any
from urllib.parse import urlsplit

from runner.errors import ConfigError
from runner.metrics import CONTENT_TYPE, Metrics

# A page may use its own inline style and data: images, and nothing else: no script runs,
# nothing is fetched, whatever a provider's text holds.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
ALLOWED = "GET, HEAD"
Page = Callable[[], tuple[bytes, str]]  # () -> (body, Content-Type)

_BRACKETED = re.compile(r"\[(?P<host>[^\[\]]+)\]:(?P<port>[^:]*)")


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPV6]:PORT`` or ``:PORT`` (every IPv4 interface) -> (host, port).

    The host is not resolved here (binding reports a bad one). Port 0 asks for a free port.
    ValueError with a one-line message otherwise.
    """
    value = text.strip()
    bracketed = _BRACKETED.fullmatch(value)
    if bracketed:
        host, port_text = bracketed["host"], bracketed["port"]
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep:
            raise ValueError(f"{text!r} is not HOST:PORT")
        if ":" in host:
            raise ValueError(
                f"{text!r} is not HOST:PORT (write an IPv6 address in brackets: [::1]:9108)"
            )
        if any(c in host for c in "[]"):
            raise ValueError(f"{text!r} is not HOST:PORT")
        host = host or "0.0.0.0"
    if any(c.isspace() for c in host):
        raise ValueError(f"{text!r} is not HOST:PORT")
    if not port_text.isascii() or not port_text.isdigit():
        raise ValueError(f"{text!r} is not HOST:PORT: the port {port_text!r} is not a number")
    port = int(port_text)
    if port > 65535:
        raise ValueError(f"{text!r}: port {port} is out of range (0-65535)")
    return host, port


def format_listen(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never holds up the daemon's exit
    # Connections served at once. Each holds a thread for up to the handler's timeout, so
    # without a bound, clients that connect and say nothing would be as many threads as
    # they like; past it a connection is closed at once (a probe or browser tries again).
    max_clients = 64

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(self.max_clients)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:  # its thread did not start: the slot is not its to free
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def server_bind(self) -> None:
        # HTTPServer.server_bind also asks DNS for the host's FQDN; nothing here needs it.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _Server6(_Server):
    address_family = socket.AF_INET6


class HealthServer:
    """Serves ``metrics`` and the two probes on ``host:port`` (port 0: any free port).

    ``healthy()`` answers /healthz (200 "ok" or 503), ``ready()`` answers /readyz (200
    "ready" or 503 "not ready"); either raising counts as False. ``pages`` maps more
    paths to what answers them. All are called from request threads, so they must be
    thread-safe (reading a flag is).
    """

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Metrics,
        healthy: Callable[[], bool],
        ready: Callable[[], bool],
        pages: Mapping[str, Page] | None = None,
    ):
        self.host, self._port = host, port
        self.metrics, self.healthy, self.ready = metrics, healthy, ready
        self.pages = dict(pages or {})
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port once started (the one chosen for port 0), else the one asked for."""
        if self._server is not None:
            return int(self._server.server_address[1])
        return self._port

    def start(self) -> None:
        """Bind and serve on a daemon thread. ConfigError (one line) if binding fails."""
        if self._server is not None:
            raise RuntimeError("HealthServer already started")
        where = format_listen(self.host, self._port)
        try:
            family = socket.getaddrinfo(
                self.host, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )[0][0]
            server_class = _Server6 if family == socket.AF_INET6 else _Server
            server = server_class((self.host, self._port), self._handler())
        except (OSError, OverflowError, UnicodeError) as exc:
            reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
            reason = " ".join(reason.split()) or type(exc).__name__
            raise ConfigError(f"--listen {where}: {reason}") from None
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"ftjanitor-http-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice or without ``start``."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> "HealthServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # seconds a client may take to send its request
            server_version = "ftjanitor"
            sys_version = ""

            def do_GET(self) -> None:
                self._answer(body=True)

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def __getattr__(self, name: str) -> Callable[[], None]:
                # http.server looks up do_<METHOD>: every other method is refused here.
                if name.startswith("do_"):
                    return self._not_allowed
                raise AttributeError(name)

            def _not_allowed(self) -> None:
                self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"method not allowed\n", body=True)

            def send_error(
                self, code: int, message: str | None = None, explain: str | None = None
            ) -> None:
                # http.server's own answers to a request it cannot read (400, 414, 431):
                # its HTML page echoes the request; this one is plain text under the same
                # headers as every other answer.
                status = HTTPStatus(code)
                self.close_connection = True
                payload = f"{status.value} {status.phrase}\n".encode()
                self._send(status, payload, body=getattr(self, "command", None) != "HEAD")

            def _send(
                self,
                status: HTTPStatus,
                payload: bytes,
                body: bool,
                content_type: str = "text/plain; charset=utf-8",
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Security-Policy", CSP)
                self.send_header("X-Content-Type-Options", "nosniff")
                if status == HTTPStatus.METHOD_NOT_ALLOWED:
                    self.send_header("Allow", ALLOWED)
                self.end_headers()
                if body:
                    self.wfile.write(payload)

            def _answer(self, body: bool) -> None:
                path = urlsplit(self.path).path
                content_type = "text/plain; charset=utf-8"
                if path == "/metrics":
                    try:
                        status, payload = HTTPStatus.OK, owner.metrics.render()
                        content_type = CONTENT_TYPE
                    except Exception as exc:  # a failing collector: say so, keep serving
                        status = HTTPStatus.INTERNAL_SERVER_ERROR
                        payload = f"cannot render metrics: {type(exc).__name__}\n".encode()
                elif path == "/healthz":
                    ok = _ask(owner.healthy)
                    status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
                    payload = b"ok\n" if ok else b"unhealthy\n"
                elif path == "/readyz":
                    ok = _ask(owner.ready)
                    status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
                    payload = b"ready\n" if ok else b"not ready\n"
                elif path in owner.pages:
                    try:
                        payload, content_type = owner.pages[path]()
                        status = HTTPStatus.OK
                    except Exception as exc:  # a page that cannot be built: say so, keep serving
                        status = HTTPStatus.INTERNAL_SERVER_ERROR
                        payload = f"cannot build {path}: {type(exc).__name__}\n".encode()
                else:
                    status, payload = HTTPStatus.NOT_FOUND, b"not found\n"
                self._send(status, payload, body, content_type)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # no access log on stderr: probes would flood it

        return Handler


def _ask(probe: Callable[[], bool]) -> bool:
    try:
        return bool(probe())
    except Exception:
        return False

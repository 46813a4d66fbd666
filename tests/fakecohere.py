"""A Cohere look-alike on 127.0.0.1 whose every answer a test scripts: for what the
simulator will not do, such as echoing the Authorization header back."""

import json
import socket
import threading
from collections.abc import Callable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from runner.simulator import cohere_model
from tests.conftest import NOW

DROP = object()  # an answer that closes the connection instead: a transport error


class FakeCohere:
    """A Cohere look-alike on 127.0.0.1 whose every answer the test scripts:
    ``answer(method, path, authorization) -> (status, JSON object or bytes, or DROP)``."""

    def __init__(self, answer: Callable[[str, str, str], tuple[int, Any]]):
        self.requests: list[tuple[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def serve(self) -> None:
                outer.requests.append((self.command, self.path))
                status, body = answer(
                    self.command, self.path, self.headers.get("Authorization", "")
                )
                if body is DROP:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                json_body = not isinstance(body, bytes)
                data = json.dumps(body).encode() if json_body else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if json_body else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_DELETE = serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def deletes(self) -> int:
        return sum(1 for method, _ in self.requests if method == "DELETE")

    def __enter__(self) -> "FakeCohere":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def old_model(model_id: str = "m-1", name: str = "exp-1") -> dict[str, Any]:
    return cohere_model(model_id, name, "STATUS_READY", NOW - timedelta(days=90))


def listing(*models: dict[str, Any]) -> tuple[int, Any]:
    return 200, {"finetuned_models": list(models), "next_page_token": ""}

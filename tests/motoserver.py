"""Local AWS endpoints for the Bedrock tests: moto's real server, and a stub that answers
what moto cannot (throttling, 5xx, dropped connections, odd pages). Both listen on
127.0.0.1 only; nothing here knows a real AWS endpoint or credential."""

import http.client
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from mypy_boto3_bedrock import BedrockClient

REGION = "us-east-1"
# moto accepts any credentials; these only ever sign requests to 127.0.0.1.
SEED_KEY_ID = "testing"
SEED_SECRET = "testing"
BASE_MODEL = "amazon.titan-text-express-v1"


def _no_provisioned_throughputs() -> None:
    """moto cannot make a Provisioned Throughput, so its accounts have none; it answers
    ListProvisionedModelThroughputs with an error, though, where AWS answers an empty list.
    A model target lists the PTs that might serve its models, so moto is taught the
    truthful answer for its accounts (the PT tests speak to the simulator instead)."""
    from moto.bedrock.responses import BedrockResponse

    def none_listed(self: BedrockResponse) -> str:
        return json.dumps({"provisionedModelSummaries": []})

    BedrockResponse.list_provisioned_model_throughputs = none_listed  # type: ignore[attr-defined]


class MotoServer:
    """moto's Flask app in a thread on a free port; ``reset`` empties every backend."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        _no_provisioned_throughputs()

        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.url = ""

    def __enter__(self) -> "MotoServer":
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            answer.read()

    def client(self, region: str = REGION) -> "BedrockClient":
        """A seeding client with explicit fake credentials (the environment is not read)."""
        import boto3

        return boto3.client(
            "bedrock",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=SEED_KEY_ID,
            aws_secret_access_key=SEED_SECRET,
        )


def invoked(moto: MotoServer, arns: Iterable[str], at: datetime, count: float = 3) -> None:
    """``count`` invocations of each of ``arns`` at ``at``, as Bedrock reports them to
    CloudWatch (``AWS/Bedrock`` ``Invocations`` by ``ModelId``)."""
    import boto3

    cloudwatch = boto3.client(
        "cloudwatch",
        region_name=REGION,
        endpoint_url=moto.url,
        aws_access_key_id=SEED_KEY_ID,
        aws_secret_access_key=SEED_SECRET,
    )
    dimensions = [[{"Name": "ModelId", "Value": arn}] for arn in arns]
    data = [
        {"MetricName": "Invocations", "Dimensions": d, "Timestamp": at, "Value": count}
        for d in dimensions
    ]
    cloudwatch.put_metric_data(Namespace="AWS/Bedrock", MetricData=data)


def create_custom_model(client: "BedrockClient", name: str, base_model: str = BASE_MODEL) -> None:
    """moto makes custom models only as the product of a customization job."""
    client.create_model_customization_job(
        customModelName=name,
        jobName=f"job-{name}",
        roleArn="arn:aws:iam::123456789012:role/bedrock-test",
        baseModelIdentifier=base_model,
        trainingDataConfig={"s3Uri": "s3://ftjanitor-test/train.jsonl"},
        outputDataConfig={"s3Uri": "s3://ftjanitor-test/out/"},
        hyperParameters={"epochCount": "1"},
    )


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = field(default_factory=dict)  # sent as JSON; bytes as they are
    headers: Mapping[str, str] = field(default_factory=dict)


DROP = "drop"  # close the connection without an answer
Answer = Reply | str


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def operation(self) -> str:
        """The operation a JSON-protocol request names (``X-Amz-Target: Prefix.Operation``)."""
        return self.headers.get("X-Amz-Target", "").rpartition(".")[2]

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


def aws_error(code: str, message: str, status: int = 400) -> Reply:
    """An error the way AWS's rest-json services send one."""
    return Reply(status, {"__type": code, "message": message}, {"x-amzn-ErrorType": code})


class StubServer:
    """Answers every request with ``script(seen)``; records what it saw, in order."""

    def __init__(self, script: Callable[[Seen], Answer], delay: float = 0.0):
        self.script = script
        self.delay = delay  # seconds before each answer: a network's latency (benchmarks)
        self.seen: list[Seen] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out as two writes: with Nagle's algorithm the second
            # waits for the client's delayed ACK (40 ms on Linux), which no server adds.
            disable_nagle_algorithm = True

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                headers = dict(self.headers.items())
                seen = Seen(self.command, parts.path, parse_qs(parts.query), headers, body)
                stub.seen.append(seen)
                if stub.delay:
                    time.sleep(stub.delay)
                answer = stub.script(seen)
                if isinstance(answer, str):  # DROP
                    self.close_connection = True
                    return
                body = answer.body
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_DELETE = do_POST = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "StubServer":
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def stub(script: Callable[[Seen], Answer], delay: float = 0.0) -> Iterator[StubServer]:
    with StubServer(script, delay) as server:
        yield server


def forward(url: str, seen: Seen, raw: bool = False) -> Reply:
    """``seen`` sent on to the server at ``url`` (moto): its answer, for a stub in front of
    it to pass on or change (a proxy that adds latency or faults moto cannot make);
    ``raw``: its body as sent, passed on unread."""
    host, port = urlsplit(url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        headers = {k: v for k, v in seen.headers.items() if k.lower() != "host"}
        connection.request(seen.method, seen.path, seen.body, headers)
        answer = connection.getresponse()
        data = answer.read()
        kept = {k: v for k, v in answer.getheaders() if k.lower().startswith("x-amz")}
        body = data if raw else json.loads(data) if data else {}
        return Reply(answer.status, body, kept)
    finally:
        connection.close()

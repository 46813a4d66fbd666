"""The one HTTP core every provider uses: requests + urllib3's Retry, a pacing rate
limiter, safe path building, bounded bodies and one-line error messages.
"""

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    InvalidHeader,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from runner import __version__
from runner.providers.base import ProviderError
from runner.providers.wire import Response, one_line
from runner.redaction import redact, secret_list

MAX_BODY_BYTES = 16 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Tests shrink the waits; production keeps these."""

    attempts: int = 6
    backoff_factor: float = 0.5
    backoff_jitter: float = 0.25
    backoff_max: float = 30.0
    retry_after_max: int = 60
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


class _Retry(Retry):
    def parse_retry_after(self, retry_after: str) -> float:
        # A garbled Retry-After falls back to exponential backoff instead of failing.
        try:
            return super().parse_retry_after(retry_after)
        except InvalidHeader:
            return 0.0


class RateLimiter:
    """Spaces requests evenly at ``per_minute``: no bursts, so no 429 storms."""

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.interval = 60.0 / per_minute
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            self._sleep(slot - now)


class HttpError(ProviderError):
    """No usable HTTP response: connection refused or dropped, timeout, oversize body."""

    def __init__(self, message: str, *, sent: bool):
        super().__init__(message)
        self.sent = sent  # the request may have reached the server


class HttpClient:
    """Pooled sessions per connection. The key lives only in the sessions' headers.

    Reads and mutations use separate sessions because their retry rules differ: a read
    error on a delete means it may have happened, so it is never resent blindly; the
    caller settles it by looking.
    """

    def __init__(
        self,
        base_url: str,
        auth_headers: Mapping[str, str],
        *,
        requests_per_minute: int,
        concurrency: int,
        policy: RetryPolicy = RetryPolicy(),
        label: str = "",
    ):
        self.base_url = base_url.rstrip("/")
        self.label = label or self.base_url
        self.policy = policy
        self._secrets = secret_list(auth_headers.values())
        self.limiter = RateLimiter(requests_per_minute)
        self._sessions = {
            mutating: self._make_session(auth_headers, concurrency, mutating)
            for mutating in (False, True)
        }

    def __repr__(self) -> str:
        return f"HttpClient({self.label!r})"  # never the headers

    def _make_session(
        self, auth_headers: Mapping[str, str], concurrency: int, mutating: bool
    ) -> requests.Session:
        policy = self.policy
        retry = _Retry(
            total=policy.attempts - 1,
            connect=3,
            read=0 if mutating else 2,
            status=policy.attempts - 1,
            other=0,
            allowed_methods=None,
            status_forcelist=RETRY_STATUSES,
            backoff_factor=policy.backoff_factor,
            backoff_jitter=policy.backoff_jitter,
            backoff_max=policy.backoff_max,
            retry_after_max=policy.retry_after_max,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        adapter = HTTPAdapter(
            pool_connections=1, pool_maxsize=max(concurrency, 1), max_retries=retry
        )
        session = requests.Session()
        session.headers.update(
            {"User-Agent": f"ftjanitor/{__version__}", "Accept": "application/json"}
        )
        session.headers.update(auth_headers)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def redact(self, text: str) -> str:
        redacted: str = redact(text, self._secrets)
        return redacted

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> Response:
        """One logical request (retries inside). Raises HttpError when no answer came."""
        url = self.base_url + path
        self.limiter.acquire()
        session = self._sessions[method not in ("GET", "HEAD")]
        try:
            with session.request(
                method,
                url,
                params=params,
                json=json_body,
                timeout=(self.policy.connect_timeout, self.policy.read_timeout),
                stream=True,
                allow_redirects=False,
            ) as raw:
                content = _read_capped(raw)
                retries = getattr(raw.raw, "retries", None)
                attempts = len(retries.history) + 1 if retries is not None else 1
        except (requests.RequestException, _BodyTooLarge) as exc:
            reason = _root_cause(exc)
            sent = not isinstance(reason, ConnectTimeoutError)
            message = self.redact(f"{method} {self.label}{path}: {_describe(reason)}")
            raise HttpError(message, sent=sent) from None
        text = self.redact(content[:400].decode("utf-8", "replace"))
        try:
            body = json.loads(content) if content else None
        except ValueError:
            body = None
        return Response(raw.status_code, body, text, attempts, raw.headers)

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()


class _BodyTooLarge(Exception):
    pass


def _read_capped(raw: requests.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in raw.iter_content(65536):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BodyTooLarge(f"response body is over {MAX_BODY_BYTES // (1024 * 1024)} MiB")
        chunks.append(chunk)
    return b"".join(chunks)


def _root_cause(exc: BaseException) -> BaseException:
    """requests wraps urllib3 wraps socket errors; the urllib3 error says what happened."""
    seen = exc
    for _ in range(6):
        if isinstance(seen, ConnectTimeoutError | ReadTimeoutError | ProtocolError | _BodyTooLarge):
            return seen
        if isinstance(seen, MaxRetryError) and seen.reason is not None:
            seen = seen.reason
        elif seen.args and isinstance(seen.args[0], BaseException):
            seen = seen.args[0]
        else:
            break
    return seen


def _describe(reason: BaseException) -> str:
    if isinstance(reason, NewConnectionError):
        return "cannot connect (connection refused or host unreachable)"
    if isinstance(reason, ConnectTimeoutError):
        return "connect timeout"
    if isinstance(reason, ReadTimeoutError):
        return "no answer in time (read timeout)"
    if isinstance(reason, ProtocolError):
        return "connection dropped before an answer"
    if isinstance(reason, _BodyTooLarge):
        return str(reason)
    return one_line(f"{type(reason).__name__}: {reason}")

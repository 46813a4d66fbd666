"""The one HTTP core every provider uses: requests + urllib3's Retry, a pacing rate
limiter, safe path building, bounded bodies and one-line error messages.
"""

import json
import re
from collections.abc import Callable, Mapping
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
from runner.errors import OutcomeUnknown
from runner.providers.base import RetryPolicy
from runner.providers.wire import Response, one_line
from runner.ratelimit import RateLimiter
from runner.redaction import REDACTED, redact, secret_list
from runner.text import well_formed

MAX_BODY_BYTES = 16 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# A JSON escape of a lone surrogate half (\ud800-\udfff), in either case.
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
NOTICE_AFTER = 2.0  # seconds: a wait this long is said out loud, so a run never looks hung


class _Retry(Retry):
    notice: Callable[[float, str], None] | None = None

    def new(self, **kw: Any) -> "_Retry":
        fresh: _Retry = super().new(**kw)
        fresh.notice = self.notice
        return fresh

    def sleep_for_retry(self, response: Any) -> bool:
        seconds = self.get_retry_after(response)
        if seconds and self.notice:
            self.notice(seconds, f"the provider asked to retry later (HTTP {response.status})")
        return bool(super().sleep_for_retry(response))

    def parse_retry_after(self, retry_after: str) -> float:
        # A garbled Retry-After falls back to exponential backoff instead of failing.
        try:
            return super().parse_retry_after(retry_after)
        except InvalidHeader:
            return 0.0


class HttpClient:
    """Pooled HTTP for one connection. The key lives only in the sessions' headers.

    The client built by ``connect`` can only read (GET). ``writer()`` builds the session
    that may mutate, and only a real run's apply phase calls it. Its retry rules differ
    too: a read error on a delete means it may have happened, so it is never resent
    blindly; the caller settles it by looking.
    """

    def __init__(
        self,
        base_url: str,
        auth_headers: Mapping[str, str],
        *,
        limiter: RateLimiter,
        concurrency: int,
        policy: RetryPolicy | None = None,
        label: str = "",
        notice: Callable[[str], None] | None = None,
        mutating: bool = False,
    ):
        self.base_url = base_url.rstrip("/")
        self.label = label or self.base_url
        self.policy = policy or RetryPolicy()
        self.limiter = limiter
        self.concurrency = concurrency
        self.notice = notice
        self.mutating = mutating
        self._auth_headers = dict(auth_headers)
        # The header values and the credential inside each ("Bearer KEY" -> KEY): a
        # provider may echo either.
        values = list(auth_headers.values())
        self._secrets = secret_list([*values, *(v.split()[-1] for v in values if v.split())])
        self._session = self._make_session()

    def __repr__(self) -> str:
        return f"HttpClient({self.label!r})"  # never the headers

    def writer(self) -> "HttpClient":
        """A client for the same connection that may send DELETE and POST."""
        return HttpClient(
            self.base_url,
            self._auth_headers,
            limiter=self.limiter,
            concurrency=self.concurrency,
            policy=self.policy,
            label=self.label,
            notice=self.notice,
            mutating=True,
        )

    def _make_session(self) -> requests.Session:
        policy = self.policy
        retry = _Retry(
            total=policy.attempts - 1,
            connect=3,
            read=0 if self.mutating else 2,
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
        retry.notice = self._waiting
        adapter = HTTPAdapter(
            pool_connections=1, pool_maxsize=max(self.concurrency, 1), max_retries=retry
        )
        session = requests.Session()
        session.headers.update(
            {"User-Agent": f"ftjanitor/{__version__}", "Accept": "application/json"}
        )
        session.headers.update(self._auth_headers)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        # The environment (proxies and NO_PROXY, a CA bundle) is read once, for the one
        # host this session talks to: requests would re-read it on every request (walking
        # os.environ, looking for ~/.netrc), which is most of its CPU per delete. A .netrc
        # entry is not used: it would replace the key's Authorization header.
        found = session.merge_environment_settings(self.base_url, {}, None, None, None)
        session.proxies, session.verify = found["proxies"], found["verify"]
        session.trust_env = False
        return session

    def _waiting(self, seconds: float, why: str) -> None:
        if self.notice and seconds >= NOTICE_AFTER:
            self.notice(f"{self.label}: {why}; waiting {seconds:.0f}s")

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
        """One logical request (retries inside). Raises OutcomeUnknown when no answer came."""
        if method != "GET" and not self.mutating:
            raise PermissionError(f"{method} on a read-only client")  # a bug, never input
        url = self.base_url + path
        waited = self.limiter.acquire()
        self._waiting(waited, f"pacing at {self.limiter.interval * 1000:.0f} ms per request")
        try:
            with self._session.request(
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
            sent = not isinstance(reason, ConnectTimeoutError | NewConnectionError)
            message = self.redact(f"{method} {self.label}{path}: {_describe(reason)}")
            raise OutcomeUnknown(message, sent=sent) from None
        # A provider may echo the key back (in an error, even in a name): nothing read
        # from a body carries it further, whether raw or JSON-escaped.
        for secret in self._secrets:
            content = content.replace(secret.encode(), REDACTED.encode())
        text = self.redact(content[:400].decode("utf-8", "replace"))
        try:
            body = json.loads(content) if content else None
            # The raw bytes hold no key any more: only a JSON escape (\u0073k-...) can
            # spell one in what was parsed, so the answer is walked only then (walking
            # every page cost a plan of 10,000 models 0.5 s).
            if self._secrets and b"\\" in content:
                body = redact(body, self._secrets)
            if _ESCAPED_SURROGATE.search(content):  # rare: walk the answer only then
                body = well_formed(body)
        except ValueError:
            body = None
        return Response(raw.status_code, body, text, attempts, raw.headers)

    def close(self) -> None:
        self._session.close()


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

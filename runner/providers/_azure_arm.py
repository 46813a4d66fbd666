"""Azure's management plane for ``azure_openai`` (ARM deployments and Azure Monitor): its
credential and the client that carries it.

The credential is a bearer token, from the variable ``management_token_env`` names or from
azure-identity's ``DefaultAzureCredential`` (the optional extra ``ftjanitor[azure]``,
imported only when a connection opens). A token is asked for again before it expires, and
once more when ARM refuses it as expired. It lives only in the HTTP session's header: the
client redacts it from every answer, and a link (``nextLink``, an operation URL) on another
origin than ``management_url`` is refused before anything is sent there.

Not a provider module (the leading underscore keeps discovery away); nothing here imports
an HTTP or vendor library until a connection opens.
"""

import base64
import binascii
import importlib.util
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from runner.providers.base import ConnectOptions, ProviderError

if TYPE_CHECKING:
    from runner.jobfile.model import Connection
    from runner.providers.http import HttpClient
    from runner.providers.wire import Response

MANAGEMENT_URL = "https://management.azure.com"
SCOPE = "https://management.azure.com/.default"
EXTRA = "ftjanitor[azure]"
REFRESH_BEFORE = 300.0  # seconds: a token this close to its expiry is replaced first
# ARM's codes for a token past its expiry (a token refused otherwise is not retried).
EXPIRED = frozenset({"ExpiredAuthenticationToken", "InvalidAuthenticationTokenTokenExpired"})
SCOPE_FIELDS = ("subscription_id", "resource_group", "account")


@dataclass(frozen=True)
class Token:
    value: str
    expires_on: float | None  # Unix seconds; None: unknown, replaced only when refused


class TokenSource(Protocol):
    def token(self) -> Token: ...


class EnvToken:
    """The token in an environment variable, read again each time one is needed (so a
    variable refreshed by whoever set it is picked up); its expiry from the JWT's ``exp``."""

    def __init__(self, variable: str, environ: Mapping[str, str]):
        self.variable, self.environ = variable, environ

    def token(self) -> Token:
        value = self.environ.get(self.variable, "")
        if not value:
            raise ProviderError(f"the management token variable {self.variable} is empty")
        return Token(value, _jwt_expiry(value))


class IdentityToken:
    """azure-identity's default chain (environment, workload identity, managed identity,
    the Azure CLI...), which caches and renews tokens itself."""

    def __init__(self) -> None:
        import logging  # here, not at the top: validation imports every provider module

        from azure.identity import DefaultAzureCredential

        # Its chain logs a multi-line warning per credential it tried; the one line this
        # class raises says what matters, and stderr stays one line per problem.
        logging.getLogger("azure.identity").setLevel(logging.CRITICAL)
        self.credential = DefaultAzureCredential()

    def token(self) -> Token:
        try:
            got = self.credential.get_token(SCOPE)
        except Exception as exc:  # azure-identity's own errors: one line, never a traceback
            raise ProviderError(
                f"the Azure credential chain gave no token: {type(exc).__name__}", auth=True
            ) from None
        return Token(got.token, float(got.expires_on))


def _jwt_expiry(token: str) -> float | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def manages(connection: "Connection") -> bool:
    """Whether the connection names an ARM scope (its deployments and metrics are read)."""
    return all(connection.options.get(field) for field in SCOPE_FIELDS)


def credential_problem(connection: "Connection", environ: Mapping[str, str]) -> str | None:
    """What stops the management credential before any request (None: nothing)."""
    if not manages(connection):
        return None
    variable = connection.options.get("management_token_env")
    if variable:
        value = environ.get(str(variable), "")
        if not value:
            return f"missing management token: set {variable} (for {connection.name})"
        if any(c.isspace() or ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in value):
            return (
                f"malformed management token: {variable} (for {connection.name}) holds"
                " whitespace or control characters (value not shown)"
            )
        return None
    if not identity_installed():
        return (
            f"{connection.name} reads Azure deployments or metrics and has no management"
            f" credential: install the extra {EXTRA} (azure-identity) or set"
            " management_token_env"
        )
    return None


def identity_installed() -> bool:
    """Whether azure-identity (the extra) can be imported, without importing it."""
    return importlib.util.find_spec("azure") is not None and (
        importlib.util.find_spec("azure.identity") is not None
    )


def token_source(connection: "Connection", environ: Mapping[str, str]) -> TokenSource:
    variable = connection.options.get("management_token_env")
    if variable:
        return EnvToken(str(variable), environ)
    return IdentityToken()


def relative(url: str, base: str) -> str | None:
    """``url`` as a path (and query) under ``base``, or None when it is anywhere else: another
    scheme, host or port, or outside the base's path."""
    try:
        got, own = urlsplit(url), urlsplit(base)
        same = (got.scheme, got.hostname, got.port) == (own.scheme, own.hostname, own.port)
    except ValueError:
        return None
    prefix = own.path.rstrip("/")
    if not same or got.username or got.password or "\\" in url:
        return None
    if got.path != prefix and not got.path.startswith(prefix + "/"):
        return None
    rest = got.path[len(prefix) :]
    return rest + (f"?{got.query}" if got.query else "")


class ArmClient:
    """HTTP to the management plane with a token that is kept fresh. Its HTTP sessions are
    the core's (``HttpClient``: retries, Retry-After, pacing, bounded bodies, redaction),
    one per token: a new token makes a new session, and every one is closed with this."""

    def __init__(
        self,
        base_url: str,
        source: TokenSource,
        make: Callable[[str, bool], "HttpClient"],
        *,
        label: str,
        clock: Callable[[], float] = time.time,
        mutating: bool = False,
    ):
        self.base_url = base_url.rstrip("/")
        self.label = label
        self.source, self.make, self.clock, self.mutating = source, make, clock, mutating
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._client: HttpClient | None = None
        self._clients: list[HttpClient] = []

    def writer(self) -> "ArmClient":
        """A client for the same scope that may send DELETE (a real run's apply phase)."""
        return ArmClient(
            self.base_url, self.source, self.make, label=self.label, clock=self.clock,
            mutating=True,
        )  # fmt: skip

    def _current(self, stale: "HttpClient | None" = None) -> "HttpClient":
        """The session with a good token: a new one when the token is near its expiry,
        or when ``stale`` (the session whose token ARM refused as expired) is current."""
        with self._lock:
            client, token = self._client, self._token
            if client is not None and token is not None and client is not stale:
                if stale is not None or token.expires_on is None:
                    return client  # another thread replaced the stale one already
                if token.expires_on - self.clock() > REFRESH_BEFORE:
                    return client
            self._token = self.source.token()
            self._client = self.make(self._token.value, self.mutating)
            self._clients.append(self._client)
            return self._client

    def request(
        self, method: str, target: str, *, params: Mapping[str, Any] | None = None
    ) -> "Response":
        """``target``: a path under the management URL, or a link ARM gave, which must be
        an absolute URL under it too (else refused: the token never goes elsewhere). Only
        what starts with "/" is a path: the URL is the base and the path joined as text, so
        a link such as ".evil.example/x" or "@evil.example/x" would name another host."""
        path = target
        if not target.startswith("/"):
            found = relative(target, self.base_url)
            if found is None:
                raise ProviderError(
                    f"{self.label}: refused to follow a link to {_origin(target)}, which is not"
                    f" the management URL {self.base_url} (the token is never sent elsewhere)"
                )
            path = found
        client = self._current()
        response = client.request(method, path, params=params)
        if response.status == 401 and _code(response) in EXPIRED:
            response = self._current(stale=client).request(method, path, params=params)
        return response

    def close(self) -> None:
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()
            self._client = None


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "an unreadable URL"


def _code(response: "Response") -> str | None:
    body = response.body
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def arm_client(
    connection: "Connection",
    options: ConnectOptions,
    source: TokenSource | None = None,
    clock: Callable[[], float] = time.time,
) -> ArmClient:
    """The connection's management client (only when it ``manages`` an ARM scope); its
    tokens from ``source`` (None: the connection's own) and their expiry on ``clock``."""
    from runner.providers.http import HttpClient

    base = str(connection.options.get("management_url") or MANAGEMENT_URL).rstrip("/")
    label = f"{connection.name} ({base})"
    limiter = options.limiters.get(f"arm/{connection.name}", base, connection.requests_per_minute)

    def make(token: str, mutating: bool) -> HttpClient:
        return HttpClient(
            base,
            {"Authorization": f"Bearer {token}"},
            limiter=limiter,
            concurrency=connection.concurrency,
            policy=options.policy,
            label=label,
            notice=options.notice,
            mutating=mutating,
        )

    environ = os.environ if options.environ is None else options.environ
    source = source or token_source(connection, environ)
    return ArmClient(base, source, make, label=label, clock=clock)

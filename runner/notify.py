"""Webhook notifications: one more subscriber of the run-event stream.

A :class:`Notifier` collects what each job run marked, deleted and failed to delete (and
whether a safety limit stopped it) and, when the run ends, sends **one** POST per
notification target and event kind, then reports each delivery as a
:class:`~runner.events.Notified` event so the audit log records ``notify.sent`` or
``notify.failed``. A dry run notifies nobody.

The webhook URL is a secret (a Slack incoming-webhook URL is a bearer credential): only the
name of its environment variable is in the job file, and no message, exception text, log
line or ``Notified.error`` made here contains the URL or any part of it. Errors are built
from the HTTP status or the exception's *class* only, never from exception text (urllib3's
messages repeat the URL's path), and are redacted once more against the URL's parts.

Delivery problems never leave :meth:`Notifier.emit`: a notification that cannot be sent
does not change the run's outcome.

A target with ``by_owner`` has one webhook per owner (an item's ``owner_tag`` value) and
``"*"`` for owners without their own: each is sent one POST per kind about its own items
only (``route``), a tripped limit goes to ``"*"``, and the items no route takes are told
to no one and counted in an :class:`~runner.events.Unrouted` event.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import requote_uri
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from runner import __version__
from runner.cost import Savings, json_amount, savings
from runner.errors import ConfigError
from runner.events import (
    Event,
    LimitTripped,
    Marked,
    ModelRef,
    Notified,
    Outcome,
    RunEnded,
    RunStarted,
    Unrouted,
)
from runner.jobfile.model import NotifyTarget
from runner.redaction import MIN_SECRET, redact, secret_list
from runner.ref import ResourceRef, kind_prefix
from runner.webhook_url import webhook_url

Kind = Literal["marked", "deleted", "failed", "limit"]
Format = Literal["json", "slack"]
KINDS: Final[tuple[Kind, ...]] = get_args(Kind)
FORMATS: Final[tuple[Format, ...]] = get_args(Format)

MAX_MODELS: Final = 100  # models listed in a json body; then "truncated": true
SLACK_LINES: Final = 20  # model lines in a slack text; then "…and N more"
MAX_FIELD: Final = 512  # characters kept of any one provider string
RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
BACKOFF_MAX: Final = 5.0  # seconds, the longest single wait between attempts
WATCHDOG_SLACK: Final = 0.25  # seconds on top of the computed bound before giving up
# Delivery defaults, read each time a Notifier is built (the engine builds it with them),
# so a test can shorten them: seconds to connect and per read, tries per POST, backoff.
TIMEOUT = 5.0
ATTEMPTS = 3
BACKOFF = 0.5


def resolve_urls(targets: Sequence[NotifyTarget], environ: Mapping[str, str]) -> dict[str, str]:
    """Each ``url_env`` target's URL from its variable, checked; ``{target name: URL}``
    (``by_owner`` targets: ``resolve_owner_urls``).

    Raises ConfigError (one line naming the target and the variable, never the value) when a
    variable is unset or empty, holds whitespace or control characters, or is not an https
    URL (plain http only for 127.0.0.1, localhost and ::1) in a form every HTTP library
    reads alike (runner.webhook_url).
    """
    urls: dict[str, str] = {}
    names: set[str] = set()
    for target in targets:
        if target.name in names:
            raise ConfigError(f"notify {target.name}: the name is used twice")
        names.add(target.name)
        if target.url_env is not None:
            urls[target.name] = _checked_url(target.name, target.url_env, environ)
    return urls


def resolve_owner_urls(
    targets: Sequence[NotifyTarget], environ: Mapping[str, str]
) -> dict[str, dict[str, str]]:
    """Each ``by_owner`` target's URLs, checked as ``resolve_urls`` checks one:
    ``{target name: {owner or "*": URL}}``."""
    return {
        target.name: {
            owner: _checked_url(target.name, variable, environ)
            for owner, variable in target.by_owner.items()
        }
        for target in targets
        if target.by_owner
    }


def _checked_url(name: str, variable: str, environ: Mapping[str, str]) -> str:
    where = f"notify {name}: {variable}"
    value = environ.get(variable)
    if not value:
        raise ConfigError(f"{where} is not set")
    if any(ch.isspace() or _is_control(ch) for ch in value):
        raise ConfigError(f"{where} holds whitespace or control characters (value not shown)")
    try:
        return webhook_url(value)  # parsed once: sent exactly as checked
    except ValueError as why:
        raise ConfigError(f"{where} {why} (value not shown)") from None


EVERYONE: Final = "*"  # by_owner's route for owners without one of their own


def route(owner: str | None, routes: Collection[str]) -> str | None:
    """Which ``by_owner`` route hears about an item of ``owner``: its own, else ``"*"``,
    else none. The owner is only ever compared whole with the file's keys (never a glob,
    a prefix or a case fold), so no value, however long or crafted, reaches another
    owner's webhook."""
    if owner is not None and owner in routes:
        return owner
    return EVERYONE if EVERYONE in routes else None


def url_secrets(url: str) -> list[str]:
    """The URL and every part of its path and query worth redacting, longest first."""
    pieces: list[str] = []
    # As written and as requests sends it (percent-encoded), which is what urllib3 logs.
    for form in dict.fromkeys([url, requote_uri(url)]):
        parts = urlsplit(form)
        pieces += [form, parts.path, parts.query, parts.password or ""]
        pieces.append(parts.path + ("?" + parts.query if parts.query else ""))
        pieces += parts.path.split("/")
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            pieces += [key, value]
    return secret_list(piece for piece in pieces if len(piece) >= MIN_SECRET)


# --- bodies -------------------------------------------------------------------------------


@dataclass
class _Batch:
    """What one job run gave a notifier to tell: models per kind, limit messages."""

    job: str
    dry_run: bool = False
    marked: dict[ResourceRef, Marked] = field(default_factory=dict)
    # The latest outcome per model wins: a transient failure retried into a deletion is a
    # deletion, not both.
    outcomes: dict[ResourceRef, Outcome] = field(default_factory=dict)
    limits: list[str] = field(default_factory=list)
    savings: Savings = field(default_factory=Savings)  # of the deletes made (run.end's)

    def models(self, kind: Kind) -> list[ModelRef]:
        if kind == "marked":
            return [event.model for event in self.marked.values()]
        return [event.model for event in self.outcomes.values() if event.result == kind]

    def count(self, kind: Kind) -> int:
        return len(self.limits) if kind == "limit" else len(self.models(kind))

    def owned(self, routes: Collection[str], to: str) -> _Batch:
        """What one ``by_owner`` route is told: the items it is the route of, their
        savings, and a tripped limit (about no one item) when it is ``"*"``."""

        def mine(model: ModelRef) -> bool:
            return route(model.owner, routes) == to

        outcomes = {ref: e for ref, e in self.outcomes.items() if mine(e.model)}
        deleted = [e.model.monthly_cost for e in outcomes.values() if e.result == "deleted"]
        return _Batch(
            self.job,
            marked={ref: e for ref, e in self.marked.items() if mine(e.model)},
            outcomes=outcomes,
            limits=self.limits if to == EVERYONE else [],
            savings=savings(deleted),
        )

    def unrouted(self, routes: Collection[str], kinds: Collection[str]) -> int:
        """The items of ``kinds`` whose owner has no route: told to no one."""
        told = [m for kind in KINDS if kind in kinds and kind != "limit" for m in self.models(kind)]
        return len({m.ref for m in told if route(m.owner, routes) is None})


def json_body(kind: Kind, job: str, run_id: str, batch: _Batch) -> dict[str, Any]:
    """``{"event", "job", "run_id", "count", "models", "truncated"}`` (+ ``message``)."""
    models = [] if kind == "limit" else batch.models(kind)
    body: dict[str, Any] = {
        "event": f"ftjanitor.{kind}",
        "job": job,
        "run_id": run_id,
        "count": batch.count(kind),
        "models": [
            {
                **{key: _cap(value) for key, value in model.ref.fields().items()},
                "name": None if model.name is None else _cap(model.name),
                "reason": _cap(model.reason),
            }
            for model in models[:MAX_MODELS]
        ],
        "truncated": len(models) > MAX_MODELS,
    }
    if kind == "limit":
        body["message"] = _cap("; ".join(batch.limits))
    if kind == "deleted":
        body["estimated_monthly_savings"] = json_amount(batch.savings.amount)
        body["unknown_cost"] = batch.savings.unknown
    return body


_HEADLINES: Final[dict[Kind, str]] = {
    "marked": "{n} model{s} marked for deletion",
    "deleted": "{n} model{s} deleted",
    "failed": "{n} deletion{s} failed",
    "limit": "stopped by a safety limit, nothing deleted",
}


def slack_body(kind: Kind, job: str, run_id: str, batch: _Batch) -> dict[str, str]:
    """``{"text": ...}``: a headline naming the job and count, then one line per model.

    Every string that came from a provider or the job file is escaped for Slack (``&``,
    ``<``, ``>``, so no ``<!here>`` or link can be smuggled in) and has its control and
    line-breaking characters written as ``\\uXXXX``, so it cannot add or forge a line.
    """
    count = batch.count(kind)
    headline = _HEADLINES[kind].format(n=count, s="" if count == 1 else "s")
    if kind == "deleted":
        headline += f", {batch.savings.text()}"
    lines = [f"ftjanitor job {slack_escape(job)}: {headline} (run {slack_escape(run_id)})"]
    if kind == "limit":
        lines += [slack_escape(message) for message in batch.limits]
    else:
        models = batch.models(kind)
        marked_after = {
            key: event.deletable_after.isoformat() for key, event in batch.marked.items()
        }
        for model in models[:SLACK_LINES]:
            ref = model.ref
            line = f"• {slack_escape(ref.connection)} {slack_escape(kind_prefix(ref) + ref.id)}"
            if model.name is not None:
                line += f" ({slack_escape(model.name)})"
            if model.reason:
                line += f" — {slack_escape(model.reason)}"
            after = marked_after.get(ref)
            if kind == "marked" and after:
                line += f" (deletable after {after})"
            lines.append(line)
        if len(models) > SLACK_LINES:
            lines.append(f"…and {len(models) - SLACK_LINES} more")
    return {"text": "\n".join(lines)}


def slack_escape(text: str) -> str:
    out: list[str] = []
    for ch in _cap(text):
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif _is_control(ch):
            code = ord(ch)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def _is_control(ch: str) -> bool:
    # Cc: C0/C1 controls (\x00-\x1f, \x7f-\x9f); Cf: format characters such as bidi
    # overrides and zero-width ones; Zl/Zp: U+2028/U+2029, which some clients show as new
    # lines.
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def _cap(text: str) -> str:
    return text if len(text) <= MAX_FIELD else text[: MAX_FIELD - 1] + "…"


# --- delivery -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    ok: bool
    error: str | None = None
    answered: bool = True  # False: no HTTP answer at all (timeout, refused, dropped)


class _UrlLogFilter(logging.Filter):
    """urllib3 logs request paths (a WARNING when it retries a broken connection, DEBUG
    otherwise); a webhook's path is its secret. This filter, attached to the urllib3
    loggers that do so, redacts every notification URL part from their records."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._secrets: list[str] = []

    def add(self, secrets: Iterable[str]) -> None:
        with self._lock:
            self._secrets = secret_list([*self._secrets, *secrets])

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = self._secrets
        if not secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as it would
            return True
        redacted = redact(message, secrets)
        if redacted != message or record.exc_info or record.exc_text:
            record.msg, record.args = redacted, None
            record.exc_info, record.exc_text = None, None
        return True


_LOG_FILTER: Final = _UrlLogFilter()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.connection"):
    logging.getLogger(_name).addFilter(_LOG_FILTER)


class Notifier:
    """A Sink that sends each job run's marked/deleted/failed/limit news to webhooks.

    ``emit`` receives the run events; on ``RunEnded`` of a run that was not a dry run it
    sends, for every target and every kind the target subscribes to that has something to
    say, one POST; then it calls the ``emit`` callback with a ``Notified`` event per POST
    (the caller wires that callback to the event stream, so the audit records it).

    Delivery: requests with urllib3's Retry — ``attempts`` tries in all, on connection
    errors, timeouts and HTTP 429/500/502/503/504, exponential backoff with jitter (at most
    ``BACKOFF_MAX`` per wait), ``Retry-After`` not waited for (a run must not be held by a
    webhook). POST is retried although not idempotent in general: a duplicate notification
    is harmless, a lost one is not, and each POST carries an ``Idempotency-Key``
    (``run_id:kind``) for receivers that deduplicate. Redirects are not followed; any 2xx
    counts as sent. Each attempt is bounded by ``timeout`` to connect and ``timeout`` per
    read, and a watchdog bounds the whole POST by :attr:`max_seconds_per_post` even against
    a receiver that trickles bytes. After a target gave no HTTP answer at all, its other
    kinds in the same run are not tried (reported failed), so one dead receiver costs a run
    at most one bounded POST.
    """

    def __init__(
        self,
        targets: Sequence[NotifyTarget],
        urls: Mapping[str, str],
        *,
        emit: Callable[[Event], None],
        timeout: float | None = None,
        attempts: int | None = None,
        backoff: float | None = None,
        session_factory: Callable[[], requests.Session] = requests.Session,
        owner_urls: Mapping[str, Mapping[str, str]] | None = None,
    ):
        timeout = TIMEOUT if timeout is None else timeout
        attempts = ATTEMPTS if attempts is None else attempts
        backoff = BACKOFF if backoff is None else backoff
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if timeout <= 0 or backoff < 0:
            raise ValueError("timeout must be positive and backoff not negative")
        owner_urls = owner_urls or {}
        missing = [
            target.name
            for target in targets
            if target.name not in (owner_urls if target.by_owner else urls)
        ]
        if missing:
            raise ValueError(f"no URL for notify target(s): {', '.join(missing)}")
        self.targets = tuple(targets)
        # Every webhook by (target, route): "*" is a url_env target's one route.
        self._urls = {
            (target.name, owner): url
            for target in self.targets
            for owner, url in (
                owner_urls[target.name] if target.by_owner else {EVERYONE: urls[target.name]}
            ).items()
        }
        self._secrets = {key: url_secrets(url) for key, url in self._urls.items()}
        _LOG_FILTER.add(secret for secrets in self._secrets.values() for secret in secrets)
        self._emit = emit
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._session_factory = session_factory
        self._runs: dict[str, _Batch] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Notifier({[target.name for target in self.targets]!r})"  # never the URLs

    @property
    def max_seconds_per_post(self) -> float:
        """Every attempt's connect and read timeouts plus the longest backoffs, plus slack."""
        waits = sum(
            min(BACKOFF_MAX, self.backoff * 2.0 ** (retry - 1) + self.backoff)
            for retry in range(2, self.attempts)  # urllib3 does not wait before retry 1
        )
        return self.attempts * 2 * self.timeout + waits + WATCHDOG_SLACK

    # --- the Sink -------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        if isinstance(event, RunEnded):
            with self._lock:
                batch = self._runs.pop(event.run_id, None)
            if batch is not None and not (event.dry_run or batch.dry_run):
                batch.savings = event.savings
                self._flush(event.job, event.run_id, batch)
            return
        with self._lock:
            if isinstance(event, RunStarted):
                self._runs[event.run_id] = _Batch(event.job, dry_run=event.dry_run)
            elif isinstance(event, Marked | Outcome | LimitTripped):
                batch = self._runs.setdefault(event.run_id, _Batch(event.job))
                if batch.dry_run:
                    return
                if isinstance(event, Marked):
                    batch.marked[event.model.ref] = event
                elif isinstance(event, Outcome):
                    batch.outcomes.pop(event.model.ref, None)
                    batch.outcomes[event.model.ref] = event
                else:
                    batch.limits.append(event.message)
            # Notified (our own reports, looping back through the stream) and every other
            # event carry nothing to send.

    # --- sending --------------------------------------------------------------------------

    def _flush(self, job: str, run_id: str, batch: _Batch) -> None:
        for target in self.targets:
            if not target.by_owner:
                self._flush_route(target, EVERYONE, job, run_id, batch, target.name)
                continue
            routes = list(target.by_owner)
            for index, owner in enumerate(routes):
                # Named by the file's own key (never an item's tag value) in the audit.
                name = f"{target.name}[{owner}]"
                owned = batch.owned(routes, owner)
                self._flush_route(target, owner, job, run_id, owned, name, index)
            if unrouted := batch.unrouted(routes, target.events):
                self._emit(Unrouted(job, run_id, target.name, unrouted))

    def _flush_route(
        self,
        target: NotifyTarget,
        owner: str,
        job: str,
        run_id: str,
        batch: _Batch,
        name: str,
        index: int | None = None,
    ) -> None:
        """One webhook's POSTs: one per kind it subscribes to that has something to say."""
        unreachable: str | None = None
        for kind in KINDS:
            count = batch.count(kind)
            if kind not in target.events or count == 0:
                continue
            if unreachable is not None:
                result = Delivery(False, f"not sent: {unreachable} earlier in this run")
            else:
                key = f"{run_id}:{kind}" + ("" if index is None else f":{index}")
                result = self._send(target, owner, kind, job, run_id, batch, key)
                if not result.answered:
                    unreachable = result.error or "no answer"
            error = None if result.error is None else self._redact(target, owner, result.error)
            self._emit(Notified(job, run_id, name, kind, result.ok, count, error))

    def _send(
        self,
        target: NotifyTarget,
        owner: str,
        kind: Kind,
        job: str,
        run_id: str,
        batch: _Batch,
        idempotency_key: str,
    ) -> Delivery:
        try:
            make = slack_body if target.format == "slack" else json_body
            payload = json.dumps(make(kind, job, run_id, batch), allow_nan=False).encode()
        except Exception as exc:  # a bug here must not end the run either
            return Delivery(False, f"could not build the body ({type(exc).__name__})")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"ftjanitor/{__version__}",
            "Idempotency-Key": idempotency_key,
        }
        url = self._urls[target.name, owner]
        return self._bounded(lambda: self._post(url, payload, headers))

    def _bounded(self, post: Callable[[], Delivery]) -> Delivery:
        """Run one POST in a daemon thread and give up on it after max_seconds_per_post."""
        box: list[Delivery] = []

        def work() -> None:
            try:
                box.append(post())
            except Exception as exc:
                box.append(Delivery(False, type(exc).__name__, answered=False))

        deadline = self.max_seconds_per_post
        worker = threading.Thread(target=work, name="ftjanitor-notify", daemon=True)
        worker.start()
        worker.join(deadline)
        if box:
            return box[0]
        # The thread is left to finish on its own (its socket times out or the receiver
        # closes); it holds nothing the run needs.
        return Delivery(False, f"no complete answer within {deadline:.1f}s", answered=False)

    def _session(self) -> requests.Session:
        retry = Retry(
            total=self.attempts - 1,
            connect=None,
            read=None,
            status=None,
            other=None,  # TLS and other errors: tried again too, so counts stay true
            redirect=0,
            allowed_methods=frozenset({"POST"}),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff,
            backoff_jitter=self.backoff,
            backoff_max=BACKOFF_MAX,
            respect_retry_after_header=False,
            raise_on_status=False,
            raise_on_redirect=False,
        )
        session = self._session_factory()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def _post(self, url: str, payload: bytes, headers: Mapping[str, str]) -> Delivery:
        with self._session() as session:
            try:
                response = session.post(
                    url,
                    data=payload,
                    headers=dict(headers),
                    timeout=(self.timeout, self.timeout),
                    allow_redirects=False,
                    stream=True,  # the answer's body is never read
                )
            except Exception as exc:
                return Delivery(False, self._describe(exc), answered=False)
            with response:
                retries = getattr(response.raw, "retries", None)
                attempts = len(retries.history) + 1 if retries is not None else 1
                status = response.status_code
        if 200 <= status < 300:
            return Delivery(True)
        note = " (redirects are not followed)" if 300 <= status < 400 else ""
        return Delivery(False, f"HTTP {status} after {_attempts(attempts)}{note}")

    def _describe(self, exc: BaseException) -> str:
        """From the exception classes only: urllib3's texts repeat the URL's path."""
        chain: list[BaseException] = []
        seen: BaseException | None = exc
        while seen is not None and len(chain) < 10 and all(seen is not c for c in chain):
            chain.append(seen)
            if isinstance(seen, MaxRetryError) and seen.reason is not None:
                seen = seen.reason
            elif seen.args and isinstance(seen.args[0], BaseException):
                seen = seen.args[0]
            else:
                seen = seen.__cause__ or seen.__context__
        exhausted = any(isinstance(item, MaxRetryError) for item in chain)
        suffix = f" after {_attempts(self.attempts)}" if exhausted else ""
        for classes, what in _WHAT:
            if any(isinstance(item, classes) for item in chain):
                return what + suffix
        return type(chain[-1]).__name__ + suffix

    def _redact(self, target: NotifyTarget, owner: str, text: str) -> str:
        redacted: str = redact(text, self._secrets[target.name, owner])
        return redacted


# Most specific first: NewConnectionError is a ConnectTimeoutError in urllib3, and every
# timeout ends in the socket's TimeoutError.
_WHAT: Final[tuple[tuple[tuple[type[BaseException], ...], str], ...]] = (
    ((ConnectionRefusedError,), "connection refused"),
    ((socket.gaierror, NameResolutionError), "host not found"),
    ((ssl.SSLError, requests.exceptions.SSLError), "TLS error"),
    ((NewConnectionError,), "cannot connect"),
    ((ConnectTimeoutError, requests.exceptions.ConnectTimeout), "connect timed out"),
    ((ReadTimeoutError, requests.exceptions.ReadTimeout, TimeoutError), "timed out"),
    ((ProtocolError, ConnectionError), "connection dropped before an answer"),
)


def _attempts(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


__all__ = [
    "FORMATS",
    "KINDS",
    "MAX_MODELS",
    "Delivery",
    "Notifier",
    "json_body",
    "resolve_owner_urls",
    "resolve_urls",
    "route",
    "slack_body",
    "slack_escape",
    "url_secrets",
]

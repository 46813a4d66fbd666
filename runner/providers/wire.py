"""Wire-level helpers shared by providers; pure (no HTTP library imported here)."""

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

from runner.errors import ConfigError
from runner.providers.base import (
    ConnectOptions,
    DeleteAnswer,
    DeleteResult,
    KindSpec,
    Lister,
    ModelRecord,
    ProviderError,
    unsafe_id_reason,
)
from runner.providers.mapping import RecordMap, map_records
from runner.text import shown

if TYPE_CHECKING:
    from runner.jobfile.model import Connection
    from runner.providers.http import HttpClient

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass
class Response:
    status: int
    body: Any  # parsed JSON, or None when the body was not JSON
    text: str  # first bytes of the body, for error messages
    attempts: int
    headers: Mapping[str, str]


class HttpLister:
    """What every lister on the HTTP core shares: its read-only client."""

    def __init__(self, client: "HttpClient", spec: KindSpec):
        self.client = client
        self.spec = spec

    def exists(self, model_id: str) -> bool:
        raise NotImplementedError

    def close(self) -> None:
        self.client.close()


HL = TypeVar("HL", bound=HttpLister)
L = TypeVar("L", bound=Lister)


class HttpDeleter(Generic[HL]):
    """What every deleter on the HTTP core shares: the writing client, built from the
    lister's connection, and the lister's lookup to settle lost answers."""

    def __init__(self, lister: HL):
        self.lister = lister
        self.client = lister.client.writer()

    def exists(self, model_id: str) -> bool:
        return self.lister.exists(model_id)

    def close(self) -> None:
        self.client.close()


class CollectionLister(HttpLister):
    """An API whose models sit in one unpaged collection (OpenAI's and Mistral's
    ``/v1/models``): ``GET collection`` lists them under ``key``, ``GET collection/{id}``
    looks one up, ``DELETE collection/{id}`` deletes one. A subclass declares how a listed
    item reads (``records``) and says what answer proves a model absent; both lookups and
    deletes use that one proof, so a bare 404 never makes a model that may exist look gone."""

    collection: str
    api: str  # named in errors, e.g. "OpenAI models API"
    key = "data"
    records: "RecordMap"  # what it lists; its ``only`` leaves out models never candidates
    params: Mapping[str, str] | None = None  # sent with every read (Azure's api-version)

    def names_model(self, response: Response, model_id: str) -> bool:
        """Whether a not-found answer proves this model absent."""
        raise NotImplementedError

    def model_path(self, model_id: str) -> str:
        return f"{self.collection}/{path_segment(model_id)}"

    def gone(self, response: Response) -> ProviderError:
        """What a 404 or 410 on the collection itself says: the API is not where asked."""
        return ProviderError(
            f"{self.client.label}: the {self.api} answered HTTP {response.status} on"
            f" {self.collection}: it looks retired or the base_url is wrong (it is the"
            " API's root, without /v1)"
        )

    def list_models(self) -> Iterator[ModelRecord]:
        response = self.client.request("GET", self.collection, params=self.params)
        if response.status in (404, 410):
            raise self.gone(response)
        if response.status != 200:
            raise failure(self.client.label, f"listing {self.collection}", response)
        items = listed_items(self.client.label, self.collection, response.body, self.key)
        yield from map_records(self.records, items, self.spec)

    def lookup(self, model_id: str) -> dict[str, Any] | None:
        """The model's own object; None when the answer proves it absent."""
        response = self.client.request("GET", self.model_path(model_id), params=self.params)
        if self.names_model(response, model_id):
            return None
        if response.status != 200 or not isinstance(response.body, dict):
            raise failure(self.client.label, f"looking up {model_id!r}", response)
        return response.body

    def exists(self, model_id: str) -> bool:
        return self.lookup(model_id) is not None

    def details(self, model_id: str) -> dict[str, Any]:
        model = self.lookup(model_id)
        if model is None:
            raise ProviderError(f"{self.client.label}: model {model_id!r} does not exist")
        return model


class CollectionDeleter(HttpDeleter[CollectionLister]):
    """``DELETE collection/{id}``, judged with the lister's proof of absence."""

    def delete(self, model_id: str) -> DeleteResult:
        lister = self.lister
        response = self.client.request("DELETE", lister.model_path(model_id))
        answer = lister.spec.delete_answer
        return delete_result(answer, response, model_id, lister.names_model(response, model_id))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def http(
    auth_header: Callable[[str], dict[str, str]], factory: Callable[["HttpClient"], L]
) -> Callable[["Connection", str | None, ConnectOptions], L]:
    """``connect`` for a provider on the shared HTTP core, which is imported only when a
    connection is opened: declaring a spec (and so validating a file) never loads it."""

    def connect(connection: "Connection", secret: str | None, options: ConnectOptions) -> L:
        return factory(http_client(connection, secret, auth_header, options))

    return connect


def http_client(
    connection: "Connection",
    secret: str | None,
    auth_header: Callable[[str], dict[str, str]],
    options: ConnectOptions,
) -> "HttpClient":
    """A read-only client for the connection's one host, sending ``secret`` as
    ``auth_header`` says, paced per (secret, host)."""
    from runner.providers.http import HttpClient

    if connection.base_url is None or secret is None:
        # The validator and the key check see to both; a connection built some other
        # way must not get far.
        raise ConfigError(f"{connection.label}: {connection.type} needs a base_url and a key")
    return HttpClient(
        connection.base_url,
        auth_header(secret),
        limiter=options.limiters.get(secret, connection.base_url, connection.requests_per_minute),
        concurrency=connection.concurrency,
        policy=options.policy,
        label=connection.label,
        notice=options.notice,
    )


def delete_result(
    answer: DeleteAnswer, response: Response, model_id: str, names_model: bool
) -> DeleteResult:
    """A delete's answer, judged the same way for every HTTP provider: the type's declared
    success ``answer`` deleted; its declared accepted answer accepted, for the item to be
    waited for; any other 2xx unconfirmed, for a lookup to settle; a not-found that proves
    the model absent (``names_model``) already absent; a bare 404/410 failed (a retired API
    or a wrong base_url must never look like success)."""
    if answer.confirms(response.status, response.body, model_id):
        return DeleteResult("deleted", response.status, response.attempts)
    if (within := answer.accepts(response.status, response.body, model_id)) is not None:
        return accepted(response.status, response.attempts, within)
    if 200 <= response.status < 300:
        return unconfirmed(response.status, response.text, response.attempts)
    if names_model:
        return DeleteResult("already_absent", response.status, response.attempts)
    error = error_message(response)
    if response.status in (404, 410):
        error = f"{error} (a {response.status} that does not name the model: is the API retired?)"
    return DeleteResult(
        "failed",
        response.status,
        response.attempts,
        error,
        transient=response.status in TRANSIENT_STATUSES,
    )


def unconfirmed(status: int | None, said: str, attempts: int) -> DeleteResult:
    """A success status with some other answer: ``failed`` until a lookup settles it
    (runner.deletion), with what was said summarised on one line."""
    error = f"HTTP {status} is not the answer a delete gives: {one_line(said) or 'an empty body'}"
    return DeleteResult("failed", status, attempts, error, unconfirmed=True)


def accepted(status: int | None, attempts: int, within: timedelta) -> DeleteResult:
    """The provider took the delete to carry out later: ``failed`` until a lookup proves
    the item gone (runner.deletion waits, at most ``within``), never ``deleted`` before."""
    return DeleteResult("failed", status, attempts, f"accepted (HTTP {status})", accepted=within)


def names_id(message: str, model_id: str) -> bool:
    """Whether an error message names this ID as a whole word: "model sim not found" names
    ``sim``, "account sim-account not found" does not (shared by Together and Fireworks)."""
    return re.search(rf"(?<![\w-]){re.escape(model_id)}(?![\w-])", message) is not None


def api_gone(label: str, what: str, path: str, response: Response, hint: str) -> ProviderError:
    """A 404/410 on a list path that must exist: one line saying the API looks retired or
    misaddressed (``hint`` names what to check) instead of listing nothing."""
    return ProviderError(
        f"{label}: {what} answered HTTP {response.status} on {path}"
        f" ({error_message(response)}): it looks retired or {hint}"
    )


@dataclass(frozen=True)
class Paging:
    """How one API pages a list by token (AIP-158 style): the request's parameters, the
    body's list and next-token keys, and what to say when the list path is gone."""

    path: str
    params: Mapping[str, Any]  # sent with every page
    token_param: str  # the query parameter carrying the next page's token
    items_key: str  # the body's list
    token_key: str  # the body's next-page token; empty or absent on the last page
    noun: str  # what is listed, for messages: "fine-tunes", "models"
    what: str  # e.g. "the Cohere fine-tuning API", for the 404/410 line
    hint: str  # what to check when the path is gone


# A token chain longer than this is a loop of fresh tokens, not an account (10,000 pages
# of 200 are two million items).
MAX_PAGES = 10_000


def pages(client: "HttpClient", paging: Paging) -> Iterator[Any]:
    """Every listed item across all pages. A malformed page, a token that is not a string,
    a token that comes back twice and more than MAX_PAGES pages each stop with one line
    (never an endless loop)."""
    label = client.label
    seen: set[str] = set()
    token = ""
    for _ in range(MAX_PAGES):
        params = dict(paging.params)
        if token:
            params[paging.token_param] = token
        response = client.request("GET", paging.path, params=params)
        if response.status in (404, 410):
            raise api_gone(label, paging.what, paging.path, response, paging.hint)
        if response.status != 200:
            raise failure(label, f"listing {paging.noun}", response)
        body = response.body
        items = body.get(paging.items_key, []) if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(items, list):
            raise ProviderError(
                f"{label}: listing {paging.noun} returned a malformed page"
                f" (expected an object with a {paging.items_key} list)"
            )
        yield from items
        token = body.get(paging.token_key) or ""
        if not isinstance(token, str):
            raise ProviderError(f"{label}: {paging.token_key} is not a string")
        if not token:
            return
        if token in seen:
            raise ProviderError(
                f"{label}: a page token came back twice; stopped listing to avoid an endless loop"
            )
        seen.add(token)
    raise ProviderError(
        f"{label}: listing {paging.noun} was still paging after {MAX_PAGES} pages; stopped"
        " to avoid an endless loop"
    )


def listed_items(label: str, what: str, body: Any, key: str) -> list[Any]:
    """A listing's items: the list under ``key`` of the answer's object, or one line
    saying the answer was not that shape."""
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ProviderError(
            f"{label}: listing {what} returned a malformed body (expected an object with a"
            f" {key} list)"
        )
    return items


def path_segment(model_id: str) -> str:
    """Percent-encode an ID for a URL path; unsafe IDs never get this far."""
    if reason := unsafe_id_reason(model_id):
        raise ValueError(f"refusing ID {model_id!r}: {reason}")
    return quote(model_id, safe="")


def error_message(response: Response) -> str:
    """The provider's own words from any of the error shapes we know, one line."""
    body = response.body
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return one_line(value)
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return one_line(value["message"])
            if isinstance(value, list) and value:
                parts = [
                    str(item.get("msg")) if isinstance(item, dict) else str(item)
                    for item in value[:3]
                ]
                return one_line("; ".join(parts))
    return one_line(response.text) or f"HTTP {response.status}"


def one_line(text: str) -> str:
    """Provider text for a message: one line, and what is left that a terminal would
    still act on (line separators, bidi overrides) escaped by runner.text."""
    text = shown(re.sub(r"[\x00-\x1f\x7f-\x9f]+", " ", text).strip())
    return text if len(text) <= 200 else text[:197] + "..."


def failure(label: str, what: str, response: Response) -> ProviderError:
    """A call that must succeed did not: one line naming the connection, call and answer."""
    return ProviderError(
        f"{label}: {what} answered HTTP {response.status}: {error_message(response)}",
        auth=response.status in (401, 403),
    )

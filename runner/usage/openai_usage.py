"""``openai_usage``: OpenAI's Usage API, requests per model per day, read with an admin key.

``GET /v1/organization/usage/completions?start_time=&end_time=&bucket_width=1d&group_by=model
&limit=31&page=`` answers daily buckets, each with one result per model used that day;
pages follow ``next_page`` while ``has_more``. Only the window the rules need is asked for:
from the UTC midnight at or before its start to the run's clock, 31 days a page.

A daily bucket says a model was used some time that day, not when: its last use is taken
as the bucket's last second (the run's clock for today's bucket). That is the only reading
that never makes a model look idle for longer than it was; the date shown is the day of use.

Anything the read cannot vouch for raises ``UsageUnknown`` (the planner keeps the whole
connection): a refusal, a malformed page, a page loop, usage not grouped by model, a
bucket after the run's clock (the clocks disagree, so the window itself is in doubt), and
one ending before the window asked for (an answer to another question). Models are matched
casefolded: a use told in another case is still a use.

Sources (PROVIDERS.md tags). [doc] openai/openai-openapi (f85dbe2): the parameters above,
``start_time`` inclusive and ``end_time`` exclusive, ``limit`` at most 31 for ``1d``; a page
``{object, data, has_more, next_page}`` of buckets ``{start_time, end_time, results}``;
``model`` is null unless grouped by model; the AdminApiKeyAuth bearer scheme; only 200 and
429 answers are documented. [sdk] openai 3.60: ``client.admin.organization.usage
.completions`` sends the client's ``admin_api_key`` and arrays as ``group_by[]=model``; the
spec's form, sent here, is ``group_by=model``. [guess] a fine-tune's use is listed under its
own ``ft:`` ID (neither says so); a project key is refused with 401; days without use may
be left out (they read as no use either way).
"""

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from math import ceil
from typing import TYPE_CHECKING, Any, ClassVar, TypeGuard

from runner.providers.openai import OpenAILister
from runner.providers.wire import Response, error_message, one_line
from runner.ref import ResourceRef
from runner.usage.base import Seen, UsageSource, UsageUnknown, register

if TYPE_CHECKING:
    from runner.providers.base import ModelRecord
    from runner.providers.http import HttpClient

PATH = "/v1/organization/usage/completions"
DAY = 86400
DAYS_PER_PAGE = 31  # the API's most daily buckets a page
# A guard against a server that keeps inventing new page tokens: far above the
# ⌈days/31⌉ pages a window takes, plus any the organisation's own data adds.
MAX_PAGES = 1000


@register
class OpenAIUsage(UsageSource):
    name: ClassVar[str] = "openai_usage"
    reads: ClassVar[str] = "daily requests per model, from the Usage API"
    key_field: ClassVar[str | None] = "usage_key_env"

    def read(
        self,
        lister: Any,
        items: Sequence[tuple[ResourceRef, "ModelRecord"]],
        start: datetime,
        now: datetime,
    ) -> Mapping[ResourceRef, Seen]:
        client = lister.usage if isinstance(lister, OpenAILister) else None
        if client is None:  # runner.credentials saw to the key: a bug, never input
            raise UsageUnknown("no admin key was given to read the Usage API with")
        # Nothing predates 1970 to be read: a window reaching back further is read from
        # then, and the rule is told the read covers less (never a negative start_time).
        first = max(0, int(start.timestamp()) // DAY * DAY)
        end = ceil(now.timestamp())
        last = _last_uses(client, first, end)
        since = datetime.fromtimestamp(first, UTC)
        seen = {model: datetime.fromtimestamp(at, UTC) for model, at in last.items()}
        return {
            ref: Seen(min(seen[key], now) if (key := ref.id.casefold()) in seen else None, since)
            for ref, _ in items
        }


def _last_uses(client: "HttpClient", first: int, end: int) -> dict[str, int]:
    """Each model's last second of use in [first, end), from every page of buckets, by
    its ID casefolded: a use told in another case is still a use, never "unused"."""
    last: dict[str, int] = {}
    for bucket_start, bucket_end, results in _buckets(client, first, end):
        if bucket_start >= end:
            raise UsageUnknown(
                f"the Usage API answered a bucket starting at {_time(bucket_start)}, after the"
                " run's clock: the clocks disagree, so no window can be vouched for"
            )
        if bucket_end <= first:
            raise UsageUnknown(
                f"the Usage API answered a bucket ending at {_time(bucket_end)}, before the window"
                " asked for: it did not answer the question asked"
            )
        # A bucket reaching past the clock was used by the clock at the latest; clamped
        # here, a hostile end_time never reaches datetime (which stops at the year 9999).
        at = min(bucket_end - 1, end)
        for model, requests in results:
            if requests:
                key = model.casefold()
                # The latest of every bucket that told of it: one ending sooner, in any
                # order, never makes an earlier use the last one.
                last[key] = max(last.get(key, at), at)
    return last


def _buckets(client: "HttpClient", first: int, end: int) -> Iterator[tuple[int, int, list[Any]]]:
    """(start, end, [(model, requests)]) of every bucket, in order, across pages; a page
    that is malformed, empty yet not the last, or that goes back or round stops the read."""
    params: dict[str, Any] = {
        "start_time": first,
        "end_time": end,
        "bucket_width": "1d",
        "group_by": "model",
        "limit": DAYS_PER_PAGE,
    }
    tokens: set[str] = set()
    latest = first - DAY
    for _ in range(MAX_PAGES):
        body = _page(client.request("GET", PATH, params=params))
        for bucket in body["data"]:
            start, stop, results = _bucket(bucket)
            if start < latest:  # a server going back would be read round and round
                raise UsageUnknown("the Usage API's buckets go back in time across pages")
            latest = start
            yield start, stop, results
        if not body["has_more"]:
            return
        token = body["next_page"]
        if not body["data"] or not isinstance(token, str) or not token:
            raise UsageUnknown(
                "the Usage API said it has more but gave no buckets or no next_page"
                " (a truncated answer)"
            )
        if token in tokens:
            raise UsageUnknown("the Usage API's next_page came back twice (a page loop)")
        tokens.add(token)
        # A token is opaque: it goes back to the connection's own host as ``page``,
        # whatever it looks like, never followed as a link.
        params["page"] = token
    raise UsageUnknown(f"the Usage API was still paging after {MAX_PAGES} pages")


def _page(response: Response) -> dict[str, Any]:
    if response.status != 200:
        hint = " (it needs an admin key, sk-admin-...)" if response.status in (401, 403) else ""
        if response.attempts > 1:
            hint += f" (after {response.attempts} tries)"
        raise UsageUnknown(
            f"GET {PATH} answered HTTP {response.status}: {error_message(response)}{hint}"
        )
    body = response.body
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("data"), list)
        or not isinstance(body.get("has_more"), bool)
        or not isinstance(body.get("next_page"), str | None)
    ):
        said = one_line(response.text) or "an empty body"
        raise UsageUnknown(f"GET {PATH} answered a malformed page: {said}")
    return body


def _bucket(bucket: Any) -> tuple[int, int, list[tuple[str, int]]]:
    start = bucket.get("start_time") if isinstance(bucket, dict) else None
    stop = bucket.get("end_time") if isinstance(bucket, dict) else None
    results = bucket.get("results") if isinstance(bucket, dict) else None
    if not (_count(start) and _count(stop) and isinstance(results, list) and stop > start):
        raise UsageUnknown(f"the Usage API answered a malformed bucket: {_shown(bucket)}")
    seen: list[tuple[str, int]] = []
    for result in results:
        model = result.get("model") if isinstance(result, dict) else None
        requests = result.get("num_model_requests") if isinstance(result, dict) else None
        if not _count(requests):
            raise UsageUnknown(
                f"the Usage API answered a result whose num_model_requests is {_shown(requests)},"
                " not a count"
            )
        if not isinstance(model, str):
            if requests:  # use nobody can be told apart must never read as "unused"
                raise UsageUnknown(
                    "the Usage API answered use without a model (not grouped by model)"
                )
            continue
        seen.append((model, requests))
    return start, stop, seen


def _count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _time(seconds: int) -> str:
    """A bucket's time for people: UTC, or the number itself where the calendar ends."""
    try:
        return f"{datetime.fromtimestamp(seconds, UTC):%Y-%m-%d %H:%M}Z"
    except (OverflowError, OSError, ValueError):
        return str(seconds)


def _shown(value: Any) -> str:
    return one_line(repr(value))[:120]

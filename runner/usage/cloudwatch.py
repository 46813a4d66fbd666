"""``cloudwatch``: Bedrock's use from CloudWatch, ``AWS/Bedrock`` ``Invocations`` by ``ModelId``.

``ModelId`` holds the ARN of what was invoked: a custom model's own (on demand) or a
Provisioned Throughput's. The kind's lister says which ARNs count for each item
(``usage_keys``: a custom model served by a PT is used when its PT was) and opens the
CloudWatch client on the connection's own AWS session (``aws_client``), so credentials,
region, retries and pacing are the connection's; botocore finds CloudWatch's endpoint itself
(``AWS_ENDPOINT_URL_CLOUDWATCH`` for a local fake). botocore is imported by the provider only.

One ``GetMetricData`` call asks for at most 500 ARNs (daily sums over the rule's window),
each followed by its ``NextToken`` pages; calls run at once, up to the connection's
concurrency. Any answer that is not a complete one for every question asked (an error,
``PartialData`` with no page to follow, a page token that comes back or pages without end,
a query left out or one never asked, a message about the data, a day before the window)
fails the whole read: an unread use is never taken for no use.
"""

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from runner.providers.mapping import utc
from runner.ref import ResourceRef
from runner.usage.base import Seen, UsageSource, UsageUnknown, register

if TYPE_CHECKING:
    from runner.providers.base import ModelRecord

NAMESPACE, METRIC, DIMENSION = "AWS/Bedrock", "Invocations", "ModelId"
PER_CALL = 500  # GetMetricData's most MetricDataQueries in one call
PERIOD = 86400  # daily sums: a use is known to the day, as a rule's window is counted
# CloudWatch keeps data points of an hour or longer for 15 months: an older window is not
# read, and a rule reaching past it is told the read covers less.
RETENTION = timedelta(days=455)
WHAT = "reading use (CloudWatch GetMetricData)"
# A call's pages: 500 queries of at most 456 daily points take 3 pages of 100,800 points;
# a server still paging far past that is taken as a loop.
MAX_PAGES = 100
LAST_DAY = datetime.max.replace(tzinfo=UTC) - timedelta(seconds=PERIOD)


@register
class CloudWatch(UsageSource):
    name: ClassVar[str] = "cloudwatch"
    reads: ClassVar[str] = "CloudWatch AWS/Bedrock Invocations by ModelId, daily sums"

    def read(
        self,
        lister: Any,
        items: Sequence[tuple[ResourceRef, "ModelRecord"]],
        start: datetime,
        now: datetime,
    ) -> Mapping[ResourceRef, Seen]:
        session = lister.session  # the connection's BedrockLister, whatever the kind
        keys = lister.usage_keys()
        since = max(start, now - RETENTION)
        asked = {ref: keys[record.id] for ref, record in items if record.id in keys}
        arns = list(dict.fromkeys(arn for arns in asked.values() for arn in arns))
        if not arns:
            return {}
        # Its queries are built here, never from input: botocore checking each of 500
        # against the model again costs more than the call's own work.
        client = session.call(
            WHAT, lambda: session.aws_client("cloudwatch", parameter_validation=False)
        )
        try:
            last = _last_uses(session, client, arns, since, now)
        finally:
            client.close()
        # An item the listing gave no ARN for is left out: the planner calls it unknown.
        return {ref: Seen(_latest_of(last[a] for a in ask), since) for ref, ask in asked.items()}


def _last_uses(
    session: Any, client: Any, arns: list[str], since: datetime, now: datetime
) -> dict[str, datetime | None]:
    """Each ARN's last use between ``since`` and ``now`` (None: none), in calls of 500."""
    batches = [arns[i : i + PER_CALL] for i in range(0, len(arns), PER_CALL)]
    workers = max(1, min(len(batches), session.connection.concurrency))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = pool.map(lambda batch: _batch(session, client, batch, since, now), batches)
        return {arn: when for part in found for arn, when in part.items()}


def _latest_of(times: Iterable[datetime | None]) -> datetime | None:
    return max((t for t in times if t is not None), default=None)


def _batch(
    session: Any, client: Any, arns: list[str], since: datetime, now: datetime
) -> dict[str, datetime | None]:
    ids = {f"m{i}": arn for i, arn in enumerate(arns)}  # an Id starts with a lower-case letter
    queries = [
        {
            "Id": key,
            "MetricStat": {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": METRIC,
                    "Dimensions": [{"Name": DIMENSION, "Value": arn}],
                },
                "Period": PERIOD,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
        for key, arn in ids.items()
    ]
    last: dict[str, datetime | None] = {}
    for result in _results(session, client, queries, since, now):
        key = result.get("Id")
        if key not in ids:
            raise UsageUnknown(f"{WHAT}: it answered a query it was not asked")
        last[key] = _latest_of((last.get(key), _latest(result, since, now)))
    if missing := len(ids) - len(last):
        raise UsageUnknown(f"{WHAT}: it left out {missing} of its {len(ids)} queries")
    return {ids[key]: when for key, when in last.items()}


def _results(
    session: Any, client: Any, queries: list[dict[str, Any]], since: datetime, now: datetime
) -> Iterator[Mapping[str, Any]]:
    """Every MetricDataResult of one call's pages; a query's points may span pages."""
    params: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": since, "EndTime": now}
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        page = session.call(WHAT, lambda: client.get_metric_data(**params))
        results = page.get("MetricDataResults")
        if not isinstance(results, list):
            raise UsageUnknown(f"{WHAT}: an answer without MetricDataResults")
        # "As much of the operation as possible is still executed": some data may be missing.
        if page.get("Messages"):
            said = session.line(_messages(page))
            raise UsageUnknown(f"{WHAT}: a message about the call ({said}): data may be missing")
        token = page.get("NextToken")
        partial = False
        for result in results:
            if not isinstance(result, Mapping):
                raise UsageUnknown(f"{WHAT}: a result that is not an object")
            status = result.get("StatusCode")
            if status == "PartialData":
                partial = True  # the rest comes with NextToken
            elif status != "Complete" or result.get("Messages"):
                why = session.line(f"{status}: {_messages(result)}")
                raise UsageUnknown(f"{WHAT}: a query answered {why}")
            yield result
        if not isinstance(token, str) or not token:
            if partial:
                raise UsageUnknown(f"{WHAT}: PartialData with no NextToken to read the rest")
            return
        if token in seen:
            raise UsageUnknown(f"{WHAT}: a NextToken came back twice; stopped to avoid a loop")
        seen.add(token)
        params["NextToken"] = token
    raise UsageUnknown(f"{WHAT}: still paging after {MAX_PAGES} pages; stopped to avoid a loop")


def _messages(answer: Mapping[str, Any]) -> str:
    messages = answer.get("Messages")
    if not isinstance(messages, list):
        return "no message"
    return "; ".join(str(m.get("Value")) for m in messages if isinstance(m, Mapping))[:200]


def _latest(result: Mapping[str, Any], since: datetime, now: datetime) -> datetime | None:
    """The latest a use in this result's points can have been: the end of the last day
    with a sum above 0 (a daily sum says the day, not the hour), no later than the clock;
    a day after the clock stays after it, for the rule to see the skew. A day that ended
    before the window asked for answers another question: unknown."""
    times, values = result.get("Timestamps"), result.get("Values")
    if not isinstance(times, list) or not isinstance(values, list) or len(times) != len(values):
        raise UsageUnknown(f"{WHAT}: a result whose timestamps and values do not pair up")
    used: list[datetime] = []
    for at, value in zip(times, values, strict=True):
        if (
            not isinstance(at, datetime)
            or not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < 0
        ):  # a count of invocations that is no count must never read as "none"
            raise UsageUnknown(f"{WHAT}: an unreadable data point")
        # A day at the calendar's very end is after any clock, and this way still ends.
        begun = min(utc(at), LAST_DAY)
        end = begun + timedelta(seconds=PERIOD)
        if end < since:
            raise UsageUnknown(
                f"{WHAT}: a data point from {begun.date().isoformat()}, before the window"
            )
        if value > 0:
            used.append(end if begun > now else min(end, now))
    return max(used, default=None)

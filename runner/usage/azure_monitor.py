"""``azure_monitor`` and ``azure_monitor_models``: Azure OpenAI use from Azure Monitor.

One request per account and window: the metric ``AzureOpenAIRequests`` with
``aggregation=Total``, ``interval=P1D`` and ``$filter=ModelDeploymentName eq '*'`` (one time
series per deployment), over the window ending at the run's clock, read with the
connection's management credential. ``top`` is at least the number of deployments: the
API's default of 10 would silently drop the rest, and a dropped deployment would look
unused. It is asked for one more than that: an answer holding as many series as ``top``
allowed may have dropped some, and is unknown, never "unused".

A deployment is used on a day whose total is above 0; its last use is the end of the last
such day (or the run's clock, if sooner). A fine-tuned model is used when any deployment
serving it was (``azure_monitor_models``, which lists the deployments for that). Names
are matched casefolded, as Azure's own names are. A total that is no count (null, NaN,
infinite, negative) or a day before the window asked for makes the read unknown.
"""

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from runner.clock import parse_instant
from runner.errors import ProviderError
from runner.ref import ResourceRef
from runner.usage.base import Seen, UsageSource, UsageUnknown, register

if TYPE_CHECKING:
    from runner.providers.azure_openai_deployment import Deployments as Listing
    from runner.providers.base import ModelRecord

METRIC = "AzureOpenAIRequests"
METRICS_API_VERSION = "2023-10-01"
DEFAULT_TOP = 10  # the API's own default: never fewer than this is asked for
DAY = timedelta(days=1)
# [doc] Azure Monitor Metrics overview: platform metrics are kept 93 days. An older window
# is not asked for (no data there reads the same as no use), and a rule reaching past it
# is told the read covers less: "usage unknown", never "unused".
RETENTION = timedelta(days=93)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def kept_since(start: datetime, now: datetime) -> datetime:
    """The start of the window Azure Monitor can still answer for."""
    return max(start, now - RETENTION)


def last_uses(
    deployments: "Listing", count: int, start: datetime, now: datetime
) -> dict[str, datetime]:
    """Each deployment's last day of use in [start, now], by name casefolded (unused ones
    absent), read with the connection's deployment lister's management client. Azure's
    names ignore case, and a metric may tell one in another case: still a use."""
    arm = deployments.management()
    # One more than there are deployments: an answer that fills ``top`` may have dropped some.
    top = max(count + 1, DEFAULT_TOP)
    path = deployments.account + "/providers/Microsoft.Insights/metrics"
    try:
        response = arm.request(
            "GET",
            path,
            params={
                "api-version": METRICS_API_VERSION,
                "metricnames": METRIC,
                "aggregation": "Total",
                "interval": "P1D",
                "timespan": f"{_stamp(start)}/{_stamp(now)}",
                "$filter": "ModelDeploymentName eq '*'",
                "top": str(top),
            },
        )
    except ProviderError as exc:
        raise UsageUnknown(str(exc)) from None
    if response.status != 200:
        raise UsageUnknown(f"Azure Monitor answered HTTP {response.status}")
    series = _series(response.body)
    if len(series) >= top:
        raise UsageUnknown(f"Azure Monitor returned {len(series)} series, as many as top={top}")
    out: dict[str, datetime] = {}
    for name, days in series:
        for day, total in days:
            if day < start - DAY:  # checked before any sum: a day no one asked about
                raise UsageUnknown(
                    f"Azure Monitor returned a day ({day.date().isoformat()}) before the window"
                    " asked for: it did not answer the question asked"
                )
            if total > 0:
                # A day from after the clock is a use by the clock; never added to, so a
                # timeStamp at the end of the calendar cannot overflow.
                used = now if day >= now else min(day + DAY, now)
                out[name] = max(out.get(name, used), used)
    return out


def _series(body: Any) -> list[tuple[str, list[tuple[datetime, float]]]]:
    """The answer's time series as (deployment, [(day, total)]); malformed: UsageUnknown."""
    values = body.get("value") if isinstance(body, dict) else None
    if not isinstance(values, list) or len(values) != 1 or not isinstance(values[0], dict):
        raise UsageUnknown("Azure Monitor returned a malformed answer (expected one metric)")
    series = values[0].get("timeseries")
    if not isinstance(series, list):
        raise UsageUnknown("Azure Monitor returned a malformed answer (no timeseries list)")
    out = []
    for entry in series:
        name = _deployment(entry)
        data = entry.get("data") if isinstance(entry, dict) else None
        if name is None or not isinstance(data, list):
            raise UsageUnknown("Azure Monitor returned a time series without its deployment")
        days = []
        for point in data:
            if not isinstance(point, dict):
                raise UsageUnknown("Azure Monitor returned a malformed data point")
            total = point.get("total", 0)
            # NaN, an infinity or a negative sum is no count: it must never read as "none".
            if (
                isinstance(total, bool)
                or not isinstance(total, int | float)
                or not math.isfinite(total)
                or total < 0
            ):
                raise UsageUnknown("Azure Monitor returned a total that is not a count")
            try:
                day = parse_instant(str(point["timeStamp"]))
            except (ValueError, TypeError, KeyError):
                raise UsageUnknown("Azure Monitor returned an unreadable timeStamp") from None
            days.append((day, float(total)))
        out.append((name.casefold(), days))
    return out


def _deployment(entry: Any) -> str | None:
    metadata = entry.get("metadatavalues") if isinstance(entry, dict) else None
    for item in metadata if isinstance(metadata, list) else ():
        name = item.get("name") if isinstance(item, dict) else None
        key = name.get("value") if isinstance(name, dict) else None
        value = item.get("value") if isinstance(item, dict) else None
        if isinstance(key, str) and key.lower() == "modeldeploymentname" and isinstance(value, str):
            return value
    return None


@register
class Deployments(UsageSource):
    name: ClassVar[str] = "azure_monitor"
    reads: ClassVar[str] = "Azure Monitor AzureOpenAIRequests by ModelDeploymentName"

    def read(
        self,
        lister: Any,
        items: Sequence[tuple[ResourceRef, "ModelRecord"]],
        start: datetime,
        now: datetime,
    ) -> Mapping[ResourceRef, Seen]:
        since = kept_since(start, now)
        used = last_uses(lister, len(items), since, now)
        return {ref: Seen(used.get(record.id.casefold()), since) for ref, record in items}


@register
class Models(UsageSource):
    name: ClassVar[str] = "azure_monitor_models"
    reads: ClassVar[str] = "Azure Monitor, through the deployments serving the model"

    def read(
        self,
        lister: Any,
        items: Sequence[tuple[ResourceRef, "ModelRecord"]],
        start: datetime,
        now: datetime,
    ) -> Mapping[ResourceRef, Seen]:
        from runner.providers.azure_openai_deployment import Deployments as Listing

        deployments = Listing(lister)
        listed = lister.deployments_listed  # listed by the run already, for the model target
        if listed is None:
            try:
                listed = list(deployments.list_models())
            except ProviderError as exc:
                raise UsageUnknown(str(exc)) from None
        since = kept_since(start, now)
        used = last_uses(deployments, len(listed), since, now)
        last: dict[str, datetime] = {}
        for record in listed:
            at = used.get(record.id.casefold())
            if at is None:
                continue
            for model in (m.casefold() for m in record.serves):
                last[model] = max(last[model], at) if model in last else at
        return {ref: Seen(last.get(record.id.casefold()), since) for ref, record in items}

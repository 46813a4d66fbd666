"""What a connection holds right now, with an age basis for every model."""

import dataclasses
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from runner.clock import parse_instant
from runner.jobfile.model import Connection
from runner.providers.base import Lister, ModelRecord, ProviderError, TagsUnknown
from runner.state import StateStore

# Details are free-form; should a creation time ever appear there, it beats first sighting.
CREATED_KEYS = ("created_at", "creation_time", "created")


def _created_from_details(provider: Lister, model_id: str) -> datetime | None:
    try:
        details = provider.details(model_id)
    except (ProviderError, ValueError):
        return None  # details are best effort: first sighting still gives an age
    for key in CREATED_KEYS:
        try:
            return parse_instant(details[key])
        except (KeyError, ValueError, TypeError):
            continue
    return None


def distinct(records: Iterable[ModelRecord], label: str) -> list[ModelRecord]:
    """Each listed ID once. Rules count models (keep_latest, the limits), so an ID listed
    twice (pages that overlap, a page that repeats an item) is one model when both listings
    say the same. When they differ, which one is true is unknown: the whole listing is
    untrustworthy, so the connection deletes nothing. Items without an ID stay as they are
    (each is its own skip line)."""
    first: dict[str, ModelRecord] = {}
    out = []
    for record in records:
        seen = first.get(record.id) if record.id else None
        if seen is None:
            first[record.id] = record
            out.append(record)
        elif seen != record:
            raise ProviderError(
                f"{label}: the listing is inconsistent: ID {record.id[:100]!r} is listed"
                " twice with different content; nothing is deleted on this connection"
            )
    return out


def with_tags(provider: Lister, records: list[ModelRecord]) -> list[ModelRecord]:
    """The records with their tags, where the kind reads them apart from its listing. A
    read that fails leaves every item's tags unknown (kept by protect_tags, selected by
    no tag rule), never empty."""
    source = provider.spec.tags
    if source is None or source.read is None:
        return records  # none at all, or the listing carried them
    usable = [r for r in records if r.id and not r.problem]
    try:
        found = source.read(provider, usable)
    except (ProviderError, ValueError) as exc:
        failed = TagsUnknown(f"{source.reads}: {exc}")
        found = {r.id: failed for r in usable}
    missing = TagsUnknown(f"{source.reads}: no answer for it")
    return [
        dataclasses.replace(r, tags=found.get(r.id, missing)) if r.id and not r.problem else r
        for r in records
    ]


def take_inventory(
    provider: Lister,
    connection: Connection,
    state: StateStore,
    now: datetime,
    need_ages: bool,
    need_tags: bool = False,
) -> list[ModelRecord]:
    """List every model. Without provider timestamps, record first sightings at ``now``
    (the wall clock: no ``--now`` may backdate one) and, when a rule needs ages and
    details may carry a creation time, fetch details concurrently (bounded by the
    connection's concurrency). When a rule needs tags, read them (``with_tags``)."""
    records = distinct(provider.list_models(), connection.label)
    if need_tags:
        records = with_tags(provider, records)
    spec = provider.spec
    if spec.has_created_at:
        return records
    usable = [r.id for r in records if r.id and not r.problem]
    first_seen = state.sight(connection.key, usable, now, kind=spec.kind)
    created: dict[str, datetime | None] = {}
    if need_ages and spec.details_for_age and usable:
        with ThreadPoolExecutor(max_workers=connection.concurrency) as pool:
            found = pool.map(lambda mid: _created_from_details(provider, mid), usable)
            created = dict(zip(usable, found, strict=True))
    return [
        dataclasses.replace(r, first_seen=first_seen.get(r.id), created_at=created.get(r.id))
        for r in records
    ]

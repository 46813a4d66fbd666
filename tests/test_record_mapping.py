"""Declared record mapping (runner.providers.mapping): every map a provider module declares,
found by listing the modules as the registry does, reads hostile items into a record with a
problem or a safe value, never an exception and never a guessed value."""

from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import runner.providers
from runner.discovery import plugins
from runner.providers import REGISTRY, SHARED, together_deployment
from runner.providers.base import Billing, ModelRecord
from runner.providers.mapping import (
    ITS_ID,
    RFC3339,
    SDK_DATETIME,
    UNIX_SECONDS,
    Computed,
    Id,
    Only,
    RecordMap,
    Specified,
    Text,
    Time,
    TimeFormat,
    Unreadable,
    map_record,
    map_records,
)


def provider_modules() -> list[ModuleType]:
    return list(plugins(runner.providers.__name__, runner.providers.__path__, SHARED))


def declared() -> Iterator[tuple[str, RecordMap, Specified]]:
    for module in provider_modules():
        # A kind module's map is its kind's; a provider module's is its model kind's.
        kind = getattr(module, "KIND", None)
        spec = kind if kind is not None else module.SPEC.kinds["model"]
        for name, value in vars(module).items():
            if isinstance(value, RecordMap):
                yield f"{module.__name__.rsplit('.', 1)[1]}.{name}", value, spec


MAPS = sorted(declared(), key=lambda entry: entry[0])
IDS = [name for name, _, _ in MAPS]


def test_every_provider_type_declares_its_record_map() -> None:
    with_a_map = {spec.type for _, _, spec in MAPS}
    assert with_a_map == set(REGISTRY)  # a new type without a declared map fails here


# -- the items: one that reads, then the same with each declared path made hostile ---------


def scope_of(rmap: RecordMap) -> dict[str, str]:
    return {name: "acct-1" for name in rmap.scope_names()}


def put(item: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``item`` with ``value`` at a dotted path, building the objects on the way."""
    head, _, rest = path.partition(".")
    inner = item.get(head)
    item[head] = put(dict(inner) if isinstance(inner, dict) else {}, rest, value) if rest else value
    return item


def readable(rmap: RecordMap) -> dict[str, Any]:
    """An item the map lists, with an ID it accepts."""
    only = rmap.only
    ident = "model-1"
    if rmap is together_deployment.ENDPOINT:  # its check wants the prefix Together gives
        ident = together_deployment.ENDPOINT_PREFIX + ident
    if only is not None and only.path == rmap.id.path and only.prefix:
        ident = only.prefix + ident
    if rmap.id.under:
        ident = rmap.id.under.format_map(scope_of(rmap)) + ident
    item = put({}, rmap.id.path, ident)
    if only is not None and only.path != rmap.id.path:
        put(item, only.path, sorted(only.values)[0] if only.values else f"{only.prefix}x")
    return item


def text_paths(source: Any) -> list[str]:
    parts = source if isinstance(source, tuple) else (source,)
    return [part.path for part in parts if isinstance(part, Text)]


def time_fields(rmap: RecordMap) -> dict[str, Time]:
    times = {"created_at": rmap.created_at, "last_used": rmap.last_used}
    times["committed_until"] = rmap.committed_until
    return {name: spot for name, spot in times.items() if spot is not None}


def paths(rmap: RecordMap) -> list[str]:
    """Every path the map reads, and every object on the way to a nested one."""
    found = [rmap.id.path, *rmap.id.also, *text_paths(rmap.name), *text_paths(rmap.base_model)]
    found += [spot.path for spot in time_fields(rmap).values()]
    found += [rmap.status.path] if rmap.status else []
    found += [rmap.only.path] if rmap.only else []
    prefixes = [p.rsplit(".", n)[0] for p in found for n in range(1, p.count(".") + 1)]
    return sorted(set(found + prefixes))


class Explodes:
    """An object whose text cannot be made: no problem line may need it."""

    def __str__(self) -> str:
        raise ValueError("no text")

    __repr__ = __str__


HOSTILE: list[Any] = [
    None,
    0,
    -1,
    True,
    10**30,
    -(10**20),
    10**5000,  # more digits than Python will print
    1e308,
    float("nan"),
    float("inf"),
    "",
    " ",
    "x" * 100_000,
    "\x00\x07\x1b[31m\u202e\n\r",
    "a/b",
    "accounts/other/models/x",
    [],
    ["x"],
    {},
    {"name": {"nested": ["wrong", {"shape": None}]}},
    [[[[["deep"]]]]],
    "not a time",
    "2026-01-01T00:00:00",  # naive: no zone
    "2026-01-01",
    "0001-01-01T00:00:00+01:00",  # before year 1 once in UTC
    "9999-12-31T23:00:00-05:00",  # after year 9999 once in UTC
    "2999-01-01T00:00:00.123456789Z",
    "1900-01-01T00:00:00Z",
    datetime(2026, 1, 1),  # naive, as moto sends it
    datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
    datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
    datetime.max,
    datetime.min.replace(tzinfo=UTC),
    Decimal("NaN"),
    b"bytes",
    Explodes(),
]


def hostile_items(rmap: RecordMap) -> Iterator[tuple[str, Any, dict[str, Any] | Any]]:
    yield "the item", None, None
    for value in HOSTILE:
        yield "the item", value, value
        for path in paths(rmap):
            yield path, value, put(readable(rmap), path, value)


def check(rmap: RecordMap, record: ModelRecord | None, path: str, value: Any) -> None:
    """What every record read from a hostile item must hold."""
    if record is None:  # left out of the listing, as a base model is
        assert rmap.only is not None
        return
    assert isinstance(record, ModelRecord)
    assert record.id or record.problem, "no ID and no reason"
    if record.problem is not None:
        assert record.problem and "\n" not in record.problem and "\r" not in record.problem
        assert len(record.problem) <= 300
    for name in ("name", "status", "base_model"):
        got = getattr(record, name)
        assert got is None or (isinstance(got, str) and got), f"{name} {got!r}"
    for name, spot in time_fields(rmap).items():
        got = getattr(record, name)
        assert got is None or (isinstance(got, datetime) and got.tzinfo == UTC), name
        if path == spot.path and value is not None and got is None:
            assert record.problem, f"{name} {value!r} unreadable and no problem"
    if rmap.status is not None and path == rmap.status.path and value is not None:
        assert record.status == value or record.problem, f"status {value!r} guessed"
    assert isinstance(record.serves, tuple)
    assert record.billing is None or isinstance(record.billing, Billing)


@pytest.mark.parametrize(("rmap", "spec"), [(m, s) for _, m, s in MAPS], ids=IDS)
def test_hostile_items_give_a_problem_or_a_safe_value(rmap: RecordMap, spec: Specified) -> None:
    scope = scope_of(rmap)
    seen = 0
    for path, value, item in hostile_items(rmap):
        check(rmap, map_record(rmap, item, spec, scope), path, value)
        seen += 1
    assert seen > len(HOSTILE) * 3
    record = map_record(rmap, readable(rmap), spec, scope)
    assert record is not None and record.problem is None and record.id.endswith("model-1")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@pytest.mark.parametrize(("rmap", "spec"), [(m, s) for _, m, s in MAPS], ids=IDS)
def test_random_json_at_the_declared_paths_never_raises(rmap: RecordMap, spec: Specified) -> None:
    chosen = paths(rmap)

    @settings(max_examples=150, deadline=None, derandomize=True, database=None)
    @given(st.dictionaries(st.sampled_from(chosen), JSON, max_size=len(chosen)))
    def run(values: dict[str, Any]) -> None:
        item = readable(rmap)
        for path, value in sorted(values.items()):
            item = put(item, path, value)
        record = map_record(rmap, item, spec, scope_of(rmap))
        for path, value in values.items():
            check(rmap, record, path, value)

    run()


# -- the parts, one by one ------------------------------------------------------------


class Statuses:
    def lifecycle(self, status: str | None) -> Any:
        return "unknown" if status == "NEW" else "ready"


SPEC = Statuses()


@pytest.mark.parametrize(
    ("fmt", "raw", "want"),
    [
        (RFC3339, "2026-01-02T03:04:05+02:00", datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)),
        (RFC3339, "2999-01-01T00:00:00Z", datetime(2999, 1, 1, tzinfo=UTC)),
        (RFC3339, "2026-01-02T03:04:05", None),  # naive: no zone, no guess
        (RFC3339, 1_700_000_000, None),
        (UNIX_SECONDS, 1_700_000_000.5, datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
        (UNIX_SECONDS, "1700000000", None),
        (UNIX_SECONDS, True, None),
        (UNIX_SECONDS, 10**30, None),
        (SDK_DATETIME, datetime(2026, 1, 2), datetime(2026, 1, 2, tzinfo=UTC)),  # moto: UTC
        (SDK_DATETIME, "2026-01-02T03:04:05Z", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        (SDK_DATETIME, datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))), None),
        (SDK_DATETIME, 5, None),
    ],
)
def test_time_formats(fmt: TimeFormat, raw: Any, want: datetime | None) -> None:
    rmap = RecordMap(id=Id("id"), created_at=Time("at", fmt))
    record = map_record(rmap, {"id": "m", "at": raw}, SPEC)
    assert record is not None and record.created_at == want
    assert (record.problem is None) == (want is not None)
    if want is None:
        assert record.problem is not None and record.problem.startswith("unreadable at ")


def test_a_time_absent_or_null_is_no_problem_and_no_age() -> None:
    rmap = RecordMap(id=Id("id"), created_at=Time("at", RFC3339), last_used=Time("u", RFC3339))
    for item in ({"id": "m"}, {"id": "m", "at": None, "u": None}):
        record = map_record(rmap, item, SPEC)
        assert record is not None
        assert (record.created_at, record.last_used, record.problem) == (None, None, None)


def test_an_unreadable_last_use_is_a_problem_not_never_used() -> None:
    # Read as "never used", unused_for would fall back on the creation time and could
    # select a model used yesterday.
    rmap = RecordMap(id=Id("id"), last_used=Time("last_used", RFC3339))
    record = map_record(rmap, {"id": "m", "last_used": "yesterday"}, SPEC)
    assert record is not None and record.problem == "unreadable last_used 'yesterday'"


def test_a_status_that_is_not_a_word_is_a_problem() -> None:
    rmap = RecordMap(id=Id("id"), status=Text("state"))
    for raw in (5, "", ["READY"], {"READY": True}):
        record = map_record(rmap, {"id": "m", "state": raw}, SPEC)
        assert record is not None and record.status is None
        assert record.problem is not None and record.problem.startswith("unreadable state ")
    new = map_record(rmap, {"id": "m", "state": "NEW"}, SPEC)
    assert new is not None and (new.status, new.lifecycle, new.problem) == ("NEW", "unknown", None)


def test_text_reads_the_first_that_reads_and_never_guesses() -> None:
    rmap = RecordMap(
        id=Id("id"),
        name=(Text("a"), Text("b.c"), ITS_ID),
        base_model=Text("arn", via=lambda arn: arn.split("/")[1]),
    )
    assert (named := map_record(rmap, {"id": "m", "a": 5, "b": {"c": "from-b"}}, SPEC))
    assert named.name == "from-b"
    assert (fallback := map_record(rmap, {"id": "m", "b": "not an object"}, SPEC))
    assert fallback.name == "m"
    assert (via := map_record(rmap, {"id": "m", "arn": "x/base"}, SPEC))
    assert via.base_model == "base"
    failing = map_record(rmap, {"id": "m", "arn": "no-slash"}, SPEC)  # IndexError in via
    assert failing is not None and (failing.base_model, failing.problem) == (None, None)


def test_ids_under_a_prefix_and_checked_ids() -> None:
    under = RecordMap(id=Id("name", under="accounts/{account}/deployments/"))
    scope = {"account": "acme"}
    ok = map_record(under, {"name": "accounts/acme/deployments/d1"}, SPEC, scope)
    assert ok is not None and ok.id == "d1"
    theirs = map_record(under, {"name": "accounts/other/deployments/d1"}, SPEC, scope)
    assert theirs is not None and theirs.problem == (
        "listed deployment name 'accounts/other/deployments/d1' is not under"
        " accounts/acme/deployments/"
    )
    checked = RecordMap(id=Id("id", check=lambda i: None if i.isalnum() else "is odd"))
    odd = map_record(checked, {"id": "a-b"}, SPEC)
    assert odd is not None and (odd.id, odd.problem) == ("a-b", "id is odd")


def test_only_leaves_out_what_is_not_listed_but_never_an_item_without_its_id() -> None:
    by_kind = RecordMap(id=Id("id"), only=Only("kind", frozenset({"ADDON"})))
    assert map_record(by_kind, {"kind": "BASE"}, SPEC) is None
    assert map_record(by_kind, {"kind": ["ADDON"], "id": "m"}, SPEC) is None
    by_id = RecordMap(id=Id("id"), only=Only("id", prefix="ft:"))
    assert map_record(by_id, {"id": "gpt-4"}, SPEC) is None
    no_id = map_record(by_id, {"created": 1}, SPEC)
    assert no_id is not None and no_id.problem == "listed item has no id"
    assert [r.id for r in map_records(by_id, [{"id": "ft:a"}, {"id": "b"}], SPEC)] == ["ft:a"]


def test_bare_ids() -> None:
    rmap = RecordMap(id=Id("id", also=("finetune_id",)), name=(Text("name"), ITS_ID), bare="an ID")
    got = list(map_records(rmap, ["a", {"finetune_id": "b"}, {"id": None}, 7, ""], SPEC))
    assert [(r.id, r.name) for r in got[:2]] == [("a", "a"), ("b", "b")]
    assert [r.problem for r in got[2:]] == [
        "listed item \"{'id': None}\" is not an ID",
        "listed item '7' is not an ID",
        "listed item '' is not an ID",
    ]


def served(item: Any, scope: Any) -> tuple[str, ...]:
    arn = item["modelArn"]
    if not isinstance(arn, str):
        raise Unreadable("modelArn is not a string")
    return (arn.rsplit("/", 1)[1],)


def billed(item: Any, scope: Any) -> Billing | None:
    units = item.get("modelUnits")
    return None if units is None else Billing(Decimal(units), "model unit", {"base_model": "b"})


DEPLOYMENTS = RecordMap(
    id=Id("name"),
    status=Text("status"),
    serves=Computed(served),
    billing=Computed(billed),
    committed_until=Time("commitmentExpirationTime", SDK_DATETIME),
)


def test_a_deployment_declares_what_it_serves_bills_and_commits() -> None:
    until = datetime(2026, 9, 1, tzinfo=UTC)
    item = {
        "name": "pt-1",
        "status": "InService",
        "modelArn": "arn:aws:bedrock:us-east-1:1:custom-model/exp-1",
        "modelUnits": 2,
        "commitmentExpirationTime": until,
    }
    record = map_record(DEPLOYMENTS, item, SPEC)
    assert record is not None and record.problem is None
    assert (record.serves, record.committed_until) == (("exp-1",), until)
    assert record.billing == Billing(Decimal(2), "model unit", {"base_model": "b"})
    assert {f.name for f in fields(ModelRecord)} >= {"serves", "billing", "committed_until"}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"modelArn": None}, "modelArn is not a string"),  # the reader's own words
        ({"modelArn": "no-slash"}, "unreadable serves"),  # IndexError
        ({"modelUnits": "many"}, "unreadable billing"),  # decimal.InvalidOperation
        ({"commitmentExpirationTime": "soon"}, "unreadable commitmentExpirationTime 'soon'"),
    ],
)
def test_an_unreadable_deployment_field_is_a_problem(change: dict[str, Any], problem: str) -> None:
    item = {"name": "pt-1", "modelArn": "arn:x/exp-1", "modelUnits": 1, **change}
    record = map_record(DEPLOYMENTS, item, SPEC)
    assert record is not None and record.problem == problem
    del item["modelArn"]  # KeyError in the reader
    missing = map_record(DEPLOYMENTS, item, SPEC)
    assert missing is not None and missing.problem is not None


def test_a_computed_value_of_the_wrong_type_is_a_problem() -> None:
    for value in (["exp-1"], ("exp-1", 5), ("",)):
        rmap = RecordMap(id=Id("id"), serves=Computed(lambda item, scope, v=value: v))
        record = map_record(rmap, {"id": "d"}, SPEC)
        assert record is not None and (record.serves, record.problem) == ((), "unreadable serves")
    bad_bill = RecordMap(id=Id("id"), billing=Computed(lambda item, scope: Decimal(1)))
    record = map_record(bad_bill, {"id": "d"}, SPEC)
    assert record is not None and (record.billing, record.problem) == (None, "unreadable billing")

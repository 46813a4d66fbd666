"""Rules as a registry: a selector is one class, and everything else finds it.

These tests iterate the registry (so a new rule is checked without being listed here) and
register a throwaway rule to show that one class is all a new rule needs: the job schema,
the validator, the planner and the plan's target line pick it up.
"""

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Self

import pytest
import yaml

from runner.jobfile import schema as schema_module
from runner.jobfile import validate as validate_module
from runner.jobfile.diagnostics import JobFileError
from runner.jobfile.model import Job, Target
from runner.jobfile.validate import load_job_file
from runner.providers import REGISTRY as PROVIDERS
from runner.providers.base import KindSpec, ModelRecord
from runner.providers.table import provider_table
from runner.report import describe_target
from runner.rules import plan_job
from runner.selectors import REGISTRY, Field, Selector, Verdict, register

NOW = datetime(2026, 6, 1, tzinfo=UTC)
README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class IdPrefix(Selector):
    """A rule no release has: models whose ID starts with a prefix."""

    key: ClassVar[str] = "id_prefix"
    schema: ClassVar[dict[str, Any]] = {"type": "string", "minLength": 1, "maxLength": 64}
    order: ClassVar[int] = 1000

    id_prefix: str

    @classmethod
    def parse(cls, value: Any, field: Field) -> Self | None:
        if value.endswith("-"):
            field.error("a prefix must not end with '-' (test rule)")
            return None
        return cls(value)

    @classmethod
    def unusable(cls, spec: KindSpec) -> str | None:
        return None if spec.has_last_used else f"{spec.type} cannot use id_prefix (test rule)"

    def select(self, record: ModelRecord, now: datetime) -> Verdict:
        if record.id.startswith(self.id_prefix):
            return Verdict(True, f"ID starts with {self.id_prefix!r}")
        return Verdict(False, f"ID does not start with {self.id_prefix!r}")

    def describe(self) -> str:
        return f"id_prefix {self.id_prefix!r}"


def _forget_built_schema() -> None:
    schema_module.build_schema.cache_clear()
    validate_module._validator.cache_clear()


@pytest.fixture
def id_prefix() -> Iterator[type[IdPrefix]]:
    register(IdPrefix)
    _forget_built_schema()
    try:
        yield IdPrefix
    finally:
        del REGISTRY[IdPrefix.key]
        _forget_built_schema()


def job_file(tmp_path: Path, kind: str, **target: Any) -> str:
    data = {
        "version": 1,
        "providers": {"conn": {"type": kind}},
        "jobs": [{"name": "j", "targets": [{"provider": "conn", **target}]}],
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def problems(path: str) -> list[str]:
    with pytest.raises(JobFileError) as caught:
        load_job_file(path)
    return [f"{d.line}:{d.col}: {d.path}: {d.message}" for d in caught.value.diagnostics]


# -- one class is a whole rule ------------------------------------------------------------


def test_a_registered_rule_is_in_the_schema_and_the_provider_table(
    id_prefix: type[IdPrefix],
) -> None:
    target = schema_module.build_schema()["$defs"]["target"]["properties"]
    assert target["id_prefix"] == IdPrefix.schema
    rows = {tuple(row.split(" | ")[:2]): row for row in provider_table().splitlines()}
    for kind, spec in PROVIDERS.items():
        for name, facts in spec.kinds.items():
            assert ("`id_prefix`" in rows[f"| `{kind}`", f"`{name}`"]) == facts.has_last_used
    _forget_built_schema()
    del REGISTRY[IdPrefix.key]
    try:
        assert "id_prefix" not in schema_module.build_schema()["$defs"]["target"]["properties"]
    finally:
        register(IdPrefix)
        _forget_built_schema()


def test_a_registered_rule_validates_selects_and_is_described(
    id_prefix: type[IdPrefix], tmp_path: Path
) -> None:
    loaded = load_job_file(job_file(tmp_path, "cohere", id_prefix="exp", status=["STATUS_READY"]))
    target = loaded.jobs[0].targets[0]
    assert target.id_prefix == "exp" and target.status == ("STATUS_READY",)
    assert describe_target(target) == "conn: status STATUS_READY, id_prefix 'exp'"
    records = [
        ModelRecord(id=mid, name=mid, status="STATUS_READY", created_at=NOW - timedelta(days=1))
        for mid in ("exp-1", "prod-1")
    ]
    plan = plan_job(
        loaded.jobs[0],
        {("conn", "model"): records},
        {("conn", "model"): PROVIDERS["cohere"].kinds["model"]},
        NOW,
    )
    got = {d.ref.id: (d.action, d.reason) for d in plan.decisions}
    assert got == {
        "exp-1": ("delete", "status STATUS_READY; ID starts with 'exp'"),
        "prod-1": ("nomatch", "ID does not start with 'exp'"),
    }


def test_a_registered_rule_counts_as_a_rule_and_reports_at_its_line(
    id_prefix: type[IdPrefix], tmp_path: Path
) -> None:
    # Alone, it satisfies "a target needs a rule" and lets keep_latest apply.
    assert load_job_file(job_file(tmp_path, "cohere", id_prefix="exp", keep_latest=1))
    # A type that needs no connection fields, so the only problems are the rule's.
    kind = next(
        k
        for k, s in PROVIDERS.items()
        if not s.kinds["model"].has_last_used and not s.required_fields
    )
    assert problems(job_file(tmp_path, kind, id_prefix="exp-")) == [
        "9:5: jobs[0].targets[0].id_prefix: a prefix must not end with '-' (test rule)",
        f"9:5: jobs[0].targets[0].id_prefix: {kind} cannot use id_prefix (test rule)",
    ]
    assert problems(job_file(tmp_path, "cohere", id_prefix=5)) == [
        "9:5: jobs[0].targets[0].id_prefix: 5 is a number, not a string"
    ]
    needs = problems(job_file(tmp_path, "cohere", protect=["x"]))
    assert needs[0].endswith(
        "a rule (older_than, unused_for, status, name, base_model, served_model, min_monthly_cost,"
        " tags, expires_tag, id_prefix)"
        " or match_all: true"
    )


# -- every registered rule, without listing them ----------------------------------------


@pytest.mark.parametrize("key", list(REGISTRY))
def test_every_rule_is_complete_and_documented(key: str) -> None:
    rule = REGISTRY[key]
    assert rule.key == key and dataclasses.is_dataclass(rule)
    assert dataclasses.fields(rule)[0].name == key  # target.<key> reads the rule's value
    assert rule.order not in {r.order for r in REGISTRY.values() if r is not rule}
    assert f"{key}:" in README, f"README does not document {key}"


@pytest.mark.parametrize("key", list(REGISTRY))
def test_every_rule_can_be_given_and_read_on_a_target_by_name(key: str) -> None:
    # The target carries the parsed selector; its fields stay readable by name, and a
    # target without the rule reads it as empty.
    bare = Target("c", match_all=True)
    assert not getattr(bare, key)
    assert bare.selectors == ()


def test_a_target_built_from_fields_equals_one_built_from_selectors() -> None:
    by_fields = Target(
        "c", older_than=timedelta(days=3), older_than_text="3d", name="exp-*", status=("A",)
    )
    by_selectors = Target(
        "c",
        selectors=(
            REGISTRY["name"](name="exp-*"),  # type: ignore[call-arg]
            REGISTRY["status"](status=("A",)),  # type: ignore[call-arg]
            REGISTRY["older_than"](timedelta(days=3), "3d"),  # type: ignore[call-arg]
        ),
    )
    assert by_fields == by_selectors
    # Check order: exact rules first, age rules last (a miss on age alone is "too young").
    assert [s.key for s in by_fields.selectors] == ["status", "name", "older_than"]
    with pytest.raises(TypeError, match="not a rule field: older_then"):
        Target("c", older_then=timedelta(days=3))
    with pytest.raises(AttributeError):
        _ = by_fields.no_such_rule


def test_an_age_miss_is_too_young_only_when_every_other_rule_matched() -> None:
    target = Target(
        "c", status=("STATUS_READY",), older_than=timedelta(days=30), older_than_text="30d"
    )
    young_failed = ModelRecord(
        id="a",
        name="a",
        status="STATUS_FAILED",
        lifecycle="failed",
        created_at=NOW - timedelta(days=1),
    )
    young_ready = dataclasses.replace(
        young_failed, id="b", status="STATUS_READY", lifecycle="ready"
    )
    plan = plan_job(
        Job("j", (target,)),
        {("c", "model"): [young_failed, young_ready]},
        {("c", "model"): PROVIDERS["cohere"].kinds["model"]},
        NOW,
    )
    got = {d.ref.id: d.action for d in plan.decisions}
    assert got == {"a": "nomatch", "b": "keep"}

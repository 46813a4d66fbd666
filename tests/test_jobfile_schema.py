"""The schema is built from the provider registry; the shipped file is its exact output."""

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from runner.jobfile import schema as schema_module
from runner.jobfile.schema import COMMON_CONNECTION_FIELDS, build_schema, notify_schema, render
from runner.providers import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "schemas" / "job.schema.json"
JOBFILE_CODE = sorted((ROOT / "runner" / "jobfile").glob("*.py"))


def test_schema_file_is_build_schema_output() -> None:
    """Regenerate with: python -m runner.jobfile.schema > schemas/job.schema.json"""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render()
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == build_schema()


def test_module_prints_the_schema() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "runner.jobfile.schema"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == SCHEMA_FILE.read_text(encoding="utf-8")


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(build_schema())
    assert build_schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_provider_parts_come_from_the_registry() -> None:
    connection = build_schema()["$defs"]["connection"]["properties"]
    assert connection["type"]["enum"] == sorted(REGISTRY)
    own = {name for spec in REGISTRY.values() for name in spec.connection_fields}
    assert set(connection) == set(COMMON_CONNECTION_FIELDS) | own
    for spec in REGISTRY.values():
        for name, fragment in spec.connection_fields.items():
            assert connection[name] == fragment


def test_a_new_provider_changes_the_schema() -> None:
    spec = replace(
        REGISTRY["cohere"],
        type="acme",
        connection_fields={"tenant": {"type": "string", "minLength": 1}},
        required_fields=("tenant",),
    )
    built = schema_module._schema({**REGISTRY, "acme": spec})
    connection = built["$defs"]["connection"]["properties"]
    assert "acme" in connection["type"]["enum"] and "tenant" in connection


def test_conflicting_field_definitions_are_a_registry_error() -> None:
    a = replace(REGISTRY["cohere"], type="a", connection_fields={"zone": {"type": "string"}})
    b = replace(REGISTRY["cohere"], type="b", connection_fields={"zone": {"type": "integer"}})
    with pytest.raises(ValueError, match="field 'zone' differs"):
        schema_module._schema({"a": a, "b": b})
    c = replace(REGISTRY["cohere"], type="c", required_fields=("zone",))
    with pytest.raises(ValueError, match="required field 'zone' is not declared"):
        schema_module._schema({"c": c})


def _subschemas(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _subschemas(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _subschemas(value, f"{path}/{index}")


def test_every_integer_has_bounds_and_every_string_a_limit() -> None:
    for where, node in _subschemas(build_schema()):
        if node.get("type") == "integer":
            assert "maximum" in node and "minimum" in node, where
        if node.get("type") == "array":
            assert "maxItems" in node, where
        if node.get("type") == "string":
            unbounded_pattern = re.search(r"[+*]", node.get("pattern", "+"))
            assert "maxLength" in node or not unbounded_pattern, where


def test_hidden_values_have_their_own_message() -> None:
    for where, node in _subschemas(build_schema()):
        if node.get("x-hide-value"):
            assert "value not shown" in node["x-error"], where


def test_notify_schema_hook() -> None:
    notify = build_schema()["properties"]["notify"]
    assert notify == notify_schema()
    item = notify["items"]
    assert item["properties"]["format"]["enum"] == ["json", "slack"]
    assert item["properties"]["events"]["items"]["enum"] == ["marked", "deleted", "failed", "limit"]
    assert item["properties"]["url_env"]["x-hide-value"] is True


def test_jobfile_code_never_names_a_provider_type() -> None:
    """The job-file layer reads provider facts from specs, never a type's name."""
    for path in JOBFILE_CODE:
        text = path.read_text(encoding="utf-8")
        for kind in REGISTRY:
            assert f'"{kind}"' not in text and f"'{kind}'" not in text, (path.name, kind)


def test_validate_imports_no_http_scheduler_or_vendor_library() -> None:
    code = (
        "import sys, glob\n"
        "from runner.jobfile.validate import load_job_file\n"
        "from runner.jobfile.loader import job_files\n"
        "for path in job_files(['jobs']): load_job_file(path)\n"
        "heavy = ('requests', 'urllib3', 'boto3', 'botocore', 'apscheduler', 'psycopg', 'psycopg2')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

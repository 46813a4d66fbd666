"""The job-file JSON Schema, built from the provider and selector registries.

The generic parts are written here; everything about provider types (the ``type``
enum, each type's own connection fields) comes from the registered ``ProviderSpec``s,
and every selector rule of a target brings its own fragment, so a new provider or rule
changes the schema, the validator and the shipped schema file together.
``schemas/job.schema.json`` is this module's output, regenerated with

    python -m runner.jobfile.schema > schemas/job.schema.json

and a test keeps the two equal. Conventions beyond JSON Schema, read by the validator:
``x-error`` replaces the message for any failure of that subschema (after the value),
``x-hide-value`` means the value may be a secret and is never echoed, and a connection
field's ``x-needs`` names the field it means nothing without (Bedrock's ``external_id``
is sent only with ``role_arn``).
"""

import json
from collections.abc import Mapping
from functools import cache
from typing import Any

from runner.cost import KEYS as PRICE_KEYS
from runner.cost import price_schema
from runner.durations import MAX_DAYS
from runner.jobfile.envvar import env_var
from runner.providers import REGISTRY
from runner.providers.base import ProviderSpec
from runner.selectors import REGISTRY as SELECTORS
from runner.selectors import Selector

SCHEMA_ID = "https://ftjanitor.dev/schemas/job.schema.json"
COMMON_CONNECTION_FIELDS = (
    "type",
    "account",
    "api_key_env",
    "base_url",
    "concurrency",
    "requests_per_minute",
)
NOTIFY_EVENTS = ("marked", "deleted", "failed", "limit")
NOTIFY_FORMATS = ("json", "slack")
MAX_COUNT = 1_000_000  # every integer has a maximum: no 10**100 surprises
MAX_PATH = 4096
# Paths and URLs: no control characters (they would forge output lines or end a C string).
_NO_CONTROL = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _integer(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


def _type_fields(specs: Mapping[str, ProviderSpec]) -> dict[str, Mapping[str, Any]]:
    """Every type's own connection fields; one name means one schema across types."""
    fields: dict[str, Mapping[str, Any]] = {}
    for spec in specs.values():
        for name, fragment in spec.connection_fields.items():
            if name in COMMON_CONNECTION_FIELDS:
                raise ValueError(f"provider {spec.type}: field {name!r} is a common field")
            if name in fields and fields[name] != fragment:
                raise ValueError(
                    f"provider {spec.type}: field {name!r} differs from another type's"
                )
            fields[name] = fragment
        for name in spec.required_fields:
            if name not in spec.connection_fields:
                raise ValueError(f"provider {spec.type}: required field {name!r} is not declared")
    return fields


def notify_schema() -> dict[str, Any]:
    """Top-level ``notify:``: who hears about a job run, through a webhook whose URL is a
    secret (only its environment variable's name is in the file)."""
    return {
        "type": "array",
        "maxItems": 100,
        "description": "Webhooks told about marked, deleted, failed models and tripped limits.",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "events"],
            "allOf": [
                {
                    "oneOf": [{"required": ["url_env"]}, {"required": ["by_owner"]}],
                    "x-error": "needs one of url_env and by_owner, not both (value not shown)",
                    "x-hide-value": True,
                }
            ],
            "properties": {
                "name": _ref("name"),
                "url_env": env_var("SLACK_WEBHOOK_URL", "URL"),
                "by_owner": {
                    "type": "object",
                    "description": "Instead of url_env: owner (owner_tag's value, exactly)"
                    ' -> URL variable; "*" for owners without one of their own.',
                    "minProperties": 1,
                    "maxProperties": 1000,
                    "propertyNames": {"minLength": 1, "maxLength": 256, "pattern": _NO_CONTROL},
                    "additionalProperties": env_var("TEAM_WEBHOOK_URL", "URL"),
                },
                "format": {
                    "enum": list(NOTIFY_FORMATS),
                    "default": "json",
                    "x-error": "is not a notification format (json or slack)",
                },
                "events": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": len(NOTIFY_EVENTS),
                    "uniqueItems": True,
                    "items": {
                        "enum": list(NOTIFY_EVENTS),
                        "x-error": "is not a notification event (marked, deleted, failed, limit)",
                    },
                    "x-error": "must list distinct events among marked, deleted, failed, limit",
                },
            },
        },
    }


def _kind(specs: Mapping[str, ProviderSpec]) -> dict[str, Any]:
    """Every kind some type has; which kinds a target's own type has, the validator checks."""
    kinds = sorted({kind for spec in specs.values() for kind in spec.kinds})
    per_type = "; ".join(f"{name}: {spec.kind_names()}" for name, spec in sorted(specs.items()))
    return {
        "enum": kinds,
        "description": f"What the target deletes at its connection (default model). {per_type}",
        "x-error": f"is not a resource kind ({', '.join(kinds)})",
    }


_CONNECTION_GLOB = {
    "maxLength": 63,
    "pattern": r"^[A-Za-z0-9*?\[][A-Za-z0-9._*?!\[\]-]{0,62}$",
    "x-error": "is not a connection name or a glob over them",
}


def prices_schema(specs: Mapping[str, ProviderSpec]) -> dict[str, Any]:
    """Top-level ``prices:``: overrides of the built-in price facts, first match wins.
    Its selectors are globs; that each matches a type or a kind, and that exactly one
    price is given, the validator checks."""
    glob = {
        "type": "string",
        "minLength": 1,
        "maxLength": 256,
        "pattern": _NO_CONTROL,
        "x-error": "is not a glob (1 to 256 characters, no control characters)",
    }
    return {
        "type": "array",
        "maxItems": 1000,
        "description": "Prices overriding the built-in facts; the first matching entry wins.",
        "items": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "type": {**glob, "description": f"a glob over {', '.join(sorted(specs))}"},
                "kind": {**glob, "description": "a glob over the type's kinds"},
                **{key: {**glob, "description": "a glob"} for key in PRICE_KEYS},
                "per_hour": {**price_schema(), "description": "dollars per billed unit-hour"},
                "per_month": {**price_schema(), "description": "dollars per item a month"},
            },
        },
    }


def _connection(specs: Mapping[str, ProviderSpec]) -> dict[str, Any]:
    types = sorted(specs)
    return {
        "type": "object",
        "additionalProperties": False,
        "description": (
            "A named connection. Fields beyond the common ones belong to one type each;"
            " the validator reports a field used on a type that lacks it."
        ),
        "properties": {
            "type": {
                "enum": types,
                "x-error": f"is not a provider type ({', '.join(types)})",
            },
            "api_key_env": env_var("COHERE_API_KEY", "key"),
            "account": {
                **_ref("name"),
                "description": "a name for the account it reaches: its state (first"
                " sightings, marks) is kept under it, so renaming the connection keeps it"
                " (azure_openai: the Cognitive Services account's name)",
            },
            "base_url": {"type": "string", "minLength": 1, "maxLength": 2048},
            "concurrency": _integer(1, 64),
            "requests_per_minute": _integer(1, MAX_COUNT),
            **{name: dict(fragment) for name, fragment in sorted(_type_fields(specs).items())},
        },
    }


def _schema(
    specs: Mapping[str, ProviderSpec], selectors: Mapping[str, type[Selector]] = SELECTORS
) -> dict[str, Any]:
    id_string = {"type": "string", "minLength": 1, "maxLength": 256}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "$comment": "Generated by: python -m runner.jobfile.schema > schemas/job.schema.json",
        "title": "ftjanitor job file, version 1",
        "type": "object",
        "additionalProperties": False,
        "required": ["version", "jobs"],
        "properties": {
            "version": {"const": 1, "x-error": "is not 1 (the only job-file version)"},
            "providers": {
                "type": "object",
                "description": "Named connections; targets refer to them by key.",
                "maxProperties": 1000,
                "propertyNames": _ref("name"),
                "additionalProperties": _ref("connection"),
            },
            "audit_log": {
                **_ref("path"),
                "description": "A file path, or the word state (the chain in a PostgreSQL state).",
            },
            "state": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_PATH,
                "pattern": _NO_CONTROL,
                "description": "A file path (SQLite) or postgresql://USER@HOST:PORT/DB.",
                "x-error": (
                    "is not a file path or a postgresql://USER@HOST:PORT/DB URL (value not shown)"
                ),
                "x-hide-value": True,
            },
            "notify": notify_schema(),
            "owner_tag": {
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "description": "The tag naming each item's owner, for notify's by_owner.",
            },
            "prices": prices_schema(specs),
            "parallel_connections": {
                **_integer(1, 64),
                "description": "connections listed, read and deleted on at once (default 8);"
                " each keeps its own concurrency and rate",
            },
            "jobs": {"type": "array", "minItems": 1, "maxItems": 1000, "items": _ref("job")},
        },
        "$defs": {
            "name": {
                "type": "string",
                "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
                "x-error": "is not a name (letters, digits, '.', '_', '-'; at most 63)",
            },
            "path": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_PATH,
                "pattern": _NO_CONTROL,
                "x-error": "is not a file path",
            },
            "duration": {
                "type": "string",
                "pattern": "^[0-9]{1,9}[smhdw]$",
                "description": f"at most {MAX_DAYS}d",
                "x-error": "is not a duration like 30d, 12h, 2w (units: s, m, h, d, w)",
            },
            "id": {
                **id_string,
                "x-type-hint": "quote IDs that YAML reads as numbers, like '1234'",
            },
            "connection": _connection(specs),
            "job": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "targets"],
                "properties": {
                    "name": _ref("name"),
                    "schedule": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 256,
                        "description": "5-field crontab in UTC, or every <duration>.",
                    },
                    "max_deletions": _integer(0, MAX_COUNT),
                    "max_deletions_percent": _integer(1, 100),
                    "grace": _ref("duration"),
                    "misfire_grace_time": _ref("duration"),
                    "targets": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 1000,
                        "items": _ref("target"),
                    },
                },
            },
            "target": {
                "type": "object",
                "additionalProperties": False,
                "required": ["provider"],
                "properties": {
                    "provider": {
                        "type": ["string", "array"],
                        **_CONNECTION_GLOB,
                        "minItems": 1,
                        "maxItems": 1000,
                        "items": {"type": "string", **_CONNECTION_GLOB},
                        "description": "a connection, a glob over the connections"
                        " (openai-*), or a list of either: each is judged on its own",
                    },
                    "kind": _kind(specs),
                    "ids": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 10000,
                        "items": _ref("id"),
                    },
                    **{key: dict(rule.schema) for key, rule in selectors.items()},
                    "keep_latest": _integer(1, MAX_COUNT),
                    "protect": {"type": "array", "maxItems": 10000, "items": _ref("id")},
                    "match_all": {
                        "const": True,
                        "x-error": "is not allowed: match_all is true or left out",
                    },
                    "with_deployments": {
                        "type": "boolean",
                        "description": "kind model: delete the deployments serving a"
                        " selected model first, then the model",
                    },
                },
            },
        },
    }


@cache
def build_schema() -> dict[str, Any]:
    """The job-file JSON Schema (draft 2020-12) for the registered provider types and
    selector rules.

    Cached: callers must not modify it.
    """
    return _schema(REGISTRY, SELECTORS)


def render() -> str:
    """The schema file's exact text."""
    return json.dumps(build_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")

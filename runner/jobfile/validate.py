"""Job-file validation: the JSON Schema, then what a schema cannot say.

Every problem in a file is reported, each pointing at its line and column.
"""

import dataclasses
import difflib
import ipaddress
import json
from datetime import timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema

from runner.cron import parse_schedule
from runner.durations import parse_duration
from runner.files import location_warnings
from runner.jobfile.diagnostics import Diagnostic, JobFileError
from runner.jobfile.diagnostics import Path as NodePath
from runner.jobfile.loader import LoadedDocument, load_file
from runner.jobfile.model import Connection, Job, JobFile, Target
from runner.providers import REGISTRY
from runner.providers.base import unsafe_id_reason
from runner.state import StateRef

DEFAULT_AUDIT_LOG = "audit/ftjanitor.jsonl"
DEFAULT_STATE = "state/ftjanitor.sqlite3"
DEFAULT_MAX_DELETIONS = 50
DEFAULT_CONCURRENCY = 4
DEFAULT_MISFIRE_GRACE = timedelta(minutes=10)
_SECRET_WORDS = ("api_key", "apikey", "token", "secret", "password", "key", "authorization")
SECRET_HINT = (
    "literal secrets are not allowed in a job file: put the key in an environment "
    "variable and name it with api_key_env"
)


@cache
def schema() -> dict[str, Any]:
    text = resources.files("runner.schemas").joinpath("job.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _schema_diagnostics(doc: LoadedDocument) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for error in _validator().iter_errors(doc.data):
        path: NodePath = tuple(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list(error.schema.get("properties", {}))
            for key in error.instance:
                if key in known:
                    continue
                if any(word in key.lower() for word in _SECRET_WORDS):
                    message = SECRET_HINT
                else:
                    close = difflib.get_close_matches(key, known, n=1)
                    message = f"unknown field {key!r}" + (
                        f" (did you mean {close[0]!r}?)" if close else ""
                    )
                out.append(doc.diagnostic((*path, key), message))
            continue
        if error.validator == "required":
            message = error.message.replace("is a required property", "is required")
        elif isinstance(error.schema, dict) and error.schema.get("x-hide-value"):
            message = error.schema["x-error"]  # the value may be a key: never echo it
        elif isinstance(error.schema, dict) and "x-error" in error.schema:
            message = f"{_short(error.instance)} {error.schema['x-error']}"
        else:
            message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
        out.append(doc.diagnostic(path, message))
    return out


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return f"{url!r} is not an http(s) URL"
    if parts.username or parts.password:
        return SECRET_HINT
    if parts.query or parts.fragment:
        return "base_url must not have a query or fragment"
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return "base_url must use https (plain http is allowed only for loopback hosts)"
    return None


class _Checker:
    """Semantic checks over schema-shaped data; tolerant of parts the schema rejected."""

    def __init__(self, doc: LoadedDocument):
        self.doc = doc
        self.errors: list[Diagnostic] = []

    def error(self, path: NodePath, message: str) -> None:
        self.errors.append(self.doc.diagnostic(path, message))

    def connections(self, data: dict[str, Any]) -> dict[str, Connection]:
        out: dict[str, Connection] = {}
        providers = data.get("providers") or {}
        if not isinstance(providers, dict):
            return out
        for name, conn in providers.items():
            if not isinstance(conn, dict):
                continue
            path: NodePath = ("providers", name)
            kind = conn.get("type", name if name in REGISTRY else None)
            if kind is None:
                self.error(path, f"{name!r} is not a provider type: add type: ({_types()})")
                continue
            if kind not in REGISTRY:
                self.error((*path, "type"), f"{kind!r} is not a provider type ({_types()})")
                continue
            if name in REGISTRY and kind != name:
                self.error(
                    (*path, "type"), f"connection {name!r} is named after a type but says {kind!r}"
                )
                continue
            key_env = conn.get("api_key_env")
            if isinstance(key_env, str) and len(key_env) >= 24 and "_" not in key_env:
                self.error((*path, "api_key_env"), SECRET_HINT + " (this looks like a key)")
            base_url = conn.get("base_url")
            if isinstance(base_url, str) and (problem := base_url_problem(base_url)):
                self.error((*path, "base_url"), problem)
            out[name] = _connection(name, kind, conn)
        return out

    def jobs(self, data: dict[str, Any], connections: dict[str, Connection]) -> list[Job]:
        jobs: list[Job] = []
        seen: dict[str, int] = {}
        raw_jobs = data.get("jobs")
        if not isinstance(raw_jobs, list):
            return jobs
        for index, raw in enumerate(raw_jobs):
            if not isinstance(raw, dict):
                continue
            path: NodePath = ("jobs", index)
            name = raw.get("name")
            if isinstance(name, str):
                if name in seen:
                    self.error(
                        (*path, "name"), f"job name {name!r} is already used by jobs[{seen[name]}]"
                    )
                seen.setdefault(name, index)
            spec = None
            schedule = raw.get("schedule")
            if isinstance(schedule, str):
                try:
                    spec = parse_schedule(schedule)
                except ValueError as exc:
                    self.error((*path, "schedule"), str(exc))
            targets = [
                target
                for t_index, t_raw in enumerate(raw.get("targets") or [])
                if isinstance(t_raw, dict)
                and (target := self.target(t_raw, (*path, "targets", t_index), connections))
            ]
            jobs.append(
                Job(
                    name=str(name),
                    targets=tuple(targets),
                    max_deletions=raw.get("max_deletions", DEFAULT_MAX_DELETIONS),
                    schedule=schedule if isinstance(schedule, str) else None,
                    schedule_spec=spec,
                    misfire_grace_time=_duration_or_none(raw.get("misfire_grace_time"))
                    or DEFAULT_MISFIRE_GRACE,
                )
            )
        return jobs

    def target(
        self, raw: dict[str, Any], path: NodePath, connections: dict[str, Connection]
    ) -> Target | None:
        ids = [i for i in raw.get("ids") or [] if isinstance(i, str)]
        for i_index, model_id in enumerate(ids):
            if reason := unsafe_id_reason(model_id):
                self.error((*path, "ids", i_index), f"{model_id!r}: {reason}")
        target = Target(
            connection=str(raw.get("provider")),
            ids=tuple(dict.fromkeys(ids)),
            older_than=_duration_or_none(raw.get("older_than")),
            older_than_text=raw.get("older_than"),
            status=tuple(raw.get("status") or ()),
            name=raw.get("name"),
            keep_latest=raw.get("keep_latest"),
            protect=tuple(raw.get("protect") or ()),
            match_all=raw.get("match_all") is True,
        )
        if not target.ids and not target.has_rules:
            self.error(
                path, "a target needs ids, a rule (older_than, status, name) or match_all: true"
            )
        if target.ids and target.match_all:
            self.error((*path, "match_all"), "match_all cannot be combined with ids")
        if target.keep_latest is not None and not target.has_rules:
            self.error(
                (*path, "keep_latest"),
                "keep_latest applies only to rules (older_than, status, name, match_all)",
            )
        connection = self.resolve(raw.get("provider"), (*path, "provider"), connections)
        if connection is None:
            return None
        if target.status and not REGISTRY[connection.type].statuses:
            self.error(
                (*path, "status"),
                f"{connection.type} reports no status: a status rule could never match",
            )
        return target

    def resolve(
        self, provider: Any, path: NodePath, connections: dict[str, Connection]
    ) -> Connection | None:
        if not isinstance(provider, str):
            return None
        declared = _declared(self.doc)
        if provider not in connections and provider in REGISTRY and provider not in declared:
            # A bare type name gets that type's defaults (DESIGN: providers: is optional).
            connections[provider] = _connection(provider, provider, {})
        connection = connections.get(provider)
        if connection is None and provider not in declared:  # declared-but-broken: reported
            known = ", ".join(sorted({*connections, *REGISTRY}))
            self.error(path, f"{provider!r} is not a connection in providers: or a type ({known})")
        return connection


def _types() -> str:
    return ", ".join(sorted(REGISTRY))


def _declared(doc: LoadedDocument) -> set[str]:
    providers = doc.data.get("providers")
    return set(providers) if isinstance(providers, dict) else set()


def _duration_or_none(value: Any) -> timedelta | None:
    try:
        return parse_duration(value) if isinstance(value, str) else None
    except ValueError:
        return None  # the schema already reported it


def _connection(name: str, kind: str, conn: dict[str, Any]) -> Connection:
    spec = REGISTRY[kind]
    return Connection(
        name=name,
        type=kind,
        api_key_env=conn.get("api_key_env", spec.default_api_key_env),
        base_url=str(conn.get("base_url", spec.default_base_url)).rstrip("/"),
        concurrency=conn.get("concurrency", DEFAULT_CONCURRENCY),
        requests_per_minute=conn.get("requests_per_minute", spec.default_requests_per_minute),
    )


def validate_document(doc: LoadedDocument) -> JobFile:
    errors = _schema_diagnostics(doc)
    checker = _Checker(doc)
    connections = checker.connections(doc.data)
    jobs = checker.jobs(doc.data, connections)
    errors.extend(checker.errors)
    if errors:
        errors.sort(key=lambda d: (d.line, d.col))
        raise JobFileError(errors)
    folder = Path(doc.file).resolve().parent
    return JobFile(
        path=Path(doc.file),
        sha256=doc.sha256,
        connections=connections,
        jobs=tuple(jobs),
        audit_log=folder / doc.data.get("audit_log", DEFAULT_AUDIT_LOG),
        state=StateRef(path=folder / doc.data.get("state", DEFAULT_STATE)),
    )


def load_job_file(path: str) -> JobFile:
    """Load and validate; raise JobFileError listing every problem."""
    job_file = validate_document(load_file(path))
    return dataclasses.replace(job_file, warnings=tuple(location_warnings(Path(path))))

"""Job-file validation: the JSON Schema, then what a schema cannot say.

Every problem in a file is reported, each pointing at its line and column.

Semantic checks see only what the schema accepted: every path the schema rejected is
remembered with all its ancestors ("tainted"), and a check reads a value only when its
node is untainted (so it has the schema's type) and descends only into containers whose
type it verified itself. A node the schema refused is reported once, by the schema, and
never reaches code that assumes its type. Checks that conclude from a field's absence
("a target needs a rule") run only when every field they could read is clean.
"""

import dataclasses
import ipaddress
import math
import os
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from jsonschema.exceptions import ValidationError

from runner.accounts import account_key, reach
from runner.cost import FINEST_PRICE, PriceFact, PriceOverride, decimal_of
from runner.cost import KEYS as PRICE_KEYS
from runner.cron import CronSpec, EverySpec, parse_schedule
from runner.durations import parse_duration
from runner.files import location_warnings
from runner.jobfile.diagnostics import Diagnostic, JobFileError
from runner.jobfile.diagnostics import Path as NodePath
from runner.jobfile.loader import LoadedDocument, load_file
from runner.jobfile.model import Connection, Job, JobFile, NotifyTarget, Target
from runner.jobfile.schema import build_schema
from runner.providers import REGISTRY
from runner.providers.base import KindSpec, ProviderSpec, unsafe_id_reason
from runner.ref import DEFAULT_KIND
from runner.selectors import REGISTRY as SELECTORS
from runner.selectors import Selector
from runner.state import StateRef

__all__ = ["base_url_problem", "load_job_file", "strict_validator", "validate_document"]

DEFAULT_AUDIT_LOG = "audit/ftjanitor.jsonl"
DEFAULT_STATE = "state/ftjanitor.sqlite3"
DEFAULT_MAX_DELETIONS = 50
DEFAULT_CONCURRENCY = 4
DEFAULT_PARALLEL_CONNECTIONS = 8
DEFAULT_MISFIRE_GRACE = timedelta(minutes=10)
AUDIT_IN_STATE = "state"  # `audit_log: state`: the chain lives in the state database
_SECRET_WORDS = ("api_key", "apikey", "token", "secret", "password", "key", "authorization")
SECRET_HINT = (
    "literal secrets are not allowed in a job file: put the key in an environment "
    "variable and name it with api_key_env"
)
_GLOB_CHARS = "*?["
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_POSTGRES_SCHEMES = ("postgresql",)
_STATE_URL_FORM = "postgresql://USER@HOST:PORT/DB"
_CREDENTIAL_WORDS = {
    "aws": "the AWS credential chain (environment, profile, role), never a key variable",
}
_CONNECTION_FIELDS = frozenset(build_schema()["$defs"]["connection"]["properties"])
_KINDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "array": "a list",
    "object": "a mapping",
    "boolean": "true or false",
    "null": "empty",
}


def _strict_integer(_checker: Any, instance: Any) -> bool:
    # JSON Schema counts 2.0 as an integer; the model must never hold a float there.
    return isinstance(instance, int) and not isinstance(instance, bool)


def strict_validator(schema: Mapping[str, Any]) -> Any:
    """A Draft 2020-12 validator of ``schema`` for which true and 2.0 are not integers
    (job files and plan files alike)."""
    cls = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
        jsonschema.Draft202012Validator,
        type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
            "integer", _strict_integer
        ),
    )
    return cls(schema)


@cache
def _validator() -> Any:
    return strict_validator(build_schema())


def _short(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _type_message(error: ValidationError) -> str:
    expected = error.validator_value
    names = expected if isinstance(expected, list) else [expected]
    wanted = " or ".join(_KINDS.get(str(name), str(name)) for name in names)
    instance = error.instance
    if wanted == _KINDS["integer"] and isinstance(instance, float) and math.isfinite(instance):
        message = f"{_short(instance)} is not a whole number"
    else:
        message = f"{_short(instance)} is {_kind(instance)}, not {wanted}"
    hint = error.schema.get("x-type-hint") if isinstance(error.schema, dict) else None
    return f"{message}: {hint}" if hint else message


def _schema_diagnostics(doc: LoadedDocument) -> list[tuple[NodePath, Diagnostic]]:
    out: list[tuple[NodePath, Diagnostic]] = []

    def report(path: NodePath, message: str) -> None:
        out.append((path, doc.diagnostic(path, message)))

    for error in _validator().iter_errors(doc.data):
        path: NodePath = tuple(error.absolute_path)
        schema = error.schema if isinstance(error.schema, dict) else {}
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list(schema.get("properties", {}))
            for key in error.instance:
                if key in known:
                    continue
                if any(word in key.lower() for word in _SECRET_WORDS):
                    message = SECRET_HINT
                else:
                    import difflib  # only for this message: keeps start-up lean

                    close = difflib.get_close_matches(key, known, n=1)
                    message = f"unknown field {key!r}" + (
                        f" (did you mean {close[0]!r}?)" if close else ""
                    )
                report((*path, key), message)
            continue
        if "propertyNames" in error.absolute_schema_path and isinstance(error.instance, str):
            path = (*path, error.instance)  # point at the key itself
        if error.validator == "required":
            message = error.message.replace("is a required property", "is required")
        elif schema.get("x-hide-value"):
            message = str(schema["x-error"])  # the value may be a secret: never echo it
        elif "x-error" in schema:
            message = f"{_short(error.instance)} {schema['x-error']}"
        elif error.validator == "type":
            message = _type_message(error)
        else:
            message = error.message if len(error.message) <= 200 else error.message[:197] + "..."
        report(path, message)
    return out


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url_problem(url: str, field: str = "base_url") -> str | None:
    # urllib.parse and urllib3 split "http://h\\@127.0.0.1" at different places: refused
    # before either reads it, as webhook URLs are, so the host checked is the host sent.
    if "\\" in url:
        return f"{field} must not hold a backslash (HTTP libraries read it differently)"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        has_credentials = bool(parts.username or parts.password)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        return f"{url!r} is not an http(s) URL"
    if parts.scheme not in ("https", "http") or not host:
        return f"{url!r} is not an http(s) URL"
    if has_credentials:
        return SECRET_HINT
    if parts.query or parts.fragment:
        return f"{field} must not have a query or fragment"
    if parts.scheme == "http" and not _is_loopback(host):
        return f"{field} must use https (plain http is allowed only for loopback hosts)"
    return None


def state_url_problem(url: str) -> str | None:
    """Why a ``state:`` URL is unusable (None when it is fine). Never quotes the URL:
    one with a password or a query string may hold a secret."""
    hidden = "(value not shown)"
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
        host = parts.hostname
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        return f"is not a {_STATE_URL_FORM} URL {hidden}"
    if parts.scheme.lower() not in _POSTGRES_SCHEMES:
        return f"a state URL must be {_STATE_URL_FORM} (other databases are not supported) {hidden}"
    if has_password:
        return (
            "a PostgreSQL URL must not hold a password: libpq reads it from PGPASSWORD"
            f" or ~/.pgpass {hidden}"
        )
    if parts.query or parts.fragment:
        return (
            "a PostgreSQL URL must not have a query string: set options in libpq's"
            f" environment (PGSSLMODE, ...) {hidden}"
        )
    database = parts.path.removeprefix("/")
    if not host or not database or "/" in database:
        return f"is not a {_STATE_URL_FORM} URL: it needs a host and a database {hidden}"
    return None


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, an unreadable folder
        return Path(os.path.abspath(path))


def _allowed_fields(spec: ProviderSpec) -> list[str]:
    fields = ["type", "account", "concurrency", "requests_per_minute", *spec.connection_fields]
    if spec.credential == "api_key":
        fields.append("api_key_env")
    if spec.default_base_url is not None:
        fields.append("base_url")
    return sorted(fields)


def _types() -> str:
    return ", ".join(sorted(REGISTRY))


def _listing(words: Iterable[str]) -> str:
    return ", ".join(sorted(words))


class _Checker:
    """Semantic checks over the parts of the document the schema accepted."""

    def __init__(self, doc: LoadedDocument, rejected: Iterable[NodePath]):
        self.doc = doc
        self.errors: list[Diagnostic] = []
        # Every rejected path and all its ancestors: a clean path has a clean subtree.
        self.tainted = {path[:end] for path in rejected for end in range(len(path) + 1)}
        self.connections: dict[str, Connection] = {}
        # What a target's name covers: a declared connection, or each region of one
        # (``regions:`` expands it into NAME/REGION connections).
        self.covers: dict[str, list[str]] = {}
        # Account key, and what a type without account fields reaches -> the connection.
        self.keys: dict[str, str] = {}
        self.reaches: dict[str, str] = {}
        self.declared: set[str] = set()
        self.declared_order: list[str] = []
        # The type of every connection whose type is known, usable or not: targets at a
        # broken connection are still checked against their type's facts.
        self.kinds: dict[str, ProviderSpec] = {}

    def error(self, path: NodePath, message: str) -> None:
        self.errors.append(self.doc.diagnostic(path, message))

    def clean(self, path: NodePath) -> bool:
        return path not in self.tainted

    def fields(self, node: dict[str, Any], path: NodePath) -> dict[str, Any]:
        """The node's values the schema accepted (each has the schema's type)."""
        return {key: value for key, value in node.items() if self.clean((*path, key))}

    def all_clean(self, node: dict[str, Any], path: NodePath, known: Iterable[str]) -> bool:
        return all(self.clean((*path, key)) for key in known if key in node)

    def items(self, node: dict[str, Any], key: str, path: NodePath) -> list[tuple[int, Any]]:
        """The accepted items of ``node[key]`` (each has the schema's item type), by index."""
        items = node.get(key)
        if not isinstance(items, list):
            return []
        return [(i, item) for i, item in enumerate(items) if self.clean((*path, key, i))]

    def duration(self, value: str, path: NodePath) -> timedelta | None:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.error(path, str(exc))
            return None

    # -- connections -------------------------------------------------------------------

    def check_connections(self, data: dict[str, Any]) -> None:
        providers = data.get("providers")
        if not isinstance(providers, dict):
            return
        self.declared = set(providers)
        self.declared_order = list(providers)
        for name, raw in providers.items():
            path: NodePath = ("providers", name)
            if isinstance(raw, dict):
                connections = self.connection(name, raw, path)
                for connection in connections:
                    if (problem := self.twin(connection)) is not None:
                        self.error(path, problem)
                        connections = []
                        break
                if connections:
                    self.covers[name] = [c.name for c in connections]
                    self.connections.update((c.name, c) for c in connections)

    def twin(self, connection: Connection) -> str | None:
        """Why ``connection`` may not join those before it (None: it joins them): one of
        them lists the same items (its host and account fields, or for a type without
        them its key variable, whatever account: names say), so each would be planned and
        limited twice; or has its account key, so their state would mix."""
        spec = REGISTRY[connection.type]
        found = reach(spec, connection.base_url, connection.options, connection.api_key_env)
        if (twin := self.reaches.get(found)) is not None:
            same = "account fields" if spec.account_fields else "api_key_env"
            return (
                f"{connection.name!r} reaches the same account as {twin!r} (type, host and"
                f" {same}, whatever account: names say): each of its items would be planned"
                " twice; remove one"
            )
        if (twin := self.keys.get(connection.account)) is not None:
            return (
                f"{connection.name!r} has the same account: name as {twin!r} at one host:"
                " their state would mix; give each its own account: name"
            )
        self.keys[connection.account] = connection.name
        self.reaches[found] = connection.name
        return None

    def connection(self, name: str, raw: dict[str, Any], path: NodePath) -> list[Connection]:
        """The declared connection, or one per value of a field it ``expands`` (Bedrock's
        ``regions``); empty when it has errors (reported)."""
        conn = self.fields(raw, path)
        if "type" in raw and "type" not in conn:
            return []  # not a registered type: the schema said so
        if "type" in conn:
            kind: str = conn["type"]
        elif name in REGISTRY:
            kind = name
        else:
            self.error(path, f"{name!r} is not a provider type: add type: ({_types()})")
            return []
        if name in REGISTRY and kind != name:
            self.error(
                (*path, "type"), f"connection {name!r} is named after a type but says {kind!r}"
            )
            return []
        spec = self.kinds[name] = REGISTRY[kind]
        before = len(self.errors)
        allowed = _allowed_fields(spec)
        for key in raw:
            if key in allowed or key not in _CONNECTION_FIELDS:
                continue  # unknown fields are the schema's to report
            if key == "api_key_env" and spec.credential in _CREDENTIAL_WORDS:
                words = _CREDENTIAL_WORDS[spec.credential]
                self.error((*path, key), f"{key!r} is not a field of type {kind}: it uses {words}")
            else:
                self.error(
                    (*path, key),
                    f"{key!r} is not a field of type {kind} (its fields: {', '.join(allowed)})",
                )
        plural = {one: many for many, one in spec.expands.items()}
        for field in spec.required_fields:
            if field not in raw and plural.get(field) not in raw:
                self.error(path, _needs(spec, field))
        for field, fragment in spec.connection_fields.items():
            # Without it, the field would be accepted and silently do nothing.
            if field in raw and (needed := fragment.get("x-needs")) and needed not in raw:
                self.error((*path, field), f"{field} means nothing without {needed}: add it")
        for many, one in spec.expands.items():
            if many in raw and one in raw:
                self.error((*path, many), f"give {one} or {many}, not both")
            for index, value in self.items(raw, many, path):
                if value in raw[many][:index]:
                    self.error((*path, many, index), f"{value!r} is listed twice")
        key_env = conn.get("api_key_env")
        if isinstance(key_env, str) and len(key_env) >= 24 and "_" not in key_env:
            self.error((*path, "api_key_env"), SECRET_HINT + " (this looks like a key)")
        for field, fragment in (("base_url", {"format": "uri"}), *spec.connection_fields.items()):
            value = conn.get(field)
            if (
                field not in allowed
                or fragment.get("format") != "uri"
                or not isinstance(value, str)
            ):
                continue
            if problem := base_url_problem(value, field):
                self.error((*path, field), problem)
        if len(self.errors) > before or not self.all_clean(raw, path, raw):
            return []
        for many, one in spec.expands.items():
            if many in conn:
                single = {k: v for k, v in conn.items() if k != many}
                return [
                    _connection(f"{name}/{value}", spec, {**single, one: value})
                    for value in conn[many]
                ]
        return [_connection(name, spec, conn)]

    def resolve_all(self, given: str | list[str], path: NodePath) -> dict[str, NodePath] | None:
        """The declared names (or bare types) a target's ``provider:`` covers, in order,
        each with the item that names it: a name, a glob over the declared names, or a list
        of either. A glob matching nothing and a connection named twice are errors at their
        item; None: not clean."""
        if not self.clean(path):
            return None
        items = (
            [(path, given)]
            if isinstance(given, str)
            else [((*path, i), item) for i, item in enumerate(given)]
        )
        names: dict[str, NodePath] = {}
        for where, item in items:
            if not any(c in item for c in _GLOB_CHARS):
                found = [item]
            else:
                found = [n for n in self.declared_order if fnmatchcase(n, item)]
                if not found:
                    known = _listing(self.declared) or "none declared"
                    self.error(where, f"{item!r} matches no connection (connections: {known})")
                    continue
            for name in found:
                if name in names:
                    self.error(where, f"{item!r} names connection {name!r} again")
                else:
                    names[name] = where
        return names

    def resolve(self, provider: str, path: NodePath) -> list[Connection] | None:
        """The connections a declared name (every region of it) or a bare type (with that
        type's defaults) stands for; None when it is broken (reported)."""
        if provider in self.covers:
            return [self.connections[n] for n in self.covers[provider]]
        if provider in self.declared:
            return None  # declared but broken: reported where it is declared
        spec = REGISTRY.get(provider)
        if spec is None:
            known = _listing({*self.connections, *REGISTRY})
            self.error(path, f"{provider!r} is not a connection in providers: or a type ({known})")
            return None
        self.kinds[provider] = spec
        if spec.required_fields:
            for field in spec.required_fields:
                self.error(
                    path,
                    f"{_needs(spec, field)}: declare a connection under providers:"
                    f" with type: {spec.type}",
                )
            self.declared.add(provider)  # reported once; later targets stay quiet
            return None
        connection = _connection(provider, spec, {})
        if (problem := self.twin(connection)) is not None:
            self.error(path, problem)
            self.declared.add(provider)  # reported once; later targets stay quiet
            return None
        self.connections[provider] = connection
        self.covers[provider] = [provider]
        return [self.connections[provider]]

    # -- jobs and targets ----------------------------------------------------------------

    def check_jobs(self, data: dict[str, Any]) -> list[Job]:
        jobs: list[Job] = []
        raw_jobs = data.get("jobs")
        if not isinstance(raw_jobs, list):
            return jobs
        seen: dict[str, int] = {}
        for index, raw in enumerate(raw_jobs):
            if isinstance(raw, dict):
                job = self.job(raw, index, seen)
                if job is not None:
                    jobs.append(job)
        return jobs

    def job(self, raw: dict[str, Any], index: int, seen: dict[str, int]) -> Job | None:
        path: NodePath = ("jobs", index)
        job = self.fields(raw, path)
        name = job.get("name")
        if name is not None:
            if name in seen:
                self.error(
                    (*path, "name"), f"job name {name!r} is already used by jobs[{seen[name]}]"
                )
            seen.setdefault(name, index)
        spec: CronSpec | EverySpec | None = None
        if "schedule" in job:
            try:
                spec = parse_schedule(job["schedule"])
            except ValueError as exc:
                self.error((*path, "schedule"), str(exc))
        grace = self.duration(job["grace"], (*path, "grace")) if "grace" in job else None
        misfire = None
        if "misfire_grace_time" in job:
            misfire = self.duration(job["misfire_grace_time"], (*path, "misfire_grace_time"))
        targets: list[Target] = []
        raw_targets = raw.get("targets")
        built = 0
        if isinstance(raw_targets, list):
            for t_index, t_raw in enumerate(raw_targets):
                if isinstance(t_raw, dict):
                    each = self.target(t_raw, (*path, "targets", t_index))
                    built += bool(each)
                    targets.extend(each)
        if name is None or not isinstance(raw_targets, list) or built < len(raw_targets):
            return None  # an error was reported: the model is never built
        return Job(
            name=name,
            targets=tuple(targets),
            max_deletions=job.get("max_deletions", DEFAULT_MAX_DELETIONS),
            max_deletions_percent=job.get("max_deletions_percent"),
            grace=grace,
            grace_text=job.get("grace"),
            schedule=job.get("schedule"),
            schedule_spec=spec,
            misfire_grace_time=misfire or DEFAULT_MISFIRE_GRACE,
        )

    def target(self, raw: dict[str, Any], path: NodePath) -> list[Target]:
        """One target per connection its ``provider:`` covers, each judged on its own;
        empty when it has errors (reported)."""
        t = self.fields(raw, path)
        names = self.resolve_all(t["provider"], (*path, "provider")) if "provider" in t else None
        resolved = [self.resolve(n, where) for n, where in (names or {}).items()]
        # Each type it covers checks the rules against its own facts (once per type).
        specs = self.target_kinds(list(names or ()), t, path)
        ids: list[str] = t.get("ids", [])
        for i_index, model_id in self.items(raw, "ids", path):
            reason = unsafe_id_reason(model_id)
            for spec in specs:
                reason = reason or spec.id_rule(model_id)
            if reason:
                self.error((*path, "ids", i_index), f"{model_id!r}: {reason}")
        selectors: list[Selector] = []
        for key, rule in SELECTORS.items():
            if key not in raw:
                continue
            field = _RuleField(self, raw, path, key)
            if key in t and (selector := rule.parse(t[key], field)) is not None:
                selectors.append(selector)
            for spec in specs:
                if (why := rule.unusable(spec)) is not None:
                    field.error(why)
                else:
                    rule.check(spec, field)
        target_fields = build_schema()["$defs"]["target"]["properties"]
        if self.all_clean(raw, path, target_fields):
            selecting = [key for key, rule in SELECTORS.items() if not rule.exempts]
            rules = ", ".join(selecting)
            has_rules = any(key in t for key in (*selecting, "match_all"))
            if "ids" not in t and not has_rules:
                self.error(path, f"a target needs ids, a rule ({rules}) or match_all: true")
            if "ids" in t and "match_all" in t:
                self.error((*path, "match_all"), "match_all cannot be combined with ids")
            if "keep_latest" in t and not has_rules:
                self.error(
                    (*path, "keep_latest"),
                    f"keep_latest applies only to rules ({rules}, match_all)",
                )
            if "with_deployments" in t:
                for spec in specs:
                    self.with_deployments(spec, (*path, "with_deployments"))
        if names is None or not names or any(r is None for r in resolved):
            return []
        for connection in (c for connections in resolved for c in connections or ()):
            self.hosting_fields(connection, t, path)
        return [
            Target(
                connection.name,
                ids=tuple(dict.fromkeys(ids)),
                selectors=tuple(selectors),
                keep_latest=t.get("keep_latest"),
                protect=tuple(t.get("protect", ())),
                match_all=t.get("match_all") is True,
                kind=t.get("kind", DEFAULT_KIND),
                with_deployments=t.get("with_deployments") is True,
            )
            for connections in resolved
            for connection in connections or ()
        ]

    def with_deployments(self, spec: KindSpec, path: NodePath) -> None:
        """Only a model target, at a type whose models something hosts, can have it."""
        if spec.kind != DEFAULT_KIND:
            self.error(path, f"with_deployments applies only to kind {DEFAULT_KIND}")
        elif not REGISTRY[spec.type].hosting_kinds():
            hosted = ", ".join(sorted(n for n, p in REGISTRY.items() if p.hosting_kinds()))
            self.error(
                path,
                f"{spec.type} has no kind that hosts models, so with_deployments has nothing"
                f" to delete (types that have one: {hosted or 'none'})",
            )

    def hosting_fields(self, connection: Connection, t: dict[str, Any], path: NodePath) -> None:
        """A target that reaches its type's hosting kinds or usage needs the connection
        fields those are reached with (Azure's ARM scope), reported at the target's line
        that reaches them."""
        needed = REGISTRY[connection.type].hosting_fields
        missing = [f for f in needed if not connection.options.get(f)]
        if not missing:
            return
        reasons = [
            (key, what)
            for key, what, applies in (
                ("kind", f"kind {t.get('kind')}", t.get("kind", DEFAULT_KIND) != DEFAULT_KIND),
                ("unused_for", "unused_for", "unused_for" in t),
                ("with_deployments", "with_deployments", t.get("with_deployments") is True),
            )
            if applies
        ]
        for key, what in reasons[:1]:
            self.error(
                (*path, key),
                f"{what} at {connection.type} connection {connection.name!r} needs"
                f" {', '.join(needed)} on the connection (missing: {', '.join(missing)})",
            )

    def target_kinds(self, names: list[str], t: dict[str, Any], path: NodePath) -> list[KindSpec]:
        """The facts of the kind a target selects at each type it covers that is known
        and has it: its rules and IDs are checked against those, not the type's."""
        if not self.clean((*path, "kind")):
            return []
        kind = t.get("kind", DEFAULT_KIND)
        out: list[KindSpec] = []
        types = {self.kinds[n].type: self.kinds[n] for n in names if n in self.kinds}
        for provider in types.values():
            if kind in provider.kinds:
                out.append(provider.kinds[kind])
            else:
                self.error(
                    (*path, "kind"),
                    f"{provider.type} has no kind {kind!r} (kinds: {provider.kind_names()})",
                )
        return out

    # -- where the file keeps its records ----------------------------------------------

    def check_storage(self, data: dict[str, Any]) -> tuple[StateRef, Path | None] | None:
        top = self.fields(data, ())
        if ("state" in data and "state" not in top) or (
            "audit_log" in data and "audit_log" not in top
        ):
            return None  # the schema reported it
        folder = _resolved(Path(self.doc.file)).parent
        state_text: str = top.get("state", DEFAULT_STATE)
        state: StateRef
        if _URL.match(state_text):
            if problem := state_url_problem(state_text):
                self.error(("state",), problem)
                return None
            state = StateRef(url=state_text)
        else:
            state = StateRef(path=folder / state_text)
        audit_text: str = top.get("audit_log", DEFAULT_AUDIT_LOG)
        if audit_text == AUDIT_IN_STATE:
            if state.url is None:
                self.error(
                    ("audit_log",),
                    "audit_log: state keeps the audit chain in the state database, which needs"
                    f" state: {_STATE_URL_FORM}",
                )
                return None
            return state, None
        audit = folder / audit_text
        job_file = _resolved(Path(self.doc.file))
        before = len(self.errors)
        if state.path is not None and _resolved(state.path) == job_file:
            self.error(("state",), "state is the job file itself: it must be another file")
        if _resolved(audit) == job_file:
            self.error(("audit_log",), "audit_log is the job file itself: it must be another file")
        if state.path is not None and _resolved(state.path) == _resolved(audit):
            where = ("audit_log",) if "audit_log" in data else ("state",)
            self.error(
                where, f"audit_log and state are the same file ({audit_text}): they must differ"
            )
        return (state, audit) if len(self.errors) == before else None

    def check_prices(self, data: dict[str, Any]) -> tuple[PriceOverride, ...]:
        """``prices:`` as overrides, in order. Each needs exactly one price, and each
        selector must be able to match something: a typo would silently price nothing."""
        out: list[PriceOverride] = []
        for index, entry in self.items(data, "prices", ()):  # whole entries the schema took
            override = self.price(entry, ("prices", index), index)
            if override is not None:
                out.append(override)
        return tuple(out)

    def price(self, entry: dict[str, Any], path: NodePath, index: int) -> PriceOverride | None:
        given = [key for key in ("per_hour", "per_month") if key in entry]
        if len(given) != 1:
            where = (*path, given[-1]) if given else path
            self.error(where, "give one price: per_hour or per_month" + (
                ", not both" if given else ""
            ))  # fmt: skip
            return None
        amount = decimal_of(entry[given[0]])
        if amount is None:
            self.error(
                (*path, given[0]), f"{_short(entry[given[0]])} is not a price: not a finite number"
            )
            return None
        if amount != amount.quantize(FINEST_PRICE):
            self.error(
                (*path, given[0]),
                f"{_short(entry[given[0]])} is finer than any price:"
                f" the finest is {FINEST_PRICE} dollars",
            )
            return None
        types = [t for t in REGISTRY if fnmatchcase(t, entry.get("type", "*"))]
        if not types:
            self.error((*path, "type"), f"{entry['type']!r} matches no provider type ({_types()})")
            return None
        kinds = {kind for t in types for kind in REGISTRY[t].kinds}
        if "kind" in entry and not any(fnmatchcase(k, entry["kind"]) for k in kinds):
            named = entry.get("type", "any type")
            self.error(
                (*path, "kind"),
                f"{entry['kind']!r} matches no kind of {named} (kinds: {_listing(kinds)})",
            )
            return None
        specs = [
            spec
            for t in types
            for kind, spec in REGISTRY[t].kinds.items()
            if fnmatchcase(kind, entry.get("kind", "*"))
        ]
        for key in (k for k in PRICE_KEYS if k in entry):
            if not any(key in spec.price_selectors for spec in specs):
                named = " ".join(entry[k] for k in ("type", "kind") if k in entry) or "any type"
                carried = _listing({s for spec in specs for s in spec.price_selectors})
                self.error(
                    (*path, key),
                    f"no {named} item carries {key}, so this never matches"
                    f" (what they carry: {carried or 'only type and kind'})",
                )
                return None
        hourly = given[0] == "per_hour"
        fact = PriceFact(
            per_hour=amount if hourly else None,
            per_month=None if hourly else amount,
            source=f"prices[{index}]",
        )
        selectors = {key: entry[key] for key in ("type", "kind", *PRICE_KEYS) if key in entry}
        return PriceOverride(fact, index, **selectors)

    def check_notify(self, data: dict[str, Any]) -> None:
        entries = data.get("notify")
        if not isinstance(entries, list):
            return
        seen: dict[str, int] = {}
        for index, raw in enumerate(entries):
            path: NodePath = ("notify", index)
            name = self.fields(raw, path).get("name") if isinstance(raw, dict) else None
            if name is None:
                continue
            if name in seen:
                self.error(
                    (*path, "name"), f"notify name {name!r} is already used by notify[{seen[name]}]"
                )
            seen.setdefault(name, index)
            self.notify_route(data, raw, path)

    def notify_route(self, data: dict[str, Any], raw: dict[str, Any], path: NodePath) -> None:
        """by_owner only with an owner_tag to read owners by (the schema wants one of
        url_env and by_owner)."""
        if "by_owner" in raw and self.clean((*path, "by_owner")) and "owner_tag" not in data:
            self.error(
                (*path, "by_owner"),
                "by_owner needs a top-level owner_tag: the tag that names each item's owner",
            )


class _RuleField:
    """One selector's field in one target, as its validation sees it (see ``Field``)."""

    def __init__(self, checker: _Checker, target: dict[str, Any], path: NodePath, key: str):
        self.checker, self.target, self.path, self.key = checker, target, path, key

    def items(self) -> list[tuple[int, Any]]:
        return self.checker.items(self.target, self.key, self.path)

    def error(self, message: str, *under: int) -> None:
        self.checker.error((*self.path, self.key, *under), message)


def _needs(spec: ProviderSpec, field: str) -> str:
    description = spec.connection_fields.get(field, {}).get("description")
    return f"{spec.type} needs {field}" + (f" ({description})" if description else "")


def _connection(name: str, spec: ProviderSpec, conn: Mapping[str, Any]) -> Connection:
    options = {
        field: conn[field] if field in conn else fragment["default"]
        for field, fragment in spec.connection_fields.items()
        if field in conn or "default" in fragment
    }
    if "account" in conn:  # common to every type; Azure's ARM scope names it too
        options["account"] = conn["account"]
    base_url = conn.get("base_url", spec.default_base_url)
    base_url = base_url.rstrip("/") if base_url is not None else None
    return Connection(
        name=name,
        type=spec.type,
        api_key_env=conn.get("api_key_env", spec.default_api_key_env)
        if spec.credential == "api_key"
        else None,
        base_url=base_url,
        concurrency=conn.get("concurrency", DEFAULT_CONCURRENCY),
        requests_per_minute=conn.get("requests_per_minute", spec.default_requests_per_minute),
        options=options,
        account=account_key(spec, name, base_url, options, conn.get("account")),
        account_name=conn.get("account"),
        former_account=account_key(spec, name, base_url, options, None)
        if "account" in conn
        else None,
    )


def _complete(data: dict[str, Any], jobs: list[Job]) -> bool:
    # A job is built only when each of its targets was (one target may cover several
    # connections, so the counts of targets differ).
    return len(jobs) == len(data["jobs"])


def validate_document(doc: LoadedDocument) -> JobFile:
    """Schema, then semantics; the model, or JobFileError listing every problem."""
    rejected = _schema_diagnostics(doc)
    checker = _Checker(doc, (path for path, _ in rejected))
    data: dict[str, Any] = doc.data
    checker.check_connections(data)
    jobs = checker.check_jobs(data)
    storage = checker.check_storage(data)
    checker.check_notify(data)
    prices = checker.check_prices(data)
    errors = [diagnostic for _, diagnostic in rejected] + checker.errors
    if not errors and (storage is None or not _complete(data, jobs)):
        raise AssertionError("a part of the file was dropped without an error")
    if errors or storage is None:
        unique = list(dict.fromkeys(errors))
        unique.sort(key=lambda d: (d.line, d.col))
        raise JobFileError(unique)
    state, audit_log = storage
    return JobFile(
        path=Path(doc.file),
        sha256=doc.sha256,
        connections=checker.connections,
        jobs=tuple(jobs),
        audit_log=audit_log,
        state=state,
        notify=notify_targets(data.get("notify") or ()),
        prices=prices,
        owner_tag=data.get("owner_tag"),
        parallel_connections=data.get("parallel_connections", DEFAULT_PARALLEL_CONNECTIONS),
    )


def notify_targets(items: Iterable[Mapping[str, Any]]) -> tuple[NotifyTarget, ...]:
    """The schema-checked ``notify:`` list as records (``format`` defaults to json)."""
    return tuple(
        NotifyTarget(
            name=str(item["name"]),
            url_env=str(item["url_env"]) if "url_env" in item else None,
            format="slack" if item.get("format") == "slack" else "json",
            events=tuple(str(kind) for kind in item["events"]),
            by_owner={str(k): str(v) for k, v in (item.get("by_owner") or {}).items()},
        )
        for item in items
    )


def load_job_file(path: str) -> JobFile:
    """Load and validate; raise JobFileError listing every problem, and nothing else."""
    try:
        job_file = validate_document(load_file(path))
    except JobFileError:
        raise
    except Exception as exc:  # a bug, not bad input: still one line and exit 2
        message = f"internal error while validating ({type(exc).__name__}): please report it"
        raise JobFileError([Diagnostic(path, 1, 1, "(document)", message)]) from exc
    return dataclasses.replace(job_file, warnings=tuple(location_warnings(Path(path))))

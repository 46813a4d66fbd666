"""Reviewed plans: ``plan --out`` writes one, ``run --plan`` checks it before anything.

The file is JSON with a self-hash (``sha256`` over the canonical JSON of everything else),
so an accidental edit is caught; anyone can recompute that hash, so with
``FTJANITOR_PLAN_KEY`` set the plan also carries ``hmac_sha256``, which only a holder of
the key can make. It names the job file's hash, so a changed job file is caught; and it
expires. ``run --plan`` then deletes only what is in the plan and still selected now.

A plan file is input from anywhere: it is read through the bounded reader, its nesting is
measured before the JSON parser can recurse, and it must fit schemas/plan.schema.json
before any of its values is used.
"""

import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from itertools import accumulate
from pathlib import Path
from typing import Any

from runner.chain import dumps
from runner.clock import parse_instant, rfc3339
from runner.credentials import is_malformed
from runner.errors import ConfigError
from runner.files import NotReadable, read_bounded
from runner.jobfile.model import JobFile
from runner.jobfile.validate import strict_validator
from runner.outputs import write_atomic
from runner.ref import ResourceRef
from runner.rules import JobPlan, UsageReviewed
from runner.text import shown
from runner.usage import LastUse

KIND = "ftjanitor.plan"
VERSION = 1
MIN_TTL = timedelta(minutes=1)
MAX_BYTES = 64 * 1024 * 1024
MAX_DEPTH = 32  # a plan nests 5 deep; room for later versions, none for a parser bomb
KEY_ENV = "FTJANITOR_PLAN_KEY"
_SELF = ("sha256", "hmac_sha256")  # the fields no hash covers

# A JSON string, or an unterminated one running to the end: matching the latter too keeps
# the scan linear on garbage (no rescan from every quote).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _canonical(body: Mapping[str, Any], without: tuple[str, ...]) -> bytes:
    # surrogatepass: a lone surrogate from a provider's name hashes instead of crashing.
    text = dumps({k: v for k, v in body.items() if k not in without})
    return text.encode("utf-8", "surrogatepass")


def _digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(body, ("sha256",))).hexdigest()


def _signature(body: Mapping[str, Any], key: str) -> str:
    return hmac.new(key.encode(), _canonical(body, _SELF), hashlib.sha256).hexdigest()


def plan_key(environ: Mapping[str, str]) -> str | None:
    """The signing key, or None when plans are unsigned. Never shown, even when refused.

    Set but empty is refused rather than read as unset: a CI secret that is missing
    expands to an empty string, and that must not silently turn signing off."""
    key = environ.get(KEY_ENV)
    if key is None:
        return None
    if not key:
        raise ConfigError(f"{KEY_ENV} is set but empty: set the key, or unset the variable")
    if is_malformed(key):
        raise ConfigError(
            f"malformed plan key: {KEY_ENV} holds whitespace or control characters"
            " (value not shown)"
        )
    return key


def check_ttl(ttl: timedelta) -> None:
    if ttl < MIN_TTL:
        raise ConfigError(
            "plan: --ttl must be at least 1m: a shorter plan expires before anyone can"
            " review it; no plan file was written"
        )


def build(
    job_file: JobFile,
    plans: list[JobPlan],
    now: datetime,
    created: datetime,
    ttl: timedelta,
    key: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "v": VERSION,
        "kind": KIND,
        "created": rfc3339(created),
        "now": rfc3339(now),
        "expires": rfc3339(created + ttl),
        "job_file": str(job_file.path),
        "job_file_sha256": job_file.sha256,
        "jobs": [
            {
                "job": plan.job.name,
                "deletes": [
                    {
                        **d.ref.fields(),
                        "name": d.name,
                        "reason": d.reason,
                        # An unused_for selection: what run --plan checks a fresh read
                        # against (the signature covers it like the rest).
                        **(d.usage.fields() if d.usage is not None else {}),
                    }
                    for d in sorted(plan.deletes, key=lambda d: d.ref)
                ],
            }
            for plan in plans
        ],
    }
    if key is not None:
        body["hmac_sha256"] = _signature(body, key)
    body["sha256"] = _digest(body)
    return body


def write(path: Path, body: dict[str, Any]) -> None:
    """Atomically: a reviewer never reads half a plan."""
    # backslashreplace: a lone surrogate can only sit inside a JSON string, where its
    # \\udXXX spelling is the JSON escape itself, so the file stays valid UTF-8 JSON.
    text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, text.encode("utf-8", "backslashreplace"), "the plan")


@dataclass(frozen=True)
class Reviewed:
    """A checked plan file: which items each job may delete."""

    sha256: str
    deletes: dict[str, set[ResourceRef]]  # job -> its reviewed deletes
    # job -> what the plan recorded of the use its unused_for selections rested on
    usage: dict[str, UsageReviewed] = field(default_factory=dict)


def load(
    path: Path, job_file: JobFile, wall_now: datetime, environ: Mapping[str, str] | None = None
) -> Reviewed:
    """Check everything before anything is sent; ConfigError (exit 2) on any doubt."""
    where = f"--plan {path}"
    key = plan_key(os.environ if environ is None else environ)
    body = _read(path, where)
    if body.get("sha256") != _digest(body):
        raise ConfigError(f"{where}: the plan was edited after it was made (sha256 differs)")
    _check_signature(body, key, where)
    if body["job_file_sha256"] != job_file.sha256:
        raise ConfigError(
            f"{where}: {job_file.path} changed since the plan was made; make a new plan"
        )
    try:
        expires = parse_instant(body["expires"])
    except ValueError:
        raise ConfigError(f"{where}: unreadable expiry time") from None
    if wall_now >= expires:
        raise ConfigError(f"{where}: the plan expired at {rfc3339(expires)}; make a new plan")
    # A use after this was not there to review (the earlier of the rules' clock and the
    # wall clock, whatever --now said when the plan was made).
    made = min(_instant(body, "now", where), _instant(body, "created", where))
    known = {job.name for job in job_file.jobs}
    deletes: dict[str, set[ResourceRef]] = {}
    usage: dict[str, UsageReviewed] = {}
    for entry in body["jobs"]:
        name = entry["job"]
        if name not in known:
            raise ConfigError(
                f"{where}: names job {shown(repr(name))}, which {job_file.path} lacks"
            )
        if name in deletes:
            raise ConfigError(f"{where}: names job {shown(repr(name))} twice")
        # An entry of 0.2 has no kind: it is a model (ResourceRef reads it so).
        deletes[name] = {ResourceRef.from_fields(d) for d in entry["deletes"]}
        usage[name] = UsageReviewed(_last_uses(entry["deletes"], where), made)
    return Reviewed(body["sha256"], deletes, usage)


def _instant(body: Mapping[str, Any], key: str, where: str) -> datetime:
    try:
        return parse_instant(body[key])
    except ValueError:
        raise ConfigError(f"{where}: unreadable time in {key!r}") from None


def _last_uses(deletes: list[dict[str, Any]], where: str) -> dict[ResourceRef, LastUse]:
    """The last use each unused_for entry recorded (entries of 0.2 and of other rules
    have none: a plan that predates them still applies)."""
    out = {}
    for d in deletes:
        try:
            seen = LastUse.from_fields(d)
        except ValueError:
            raise ConfigError(f"{where}: unreadable last_used time") from None
        if seen is not None:
            out[ResourceRef.from_fields(d)] = seen
    return out


def _check_signature(body: Mapping[str, Any], key: str | None, where: str) -> None:
    signed = "hmac_sha256" in body
    if key is None:
        if signed:
            raise ConfigError(f"{where}: the plan is signed, but {KEY_ENV} is not set to check it")
        return
    if not signed:
        raise ConfigError(f"{where}: the plan is not signed, and {KEY_ENV} requires it")
    if not hmac.compare_digest(body["hmac_sha256"], _signature(body, key)):
        raise ConfigError(
            f"{where}: the plan's signature does not match {KEY_ENV}"
            " (edited, or signed with another key)"
        )


def _read(path: Path, where: str) -> dict[str, Any]:
    """The plan's JSON, of the plan file's shape: nothing unchecked reaches the caller."""
    try:
        raw = read_bounded(path, MAX_BYTES, "plan file")
    except NotReadable as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if _depth(raw) > MAX_DEPTH:
        raise ConfigError(f"{where}: not a plan file: nesting deeper than {MAX_DEPTH}")
    try:
        body = json.loads(raw, object_pairs_hook=_no_duplicates)
    except _Duplicate as exc:
        # A reviewer's viewer shows one of the two values, json keeps the other.
        raise ConfigError(f"{where}: not a plan file: the key {exc} appears twice") from None
    except ValueError:
        raise ConfigError(f"{where}: not a JSON plan file") from None
    error = _best_error(body)
    if error is not None:
        raise ConfigError(f"{where}: {_describe(body, error)}")
    if not isinstance(body, dict):  # the schema's first word says so; mypy cannot see it
        raise ConfigError(f"{where}: not a plan file: not a JSON object")
    return body


def _depth(raw: bytes) -> int:
    """How deep brackets nest outside strings, without parsing: linear, no recursion."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    steps = (1 if b in b"[{" else -1 for b in brackets)
    return max(accumulate(steps, initial=0))


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in pairs:
        if key in body:
            raise _Duplicate(shown(repr(key)))
        body[key] = value
    return body


@cache
def _validator() -> Any:
    schema = resources.files("runner.schemas").joinpath("plan.schema.json").read_text("utf-8")
    return strict_validator(json.loads(schema))


def _best_error(body: Any) -> Any:
    from jsonschema.exceptions import best_match

    return best_match(_validator().iter_errors(body))


_KINDS = {
    "string": "a string",
    "integer": "a whole number",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


def _describe(body: Any, error: Any) -> str:
    """One line in our words: where in the file, and what is wrong there."""
    if not isinstance(body, dict) or body.get("kind") != KIND:
        return f"not an ftjanitor plan file (kind {KIND!r})"
    path = list(error.absolute_path)
    if "v" not in body or path == ["v"]:
        return f"not a plan file this ftjanitor reads (it reads version {VERSION})"
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    where = shown(where) or "the top level"
    instance, wanted = error.instance, error.validator_value
    problem = "does not fit the plan format"
    if error.validator == "type":
        names = wanted if isinstance(wanted, list) else [wanted]
        problem = "must be " + " or ".join(_KINDS.get(str(n), str(n)) for n in names)
    elif error.validator == "required":
        problem = "lacks " + repr(next(k for k in wanted if k not in instance))
    elif error.validator == "enum":
        known = ", ".join(str(v) for v in wanted)
        problem = f"is {shown(repr(instance))[:80]}, which this ftjanitor does not know ({known})"
    elif error.validator == "additionalProperties":
        extra = sorted(k for k in instance if k not in error.schema.get("properties", {}))
        problem = f"has an unknown field {shown(repr(extra[0]))}"
    return f"not a valid plan file: {where} {problem}"

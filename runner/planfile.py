"""Reviewed plans: ``plan --out`` writes one, ``run --plan`` checks it before anything.

The file is JSON with a self-hash (``sha256`` over the canonical JSON of everything else),
so an edit is caught; it names the job file's hash, so a changed job file is caught; and it
expires. ``run --plan`` then deletes only what is in the plan and still selected now.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runner.chain import dumps
from runner.clock import parse_instant, rfc3339
from runner.errors import ConfigError, StorageError
from runner.files import NotReadable, read_bounded
from runner.jobfile.model import JobFile
from runner.rules import JobPlan

KIND = "ftjanitor.plan"
VERSION = 1
DEFAULT_TTL = timedelta(hours=24)
MAX_BYTES = 64 * 1024 * 1024


def _digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(
        dumps({k: v for k, v in body.items() if k != "sha256"}).encode()
    ).hexdigest()


def build(
    job_file: JobFile, plans: list[JobPlan], now: datetime, created: datetime, ttl: timedelta
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
                        "provider": d.connection,
                        "model_id": d.model_id,
                        "name": d.name,
                        "reason": d.reason,
                    }
                    for d in sorted(plan.deletes, key=lambda d: (d.connection, d.model_id))
                ],
            }
            for plan in plans
        ],
    }
    body["sha256"] = _digest(body)
    return body


def write(path: Path, body: dict[str, Any]) -> None:
    """Atomically: a reviewer never reads half a plan."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", "utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"{path}: cannot write the plan: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class Reviewed:
    """A checked plan file: which models each job may delete."""

    sha256: str
    deletes: dict[str, set[tuple[str, str]]]  # job -> {(connection, model_id)}


def load(path: Path, job_file: JobFile, wall_now: datetime) -> Reviewed:
    """Check everything before anything is sent; ConfigError (exit 2) on any doubt."""
    where = f"--plan {path}"
    try:
        body = json.loads(read_bounded(path, MAX_BYTES, "plan file"))
    except NotReadable as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except ValueError:
        raise ConfigError(f"{where}: not a JSON plan file") from None
    if not isinstance(body, dict) or body.get("kind") != KIND or body.get("v") != VERSION:
        raise ConfigError(f"{where}: not an ftjanitor plan file (version {VERSION})")
    if body.get("sha256") != _digest(body):
        raise ConfigError(f"{where}: the plan was edited after it was made (sha256 differs)")
    if body.get("job_file_sha256") != job_file.sha256:
        raise ConfigError(
            f"{where}: {job_file.path} changed since the plan was made; make a new plan"
        )
    try:
        expires = parse_instant(str(body.get("expires")))
    except ValueError:
        raise ConfigError(f"{where}: unreadable expiry time") from None
    if wall_now >= expires:
        raise ConfigError(f"{where}: the plan expired at {rfc3339(expires)}; make a new plan")
    known = {job.name for job in job_file.jobs}
    deletes: dict[str, set[tuple[str, str]]] = {}
    for entry in body.get("jobs") or []:
        name = entry.get("job") if isinstance(entry, dict) else None
        if name not in known:
            raise ConfigError(f"{where}: names job {name!r}, which {job_file.path} lacks")
        deletes[str(name)] = {
            (str(d.get("provider")), str(d.get("model_id")))
            for d in entry.get("deletes") or []
            if isinstance(d, dict)
        }
    return Reviewed(str(body["sha256"]), deletes)

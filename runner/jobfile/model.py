"""The validated job file as plain, immutable records."""

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from runner.cron import CronSpec, EverySpec


@dataclass(frozen=True)
class Connection:
    name: str
    type: str
    api_key_env: str
    base_url: str
    concurrency: int
    requests_per_minute: int


@dataclass(frozen=True)
class Target:
    provider: str  # connection name
    ids: tuple[str, ...] = ()
    older_than: timedelta | None = None
    older_than_text: str | None = None
    status: tuple[str, ...] = ()
    name: str | None = None
    keep_latest: int | None = None
    protect: tuple[str, ...] = ()
    match_all: bool = False

    @property
    def has_rules(self) -> bool:
        # older_than_text, not older_than: a rule written badly is still a rule.
        return self.match_all or bool(
            self.older_than_text is not None or self.status or self.name is not None
        )


@dataclass(frozen=True)
class Job:
    name: str
    targets: tuple[Target, ...]
    max_deletions: int = 50
    schedule: str | None = None
    schedule_spec: CronSpec | EverySpec | None = None
    misfire_grace_time: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class JobFile:
    path: Path
    sha256: str
    connections: dict[str, Connection]
    jobs: tuple[Job, ...]
    audit_log: Path
    state: Path
    warnings: tuple[str, ...] = ()  # about where the file lives, not what it says

    def job(self, name: str) -> Job:
        for job in self.jobs:
            if job.name == name:
                return job
        raise KeyError(name)

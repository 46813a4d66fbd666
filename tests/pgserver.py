"""A throwaway PostgreSQL server for the test session (and bench/pg_audit.py).

``PgServer`` runs initdb/pg_ctl from the machine's PostgreSQL binaries in a temporary
folder, listening on 127.0.0.1 on a free port; as root it runs them as an unprivileged
system user (initdb refuses root). Roles: ``postgres`` (superuser), ``ftjanitor`` (trusted
on 127.0.0.1, the role tests use) and ``ftjanitor_pw`` (password only, for PGPASSWORD).

As a pytest plugin (``pytest_plugins = ["tests.pgserver"]`` in tests/conftest.py) it gives:

- ``pg_server``: the session's server, started on first use;
- ``pg_own_server``: a server for one test, which it may ``restart()`` mid-run;
- ``pg_url``: ``postgresql://ftjanitor@127.0.0.1:PORT/ftjanitor_test`` (shared, session);
- ``pg_fresh_url``: the same database with a fresh, empty schema first on the search
  path, for one test (dropped after it).

Without the binaries the fixtures skip with a visible reason, or fail when
``FTJANITOR_REQUIRE_POSTGRES=1`` (CI sets it, so PostgreSQL tests can never silently skip).
"""

import atexit
import contextlib
import itertools
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

SUPERUSER = "postgres"
APP_ROLE = "ftjanitor"
PASSWORD_ROLE = "ftjanitor_pw"
SYSTEM_USER = "ftjanitor-pg"
REQUIRE_ENV = "FTJANITOR_REQUIRE_POSTGRES"
MISSING = "PostgreSQL binaries (initdb, pg_ctl) not found"
START_SECONDS = 30.0
_BINARIES = ("initdb", "pg_ctl", "postgres")


class PgUnavailable(Exception):
    """This machine cannot run a PostgreSQL server (no binaries, no psycopg)."""


def find_bindir() -> Path | None:
    """$PG_BINDIR, else the folder of initdb on PATH, else Debian's newest
    /usr/lib/postgresql/N/bin (the postgresql package does not put them on PATH)."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = [p for p in debian.iterdir() if p.name.isdigit()]
        candidates += [p / "bin" for p in sorted(versions, key=lambda p: -int(p.name))]
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in _BINARIES):
            return folder
    return None


def _system_user() -> tuple[int, int]:
    """uid and gid to run the server as when we are root: ftjanitor-pg, made if need be
    (idempotent; another session may make it at the same moment), else nobody."""
    for attempt in range(2):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(SYSTEM_USER)
            return entry.pw_uid, entry.pw_gid
        if attempt == 0 and shutil.which("useradd"):
            subprocess.run(
                [
                    *("useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent"),
                    *("--shell", "/usr/sbin/nologin", SYSTEM_USER),
                ],
                capture_output=True,
                check=False,
                timeout=30,
            )
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PgServer:
    """One PostgreSQL server in a temporary folder; ``with PgServer() as server: ...``."""

    host = "127.0.0.1"

    def __init__(self, *, fsync: bool = False, bindir: Path | None = None):
        found = bindir or find_bindir()
        if found is None:
            raise PgUnavailable(MISSING)
        try:
            import psycopg  # noqa: F401
        except ImportError as error:
            raise PgUnavailable(f"psycopg is not installed ({error})") from None
        self.bindir = found
        self.fsync = fsync
        self.port = 0
        self.password = "pw-" + secrets.token_hex(12)
        self.base = Path(tempfile.mkdtemp(prefix="ftjanitor-pg-"))
        self.data = self.base / "data"
        self.sockets = self.base / "sock"
        self.log = self.base / "postgres.log"
        self._as: tuple[int, int] | None = _system_user() if os.geteuid() == 0 else None
        self._running = False
        self._names = itertools.count(1)
        self._options: list[str] = []

    # the server's processes

    def _pg(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {"PATH": f"{self.bindir}:/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"}
        extra: dict[str, Any] = {}
        if self._as is not None:
            extra = {"user": self._as[0], "group": self._as[1], "extra_groups": []}
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.base,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **extra,
        )

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no server log)"

    def start(self) -> "PgServer":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.sockets.mkdir()
        if self._as is not None:
            for path in (self.base, self.sockets):
                os.chown(path, *self._as)
        self.base.chmod(0o700)
        done = self._pg(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "-A", "trust",
            "--encoding", "UTF8", "--locale", "C", "--no-sync",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\n"
            "host all all 127.0.0.1/32 trust\n"
        )
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.sockets}",
            f"-c fsync={'on' if self.fsync else 'off'}",
            "-c max_connections=200",
        ]
        if not self.fsync:
            options += ["-c full_page_writes=off"]
        self._options = options
        for _attempt in range(3):  # a free port can be taken before we bind it
            self.port = _free_port()
            done = self._pg_start()
            if done.returncode == 0:
                break
            if "could not bind" not in self._log_tail() and "in use" not in self._log_tail():
                break
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()}\n{self._log_tail()}")
        self._running = True
        atexit.register(self.stop)
        self._wait_ready()
        with self.admin() as admin:
            admin.execute(f"CREATE ROLE {APP_ROLE} LOGIN CREATEDB")
            admin.execute(f"CREATE ROLE {PASSWORD_ROLE} LOGIN PASSWORD '{self.password}'")

    def _pg_start(self) -> subprocess.CompletedProcess[str]:
        return self._pg(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w",
            "-t", str(int(START_SECONDS)),
            "-o", " ".join([f"-c port={self.port}", *self._options]),
        )  # fmt: skip

    def restart(self) -> None:
        """Stop at once and start again on the same port: a failover as clients see it
        (every open connection breaks; new ones work again)."""
        self._pg("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        done = self._pg_start()
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr.strip()}\n{self._log_tail()}")
        self._wait_ready()

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                psycopg.connect(self.url(SUPERUSER, "postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL not ready: {error}\n{self._log_tail()}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop at once (tests keep nothing) and remove the folder; safe to call twice."""
        if self._running:
            self._running = False
            done = self._pg("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
            if done.returncode != 0:
                self._kill_postmaster()
        shutil.rmtree(self.base, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> "PgServer":
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # what the tests use

    def url(self, role: str = APP_ROLE, db: str = "ftjanitor_test") -> str:
        return f"postgresql://{role}@{self.host}:{self.port}/{db}"

    def admin(self, db: str = "postgres") -> Any:
        """An autocommit superuser connection (a psycopg.Connection)."""
        import psycopg

        return psycopg.connect(self.url(SUPERUSER, db), autocommit=True)

    def create_database(self, name: str, owner: str = APP_ROLE) -> str:
        """A new empty database owned by ``owner``; its URL as ``owner``."""
        with self.admin() as admin:
            admin.execute(f'CREATE DATABASE "{name}" OWNER "{owner}" TEMPLATE template0')
        return self.url(owner, name)

    def create_schema(self, owner: str = APP_ROLE, db: str = "ftjanitor_test") -> str:
        """A new empty schema in ``db``, owned by ``owner``: the URL as ``owner`` puts it
        first (and alone) on the search path, so every ftjanitor_* table lands in it.
        A schema costs milliseconds where a database costs a fifth of a second."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with self.admin(db) as admin:
            admin.execute(f'CREATE SCHEMA "{name}" AUTHORIZATION "{owner}"')
        return f"{self.url(owner, db)}?options=-csearch_path%3D{name}"

    def drop_schema(self, url: str, db: str = "ftjanitor_test") -> None:
        name = url.rsplit("%3D", 1)[1]
        with self.admin(db) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(
            f"{reason}, and {REQUIRE_ENV} is set: PostgreSQL tests must run here"
            " (Debian: apt-get install postgresql; or set PG_BINDIR)",
            pytrace=False,
        )
    pytest.skip(f"{reason}: PostgreSQL tests skipped")


def _served() -> Iterator[PgServer]:
    try:
        server = PgServer()
    except PgUnavailable as why:
        reason = str(why)
    else:
        with server:
            yield server
        return
    _unavailable(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    yield from _served()


@pytest.fixture
def pg_own_server() -> Iterator[PgServer]:
    """A server of this test's own, which the test may restart (the session's may not)."""
    yield from _served()


@pytest.fixture(scope="session")
def pg_url(pg_server: PgServer) -> str:
    """The session's database, shared by every test that asks for it."""
    return pg_server.create_database("ftjanitor_test")


@pytest.fixture
def pg_fresh_url(pg_server: PgServer, pg_url: str) -> Iterator[str]:
    """A URL whose tables start empty: a schema of its own in the session's database."""
    url = pg_server.create_schema()
    yield url
    pg_server.drop_schema(url)

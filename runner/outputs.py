"""Every file a command writes is checked here, before the first request.

An output that cannot be written must be found out while nothing has been sent: once a
delete went out the exit code can no longer be 2, and the run's figures would be lost.
Commands call ``check_output`` for each output path as they start (``run
--metrics-file``, ``plan --out``).
"""

import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from runner.errors import ConfigError, StorageError

if TYPE_CHECKING:
    from runner.jobfile.model import JobFile

# SQLite keeps a database's pages beside it while it is open: writing over one is as bad
# as writing over the database.
_SQLITE_SIDES = ("", "-wal", "-shm", "-journal")


def inputs_of(job_file: "JobFile") -> dict[Path, str]:
    """The files a job file's runs depend on, which no output may be written over: the
    job file itself, its audit log and its state database (with SQLite's side files)."""
    found = {job_file.path: "the job file"}
    if job_file.audit_log is not None:
        found[job_file.audit_log] = "the job file's audit log"
    if job_file.state.path is not None:
        for side in _SQLITE_SIDES:
            state = job_file.state.path.with_name(job_file.state.path.name + side)
            found[state] = "the job file's state database"
    return found


def check_output(path: str, option: str, inputs: Mapping[Path, str] | None = None) -> Path:
    """The path, or ConfigError (exit 2) in one line naming the option.

    Outputs are written as a temporary file in the same folder and renamed over the path,
    so the folder must take a new file (tried for real: permissions, a read-only mount and
    ACLs all answer), and the path must not be a folder or a special file, nor any of
    ``inputs`` (by another name, a link, or a hard link too): replacing the audit log with
    a report would lose every record in it."""
    where = Path(path)
    refuse = f"{option} {path}"
    if not path or path.endswith(os.sep):
        raise ConfigError(f"{refuse}: names no file; nothing was sent")
    for kept, what in (inputs or {}).items():
        if _same_file(where, kept):
            raise ConfigError(
                f"{refuse}: is {what}; an output must not replace it; nothing was sent"
            )
    try:
        mode = where.stat().st_mode
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigError(
            f"{refuse}: cannot be written: {_reason(exc)}; nothing was sent"
        ) from None
    else:
        if stat.S_ISDIR(mode):
            raise ConfigError(f"{refuse}: is a folder, not a file; nothing was sent")
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{refuse}: is not a regular file; nothing was sent")
    folder = where.parent
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{where.name}.", suffix=".tmp")
    except FileNotFoundError:
        raise ConfigError(
            f"{refuse}: the folder {folder} does not exist; nothing was sent"
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{refuse}: cannot create a file in {folder}: {_reason(exc)}; nothing was sent"
        ) from None
    os.close(fd)
    os.unlink(probe)
    return where


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode when both exist, else the same
    place once links and ``..`` are resolved."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _reason(exc: OSError) -> str:
    return " ".join((exc.strerror or str(exc) or type(exc).__name__).split())


def write_atomic(path: Path, data: bytes, what: str) -> None:
    """Written beside ``path`` and renamed over it: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"{path}: cannot write {what}: {exc.strerror or exc}") from None

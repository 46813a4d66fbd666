"""Every file a command writes is checked here, before the first request.

An output that cannot be written must be found out while nothing has been sent: once a
delete went out the exit code can no longer be 2, and the run's figures would be lost.
Commands call ``check_output`` for each output path as they start (``run
--metrics-file``, ``plan --out``).
"""

import os
import stat
import tempfile
from pathlib import Path

from runner.errors import ConfigError, StorageError


def check_output(path: str, option: str) -> Path:
    """The path, or ConfigError (exit 2) in one line naming the option.

    Outputs are written as a temporary file in the same folder and renamed over the path,
    so the folder must take a new file (tried for real: permissions, a read-only mount and
    ACLs all answer), and the path must not be a folder or a special file."""
    where = Path(path)
    refuse = f"{option} {path}"
    if not path or path.endswith(os.sep):
        raise ConfigError(f"{refuse}: names no file; nothing was sent")
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

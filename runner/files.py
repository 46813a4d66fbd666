"""Files ftjanitor creates hold deletion history: owner-only from the first byte. Files it
reads come from anywhere: regular files only, and never more than a stated size."""

import os
import stat
from pathlib import Path


def create_private(path: Path) -> None:
    """Create a file (and its folder) readable by the owner only, if it is not there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)


def location_warnings(path: Path) -> list[str]:
    """Why someone else could change what this job file deletes (empty when nobody can)."""
    warnings = []
    me = os.getuid()
    try:
        own = path.stat()
        folder = path.resolve().parent.stat()
    except OSError:
        return []
    if own.st_uid != me:
        warnings.append(f"{path} belongs to another user (uid {own.st_uid})")
    if own.st_mode & 0o022:
        warnings.append(f"{path} can be written by other users (mode {own.st_mode & 0o777:o})")
    sticky = folder.st_mode & stat.S_ISVTX
    if (folder.st_mode & 0o002 and not sticky) or (folder.st_uid != me and folder.st_mode & 0o022):
        warnings.append(f"{path} is in a folder other users can write to: they could replace it")
    return warnings


class NotReadable(Exception):
    """A file ftjanitor was asked to read that it will not or cannot read (one line)."""


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
_CHUNK = 1024 * 1024


def read_bounded(path: Path | str, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them: every file the
    tool reads (job files, plan files, seeds) comes through here.

    A size from stat() proves nothing about /dev/zero or a pipe, and opening a FIFO for
    reading blocks until a writer comes: so the kind is checked before opening, opened
    without blocking and checked again on the open descriptor (the path may have been
    swapped in between), and the read itself stops after ``limit + 1`` bytes.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise NotReadable(_unreachable(Path(path), exc)) from None
    if problem := _not_regular(mode, what):
        raise NotReadable(problem)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise NotReadable(f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if problem := _not_regular(info.st_mode, what):
            raise NotReadable(problem)
        if info.st_size > limit:  # only a shortcut: the read below is the bound
            raise NotReadable(f"file is over {limit} bytes")
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0 and (chunk := os.read(fd, min(left, _CHUNK))):
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise NotReadable(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if left <= 0:
        raise NotReadable(f"file is over {limit} bytes")
    return b"".join(chunks)


def _not_regular(mode: int, what: str) -> str | None:
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    return f"is {kind}, not a {what}"


def _unreachable(path: Path, exc: OSError) -> str:
    if path.is_symlink():  # dangling, or a loop
        try:
            return f"broken symlink (its target {os.readlink(path)!r} does not exist)"
        except OSError:
            return "broken symlink"
    return f"cannot read: {exc.strerror or exc}"

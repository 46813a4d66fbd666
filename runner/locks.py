"""Never twice at once: a per-job lock that holds across threads and processes."""

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.files import create_private


def lock_path(state: Path, job: str) -> Path:
    return state.parent / f"{state.name}.locks" / f"{job}.lock"


@contextmanager
def job_lock(state: Path, job: str) -> Iterator[int | None]:
    """Yields None when acquired, else the pid written by the holder (0 if unknown).

    flock locks belong to an open file description, so a second open of the same file,
    in this process or another, is refused while the first holds it.
    """
    path = lock_path(state, job)
    create_private(path)
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            yield int(holder) if holder.isdigit() else 0
            return
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield None
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

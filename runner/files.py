"""Files ftjanitor creates hold deletion history: owner-only from the first byte."""

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

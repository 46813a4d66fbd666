"""Files ftjanitor creates hold deletion history: owner-only from the first byte."""

import os
from pathlib import Path


def create_private(path: Path) -> None:
    """Create a file (and its folder) readable by the owner only, if it is not there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)

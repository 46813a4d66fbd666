"""One problem in one file, printed gcc-style so editors can jump to it."""

import re

Path = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """Control characters escaped, so no value from a file can add or forge a line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def format_path(path: Path) -> str:
    """``('jobs', 0, 'targets', 1, 'older_than')`` -> ``jobs[0].targets[1].older_than``.

    Keys other than letters, digits, '_' and '-' are quoted: ``providers['my conn']``.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.match(part):
            out += f"[{part!r}]"  # a key with spaces, dots or stranger: quoted
        else:
            out += f".{part}" if out else part
    return out or "(document)"


class Diagnostic:
    """One located problem; immutable. Control characters in any part are escaped.

    A plain class rather than a dataclass: ``validate`` imports this on every run, and
    generating dataclass methods costs more start-up time than the whole check.
    """

    __slots__ = ("col", "file", "line", "message", "path")

    file: str
    line: int
    col: int
    path: str
    message: str

    def __init__(self, file: str, line: int, col: int, path: str, message: str):
        for name, value in (
            ("file", one_line(file)),
            ("line", line),
            ("col", col),
            ("path", one_line(path)),
            ("message", one_line(message)),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Diagnostic is immutable: cannot set {name}")

    def _key(self) -> tuple[str, int, int, str, str]:
        return (self.file, self.line, self.col, self.path, self.message)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Diagnostic) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "Diagnostic({!r}, {!r}, {!r}, {!r}, {!r})".format(*self._key())

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "path": self.path,
            "message": self.message,
        }


class JobFileError(Exception):
    """A job file is invalid; carries every diagnostic found in it."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("\n".join(str(d) for d in diagnostics))
        self.diagnostics = diagnostics

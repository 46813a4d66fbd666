"""Safe YAML loading that remembers where every node is.

PyYAML keeps the last of two duplicate keys silently (a lost ``protect`` list), so we
walk the composed node graph ourselves: duplicate keys, unknown tags, merge keys, alias
bombs and over-deep nesting all become positioned errors instead of surprises.
"""

import pathlib
from typing import Any

import yaml

from runner.files import NotReadable, read_bounded
from runner.jobfile.diagnostics import Diagnostic, JobFileError, Path, format_path

try:  # CPython's own SHA-256: importing hashlib loads OpenSSL, a few ms of every validate
    from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]  # 3.12+
except ImportError:
    try:
        from _sha256 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
    except ImportError:  # another Python
        from hashlib import sha256  # type: ignore[assignment,no-redef,unused-ignore]

MAX_BYTES = 1024 * 1024
MAX_NODES = 100_000  # after alias expansion: stops "billion laughs"
MAX_DEPTH = 64

_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
_STR = "tag:yaml.org,2002:str"
# Scalars become JSON types; timestamps stay strings (JSON has no dates).
_SCALAR_TAGS = {
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_PASSTHROUGH_TAGS = {_STR, "tag:yaml.org,2002:timestamp"}
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


class LoadedDocument:
    """The plain data plus the 1-based (line, col) of each value and each mapping key."""

    # Plain classes here, not dataclasses: generating their methods at import would cost
    # every ``validate`` run more start-up time than validating a file does.
    def __init__(self, file: str, data: Any, sha256: str = ""):
        self.file = file
        self.data = data
        self.sha256 = sha256  # of the file's bytes, for run.start's job_file_sha256
        self.value_marks: dict[Path, tuple[int, int]] = {}
        self.key_marks: dict[Path, tuple[int, int]] = {}

    def position(self, path: Path) -> tuple[int, int]:
        """Where to point for ``path``: its key if it has one, else the nearest ancestor."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in self.key_marks:
                return self.key_marks[prefix]
            if prefix in self.value_marks:
                return self.value_marks[prefix]
        return (1, 1)

    def diagnostic(self, path: Path, message: str) -> Diagnostic:
        line, col = self.position(path)
        return Diagnostic(self.file, line, col, format_path(path), message)


# libyaml's parser when present (about 5x faster); values are built from its event
# stream by our own loop, so no recursion depth is ever at the mercy of the input.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SKIP = object()  # a value whose key was refused: consumed, never stored


class _Frame:
    __slots__ = ("anchor", "container", "key", "nodes_before", "path", "seen", "skip")

    def __init__(
        self,
        container: dict[str, Any] | list[Any],
        path: Path,
        anchor: str | None,
        nodes_before: int,
        skip: bool = False,
    ):
        self.container = container
        self.path = path
        self.anchor = anchor
        self.nodes_before = nodes_before
        self.key: Any = None  # mappings: None (expecting a key), a str, or _SKIP
        self.skip = skip  # this whole collection is being discarded
        self.seen: set[str] = set()  # keys met so far, stored or not


class _Builder:
    def __init__(self, doc: LoadedDocument, loader: Any):
        self.doc = doc
        self.loader = loader
        self.nodes = 0
        self.errors: list[Diagnostic] = []
        self.anchors: dict[str, tuple[Any, int]] = {}  # value, node count
        self.open_anchors: set[str] = set()

    def error(self, mark: Any, path: Path, message: str) -> None:
        line, col = mark.line + 1, mark.column + 1
        self.errors.append(Diagnostic(self.doc.file, line, col, format_path(path), message))

    def build(self) -> Any:
        stack: list[_Frame] = []
        root: Any = None
        documents = 0
        while True:
            event = self.loader.get_event()
            if isinstance(event, yaml.StreamEndEvent):
                return root
            if isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _Positioned(event.start_mark, "YAML: but found another document")
                continue
            if not isinstance(event, yaml.NodeEvent | yaml.CollectionEndEvent):
                continue
            parent = stack[-1] if stack else None
            if isinstance(event, yaml.CollectionEndEvent):
                frame = stack.pop()
                value: Any = _SKIP if frame.skip else frame.container
                if frame.anchor is not None:
                    self.open_anchors.discard(frame.anchor)
                    self.anchors[frame.anchor] = (value, self.nodes - frame.nodes_before)
                root = self._place(stack[-1] if stack else None, value, event, root)
                continue
            # A mapping expecting a key gets a key, not a value.
            if (
                isinstance(parent, _Frame)
                and isinstance(parent.container, dict)
                and parent.key is None
            ):
                parent.key = self._key(parent, event)
                if parent.key is not _SKIP or not isinstance(event, yaml.CollectionStartEvent):
                    continue
            path = self._child_path(parent)
            self.nodes += 1
            if self.nodes > MAX_NODES:
                raise _Abort(
                    path[:1], f"document expands to more than {MAX_NODES} nodes (alias bomb?)"
                )
            if isinstance(event, yaml.AliasEvent):
                if event.anchor in self.open_anchors:
                    raise _Abort(path[:1], f"alias *{event.anchor} refers to itself")
                if event.anchor not in self.anchors:
                    raise _Positioned(event.start_mark, f"YAML: unknown alias *{event.anchor}")
                value, count = self.anchors[event.anchor]
                self.nodes += count
                if self.nodes > MAX_NODES:
                    raise _Abort(
                        path[:1], f"document expands to more than {MAX_NODES} nodes (alias bomb?)"
                    )
                self.doc.value_marks.setdefault(path, _mark(event))
                root = self._place(parent, value, event, root)
                continue
            self.doc.value_marks.setdefault(path, _mark(event))
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise _Abort(path[:1], f"nesting deeper than {MAX_DEPTH} levels")
                is_map = isinstance(event, yaml.MappingStartEvent)
                expected = _MAP if is_map else _SEQ
                skip = bool(parent and (parent.skip or parent.key is _SKIP))
                if event.tag not in (None, "!", expected):
                    self.error(event.start_mark, path, f"tag {event.tag!r} is not allowed")
                    skip = True
                if event.anchor is not None:
                    self.open_anchors.add(event.anchor)
                container: dict[str, Any] | list[Any] = {} if is_map else []
                stack.append(_Frame(container, path, event.anchor, self.nodes, skip=skip))
                continue
            value = self._scalar(event, path)
            if event.anchor is not None:
                self.anchors[event.anchor] = (value, 1)
            root = self._place(parent, value, event, root)

    def _child_path(self, parent: _Frame | None) -> Path:
        if parent is None:
            return ()
        if isinstance(parent.container, dict):
            key = parent.key if isinstance(parent.key, str) else "?"
            return (*parent.path, key)
        return (*parent.path, len(parent.container))

    def _key(self, frame: _Frame, event: Any) -> Any:
        if not isinstance(event, yaml.ScalarEvent):
            self.error(event.start_mark, frame.path, "mapping keys must be plain strings")
            return _SKIP
        tag = self._resolve(event)
        if tag == "tag:yaml.org,2002:merge":
            self.error(event.start_mark, frame.path, "merge keys (<<) are not supported")
            return _SKIP
        if tag != _STR:
            self.error(event.start_mark, frame.path, "mapping keys must be plain strings")
            return _SKIP
        key = event.value
        child = (*frame.path, key)
        if key in frame.seen:
            first = self.doc.key_marks[child]
            self.error(event.start_mark, child, f"duplicate key {key!r} (first at line {first[0]})")
            return _SKIP
        frame.seen.add(key)
        self.doc.key_marks[child] = _mark(event)
        return key

    def _resolve(self, event: Any) -> str:
        if event.tag in (None, "!"):
            resolved: str = self.loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            return resolved
        return str(event.tag)

    def _scalar(self, event: Any, path: Path) -> Any:
        tag = self._resolve(event)
        if tag in _PASSTHROUGH_TAGS:
            return event.value
        if tag not in _SCALAR_TAGS:
            self.error(event.start_mark, path, f"tag {tag!r} is not allowed")
            return None
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return self.loader.yaml_constructors[tag](self.loader, node)
        except ValueError:  # an integer with more digits than Python converts
            self.error(event.start_mark, path, f"number has too many digits ({len(event.value)})")
            return None

    def _place(self, parent: _Frame | None, value: Any, event: Any, root: Any) -> Any:
        if parent is None:
            return value
        if isinstance(parent.container, dict):
            if isinstance(parent.key, str) and value is not _SKIP and not parent.skip:
                parent.container[parent.key] = value
            parent.key = None
        elif not parent.skip:
            parent.container.append(value)
        return root


def _mark(event: Any) -> tuple[int, int]:
    return (event.start_mark.line + 1, event.start_mark.column + 1)


class _Abort(Exception):
    def __init__(self, path: Path, message: str):
        super().__init__(message)
        self.path = path


class _Positioned(Exception):
    def __init__(self, mark: Any, message: str):
        super().__init__(message)
        self.mark = mark


def load_text(text: str, file: str) -> LoadedDocument:
    """Load one YAML document; raise JobFileError with every problem found."""
    # PyYAML refuses these too, but from its constructor and with an offset only.
    if bad := _NON_PRINTABLE.search(text):
        index = bad.start()
        line = text.count("\n", 0, index) + 1
        col = index - (text.rfind("\n", 0, index) + 1) + 1
        message = f"character {bad.group()!r} is not allowed in YAML"
        raise JobFileError([Diagnostic(file, line, col, "(document)", message)])
    try:
        return _load(text, file, _Loader)
    except yaml.YAMLError as exc:
        if _Loader is yaml.SafeLoader:
            raise _yaml_error(exc, file) from None
    # libyaml stops on limits of its own (a nesting depth, in PyYAML 6.0.3's wheels) that
    # it meets while scanning ahead, before our builder sees the events. The pure-Python
    # parser has none, so our own limits and words decide every refusal, whatever
    # libyaml a fresh install brings.
    try:
        return _load(text, file, yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file) from None


def _load(text: str, file: str, loader_class: Any) -> LoadedDocument:
    """Build the document with ``loader_class``; the parser's own errors propagate."""
    doc = LoadedDocument(file=file, data=None)
    loader = loader_class(text)
    builder = _Builder(doc, loader)
    try:
        doc.data = builder.build()
    except _Positioned as exc:
        line, col = exc.mark.line + 1, exc.mark.column + 1
        raise JobFileError([Diagnostic(file, line, col, "(document)", str(exc))]) from None
    except _Abort as abort:
        builder.errors.append(doc.diagnostic(abort.path, str(abort)))
    finally:
        loader.dispose()
    if builder.errors:
        raise JobFileError(builder.errors)
    if doc.data is None:
        raise JobFileError([Diagnostic(file, 1, 1, "(document)", "the file is empty")])
    if not isinstance(doc.data, dict):
        raise JobFileError(
            [doc.diagnostic((), "a job file must be a mapping (version:, jobs:, ...)")]
        )
    return doc


def _yaml_error(exc: yaml.YAMLError, file: str) -> JobFileError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        return JobFileError([Diagnostic(file, line, col, "(document)", f"YAML: {problem}")])
    return JobFileError([Diagnostic(file, 1, 1, "(document)", f"YAML: {exc}")])


def load_file(path: str) -> LoadedDocument:
    """Read and load a job file, refusing oversize and non-UTF-8 input."""
    try:
        raw = read_bounded(path, MAX_BYTES, "job file")
    except NotReadable as exc:
        raise JobFileError([Diagnostic(path, 1, 1, "(document)", str(exc))]) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise JobFileError(
            [Diagnostic(path, line, col, "(document)", "file is not valid UTF-8")]
        ) from None
    doc = load_text(text, path)
    doc.sha256 = sha256(raw).hexdigest()
    return doc


def job_files(paths: list[str]) -> list[str]:
    """Expand folders to their *.yaml / *.yml entries (sorted, recursive).

    Entries with those names that are not readable files (a broken symlink, a folder)
    are listed too, so loading them reports why instead of skipping them silently.
    """
    out: list[str] = []
    for raw in paths:
        path = pathlib.Path(raw)
        if path.is_dir():
            # Hidden entries are skipped: a Kubernetes ConfigMap volume holds every file
            # twice, once under its ..<timestamp>/ folder, and each must load once.
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml")
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            # An empty folder stays in the list, so it is reported, not silently passed.
            out.extend([str(p) for p in found] if found else [raw])
        else:
            out.append(raw)
    return out

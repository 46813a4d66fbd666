"""A real browser for the tests: Debian's chromium, driven by Playwright's Python package.

Playwright's own browser download is never used (``playwright install`` fetches a build from
outside): ``executable_path`` points at the machine's chromium ($FTJANITOR_CHROMIUM, else
/usr/bin/chromium). As a pytest plugin (tests/conftest.py) it gives ``browser``, started once
per session.

Without a chromium that starts, the browser tests skip with a visible reason, or fail when
``FTJANITOR_REQUIRE_BROWSER=1`` (CI sets it, as it sets FTJANITOR_REQUIRE_POSTGRES), so they
can never skip silently there.

``python -m tests.browser FOLDER`` writes the README's screenshots (report.png, status.png).
"""

import os
import struct
import sys
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Error, Page, sync_playwright

REQUIRE_ENV = "FTJANITOR_REQUIRE_BROWSER"
CHROMIUM_ENV = "FTJANITOR_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# No sandbox: CI runs as root, which chromium's sandbox refuses. Nothing in the background
# may reach out: the tests check that no request leaves the page.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    return os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(
            f"{reason}, and {REQUIRE_ENV} is set: the browser tests must run here"
            f" (Debian: apt-get install chromium; or set {CHROMIUM_ENV})",
            pytrace=False,
        )
    pytest.skip(f"{reason}: browser tests skipped")


def launched() -> Iterator[Browser]:
    """Chromium under Playwright, closed at the end; skips or fails (see above) if it
    cannot start."""
    path = chromium_path()
    if not Path(path).is_file():
        _unavailable(f"no chromium at {path}")
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=path, args=FLAGS, timeout=60_000)
            try:
                yield browser
            finally:
                browser.close()
            return
    except Error as exc:
        reason = f"chromium at {path} did not start: {str(exc).splitlines()[0]}"
    _unavailable(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    yield from launched()


class Watched:
    """A page whose every request is recorded (and only the page's own URL let through),
    and whose dialogs (an ``alert`` a hostile name might try) are recorded too."""

    def __init__(self, browser: Browser, width: int = 1000, height: int = 1400):
        self.page: Page = browser.new_page(viewport={"width": width, "height": height})
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.console: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("console", lambda m: self.console.append(m.text))

    def open(self, url: str) -> None:
        self.page.goto(url, wait_until="load")
        self.page.wait_for_timeout(300)  # anything a late script or image would start

    def close(self) -> None:
        self.page.close()


def distinct_colours(png: bytes, limit: int = 64) -> int:
    """How many colours a PNG screenshot holds (counting stops at ``limit``): 1 is blank.
    Chromium writes 8-bit RGB or RGBA without interlacing; this reads just that."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, data, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        chunk = png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            data += chunk
        pos += 12 + length
    raw = zlib.decompress(data)
    stride = width * channels
    previous = bytearray(stride)
    seen: set[bytes] = set()
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + best) & 0xFF
        seen.update(bytes(line[i : i + 3]) for i in range(0, stride, channels * 8))
        if len(seen) >= limit:
            return len(seen)
        previous = line
    return len(seen)


def shoot_docs(folder: Path) -> None:
    """The README's screenshots: the report of the tests' year-long history, and the status
    page of a daemon serving it."""
    from runner.commands.report import build, render
    from tests.audit_history import write_history
    from tests.statuspage import Served, with_hostile_mark

    for browser in launched():
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)  # the page names the job file as the daemon was given it
            job = with_hostile_mark(write_history(Path(".")))
            report = Path(tmp, "report.html")
            report.write_text(render(build(str(job), None), "html"))
            watched = Watched(browser, height=1100)
            watched.open(report.as_uri())
            watched.page.screenshot(path=str(folder / "report.png"), full_page=False)
            served = Served(job)
            try:
                watched.open(served.url + "/")
                watched.page.screenshot(path=str(folder / "status.png"), full_page=True)
            finally:
                served.close()
                watched.close()


if __name__ == "__main__":
    shoot_docs(Path(sys.argv[1]).resolve())

"""The report file and the daemon's status page in a real browser (Debian's chromium):
rows and chart rendered, no script run, nothing fetched, something drawn."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from runner.commands.report import build, render
from tests.audit_history import write_history
from tests.browser import Watched, distinct_colours
from tests.statuspage import HOSTILE_NAME, Served, with_hostile_mark


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    page = Watched(browser)
    yield page
    page.close()


def hostile_job(tmp_path: Path) -> Path:
    return with_hostile_mark(write_history(tmp_path))


def check_page(watched: Watched, url: str, title: str) -> None:
    """What every page must do: show its chart, run nothing, fetch nothing, draw."""
    page = watched.page
    assert page.title() == title  # the hostile name's script would have renamed it
    assert page.locator("script").count() == 0 and page.locator("img").count() == 0
    assert watched.dialogs == []  # no onerror=alert(...)
    box = page.locator("svg#chart").bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100
    assert page.locator("svg#chart rect.bar").count() == 14
    assert watched.requests == [url]  # the page itself, and nothing else
    shot = page.screenshot(clip={"x": 0, "y": 0, "width": 800, "height": 700})
    assert distinct_colours(shot) > 8  # not blank: text, cards, bars, a line


def test_the_report_file_in_a_browser(tmp_path: Path, watched: Watched) -> None:
    job = hostile_job(tmp_path)
    report = build(str(job), None)
    report["failures"][0]["name"] = HOSTILE_NAME
    path = tmp_path / "report.html"
    path.write_text(render(report, "html"))
    watched.open(path.as_uri())
    check_page(watched, path.as_uri(), "ftjanitor report")
    page = watched.page
    assert page.locator("#months tbody tr").count() == 14
    assert page.locator("#by-provider tbody tr").count() == 2
    assert page.locator("#failures tbody tr").count() == 2
    assert page.locator("#failures tbody tr").first.inner_text().count(HOSTILE_NAME) == 1
    pending = page.locator("table.pending tbody tr")
    assert pending.count() == 1 and HOSTILE_NAME in pending.inner_text()
    assert page.locator("#total-deleted").inner_text() == "36"


def test_the_status_page_in_a_browser(tmp_path: Path, watched: Watched) -> None:
    served = Served(hostile_job(tmp_path))
    try:
        url = served.url + "/"
        watched.open(url)
        check_page(watched, url, "ftjanitor status")
        page = watched.page
        rows = page.locator("#jobs tr.job")
        assert rows.count() == 1 and "nightly" in rows.inner_text()
        assert "every 1d" in rows.inner_text() and "2026-07-02 00:00:00Z" in rows.inner_text()
        assert HOSTILE_NAME in page.locator("table.pending").inner_text()
        refresh = page.locator('meta[http-equiv="refresh"]').get_attribute("content")
        assert refresh == "30"
    finally:
        served.close()


def test_the_checks_would_see_a_script_run(tmp_path: Path, watched: Watched) -> None:
    """The control: the hostile name pasted in raw does run, and is seen."""
    path = tmp_path / "raw.html"
    path.write_text(f"<title>ftjanitor report</title><p>{HOSTILE_NAME}</p>")
    watched.open(path.as_uri())
    assert watched.page.title() == "pwned" and watched.dialogs == ["1"]
    assert len(watched.requests) == 2  # and the broken image was fetched

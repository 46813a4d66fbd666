"""`plan --format markdown` as GitHub would show it (issue 16, item 13): provider text sits
in code spans, so no name can ping a team, become a link, add HTML, or end its table cell.

The plan is rendered with markdown-it (CommonMark plus GFM tables). GitHub also autolinks
bare URLs and ``www.`` and turns ``@name`` into a mention, but never inside a code span; so
besides the HTML checks, every ``@``, URL scheme and ``www.`` must be inside ``<code>``.
"""

import html
import re
from datetime import timedelta
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from runner.cli import main
from runner.report import code_span
from runner.simulator import Accounts, Simulator, cohere_model
from tests.conftest import COHERE_KEY, NOW

NOW_ARG = "2026-06-01T12:00:00Z"
HOSTILE = [
    "@team please review",
    "cc @acme/ml-platform",
    "mail ops@example.com",
    "see https://evil.example/x",
    "HTTP://EVIL.EXAMPLE",
    "www.evil.example/path",
    "ftp://files.example",
    "<img src=x onerror=alert(1)>",
    "<b>bold</b> &amp; &#64;team",
    "[click](https://evil.example)",
    "![img](https://evil.example/i.png)",
    "**strong** _em_ ~~del~~",
    "a`b``c",
    "```",
    "`starts",
    "ends`",
    " padded ",
    "x|y|z",
    "a\\|b",
    "trail\\",
    "#123 and GH-1 and acme/repo#4",
    ":+1: :shipit:",
]
ALLOWED_TAGS = {"h2", "h3", "ul", "li", "p", "strong", "em", "code", "table", "thead", "tbody",
                "tr", "th", "td", "details", "summary"}  # fmt: skip


def render(text: str) -> str:
    return MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)


def outside_code(rendered: str) -> str:
    return re.sub(r"<code>.*?</code>", "", rendered, flags=re.S)


def check_rendered(text: str, names: list[str]) -> None:
    rendered = render(text)
    rows = [row for row in re.findall(r"<tr>(.*?)</tr>", rendered, re.S) if "<td" in row]
    assert len(rows) == len(names)  # no name added or swallowed a row
    for row in rows:
        assert row.count("<td") == 5  # nor a cell
    bare = outside_code(rendered)
    assert set(re.findall(r"</?([a-z0-9]+)", bare)) <= ALLOWED_TAGS  # no provider HTML
    assert "<a " not in rendered and "<img" not in rendered
    plain = html.unescape(re.sub(r"<[^>]+>", "", bare)).lower()
    for live in ("@", "http://", "https://", "ftp://", "www.", "evil", "#123", ":shipit:"):
        assert live not in plain, live  # a mention, link or reference outside a code span
    codes = [html.unescape(c) for c in re.findall(r"<code>(.*?)</code>", rendered, re.S)]
    for name in names:
        assert name in codes, name  # shown exactly as the provider wrote it


def test_hostile_names_render_as_plain_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    text = run_plan(tmp_path, HOSTILE, capsys)
    check_rendered(text, HOSTILE)


def run_plan(tmp_path: Path, names: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    accounts = Accounts()
    for i, name in enumerate(names):
        accounts.add_cohere(
            cohere_model(f"m-{i:03d}", name, "STATUS_READY", NOW - timedelta(days=90 + i))
        )
    with Simulator(accounts) as sim:
        job = tmp_path / "job.yaml"
        job.write_text(
            "version: 1\n"
            f'providers: {{cohere: {{base_url: "{sim.url}", requests_per_minute: 600000}}}}\n'
            "jobs:\n  - {name: j, max_deletions: 100, targets: [{provider: cohere, older_than: 30d}]}\n"
        )
        code = main(["plan", str(job), "--now", NOW_ARG, "--format", "markdown"])
        out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.mark.parametrize("name", HOSTILE)
def test_each_name_alone_in_a_folded_table_too(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    monkeypatch.setenv("COHERE_API_KEY", COHERE_KEY)
    names = [name] + [f"filler-{i}" for i in range(21)]  # over FOLD_AFTER: in <details>
    text = run_plan(tmp_path, names, capsys)
    assert "<details>" in text
    check_rendered(text, names)


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("plain", "`plain`"),
        ("a`b", "``a`b``"),
        ("a``b`", "``` a``b` ```"),
        ("`x", "`` `x ``"),
        (" a ", "`  a  `"),
        ("a|b", "`a\\|b`"),
        ("line\nbreak", "`line\\nbreak`"),
        ("", ""),
    ],
)
def test_code_span_fences(text: str, span: str) -> None:
    assert code_span(text) == span

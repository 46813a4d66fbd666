"""Counts what the chaos and crash suites did, printed at the end of the test run."""

from collections import Counter

import pytest

TALLY: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY:
        parts = ", ".join(f"{key} {value}" for key, value in sorted(TALLY.items()))
        terminalreporter.write_line(f"chaos tally: {parts}")

"""Durations as job files write them (runner.durations): parsing, bounds, and the short
ages tables show."""

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.durations import MAX_SECONDS, format_age, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45s", 45), ("90m", 5400), ("12h", 43200), ("30d", 2592000), ("2w", 1209600), ("0s", 0)],
)
def test_every_unit(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text",
    ["", "30", "d", "30 d", " 30d", "30d ", "30D", "1.5d", "-1d", "+1d", "1y", "1d2h", "３0d"],
)
def test_anything_else_is_refused_with_the_units(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert (
        str(caught.value) == f"{text!r} is not a duration like 30d, 12h, 2w (units: s, m, h, d, w)"
    )


def test_durations_are_bounded() -> None:
    assert parse_duration("3653d").days == 3653
    assert parse_duration("521w").days == 3647
    for text in ("3654d", "522w", "87673h", "999999999w", "999999999s"):
        with pytest.raises(
            ValueError, match=r"longer than the longest duration, 3653d \(10 years\)"
        ):
            parse_duration(text)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(minutes=1), "1m"),
        (timedelta(hours=5, minutes=59), "5h"),
        (timedelta(days=83, hours=23), "83d"),
        (timedelta(days=-2), "future"),  # created after a --now in the past
        (timedelta(milliseconds=900), "0s"),
    ],
)
def test_ages_show_the_largest_whole_unit(delta: timedelta, text: str) -> None:
    assert format_age(delta) == text


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(count=st.integers(0, 10**9 - 1), unit=st.sampled_from("smhdw"))
def test_parse_then_format_never_overstates_an_age(count: int, unit: str) -> None:
    text = f"{count}{unit}"
    try:
        delta = parse_duration(text)
    except ValueError as exc:
        assert "longer than the longest duration" in str(exc)
        return
    assert delta.total_seconds() <= MAX_SECONDS
    shown = format_age(delta)
    assert parse_duration(shown) <= delta  # rounded down, never up

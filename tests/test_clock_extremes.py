"""A --now far in the past: items created after it have no age, shown as such — never a
negative age, never "0s ago" — and no age rule selects them."""

from datetime import UTC, datetime, timedelta

from runner.selectors.base import age_verdict

CREATED = datetime(2026, 10, 4, tzinfo=UTC)


def test_an_item_created_after_the_rules_clock_is_too_young_and_says_why() -> None:
    verdict = age_verdict("older_than", timedelta(days=30), "30d", CREATED, "created",
                          datetime(1970, 1, 1, tzinfo=UTC))  # fmt: skip
    assert not verdict.matched and verdict.too_young
    assert verdict.reason == (
        "too young: created 2026-10-04, after the rules' clock (1970-01-01), not over older_than 30d"
    )


def test_a_far_future_clock_makes_everything_old_but_never_overflows() -> None:
    verdict = age_verdict("older_than", timedelta(days=30), "30d", CREATED, "created",
                          datetime(9999, 12, 31, tzinfo=UTC))  # fmt: skip
    assert verdict.matched and verdict.reason.startswith("older_than 30d: created 2026-10-04, ")

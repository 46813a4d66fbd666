"""What the deployment kinds share: reading the counts a bill is made of, and what to do
with a deployment whose served model cannot be read.

A deployment is billed for some count of things (model units, GPUs, accelerators, replicas)
as the provider lists it. A count that is not a whole number in a sane range is unreadable:
the item's cost is then unknown (``billing`` None), never a made-up number.
"""

from decimal import Decimal
from typing import Any

from runner.providers.base import ProviderError
from runner.providers.wire import one_line

# No provider sells more than this of anything to one deployment; a larger count is a
# listing gone wrong, and an absurd saving in a plan would be worse than an unknown one.
MAX_COUNT = 100_000


def count(value: Any) -> Decimal | None:
    """A listed count (a JSON integer, 0 to MAX_COUNT), or None when it is anything else."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        return None
    return Decimal(value)


def units(*counts: Decimal | int | None) -> Decimal | None:
    """What a deployment is billed for, counts multiplied (GPUs x replicas): None when one
    is unreadable, or when the product is past MAX_COUNT (two sane counts can make an
    absurd bill, which a min_monthly_cost rule would select by)."""
    total = Decimal(1)
    for one in counts:
        if one is None:
            return None
        total *= one
    return total if total <= MAX_COUNT else None


def serving_unknown(label: str, listing: str, item: Any, field: str) -> ProviderError:
    """A listed deployment (``item``: its ID as listed) whose ``field``, what it serves,
    cannot be read: no model of the connection can be judged free of it, so the whole
    listing fails rather than guess, and nothing is deleted."""
    shown = one_line(repr(item)[:80])
    return ProviderError(
        f"{label}: {listing}: deployment {shown} has no readable {field}, so what it serves"
        " is unknown; nothing is deleted"
    )

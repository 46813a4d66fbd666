"""What the deployment kinds share: reading the counts a bill is made of.

A deployment is billed for some count of things (model units, GPUs, accelerators, replicas)
as the provider lists it. A count that is not a whole number in a sane range is unreadable:
the item's cost is then unknown (``billing`` None), never a made-up number.
"""

from decimal import Decimal
from typing import Any

# No provider sells more than this of anything to one deployment; a larger count is a
# listing gone wrong, and an absurd saving in a plan would be worse than an unknown one.
MAX_COUNT = 100_000


def count(value: Any) -> Decimal | None:
    """A listed count (a JSON integer, 0 to MAX_COUNT), or None when it is anything else."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        return None
    return Decimal(value)

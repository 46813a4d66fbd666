"""``listing``: the last use the kind's own listing reports (Cohere's ``last_used``).

The provider keeps it for the item's whole life, so an item without one was never used.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from runner.ref import ResourceRef
from runner.usage.base import Seen, UsageSource, register

if TYPE_CHECKING:
    from runner.providers.base import ModelRecord


@register
class FromListing(UsageSource):
    name: ClassVar[str] = "listing"
    reads: ClassVar[str] = "last use from the listing"

    def read(
        self,
        lister: Any,
        items: Sequence[tuple[ResourceRef, "ModelRecord"]],
        start: datetime,
        now: datetime,
    ) -> Mapping[ResourceRef, Seen]:
        return {ref: Seen(record.last_used) for ref, record in items}

"""``min_monthly_cost: 100``: items whose known monthly cost is at least that many dollars.

The cost is the planner's (``runner.cost``: the price facts and the job file's
``prices:``). An unknown cost never matches: what cannot be priced is kept.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Self

from runner.cost import decimal_of, money, price_schema
from runner.providers.base import ModelRecord
from runner.selectors.base import Field, Selector, Verdict, register


@register
@dataclass(frozen=True, slots=True)
class MinMonthlyCost(Selector):
    key: ClassVar[str] = "min_monthly_cost"
    schema: ClassVar[dict[str, Any]] = price_schema()
    order: ClassVar[int] = 60

    min_monthly_cost: Decimal

    @classmethod
    def parse(cls, value: Any, field: Field) -> Self | None:
        amount = decimal_of(value)
        if amount is None:
            field.error(f"{value!r} is not a price: not a finite number")
            return None
        return cls(amount)

    def select(self, record: ModelRecord, now: datetime) -> Verdict:
        cost, least = record.monthly_cost, money(self.min_monthly_cost)
        if cost is None:
            return Verdict(False, f"cost unknown, so not over min_monthly_cost {least}")
        if cost < self.min_monthly_cost:
            return Verdict(False, f"costs {money(cost)}/month, under min_monthly_cost {least}")
        return Verdict(True, f"costs {money(cost)}/month ({record.cost_basis})")

    def describe(self) -> str:
        return f"min_monthly_cost {money(self.min_monthly_cost)}"

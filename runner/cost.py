"""What an item costs a month while it exists, and so what deleting it saves.

A type's or kind's spec declares a ``PriceFact`` (its source and date are in PROVIDERS.md
and the README); a job file's ``prices:`` overrides them, the first matching entry
winning. Arithmetic is ``Decimal`` throughout: amounts are rounded only where shown
(``money``, ``json_amount``). Plain data and the standard library only, so specs can
declare prices without importing anything heavy.
"""

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.providers.base import ModelRecord

HOURS_PER_MONTH = Decimal(730)  # 365 × 24 / 12, as the providers' own calculators count
CENT = Decimal("0.01")
# What ``prices:`` entries may match on besides type and kind: a record's billing keys.
KEYS = ("base_model", "hardware", "accelerator")
MAX_PRICE = 1_000_000  # dollars an hour or a month: far above any real price
# The finest price a job file may give: any finer is a typo (1e-300 would print 303 digits
# in every cost line), and no provider bills below a millionth of a dollar a unit.
FINEST_PRICE = Decimal("0.000001")
# What a per-month price pays for, by kind, in cost_basis texts.
_MONTHLY_WORDS = {"model": "storage"}


@dataclass(frozen=True, slots=True)
class PriceFact:
    """One price: ``per_hour`` for each billed unit while it runs (``Billing.units``),
    or ``per_month`` for each stored item; never both."""

    per_hour: Decimal | None = None
    per_month: Decimal | None = None
    unit: str = ""  # what one per_hour price buys, for people ("GPU", "model unit")
    source: str = ""  # where the figure comes from, for the README's price table
    date: str = ""  # when that source was read (YYYY-MM or YYYY-MM-DD)
    guess: bool = False  # not documented by the provider: a figure to check


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """One entry of a job file's ``prices:``: globs to match, and the price they set.
    A selector left out matches anything; one naming a key a record lacks matches nothing.
    """

    fact: PriceFact
    # Its place in prices:, named in cost_basis so a reader can find it; None for a kind's
    # own price by the provider's words (KindSpec.prices_by), a built-in fact.
    index: int | None
    type: str | None = None
    kind: str | None = None
    base_model: str | None = None
    hardware: str | None = None
    accelerator: str | None = None

    def matches(self, type_: str, kind: str, keys: Mapping[str, str]) -> bool:
        if self.type is not None and not fnmatchcase(type_, self.type):
            return False
        if self.kind is not None and not fnmatchcase(kind, self.kind):
            return False
        wanted = {"base_model": self.base_model, "hardware": self.hardware}
        wanted["accelerator"] = self.accelerator
        return all(
            pattern is None or (key in keys and fnmatchcase(keys[key], pattern))
            for key, pattern in wanted.items()
        )


def price_schema() -> dict[str, Any]:
    """The JSON Schema of a number of dollars (a price, or a rule's threshold)."""
    return {
        "type": "number",
        "minimum": 0,
        "maximum": MAX_PRICE,
        "x-error": f"is not a price in dollars (a number from 0 to {MAX_PRICE})",
    }


def decimal_of(value: int | float) -> Decimal | None:
    """A job file's number as the Decimal its text says: YAML hands floats over, and the
    shortest text that reads back as the same float is what was written (3.99, never
    3.9900000000000002131...). None for NaN and infinities."""
    if isinstance(value, int):
        return Decimal(value)
    if not math.isfinite(value):
        return None
    return Decimal(repr(value))


def _keys(record: "ModelRecord") -> dict[str, str]:
    keys = dict(record.billing.keys) if record.billing is not None else {}
    if record.base_model is not None:
        keys.setdefault("base_model", record.base_model)
    return keys


def monthly_cost(
    record: "ModelRecord",
    type_: str,
    kind: str,
    fact: PriceFact | None,
    overrides: Sequence[PriceOverride] = (),
    built_in: Sequence[PriceOverride] = (),
) -> tuple[Decimal | None, str]:
    """(cost a month, or None when unknown; how it was reached, for people). The job
    file's ``overrides`` come first, then the kind's prices by the provider's own words
    (``built_in``: Together's by hardware), then its one ``fact``."""
    keys = _keys(record)
    chosen = next((o for o in (*overrides, *built_in) if o.matches(type_, kind, keys)), None)
    price = chosen.fact if chosen is not None else fact
    told = f" (prices[{chosen.index}])" if chosen is not None and chosen.index is not None else ""
    if price is not None and price.per_month is not None:
        word = _MONTHLY_WORDS.get(kind, kind)
        return price.per_month, f"{word} {money(price.per_month)}/month{told}"
    if price is None or price.per_hour is None:
        return None, f"unknown: no price for {type_} {kind} (set one in prices:)"
    billing = record.billing
    if billing is None:
        return None, f"unknown: {type_} did not say what this {kind} is billed for"
    basis = f"{_number(billing.units)} × {billing.unit} at {rate(price.per_hour)}/h{told}"
    if billing.units == 0:
        return Decimal(0), f"stopped: {basis}"
    return billing.units * price.per_hour * HOURS_PER_MONTH, basis


@dataclass(frozen=True, slots=True)
class Savings:
    """What a set of deletes saves a month: the sum of the known costs, and how many
    items had none (they are not in the sum)."""

    amount: Decimal = Decimal(0)
    unknown: int = 0

    def __add__(self, other: "Savings") -> "Savings":
        return Savings(self.amount + other.amount, self.unknown + other.unknown)

    def text(self) -> str:
        line = f"saves about {money(self.amount)}/month"
        return line + (f" ({self.unknown} with unknown cost)" if self.unknown else "")


def savings(costs: Iterable[Decimal | None]) -> Savings:
    amount, unknown = Decimal(0), 0
    for cost in costs:
        if cost is None:
            unknown += 1
        else:
            amount += cost
    return Savings(amount, unknown)


def money(amount: Decimal) -> str:
    """Dollars rounded to the cent, for people: ``$1,234.50``."""
    return f"${_cents(amount):,}"


def json_amount(amount: Decimal | None) -> float | None:
    """Dollars rounded to the cent as a JSON number (null when unknown). Exact as text:
    a float prints the shortest digits that read back as itself, so 1.95 stays 1.95."""
    return None if amount is None else float(_cents(amount))


def _cents(amount: Decimal) -> Decimal:
    """Rounded to the cent with digits enough for any size: the default 28 would raise
    for a provider that bills 10**30 units."""
    digits = max(28, amount.adjusted() + 4)
    return amount.quantize(CENT, ROUND_HALF_UP, Context(prec=digits))


def rate(price: Decimal) -> str:
    """A unit price as given, with at least cents: $3.99, $2.00, $0.0125."""
    if price == price.quantize(CENT):
        return money(price)
    return f"${_number(price)}"


def _number(value: Decimal) -> str:
    return format(value.normalize(), "f")

"""The README's provider and price tables, written from the registered specs so they
cannot drift.

``python -m runner.providers.table`` prints them; a test checks the README holds them.
"""

from decimal import Decimal

from runner.cost import PriceFact, money, rate
from runner.providers import REGISTRY
from runner.providers.base import ProviderSpec
from runner.selectors import REGISTRY as SELECTORS


def _rules(spec: ProviderSpec) -> str:
    rules = ["`ids`"]
    for key, rule in SELECTORS.items():
        if rule.unusable(spec) is None:
            reads = rule.reads(spec)
            rules.append(f"`{key}` ({reads})" if reads else f"`{key}`")
    return ", ".join(rules)


def _credentials(spec: ProviderSpec) -> str:
    if spec.credential == "aws":
        return "the AWS credential chain (environment, `profile:`, role)"
    return f"`{spec.default_api_key_env}` (or `api_key_env:`)"


def provider_table() -> str:
    lines = [
        "| type | lists | deletes | rules | credentials |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(REGISTRY):
        spec = REGISTRY[name]
        lines.append(
            f"| `{name}` | {spec.listed} | {spec.deleted} | {_rules(spec)} | {_credentials(spec)} |"
        )
    return "\n".join(lines)


def _price(fact: PriceFact | None) -> str:
    if fact is None:
        return "unknown: set it in `prices:`"
    if fact.per_hour is not None:
        text = f"{rate(fact.per_hour)}/hour per {fact.unit or 'unit'}"
    else:
        text = f"{money(fact.per_month or Decimal(0))}/month"
    return text + (" (a guess: check it)" if fact.guess else "")


def price_table() -> str:
    """Each type's default price for what it lists, with its source and date."""
    lines = ["| type | lists | default price | source |", "|---|---|---|---|"]
    for name in sorted(REGISTRY):
        spec = REGISTRY[name]
        source = "undocumented" if spec.price is None else spec.price.source
        date = f" ({spec.price.date})" if spec.price is not None and spec.price.date else ""
        lines.append(f"| `{name}` | {spec.listed} | {_price(spec.price)} | {source}{date} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(provider_table())
    print()
    print(price_table())

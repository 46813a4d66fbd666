"""The README's provider and price tables, written from the registered specs so they
cannot drift.

``python -m runner.providers.table`` prints them; a test checks the README holds them.
"""

from decimal import Decimal

from runner.cost import PriceFact, PriceOverride, money, rate
from runner.providers import REGISTRY
from runner.providers.base import KindSpec, ProviderSpec
from runner.selectors import REGISTRY as SELECTORS
from runner.usage import REGISTRY as USAGE


def _rules(spec: KindSpec) -> str:
    rules = ["`ids`"]
    for key, rule in SELECTORS.items():
        if rule.unusable(spec) is None:
            reads = rule.reads(spec)
            rules.append(f"`{key}` ({reads})" if reads else f"`{key}`")
    return ", ".join(rules)


def _credentials(spec: ProviderSpec, kind: KindSpec) -> str:
    if spec.credential == "aws":
        said = "the AWS credential chain (environment, `profile:`, role)"
    else:
        said = f"`{spec.default_api_key_env}` (or `api_key_env:`)"
    if spec.extra_credential is not None:
        said += f"; {spec.extra_credential.says}"
    field = USAGE[kind.usage].key_field if kind.usage is not None else None
    if field is not None:  # a usage source reading with a key of its own
        default = spec.connection_fields[field].get("default")
        said += f"; for `unused_for`, `{default}` (or `{field}:`)"
    return said


def provider_table() -> str:
    """One row per kind of each type (``model`` first): what it lists and deletes and
    which rules it can use come from the kind, the credentials from the type."""
    lines = [
        "| type | kind | lists | deletes | rules | credentials |",
        "|---|---|---|---|---|---|",
    ]
    for name in sorted(REGISTRY):
        spec = REGISTRY[name]
        for kind_name in spec.kind_order():
            kind = spec.kinds[kind_name]
            lines.append(
                f"| `{name}` | `{kind_name}` | {kind.listed} | {kind.deleted} | {_rules(kind)}"
                f" | {_credentials(spec, kind)} |"
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


def _selectors(entry: PriceOverride) -> str:
    said = {"base_model": entry.base_model, "hardware": entry.hardware}
    said["accelerator"] = entry.accelerator
    return ", ".join(f"{key} `{glob}`" for key, glob in said.items() if glob is not None)


def price_table() -> str:
    """Each type's and kind's default prices for what it lists, with source and date: the
    prices by the provider's own words first (as they are matched), then the one fact."""
    lines = ["| type | kind | lists | default price | source |", "|---|---|---|---|---|"]
    for name in sorted(REGISTRY):
        spec = REGISTRY[name]
        for kind_name in spec.kind_order():
            kind = spec.kinds[kind_name]
            rows: list[tuple[str, PriceFact | None]] = [
                (f" ({_selectors(e)})", e.fact) for e in kind.prices_by
            ]
            rows.append((" (anything else)" if rows else "", kind.price))
            for where, fact in rows:
                source = "undocumented" if fact is None else fact.source
                date = f" ({fact.date})" if fact is not None and fact.date else ""
                lines.append(
                    f"| `{name}` | `{kind_name}` | {kind.listed} | {_price(fact)}{where} |"
                    f" {source}{date} |"
                )
    return "\n".join(lines)


if __name__ == "__main__":
    print(provider_table())
    print()
    print(price_table())

"""The README's provider table, written from the registered specs so it cannot drift.

``python -m runner.providers.table`` prints it; a test checks the README holds it.
"""

from runner.providers import REGISTRY
from runner.providers.base import KindSpec, ProviderSpec
from runner.selectors import REGISTRY as SELECTORS


def _rules(spec: KindSpec) -> str:
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
                f" | {_credentials(spec)} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    print(provider_table())

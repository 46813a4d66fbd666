"""The README's provider table, written from the registered specs so it cannot drift.

``python -m runner.providers.table`` prints it; a test checks the README holds it.
"""

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


if __name__ == "__main__":
    print(provider_table())

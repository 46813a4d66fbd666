"""The README's provider table, written from the registered specs so it cannot drift.

``python -m runner.providers.table`` prints it; a test checks the README holds it.
"""

from runner.providers import REGISTRY
from runner.providers.base import ProviderSpec


def _rules(spec: ProviderSpec) -> str:
    rules = ["`ids`", f"`name` ({spec.name_source})"]
    age = "creation time" if spec.has_created_at else "first sighting"
    rules.append(f"`older_than` ({age})")
    if spec.has_last_used:
        rules.append("`unused_for`")
    if spec.statuses:
        rules.append("`status`")
    if spec.has_base_model:
        rules.append("`base_model`")
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

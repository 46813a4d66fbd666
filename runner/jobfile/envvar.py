"""The schema of a field that names an environment variable holding a secret.

Its own module so that provider specs (a connection field naming a second key) can use it
without importing the schema builder, which imports every provider.
"""

from typing import Any

ENV_NAME = "^[A-Z_][A-Z0-9_]{0,127}$"


def env_var(example: str, what: str) -> dict[str, Any]:
    """A field naming the variable (``example``) that holds a ``what``, never the value."""
    return {
        "type": "string",
        "pattern": ENV_NAME,
        "x-error": (
            f"must name an environment variable in capitals (like {example}),"
            f" never hold the {what} itself (value not shown)"
        ),
        "x-hide-value": True,
    }

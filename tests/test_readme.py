"""The README's provider table is the registered specs' own (docs cannot drift)."""

from pathlib import Path

from runner.providers.table import provider_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_holds_the_generated_provider_table() -> None:
    assert provider_table() in README.read_text("utf-8")

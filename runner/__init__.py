"""ftjanitor: declarative cleanup jobs for fine-tuned models."""

# The one place the version is written; pyproject.toml reads it from here at build time.
__version__ = "0.2.0"

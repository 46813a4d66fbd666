"""ftjanitor: declarative cleanup jobs for fine-tuned models."""

from importlib.metadata import PackageNotFoundError, version

# The version is pyproject.toml's, read from the installed package's metadata: one place.
try:
    __version__ = version("ftjanitor")
except PackageNotFoundError:  # a source tree used without `pip install -e .`
    __version__ = "0+unknown"

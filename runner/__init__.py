"""ftjanitor: declarative cleanup jobs for fine-tuned models."""

__version__ = "0.1.0"

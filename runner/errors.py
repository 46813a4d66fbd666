"""The errors a user can cause, by kind. Only ``cli.py`` turns them into exit codes.

Each carries a one-line message that names the file, path or connection at fault and
never a secret: messages built from exception text are redacted where they are made.
"""

EXIT_OK = 0
EXIT_FAILED = 1  # the run finished but deletions failed, or a safety limit stopped it
EXIT_INVALID = 2  # invalid job file or command line, or credentials missing


class FtjanitorError(Exception):
    """Base of every error that ends a command with one line."""


class ConfigError(FtjanitorError):
    """The command line, a job file reference, a credential or a path is unusable."""


class StorageError(FtjanitorError):
    """The state store or the audit log cannot be opened, read or continued safely."""


class ProviderError(FtjanitorError):
    """A provider call failed in a way the run cannot work around."""

    def __init__(self, message: str, *, auth: bool = False):
        super().__init__(message)
        self.auth = auth  # credentials rejected: exit 2, like missing credentials


class OutcomeUnknown(ProviderError):
    """No usable answer to a request: it may or may not have reached the provider.

    Transport-neutral (HTTP or a vendor SDK): ``sent`` False means it surely did not, so a
    delete can be retried; True means the caller must settle it by looking.
    """

    def __init__(self, message: str, *, sent: bool):
        super().__init__(message)
        self.sent = sent

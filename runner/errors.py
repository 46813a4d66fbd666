"""Errors that end a command with one line and a DESIGN.md exit code."""

EXIT_OK = 0
EXIT_FAILED = 1  # the run finished but deletions failed, or a safety limit stopped it
EXIT_INVALID = 2  # invalid job file or command line, or credentials missing


class CommandError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_INVALID):
        super().__init__(message)
        self.exit_code = exit_code

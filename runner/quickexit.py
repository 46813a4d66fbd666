"""Leaving a finished command without tearing the interpreter down.

Once a command's ``main`` has returned, everything it opened is closed (each command
opens its files, databases and sessions in an ExitStack) and the audit is on disk. What
Python does next is free every module and object one at a time: about 25 ms after
``validate`` and 80 ms after a run that loaded botocore, which the user waits for and
nothing needs. This exit hook, registered before the command runs and so run last of the
hooks (they run in reverse order), comes after Python has joined every thread that is
not a daemon, as it always does; it flushes what is still buffered and leaves with the
command's code. A command that ends by an exception (argparse's ``SystemExit`` included)
exits as usual.
"""

import atexit
import contextlib
import os
import sys

from runner.errors import EXIT_FAILED


class QuickExit:
    def __init__(self) -> None:
        self.code: int | None = None  # set once the command has returned its code
        atexit.register(self._leave)

    def _leave(self) -> None:
        if self.code is None:
            return
        code = self.code
        # logging's own exit hook runs before this one when it was imported after us; had
        # it been imported first, its hook would come after, and never run. Not imported
        # here: a command that logs nothing does not pay for it.
        if (logging := sys.modules.get("logging")) is not None:
            logging.shutdown()
        try:
            if sys.stdout is not None:  # None: started with stdout closed
                sys.stdout.flush()
        except BrokenPipeError:  # the reader went away (`| head`): as main() treats it
            code = code or EXIT_FAILED
        except OSError as exc:  # a disk that filled up: as main() reports it
            code = code or EXIT_FAILED
            with contextlib.suppress(OSError):
                print(f"ftjanitor: {exc.strerror or exc}", file=sys.stderr)
        with contextlib.suppress(OSError):
            if sys.stderr is not None:  # None: started with stderr closed
                sys.stderr.flush()
        os._exit(code)

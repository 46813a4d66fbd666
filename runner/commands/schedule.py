"""``ftjanitor schedule PATH...``: the daemon."""

import argparse
import signal
from types import FrameType

from runner.errors import EXIT_OK, CommandError
from runner.logs import Log
from runner.scheduler import Daemon


def run(args: argparse.Namespace) -> int:
    log = Log(args.log_format)
    daemon = Daemon(args.paths, log)
    if not daemon.load() and not daemon.files:
        raise CommandError("no valid job file to schedule")
    if not daemon.scheduled():
        raise CommandError("no job in these files has a schedule: nothing to do")

    def on_stop(signum: int, frame: FrameType | None) -> None:
        log.emit("signal", name=signal.Signals(signum).name)
        daemon.request_stop()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        log.emit("signal", name="SIGHUP")
        daemon.request_reload()

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGHUP, on_hup)
    log.emit("daemon.start", files=len(daemon.files), jobs=len(daemon.scheduled()))
    daemon.serve()
    return EXIT_OK

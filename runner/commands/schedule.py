"""``ftjanitor schedule PATH...``: the daemon (with ``--listen``: its metrics, probes and
status page)."""

import argparse
import signal
import threading
from contextlib import ExitStack
from types import FrameType

from runner import events as ev
from runner.durations import format_age
from runner.errors import EXIT_OK, ConfigError
from runner.health import HealthServer, format_listen, parse_listen
from runner.logs import Log, routed
from runner.metrics import Metrics
from runner.report import item
from runner.reports.status import StatusBoard
from runner.scheduler import Daemon


def run(args: argparse.Namespace) -> int:
    log = Log(args.log_format)
    with routed(log):  # APScheduler's and other libraries' lines too: one format
        return _serve(args, log)


class LogWaits:
    """A run-event subscriber: an accepted delete may be looked up for minutes, so the
    daemon's log says so, as `run` says it on stderr."""

    def __init__(self, log: Log):
        self.log = log

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.Waiting):
            self.log.emit(
                "delete.waiting",
                job=event.job,
                item=item(event.model.ref),
                http_status=event.http_status,
                within=format_age(event.within),
            )


def _serve(args: argparse.Namespace, log: Log) -> int:
    metrics = Metrics()
    daemon = Daemon(args.paths, log, sinks=[metrics, LogWaits(log)], metrics=metrics)
    if not daemon.load() and not daemon.files:
        raise ConfigError("no valid job file to schedule")
    if not daemon.scheduled():
        raise ConfigError("no job in these files has a schedule: nothing to do")

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
    with ExitStack() as stack:
        if args.listen:
            try:
                host, port = parse_listen(args.listen)
            except ValueError as exc:
                raise ConfigError(f"--listen: {exc}") from None
            board = StatusBoard(daemon.scheduled, daemon.next_fire_time)
            stack.callback(board.close)
            pages = {"/": board.page, "/api/status": board.api}
            server = HealthServer(
                host, port, metrics, daemon.healthy, daemon.ready.is_set, pages=pages
            )
            server.start()
            threading.Thread(target=board.warm, name="ftjanitor-status", daemon=True).start()
            stack.callback(server.stop)
            log.emit("daemon.listening", address=format_listen(host, server.port))
        daemon.serve()
    return EXIT_OK

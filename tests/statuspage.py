"""The daemon's status page served in the test's own process: its job files loaded, its
status board and HTTP server started on a free port, nothing scheduled to fire."""

from datetime import UTC, datetime
from pathlib import Path

from runner.health import HealthServer
from runner.logs import Log
from runner.metrics import Metrics
from runner.reports.status import StatusBoard
from runner.scheduler import Daemon
from tests.audit_history import append_to, history_path

NOW = datetime(2026, 7, 1, 12, tzinfo=UTC)  # the daemon's clock: next fire times from it
HOSTILE_NAME = '<script>document.title="pwned"</script>"><img src=x onerror=alert(1)>'


class Served:
    """A daemon's job files, status board and HTTP server in this process (not started:
    nothing fires), on a free port."""

    def __init__(self, job: Path):
        self.daemon = Daemon([str(job)], Log("json"), clock=lambda: NOW)
        self.daemon.load()
        self.board = StatusBoard(self.daemon.scheduled, self.daemon.next_fire_time)
        pages = {"/": self.board.page, "/api/status": self.board.api}
        self.server = HealthServer(
            "127.0.0.1", 0, Metrics(), lambda: True, lambda: True, pages=pages
        )
        self.server.start()
        self.port = self.server.port
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.stop()
        self.board.close()


def with_hostile_mark(job: Path) -> Path:
    """A pending mark on a model whose name tries to run a script."""
    with append_to(history_path(job.parent)) as w:
        at = datetime(2026, 6, 20, tzinfo=UTC)
        w.add(at, "run.start", "r-mark", job="nightly", dry_run=False, trigger="schedule")
        w.add(at, "delete.marked", "r-mark", job="nightly", provider="cohere", kind="model",
              model_id="hostile-1", name=HOSTILE_NAME,
              reason="r", deletable_after="2026-06-27T00:00:00.000000Z")  # fmt: skip
        w.add(at, "run.end", "r-mark", job="nightly", dry_run=False, status="ok", deleted=0,
              estimated_monthly_savings=0.0, unknown_cost=0)  # fmt: skip
    return job

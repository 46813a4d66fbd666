"""Metrics as an event subscriber, the textfile writer, and the daemon's HTTP endpoints."""

import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner.errors import ConfigError, StorageError
from runner.events import (
    Absent,
    Counts,
    Intent,
    LimitTripped,
    Marked,
    ModelRef,
    Notified,
    Outcome,
    Planned,
    Reconciled,
    RunEnded,
    RunSkipped,
    RunStarted,
    Unmarked,
)
from runner.health import HealthServer, format_listen, parse_listen
from runner.metrics import CONTENT_TYPE, Metrics
from runner.ref import ResourceRef

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
Labels = tuple[tuple[str, str], ...]


def samples(text: bytes | str) -> dict[tuple[str, Labels], float]:
    """Every sample of an exposition, keyed by (sample name, sorted labels)."""
    if isinstance(text, bytes):
        text = text.decode()
    found: dict[tuple[str, Labels], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in found, f"duplicate sample {key}"
            found[key] = sample.value
    return found


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return samples(m.render()).get((name, tuple(sorted(labels.items()))))


def ref(model_id: str, connection: str = "cohere-prod") -> ModelRef:
    return ModelRef(
        ResourceRef.on(connection, model_id), name=f"name-of-{model_id}", reason=f"old {model_id}"
    )


class Run:
    """Emits one run's events the way the engine does."""

    def __init__(self, m: Metrics, job: str, run_id: str, *, dry_run: bool = False):
        self.m, self.job, self.run_id, self.dry_run = m, job, run_id, dry_run
        m.emit(RunStarted(job, run_id, dry_run, "schedule", "jobs.yaml", "0" * 64, T0))

    def outcome(self, model_id: str, result: str, connection: str = "cohere-prod") -> None:
        self.m.emit(Outcome(self.job, self.run_id, ref(model_id, connection), result, 200, 1, None))

    def absent(self, model_id: str, connection: str = "cohere-prod") -> None:
        self.m.emit(Absent(self.job, self.run_id, ref(model_id, connection)))

    def end(self, status: str = "ok", seconds: float = 10.0, counts: Counts | None = None) -> None:
        self.m.emit(
            RunEnded(
                self.job,
                self.run_id,
                self.dry_run,
                status,
                counts or Counts(),
                started=T0,
                ended=T0 + timedelta(seconds=seconds),
            )
        )


# -- the event subscriber -----------------------------------------------------------------


def test_deletions_counted_by_job_connection_and_result() -> None:
    m = Metrics()
    run = Run(m, "weekly", "r1")
    run.outcome("ft-1", "deleted")
    run.outcome("ft-2", "deleted")
    run.outcome("ft-3", "failed")
    run.outcome("flux-1", "deleted", connection="bfl-main")
    run.outcome("flux-2", "already_absent", connection="bfl-main")
    run.end("partial")
    other = Run(m, "nightly", "r2")
    other.outcome("ft-4", "deleted")
    other.end("ok")

    got = samples(m.render())
    deletions = {k: v for k, v in got.items() if k[0] == "ftjanitor_deletions_total"}
    lab = (("job", "weekly"), ("provider", "cohere-prod"))
    assert deletions == {
        ("ftjanitor_deletions_total", (*lab, ("result", "deleted"))): 2.0,
        ("ftjanitor_deletions_total", (*lab, ("result", "failed"))): 1.0,
        (
            "ftjanitor_deletions_total",
            (("job", "weekly"), ("provider", "bfl-main"), ("result", "deleted")),
        ): 1.0,
        (
            "ftjanitor_deletions_total",
            (("job", "weekly"), ("provider", "bfl-main"), ("result", "already_absent")),
        ): 1.0,
        (
            "ftjanitor_deletions_total",
            (("job", "nightly"), ("provider", "cohere-prod"), ("result", "deleted")),
        ): 1.0,
    }


def test_absent_ids_count_as_already_absent() -> None:
    m = Metrics()
    run = Run(m, "ids-job", "r1")
    run.absent("ft-gone-1")
    run.absent("ft-gone-2")
    run.outcome("ft-3", "already_absent")
    run.end("ok", counts=Counts(already_absent=3))
    assert (
        value(
            m,
            "ftjanitor_deletions_total",
            job="ids-job",
            provider="cohere-prod",
            result="already_absent",
        )
        == 3.0
    )


def test_runs_counted_by_status_and_skipped_runs() -> None:
    m = Metrics()
    for i, status in enumerate(["ok", "ok", "partial", "aborted"]):
        Run(m, "weekly", f"r{i}").end(status)
    m.emit(RunSkipped("weekly", "schedule", "fire time run by another daemon", T0))
    m.emit(RunSkipped("weekly", "schedule", "already running"))
    got = samples(m.render())
    runs = {k[1]: v for k, v in got.items() if k[0] == "ftjanitor_runs_total"}
    assert runs == {
        (("job", "weekly"), ("status", "ok")): 2.0,
        (("job", "weekly"), ("status", "partial")): 1.0,
        (("job", "weekly"), ("status", "aborted")): 1.0,
        (("job", "weekly"), ("status", "skipped")): 2.0,
    }
    # a skipped run is nothing else: no duration, no selection
    assert got[("ftjanitor_run_duration_seconds_count", (("job", "weekly"),))] == 4.0


def test_unknown_status_and_result_stay_in_a_bounded_vocabulary() -> None:
    m = Metrics()
    run = Run(m, "j", "r1")
    run.outcome("ft-1", "exploded")
    run.end("weird")
    assert value(m, "ftjanitor_runs_total", job="j", status="other") == 1.0
    assert (
        value(m, "ftjanitor_deletions_total", job="j", provider="cohere-prod", result="other")
        == 1.0
    )


def test_last_success_is_the_end_of_the_last_ok_run_only() -> None:
    m = Metrics()
    Run(m, "j", "r1").end("ok", seconds=30)
    ok_end = (T0 + timedelta(seconds=30)).timestamp()
    assert value(m, "ftjanitor_last_success_timestamp_seconds", job="j") == ok_end

    for i, status in enumerate(["partial", "aborted"]):
        m.emit(
            RunEnded(
                "j",
                f"bad{i}",
                False,
                status,
                Counts(),
                started=T0 + timedelta(hours=1),
                ended=T0 + timedelta(hours=2),
            )
        )
    m.emit(RunSkipped("j", "schedule", "already running"))
    assert value(m, "ftjanitor_last_success_timestamp_seconds", job="j") == ok_end

    # a later ok run moves it, and an earlier one (out of order) never moves it back
    m.emit(RunEnded("j", "r3", False, "ok", Counts(), ended=T0 + timedelta(days=1)))
    m.emit(RunEnded("j", "r4", False, "ok", Counts(), ended=T0 + timedelta(hours=3)))
    assert (
        value(m, "ftjanitor_last_success_timestamp_seconds", job="j")
        == (T0 + timedelta(days=1)).timestamp()
    )


def test_last_success_falls_back_to_the_injected_clock() -> None:
    at = T0 + timedelta(minutes=5)
    m = Metrics(clock=lambda: at)
    m.emit(RunEnded("j", "r1", False, "ok", Counts()))  # no started/ended on the event
    assert value(m, "ftjanitor_last_success_timestamp_seconds", job="j") == at.timestamp()


def test_set_last_success_seeds_and_never_moves_back() -> None:
    m = Metrics()
    m.set_last_success("j", T0)
    m.set_last_success("j", T0 - timedelta(days=1))
    assert value(m, "ftjanitor_last_success_timestamp_seconds", job="j") == T0.timestamp()


def test_selected_and_pending_are_the_last_runs_figures() -> None:
    m = Metrics()
    Run(m, "j", "r1").end("ok", counts=Counts(planned=7, pending=3, deleted=7))
    assert value(m, "ftjanitor_selected", job="j") == 7.0
    assert value(m, "ftjanitor_pending", job="j") == 3.0
    Run(m, "j", "r2").end("ok", counts=Counts(planned=2, pending=0))
    assert value(m, "ftjanitor_selected", job="j") == 2.0
    assert value(m, "ftjanitor_pending", job="j") == 0.0


def test_duration_histogram_count_sum_and_buckets() -> None:
    m = Metrics()
    Run(m, "j", "r1").end("ok", seconds=2.5)
    Run(m, "j", "r2").end("partial", seconds=90)
    Run(m, "j", "r3").end("aborted", seconds=4000)
    got = samples(m.render())
    job = (("job", "j"),)
    assert got[("ftjanitor_run_duration_seconds_count", job)] == 3.0
    assert got[("ftjanitor_run_duration_seconds_sum", job)] == pytest.approx(4092.5)
    bucket = "ftjanitor_run_duration_seconds_bucket"
    assert got[(bucket, (("job", "j"), ("le", "5.0")))] == 1.0
    assert got[(bucket, (("job", "j"), ("le", "120.0")))] == 2.0
    assert got[(bucket, (("job", "j"), ("le", "3600.0")))] == 2.0
    assert got[(bucket, (("job", "j"), ("le", "+Inf")))] == 3.0


def test_duration_without_event_times_uses_the_clock_at_start_and_end() -> None:
    times = iter([T0, T0 + timedelta(seconds=12)])
    m = Metrics(clock=lambda: next(times))
    m.emit(RunStarted("j", "r1", False, "manual", "jobs.yaml", "0" * 64, T0))
    m.emit(RunEnded("j", "r1", False, "ok", Counts()))
    assert value(m, "ftjanitor_run_duration_seconds_sum", job="j") == 12.0


def test_limit_tripped_counter() -> None:
    m = Metrics()
    run = Run(m, "j", "r1")
    m.emit(LimitTripped("j", "r1", "max_deletions_per_run: 12 > 10"))
    run.end("aborted")
    Run(m, "j", "r2").end("ok")
    assert value(m, "ftjanitor_limit_tripped_total", job="j") == 1.0


def test_dry_runs_change_no_metric() -> None:
    m = Metrics()
    m.declare_jobs(["j"], connections={"j": ["cohere-prod"]})
    m.set_next_run("j", T0)
    before = samples(m.render())

    dry = Run(m, "j", "dry1", dry_run=True)
    m.emit(Planned("j", "dry1", ref("ft-1")))
    dry.absent("ft-gone")
    dry.outcome("ft-1", "deleted")  # never happens in a dry run, but must not count
    m.emit(LimitTripped("j", "dry1", "max_deletions_per_run: 12 > 10"))
    dry.end("ok", counts=Counts(planned=12, pending=4, already_absent=1))
    # a dry RunEnded alone (no RunStarted seen) is recognised too
    m.emit(RunEnded("j", "dry2", True, "ok", Counts(planned=5), started=T0, ended=T0))

    assert samples(m.render()) == before


def test_events_of_a_run_whose_start_was_not_seen_still_count() -> None:
    m = Metrics()
    m.emit(Outcome("j", "unseen", ref("ft-1"), "deleted", 200, 1, None))
    assert (
        value(m, "ftjanitor_deletions_total", job="j", provider="cohere-prod", result="deleted")
        == 1.0
    )


def test_no_model_id_or_name_in_the_exposition() -> None:
    m = Metrics()
    secret_ids = ["ft-7f3a9c-unique-model", "flux-0b1e2d-unique-model"]
    run = Run(m, "j", "r1")
    for model_id in secret_ids:
        model = ref(model_id)
        m.emit(Planned("j", "r1", model))
        m.emit(Marked("j", "r1", model, T0 + timedelta(days=7)))
        m.emit(Unmarked("j", "r1", model))
        m.emit(Intent("j", "r1", model))
        m.emit(Absent("j", "r1", model))
        m.emit(Outcome("j", "r1", model, "failed", 500, 3, f"HTTP 500 for {model_id}"))
        m.emit(Reconciled("j", ResourceRef.on("cohere-prod", model_id), "r0", 4, "deleted"))
    m.emit(Notified("j", "r1", "slack", "run", False, 2, "ft-7f3a9c-unique-model: boom"))
    m.emit(LimitTripped("j", "r1", f"limit: {secret_ids[0]}"))
    run.end("partial", counts=Counts(planned=2, failed=2))

    text = m.render().decode()
    for model_id in secret_ids:
        assert model_id not in text
        assert "unique-model" not in text
    label_values = {
        v
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        for k, v in sample.labels.items()
        if k != "le"
    }
    assert label_values == {"j", "cohere-prod", "already_absent", "failed", "partial"}


def test_declare_jobs_creates_zero_series() -> None:
    m = Metrics()
    assert not any(k[0].startswith("ftjanitor_runs") for k in samples(m.render()))
    m.declare_jobs(["a", "b"], connections={"a": ["cohere-prod", "bfl-main"]})
    got = samples(m.render())
    for job in ("a", "b"):
        for status in ("ok", "partial", "aborted", "skipped"):
            assert got[("ftjanitor_runs_total", (("job", job), ("status", status)))] == 0.0
        for name in (
            "ftjanitor_selected",
            "ftjanitor_pending",
            "ftjanitor_last_success_timestamp_seconds",
            "ftjanitor_limit_tripped_total",
            "ftjanitor_run_duration_seconds_count",
            "ftjanitor_run_duration_seconds_sum",
        ):
            assert got[(name, (("job", job),))] == 0.0
        # 0 would read as "overdue since 1970": the daemon sets it
        assert ("ftjanitor_next_run_timestamp_seconds", (("job", job),)) not in got
    deletions = {k[1] for k in got if k[0] == "ftjanitor_deletions_total"}
    assert deletions == {
        (("job", "a"), ("provider", p), ("result", r))
        for p in ("cohere-prod", "bfl-main")
        for r in ("deleted", "already_absent", "failed")
    }
    assert not any(k[0].endswith("_created") for k in got)


def test_next_run_set_and_cleared() -> None:
    m = Metrics()
    m.set_next_run("j", T0)
    assert value(m, "ftjanitor_next_run_timestamp_seconds", job="j") == T0.timestamp()
    m.set_next_run("j", datetime(2026, 6, 1, 12, 0))  # naive: UTC
    assert value(m, "ftjanitor_next_run_timestamp_seconds", job="j") == T0.timestamp()
    m.set_next_run("j", None)
    assert value(m, "ftjanitor_next_run_timestamp_seconds", job="j") is None
    m.set_next_run("never-set", None)  # no error


def test_own_registry_not_the_global_one() -> None:
    from prometheus_client import REGISTRY

    Metrics()
    Metrics()  # a second instance would collide in a shared registry
    assert REGISTRY.get_sample_value("ftjanitor_runs_total", {"job": "x", "status": "ok"}) is None


def test_emit_from_many_threads() -> None:
    m = Metrics()
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        run = Run(m, "j", f"r{n}")
        for i in range(200):
            run.outcome(f"ft-{n}-{i}", "deleted")
        run.end("ok")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (
        value(m, "ftjanitor_deletions_total", job="j", provider="cohere-prod", result="deleted")
        == 1600.0
    )
    assert value(m, "ftjanitor_runs_total", job="j", status="ok") == 8.0


# -- the textfile -------------------------------------------------------------------------


def filled() -> Metrics:
    m = Metrics()
    run = Run(m, "j", "r1")
    run.outcome("ft-1", "deleted")
    run.end("ok", counts=Counts(planned=1, deleted=1))
    return m


def test_textfile_written_complete_and_nothing_left_behind(tmp_path: Path) -> None:
    target = tmp_path / "ftjanitor.prom"
    target.write_text("old contents\n")
    m = filled()
    m.write_textfile(target)
    assert os.listdir(tmp_path) == ["ftjanitor.prom"]
    assert target.read_bytes() == m.render()
    assert samples(target.read_text())[("ftjanitor_runs_total", (("job", "j"), ("status", "ok")))]
    assert target.stat().st_mode & 0o777 == 0o644


def test_textfile_is_renamed_into_place_from_the_same_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ftjanitor.prom"
    target.write_text("old contents\n")
    m = filled()
    seen: list[tuple[Path, str, str]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        # at the rename the new file is complete and the old one is still untouched
        seen.append((Path(src), Path(src).read_text(), Path(dst).read_text()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    m.write_textfile(target)
    [(temp, new, old)] = seen
    assert temp.parent == tmp_path and temp != target
    assert not temp.name.endswith(".prom")  # the textfile collector never reads it
    assert new == m.render().decode()
    assert old == "old contents\n"


def test_textfile_concurrent_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "ftjanitor.prom"
    m = filled()
    m.write_textfile(target)
    expected = target.read_text()
    stop = threading.Event()
    bad: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            text = target.read_text()
            if text != expected:
                bad.append(text)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(50):
            m.write_textfile(target)
    finally:
        stop.set()
        thread.join()
    assert bad == []
    assert os.listdir(tmp_path) == ["ftjanitor.prom"]


def test_textfile_rename_failure_leaves_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ftjanitor.prom"
    target.write_text("old contents\n")

    def failing(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(StorageError) as info:
        filled().write_textfile(target)
    assert str(info.value) == f"{target}: cannot write metrics file: No space left on device"
    assert os.listdir(tmp_path) == ["ftjanitor.prom"]
    assert target.read_text() == "old contents\n"


@pytest.mark.parametrize("case", ["directory", "parent is a file", "no parent"])
def test_textfile_unwritable_path_is_one_line_storage_error(tmp_path: Path, case: str) -> None:
    if case == "directory":
        target = tmp_path / "metrics.prom"
        target.mkdir()
    elif case == "parent is a file":
        (tmp_path / "plain").write_text("x")
        target = tmp_path / "plain" / "metrics.prom"
    else:
        target = tmp_path / "missing" / "metrics.prom"
    with pytest.raises(StorageError) as info:
        filled().write_textfile(target)
    message = str(info.value)
    assert message.startswith(f"{target}: cannot write metrics file: ")
    assert "\n" not in message
    assert len(message) > len(f"{target}: cannot write metrics file: ")
    leftovers = sorted(p.name for p in tmp_path.rglob("*"))
    assert not any(name.endswith(".tmp") for name in leftovers)


# -- the HTTP endpoints -------------------------------------------------------------------


def fetch(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read()


class Flag:
    def __init__(self, value: bool):
        self.value = value

    def __call__(self) -> bool:
        return self.value


@pytest.fixture
def served() -> Iterator[tuple[HealthServer, Flag, Flag, str]]:
    healthy, ready = Flag(True), Flag(False)
    server = HealthServer("127.0.0.1", 0, filled(), healthy, ready)
    with server:
        yield server, healthy, ready, f"http://127.0.0.1:{server.port}"


def test_metrics_endpoint_serves_the_exposition(
    served: tuple[HealthServer, Flag, Flag, str],
) -> None:
    server, _, _, base = served
    assert server.port != 0
    status, content_type, body = fetch(base + "/metrics")
    assert status == 200
    assert content_type == CONTENT_TYPE
    assert content_type.startswith("text/plain; version=0.0.4")
    got = samples(body)
    assert got[("ftjanitor_runs_total", (("job", "j"), ("status", "ok")))] == 1.0
    assert fetch(base + "/metrics?name[]=x")[0] == 200


def test_healthz_follows_healthy(served: tuple[HealthServer, Flag, Flag, str]) -> None:
    _, healthy, _, base = served
    assert fetch(base + "/healthz") == (200, "text/plain; charset=utf-8", b"ok\n")
    healthy.value = False
    assert fetch(base + "/healthz")[0] == 503


def test_readyz_follows_ready(served: tuple[HealthServer, Flag, Flag, str]) -> None:
    _, _, ready, base = served
    assert fetch(base + "/readyz") == (503, "text/plain; charset=utf-8", b"not ready\n")
    ready.value = True
    assert fetch(base + "/readyz") == (200, "text/plain; charset=utf-8", b"ready\n")


def test_a_raising_probe_is_a_failing_probe() -> None:
    def broken() -> bool:
        raise RuntimeError("boom")

    with HealthServer("127.0.0.1", 0, Metrics(), broken, broken) as server:
        base = f"http://127.0.0.1:{server.port}"
        assert fetch(base + "/healthz")[0] == 503
        assert fetch(base + "/readyz")[0] == 503


def test_unknown_paths_are_404_and_head_works(
    served: tuple[HealthServer, Flag, Flag, str],
) -> None:
    _, _, _, base = served
    for path in ("/", "/metric", "/healthz/x", "/favicon.ico"):
        assert fetch(base + path)[0] == 404
    status, content_type, body = fetch(base + "/metrics", method="HEAD")
    assert (status, content_type, body) == (200, CONTENT_TYPE, b"")
    assert fetch(base + "/healthz", method="HEAD") == (200, "text/plain; charset=utf-8", b"")
    assert fetch(base + "/nope", method="HEAD")[0] == 404


def test_no_request_log_on_stderr(
    served: tuple[HealthServer, Flag, Flag, str], capfd: pytest.CaptureFixture[str]
) -> None:
    _, _, _, base = served
    fetch(base + "/metrics")
    fetch(base + "/nope")
    assert capfd.readouterr().err == ""


def test_port_in_use_is_a_one_line_config_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = HealthServer("127.0.0.1", port, Metrics(), lambda: True, lambda: True)
        with pytest.raises(ConfigError) as info:
            server.start()
    message = str(info.value)
    assert message.startswith(f"--listen 127.0.0.1:{port}: ")
    assert "in use" in message
    assert "\n" not in message
    server.stop()  # never started: harmless


def test_address_not_on_this_host_is_a_config_error() -> None:
    server = HealthServer("203.0.113.7", 0, Metrics(), lambda: True, lambda: True)
    with pytest.raises(ConfigError, match=r"^--listen 203\.0\.113\.7:0: \S"):
        server.start()


def test_stop_releases_the_port_and_is_idempotent() -> None:
    server = HealthServer("127.0.0.1", 0, Metrics(), lambda: True, lambda: True)
    server.start()
    port = server.port
    server.stop()
    server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
    again = HealthServer("127.0.0.1", port, Metrics(), lambda: True, lambda: True)
    again.start()  # the port is free again
    again.stop()


def test_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    with HealthServer("::1", 0, Metrics(), lambda: True, lambda: True) as server:
        assert fetch(f"http://[::1]:{server.port}/healthz")[0] == 200
        clash = HealthServer("::1", server.port, Metrics(), lambda: True, lambda: True)
        with pytest.raises(ConfigError, match=rf"^--listen \[::1\]:{server.port}: \S"):
            clash.start()


# -- parse_listen -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9108", ("127.0.0.1", 9108)),
        ("0.0.0.0:9108", ("0.0.0.0", 9108)),
        ("localhost:80", ("localhost", 80)),
        (":9108", ("0.0.0.0", 9108)),
        ("[::1]:9108", ("::1", 9108)),
        ("[::]:9108", ("::", 9108)),
        ("[fe80::1%eth0]:9108", ("fe80::1%eth0", 9108)),
        (" 127.0.0.1:9108 ", ("127.0.0.1", 9108)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        ("127.0.0.1:65535", ("127.0.0.1", 65535)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "'abc' is not HOST:PORT"),
        ("", "'' is not HOST:PORT"),
        ("9108", "'9108' is not HOST:PORT"),
        ("host:abc", "'host:abc' is not HOST:PORT: the port 'abc' is not a number"),
        ("host:", "'host:' is not HOST:PORT: the port '' is not a number"),
        ("host:-1", "'host:-1' is not HOST:PORT: the port '-1' is not a number"),
        ("host:65536", "'host:65536': port 65536 is out of range (0-65535)"),
        ("host:99999999", "'host:99999999': port 99999999 is out of range (0-65535)"),
        ("host:٣", "'host:٣' is not HOST:PORT: the port '٣' is not a number"),
        ("::1:9108", "'::1:9108' is not HOST:PORT (write an IPv6 address in brackets: [::1]:9108)"),
        ("[::1]", "'[::1]' is not HOST:PORT (write an IPv6 address in brackets: [::1]:9108)"),
        ("[::1]:", "'[::1]:' is not HOST:PORT: the port '' is not a number"),
        ("[]:9108", "'[]:9108' is not HOST:PORT"),
        ("my host:9108", "'my host:9108' is not HOST:PORT"),
    ],
)
def test_parse_listen_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_listen(text)
    assert str(info.value) == message


def test_format_listen_round_trips() -> None:
    for text in ("127.0.0.1:9108", "[::1]:9108"):
        assert format_listen(*parse_listen(text)) == text

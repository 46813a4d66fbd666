"""A PostgreSQL job lock lives in a session of its own: when that session ends (a server
restart, a killed backend), the lock is gone and another process may take the job. No
intent, and so no delete, is written after that."""

from contextlib import closing

import pytest

from runner.errors import StorageError
from runner.ref import ResourceRef
from runner.state import OpenIntent, StateRef
from runner.state.open import open_state
from tests.pgserver import PgServer


def intent(seq: int) -> OpenIntent:
    return OpenIntent("nightly", ResourceRef.on("cohere", f"m{seq}"), "run-1", seq)


@pytest.mark.timeout(60)
def test_no_intent_is_written_once_the_lock_session_is_gone(
    pg_server: PgServer, pg_fresh_url: str
) -> None:
    with closing(open_state(StateRef(url=pg_fresh_url))) as state:
        with state.job_lock("nightly") as holder:
            assert holder is None
            state.intent_opened(intent(1))  # held: written
            with pg_server.admin("ftjanitor_test") as admin:
                killed = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name LIKE 'ftjanitor lock pid=%%'"
                ).fetchall()
            assert killed == [(True,)]
            with pytest.raises(StorageError) as caught:
                state.intent_opened(intent(2))
            message = str(caught.value)
            assert "\n" not in message
            assert "the lock on job 'nightly' was lost" in message
        assert [i.ref.id for i in state.open_intents(["nightly"])] == ["m1"]
        with state.job_lock("nightly") as holder:  # free again, and taken afresh
            assert holder is None
            state.intent_opened(intent(3))

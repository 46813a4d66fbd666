"""Delete intents made durable in groups (group commit).

A delete is sent only once its intent is durable twice: in the state (a crash after it is
reconciled from the state's index) and in the audit log (fsynced). Written one by one, that
is a transaction and an fsync per delete, with the workers queueing on both. Here the
intents that arrive while a group is being written wait, and are written next, together:
one state transaction and one audit append with one fsync. Whoever finds nothing being
written writes for everyone waiting (a leader; the others follow). Each delete still goes
out only once its own group is durable, and a group that fails fails every delete in it.

Closing an intent (its outcome is recorded) is written at once, in the next free turn, and
rides with a group's transaction only when one takes it first. Deferring closes until the
next group of intents (a crash before the close only leaves the intent open, for the next
run to settle by a lookup) made each group's transaction longer and cost the 2,000-delete
run 12% at concurrency 8 (4 interleaved pairs: 9.65 s against 8.64 s).
"""

import os
import threading
from dataclasses import dataclass

from runner import events as ev
from runner.ref import ResourceRef
from runner.state import OpenIntent, StateStore

# For the benchmark only (bench/run.py measures both in one run): 0 makes each intent a
# group of its own (its own transaction and fsync).
GROUPED = os.environ.get("FTJANITOR_GROUP_COMMIT") != "0"

Close = tuple[str, ResourceRef]  # (run_id, ref)


@dataclass(eq=False)
class _Waiting:
    intent: OpenIntent
    event: ev.Intent
    done: bool = False
    error: BaseException | None = None


class IntentGroups:
    """The intents and closes of one run's deletes, written a group at a time."""

    def __init__(self, state: StateStore, fanout: ev.Fanout, *, grouped: bool = GROUPED):
        self._state, self._fanout = state, fanout
        self._limit = None if grouped else 1
        self._cond = threading.Condition()
        self._waiting: list[_Waiting] = []
        self._closes: list[Close] = []
        self._writing = False
        self.groups = 0  # state transactions written (the tests count them)

    @property
    def queued(self) -> int:
        """Intents waiting for a group to take them."""
        with self._cond:
            return len(self._waiting)

    def open(self, intent: OpenIntent, event: ev.Intent) -> None:
        """Return once ``intent`` is in the state and ``event`` is on disk in the audit;
        raise what broke its group when it is not (then its delete must not be sent)."""
        mine = _Waiting(intent, event)
        with self._cond:
            self._waiting.append(mine)
        while not mine.done:
            with self._cond:
                while self._writing and not mine.done:
                    self._cond.wait()
                if mine.done:
                    break
                cut = len(self._waiting) if self._limit is None else self._limit
                group, self._waiting = self._waiting[:cut], self._waiting[cut:]
                closes, self._closes = self._closes, []
                self._writing = True
            # A failure is handed to every delete of the group, this one's included if it
            # is there: each raises it in its own thread, and none of them is sent.
            self._write(group, closes)
        if mine.error is not None:
            raise mine.error

    def close(self, run_id: str, ref: ResourceRef) -> None:
        """The intent's outcome is recorded: close it now, or with the group a leader
        writes meanwhile (it takes every close waiting)."""
        with self._cond:
            self._closes.append((run_id, ref))
            while self._writing:
                self._cond.wait()
            closes, self._closes = self._closes, []
            if not closes:
                return  # a group took it
            self._writing = True
        if error := self._write([], closes):
            raise error

    def _write(self, group: list[_Waiting], closes: list[Close]) -> BaseException | None:
        """One state transaction (closes, then intents) and then one audit append with
        one fsync; marks the group done, with the failure if there was one."""
        error: BaseException | None = None
        try:
            self._state.intents_recorded([w.intent for w in group], closes)
            if group:
                self._fanout.emit_many([w.event for w in group])
        except BaseException as exc:  # handed to the group's deletes (and raised by them)
            error = exc
        with self._cond:
            for waiting in group:
                waiting.done, waiting.error = True, error
            self.groups += 1
            self._writing = False
            self._cond.notify_all()
        return error

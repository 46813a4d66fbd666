"""An accepted delete, waited for (libnuke's *waiting* state): the provider took the
delete to carry out later, so the item is polled until a lookup proves it gone, within its
kind's deadline. It is never reported deleted before that proof.

Time goes through a ``Timer`` so that tests run a ten-minute deadline in no time.
"""

import threading
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Protocol

from runner.durations import format_age
from runner.providers.base import ACCEPTED_WITHIN, Deleter, DeleteResult, ProviderError

# Seconds before each poll: the first at once (a fast provider, or a simulator, is done
# already, and a slow one costs one lookup), then 2 s doubling to at most 30 s.
FIRST_PAUSE = 2.0
MAX_PAUSE = 30.0


class DeleteFailed(ProviderError):
    """Raised by a lookup that proves an accepted delete will not happen (a long-running
    operation that ended Failed): the wait ends at once, ``failed`` with its message."""


class Timer(Protocol):
    def monotonic(self) -> float: ...

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Sleep ``seconds`` or until ``stop`` is set; True when it is set."""
        ...


class WallTimer:
    """Real time. Holds nothing, so the workers of a run share one."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(seconds)


@dataclass(frozen=True)
class Waits:
    """How a run waits for accepted deletes: its timer, and a deadline for every kind
    instead of each kind's own (None: each kind's, ``AcceptedAnswer.within``)."""

    timer: Timer = field(default_factory=WallTimer)
    within: timedelta | None = None

    def deadline(self, accepted: DeleteResult) -> timedelta:
        """How long this accepted delete may take to come true."""
        if self.within is not None:
            return self.within
        return accepted.accepted if accepted.accepted is not None else ACCEPTED_WITHIN


def wait_until_gone(
    deleter: Deleter,
    model_id: str,
    accepted: DeleteResult,
    stop: threading.Event,
    waits: Waits,
) -> DeleteResult:
    """Poll the deleter's lookup, backing off, until the item is gone or the deadline.

    Gone: ``deleted``. Still there at the deadline: ``failed``, and not transient (a
    second pass must not send the delete again; the next run sees the item listed, in a
    deleting status its kind counts as in progress). A lookup that fails is no answer: the
    wait goes on, and a failure at the deadline leaves the outcome unknown (``failed``).
    ``stop`` ends the wait early: ``accepted`` comes back as it was, unsettled, and the
    caller leaves its intent open for the next run to reconcile.
    """
    within = waits.deadline(accepted)
    timer = waits.timer
    deadline = timer.monotonic() + within.total_seconds()
    said, span = accepted.error or "accepted", format_age(within)
    pause, polls = 0.0, 0
    while True:
        if timer.wait(stop, max(min(pause, deadline - timer.monotonic()), 0.0)):
            return accepted
        polls += 1
        problem: ProviderError | None = None
        try:
            if not deleter.exists(model_id):
                return replace(
                    accepted,
                    result="deleted",
                    error=f"{said}; confirmed gone after {_polls(polls)}",
                    accepted=None,
                )
        except DeleteFailed as exc:
            return replace(accepted, error=f"{said}; {exc}", transient=False, accepted=None)
        except ProviderError as exc:
            problem = exc
        if timer.monotonic() >= deadline:
            error = (
                f"{said}; could not look it up at the deadline ({span}, {_polls(polls)}):"
                f" {problem}; outcome unknown"
                if problem is not None
                else f"{said}; still present after {span} ({_polls(polls)})"
            )
            return replace(accepted, error=error, transient=False, accepted=None)
        pause = min(pause * 2, MAX_PAUSE) if pause else FIRST_PAUSE


def _polls(n: int) -> str:
    return f"{n} poll" if n == 1 else f"{n} polls"

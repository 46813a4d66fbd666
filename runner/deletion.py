"""One delete, settled: an answer lost in transit is resolved by looking, never guessed."""

import dataclasses
import random
import threading
from collections.abc import Callable
from datetime import timedelta

from runner.providers.base import Deleter, DeleteResult, OutcomeUnknown, ProviderError
from runner.waiting import Waits, wait_until_gone

SETTLE_ROUNDS = 3


def delete_and_settle(
    deleter: Deleter,
    model_id: str,
    *,
    pause: Callable[[int], float] | None = None,
    stop: threading.Event | None = None,
    waits: Waits | None = None,
    on_accepted: Callable[[DeleteResult], None] | None = None,
    accepts_later: timedelta | None = None,
) -> DeleteResult:
    """Delete; if no answer came, check whether the model still exists.

    Gone: it was deleted. Still there: the delete never happened, so try again after a
    jittered pause (a network blip of a second or two must not fail the delete), at most
    SETTLE_ROUNDS times. Unknown after that, or if the check fails: ``failed``, transient.

    An answer that is not the type's declared success (an HTML page or an error behind a
    200) is settled by looking too: gone is ``deleted``, still there ``failed`` with what
    the provider said. It is never sent again: the provider did answer.

    An answer that accepts the delete for later is told to ``on_accepted`` and then waited
    for (runner.waiting): ``deleted`` only once a lookup proves the item gone. Stopped while
    waiting, the accepted result comes back unsettled (``accepted`` still set).

    ``accepts_later``: the kind may accept deletes to carry out later, within that long.
    Its item still there after a lost answer proves nothing (it may be deleting), so the
    delete is never sent again: it is waited for as an accepted one, and a lost answer that
    cannot be checked is final, not retried in a second pass.
    """
    pause = pause or backoff
    stop = stop or threading.Event()
    attempts = 0
    last = ""
    for round_ in range(SETTLE_ROUNDS):
        if round_ and stop.wait(pause(round_)):
            break
        try:
            result = deleter.delete(model_id)
        except OutcomeUnknown as exc:
            attempts += 1
            last = str(exc)
            if not exc.sent:
                continue  # it never left: trying again is safe
            try:
                still_there = deleter.exists(model_id)
            except ProviderError as check:
                said = f"{last}; then could not check: {check}"
                return DeleteResult("failed", None, attempts, said, accepts_later is None)
            if not still_there:
                return DeleteResult(
                    "deleted", None, attempts, "answer lost; confirmed gone by lookup"
                )
            if accepts_later is not None:
                said = f"answer lost ({last}); still there, as after an accepted delete"
                lost = DeleteResult("failed", None, attempts, said, accepted=accepts_later)
                if on_accepted is not None:
                    on_accepted(lost)
                return wait_until_gone(deleter, model_id, lost, stop, waits or Waits())
            continue
        except ProviderError as exc:
            return DeleteResult("failed", None, attempts + 1, str(exc))
        if result.unconfirmed:
            return _by_lookup(deleter, model_id, result, result.attempts + attempts)
        if result.accepted is not None:
            result = dataclasses.replace(result, attempts=result.attempts + attempts)
            if on_accepted is not None:
                on_accepted(result)
            return wait_until_gone(deleter, model_id, result, stop, waits or Waits())
        return DeleteResult(
            result.result,
            result.http_status,
            result.attempts + attempts,
            result.error,
            result.transient,
        )
    return DeleteResult("failed", None, attempts, f"no answer in {attempts} tries: {last}", True)


def _by_lookup(
    deleter: Deleter, model_id: str, result: DeleteResult, attempts: int
) -> DeleteResult:
    status, said = result.http_status, result.error
    try:
        still_there = deleter.exists(model_id)
    except ProviderError as check:
        return DeleteResult(
            "failed", status, attempts, f"{said}; then could not check: {check}", True
        )
    if still_there:
        return DeleteResult("failed", status, attempts, f"{said}; the model is still there")
    return DeleteResult("deleted", status, attempts, f"{said}; confirmed gone by lookup")


def backoff(round_: int) -> float:
    """Seconds before settle round ``round_`` (1, 2, ...): 0.5 s doubling, full jitter."""
    seconds: float = random.uniform(0.5, 1.0) * 2.0 ** (round_ - 1)
    return seconds

"""One delete, settled: an answer lost in transit is resolved by looking, never guessed."""

from runner.providers.base import DeleteResult, Provider, ProviderError
from runner.providers.http import HttpError

SETTLE_ROUNDS = 3


def delete_and_settle(provider: Provider, model_id: str) -> DeleteResult:
    """Delete; if no answer came, check whether the model still exists.

    Gone: it was deleted. Still there: the delete never happened, so try again (at most
    SETTLE_ROUNDS times). Unknown after that, or if the check fails: ``failed``.
    """
    attempts = 0
    last = ""
    for _ in range(SETTLE_ROUNDS):
        try:
            result = provider.delete(model_id)
        except HttpError as exc:
            attempts += 1
            last = str(exc)
            if not exc.sent:
                return DeleteResult("failed", None, attempts, last)
            try:
                still_there = provider.exists(model_id)
            except ProviderError as check:
                return DeleteResult(
                    "failed", None, attempts, f"{last}; then could not check: {check}"
                )
            if not still_there:
                return DeleteResult(
                    "deleted", None, attempts, "answer lost; confirmed gone by lookup"
                )
            continue
        except ProviderError as exc:
            return DeleteResult("failed", None, attempts + 1, str(exc))
        return DeleteResult(
            result.result, result.http_status, result.attempts + attempts, result.error
        )
    return DeleteResult("failed", None, attempts, f"no answer in {SETTLE_ROUNDS} tries: {last}")

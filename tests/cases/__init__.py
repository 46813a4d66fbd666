"""One contract fixture per provider type, one module per type (``tests/cases/X.py``),
found by listing this package (tests/provider_cases.py): a new type's fixture is a new
file. A module exposes ``CASE`` (a ``ProviderCase``) or, for a type whose contract is kept
by a file of its own, ``ELSEWHERE`` (the reason)."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from runner.simulator import Accounts, load_seed
from tests.conftest import NOW


@dataclass(frozen=True)
class Selection:
    """A target and exactly what it selects; ``reasons``: ID -> the plan's reason for it."""

    target: str
    selects: frozenset[str]
    reasons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderCase:
    kind: str
    key: str
    accounts: Callable[[], Accounts]
    # Plans that must be exact; the last one is also run and must delete exactly its plan.
    selections: tuple[Selection, ...]
    present: str  # a listed model: a 404 that does not name it never proves it gone
    absent: str  # never listed: the provider's own not-found for it is already_absent
    held: Callable[[Accounts], set[str]]  # every ID the simulator holds, listed or not
    delete_path: Callable[[str], str]  # where a model's delete is sent, under the mount
    api: str  # how a list failure names the API, and the list's path: "the X API", "/v1/..."
    list_path: str
    wrong_key_says: str  # the provider's own words for a key it refuses
    garbage_says: str  # a list answer that is not JSON: "malformed page" or "malformed body"
    # A deletable model of scripts/demo-seed.yaml that no deployment serves (a served one is
    # blocked), for the tests that run the CLI on every type (tests/simjobs.py MODEL).
    demo_model: str
    connection: Mapping[str, object] = field(default_factory=dict)
    # The seed entry's key for the status word, for a type with statuses
    # (tests/test_unknown_status.py seeds a status no one knows there).
    status_field: str = ""
    variants: tuple[Mapping[str, str], ...] = ({},)  # error shapes the provider may answer in
    # What {match_all: true} selects: never an in-progress model, never a base model.
    everything: frozenset[str] = frozenset()
    # In-progress models: selected only by a status: rule naming their status.
    in_progress: Selection | None = None
    bases: frozenset[str] = frozenset()  # base models: never candidates, never deleted
    listed: frozenset[str] = frozenset()  # with bases: what {match_all: true} decides about
    # A base model named in ids: "invalid" (validate refuses, saying this) or "absent".
    base_by_id: str = ""
    base_by_id_says: str = ""
    # A delete's error when a path the provider does not serve answers 404, and when its own
    # delete path answers a 404 that does not name the model (BFL asks its list instead).
    bare_404_says: str = "(a 404 that does not name the model: is the API retired?)"
    injected_404_says: str = "(a 404 that does not name the model: is the API retired?)"
    delete_method: str = "DELETE"


def seeded(seed: Mapping[str, object]) -> Callable[[], Accounts]:
    """A case's own seed, loaded afresh for each test."""
    return lambda: load_seed(dict(seed), NOW)

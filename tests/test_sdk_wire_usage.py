"""The simulator's OpenAI Usage API route, proved with the official ``openai`` SDK (3.60:
``client.admin.organization.usage.completions``, sent with the client's ``admin_api_key``,
its array parameters as ``group_by[]=model``). ftjanitor sends ``group_by=model``, the
published spec's form: the route takes both. A missing SDK skips these tests."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from runner.simulator import Simulator, load_seed
from runner.simulator.openai import use
from tests.conftest import NOW

openai = pytest.importorskip("openai")

ADMIN = "sk-admin-sdk-7f3e"
DAY = 86400
TUNED = "ft:gpt-4o-mini-2024-07-18:acme:prod:Zz99Yy88"
TODAY = int(NOW.timestamp()) // DAY * DAY


@pytest.fixture
def sim() -> Iterator[Simulator]:
    seed = {"openai": [{"id": TUNED, "age_days": 90, "used_days_ago": [1, 1, 9]}]}
    with Simulator(load_seed(seed, NOW), keys={"openai": "sk-project-1"}, max_page_size=3) as s:
        use(s.accounts, "gpt-4o-mini-2024-07-18", NOW - timedelta(days=1), requests=5)
        yield s


def _client(sim: Simulator, admin: str | None = ADMIN) -> Any:
    return openai.OpenAI(
        api_key="sk-project-1",
        admin_api_key=admin,
        base_url=sim.base_url("openai") + "/v1",
        max_retries=0,
    )


def test_the_sdk_pages_daily_buckets_grouped_by_model(sim: Simulator) -> None:
    usage = _client(sim).admin.organization.usage
    start, seen, pages, page = TODAY - 9 * DAY, {}, 0, None
    while True:
        answer = usage.completions(
            start_time=start,
            end_time=TODAY + DAY,
            bucket_width="1d",
            group_by=["model"],
            limit=31,
            **({"page": page} if page else {}),
        )
        pages += 1
        assert len(answer.data) <= 3  # the simulator's page size
        for bucket in answer.data:
            assert bucket.end_time - bucket.start_time == DAY
            for result in bucket.results:
                seen[(bucket.start_time, result.model)] = result.num_model_requests
        if not answer.has_more:
            break
        page = answer.next_page
    assert pages == 4  # ten days, three a page
    assert seen == {
        (TODAY - 9 * DAY, TUNED): 1,
        (TODAY - DAY, TUNED): 2,
        (TODAY - DAY, "gpt-4o-mini-2024-07-18"): 5,
    }


def test_without_group_by_one_result_counts_every_model(sim: Simulator) -> None:
    answer = _client(sim).admin.organization.usage.completions(
        start_time=TODAY - DAY, end_time=TODAY, bucket_width="1d"
    )
    ((bucket,),) = [answer.data]
    assert [(r.model, r.num_model_requests) for r in bucket.results] == [(None, 7)]


def test_a_project_key_is_refused_and_an_admin_key_cannot_list_models(sim: Simulator) -> None:
    with pytest.raises(openai.AuthenticationError):
        _client(sim, admin="sk-project-1").admin.organization.usage.completions(start_time=0)
    admin_only = openai.OpenAI(
        api_key=ADMIN, base_url=sim.base_url("openai") + "/v1", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError):
        admin_only.models.list()
    assert [m.id for m in _client(sim).models.list()] == [TUNED]

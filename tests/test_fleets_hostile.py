"""Fleets, tags and owners against a hostile user: job files with odd globs, lists, regions,
roles and limits; two connections that reach one account; tag dates at the edges of the
calendar; clocks far from today; owners whose routes are missing, shared or odd. Every
bad file is one ``file:line:col: path: message`` line per problem and exit 2."""

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runner.providers.base import ModelRecord
from runner.ref import ResourceRef
from runner.selectors.expires_tag import ExpiresTag, expiry
from runner.simulator import Accounts, Simulator, cohere_model, load_seed
from runner.simulator.openai import openai_job
from runner.state import Mark, StateRef
from runner.state.accounts import AccountKeyed
from runner.state.open import open_state
from tests.azurejobs import KEY as AZURE_KEY
from tests.azurejobs import SERVED, TOKEN, TOKEN_ENV, azure_job
from tests.conftest import COHERE_KEY
from tests.conftest import NOW as SEED_NOW
from tests.helpers import (
    NOW_ARG,
    TEST_PACE,
    cli,
    job_yaml,
    one_job,
    plan_decisions,
    run_now,
    simulator_job,
    write_job,
)
from tests.test_account_keys import DAY, T0, connections
from tests.test_bedrock import (  # noqa: F401 (autouse: fake credentials, loopback only, no back-off)
    aws_env,
    loopback_only,
    no_backoff,
)
from tests.test_notify_e2e import (  # noqa: F401 (autouse: short delivery timeouts)
    SECRET_BITS,
    Receiver,
    short_delivery,
)
from tests.test_owner_routing import BASE as FT
from tests.test_owner_routing import hooks, told  # noqa: F401 (the receivers fixture)
from tests.test_tags import bedrock_job

# -- job files ------------------------------------------------------------------------------

COHERE: dict[str, object] = {"type": "cohere", "api_key_env": "COHERE_A_KEY"}
FLEET: dict[str, dict[str, object]] = {
    "cohere-a": COHERE,
    "cohere-b": {"type": "cohere", "api_key_env": "COHERE_B_KEY"},
    "gpt": {"type": "openai"},
}
BEDROCK: dict[str, object] = {"type": "bedrock", "region": "us-east-1"}


def problems(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    providers: Mapping[str, Mapping[str, object]],
    target: str,
    top: str = "",
) -> list[str]:
    """``validate``'s lines for a file of ``providers`` and one job of ``target``, each
    checked to be ``file:line:col: path: message`` (the file's name cut off); [] when valid."""
    path = write_job(tmp_path, job_yaml(providers, one_job("j", [target]), top))
    code, _, err = cli(capsys, "validate", path)
    lines = [line for line in err.splitlines() if line.startswith(path)]
    assert code == (2 if lines else 0), err
    for line in lines:
        assert re.fullmatch(r":\d+:\d+: \S+: .+", line.removeprefix(path)), line
    return [line.removeprefix(path) for line in lines]


@pytest.mark.parametrize(
    ("provider", "says"),
    [
        ('"["', ":9:10: jobs[0].targets[0].provider: '[' matches no connection"),
        ('"cohere-[ab"', "'cohere-[ab' matches no connection"),
        ('"x*"', "'x*' matches no connection (connections: cohere-a, cohere-b, gpt)"),
        ("[]", "[] is not a connection name or a glob over them"),
        ('""', "'' is not a connection name or a glob over them"),
        ("[cohere-a, cohere-a]", "provider[1]: 'cohere-a' names connection 'cohere-a' again"),
        ('[cohere-a, "cohere-*"]', "provider[1]: 'cohere-*' names connection 'cohere-a' again"),
        ('"../*"', "'../*' is not a connection name or a glob over them"),
    ],
)
def test_odd_provider_globs_and_lists_are_refused_at_their_item(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], provider: str, says: str
) -> None:
    found = problems(tmp_path, capsys, FLEET, f"{{provider: {provider}, older_than: 30d}}")
    assert any(says in line for line in found), found


@pytest.mark.parametrize(
    ("provider", "covers"),
    [
        ('"**"', ["cohere-a", "cohere-b", "gpt"]),
        ('"[!g]*"', ["cohere-a", "cohere-b"]),
        ('"cohere-?"', ["cohere-a", "cohere-b"]),
        ('[gpt, "cohere-*"]', ["gpt", "cohere-a", "cohere-b"]),
    ],
)
def test_globs_cover_the_connections_they_match_in_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], provider: str, covers: list[str]
) -> None:
    from runner.jobfile.validate import load_job_file

    path = write_job(
        tmp_path, job_yaml(FLEET, one_job("j", [f"{{provider: {provider}, older_than: 30d}}"]))
    )
    (job,) = load_job_file(path).jobs
    assert [t.connection for t in job.targets] == covers


def test_a_glob_over_types_without_the_kind_or_the_rule_is_refused_per_type(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A glob does not quietly narrow itself to the connections where the target makes sense.
    found = problems(tmp_path, capsys, FLEET, '{provider: "*", kind: deployment, match_all: true}')
    assert [line.split(": ", 2)[2] for line in found] == [
        "cohere has no kind 'deployment' (kinds: model)",
        "openai has no kind 'deployment' (kinds: model)",
    ]
    found = problems(tmp_path, capsys, FLEET, '{provider: "*", tags: {team: nlp}}')
    assert len(found) == 1 and "cohere models carry no tags" in found[0]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"regions": []}, "providers.aws.regions: [] should be non-empty"),
        (
            {"regions": ["us-east-1", "eu-west-1", "us-east-1"]},
            ":3:62: providers.aws.regions[2]: 'us-east-1' is listed twice",
        ),
        ({"regions": ["US-EAST-1"]}, "regions[0]: 'US-EAST-1' is not an AWS region"),
        ({"regions": ["us-east-1; rm"]}, "regions[0]: 'us-east-1; rm' is not an AWS region"),
        ({"regions": "us-east-1"}, "providers.aws.regions: 'us-east-1' is a string, not a list"),
        (
            {"region": "us-east-1", "regions": ["eu-west-1"]},
            "providers.aws.regions: give region or regions, not both",
        ),
        (
            {"region": "us-east-1", "role_arn": "arn:aws:iam::123:role/x"},
            "providers.aws.role_arn: 'arn:aws:iam::123:role/x' is not an IAM role ARN",
        ),
        (
            {"region": "us-east-1", "role_arn": "arn:aws:iam::123456789012:user/x"},
            "is not an IAM role ARN",
        ),
        # Without a role, an external ID would be accepted and silently do nothing.
        (
            {"region": "us-east-1", "external_id": "xid-1"},
            ":3:47: providers.aws.external_id: external_id means nothing without role_arn",
        ),
    ],
)
def test_hostile_bedrock_connections_are_refused_at_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, object], says: str
) -> None:
    found = problems(
        tmp_path, capsys, {"aws": {"type": "bedrock", **fields}}, "{provider: aws, match_all: true}"
    )
    assert any(says in line for line in found), found


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "'not a url' is not an http(s) URL"),
        ("http://bedrock.example", "endpoint_url must use https"),
        ("https://bedrock.example/?X-Amz-Security-Token=t", "must not have a query or fragment"),
        ("https://h\\@127.0.0.1", "must not hold a backslash"),
    ],
)
def test_a_bedrock_endpoint_url_is_checked_like_every_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, says: str
) -> None:
    # AWS credentials sign every request sent there: it was accepted unchecked.
    aws = {"aws": {**BEDROCK, "endpoint_url": url}}
    found = problems(tmp_path, capsys, aws, "{provider: aws, match_all: true}")
    assert len(found) == 1 and "providers.aws.endpoint_url: " in found[0] and says in found[0]


def test_every_url_field_of_every_type_is_checked_as_a_url() -> None:
    from runner.providers import REGISTRY

    urls = {
        (spec.type, name): fragment.get("format")
        for spec in REGISTRY.values()
        for name, fragment in spec.connection_fields.items()
        if ("url" in name or "endpoint" in name) and not name.endswith("_env")
    }
    assert urls and all(form == "uri" for form in urls.values()), urls


def test_regions_on_another_type_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = problems(
        tmp_path, capsys, {"c": {**COHERE, "regions": ["us-east-1"]}}, "{provider: c, ids: [x]}"
    )
    assert (
        len(found) == 1
        and "providers.c.regions: 'regions' is not a field of type cohere" in (found[0])
    )


def test_an_external_id_beside_its_role_is_fine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    role = {"role_arn": "arn:aws:iam::123456789012:role/janitor", "external_id": "xid-1"}
    assert (
        problems(tmp_path, capsys, {"aws": {**BEDROCK, **role}}, "{provider: aws, ids: [m]}") == []
    )


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("0", "parallel_connections: 0 is less than the minimum of 1"),
        ("-3", "parallel_connections: -3 is less than the minimum of 1"),
        ("100000", "parallel_connections: 100000 is greater than the maximum of 64"),
        ('"8"', "parallel_connections: '8' is a string, not a whole number"),
        ("8.5", "parallel_connections: 8.5 is not a whole number"),
        ("true", "parallel_connections: true is a boolean, not a whole number"),
    ],
)
def test_parallel_connections_out_of_range_or_not_a_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, says: str
) -> None:
    found = problems(
        tmp_path,
        capsys,
        FLEET,
        "{provider: gpt, match_all: true}",
        f"parallel_connections: {value}\n",
    )
    assert [line.split(": ", 1)[1] for line in found] == [says]


@pytest.mark.parametrize("account", ["a/b", "a:b", "a,b=c", "-x", "é", "x" * 64, "' '"])
def test_an_account_name_with_odd_characters_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], account: str
) -> None:
    # Keys are joined with ':' ',' '=': a name holding them could pose as another key.
    found = problems(
        tmp_path, capsys, {"c": {**COHERE, "account": account}}, "{provider: c, ids: [x]}"
    )
    assert len(found) == 1 and "providers.c.account:" in found[0] and "is not a name" in found[0]


# -- two connections, one account -----------------------------------------------------------


@pytest.mark.parametrize(
    ("providers", "says"),
    [
        # One key at one host is one account, whatever account: names they claim: its
        # items would be listed twice, planned twice and limited twice.
        (
            {"a": {**COHERE, "account": "team-a"}, "b": {**COHERE, "account": "team-b"}},
            ":4:3: providers.b: 'b' reaches the same account as 'a' (type, host and"
            " api_key_env, whatever account: names say): each of its items would be planned"
            " twice; remove one",
        ),
        (
            {"a": COHERE, "b": {**COHERE, "base_url": "https://API.cohere.com:443/"}},
            "providers.b: 'b' reaches the same account as 'a' (type, host and api_key_env,",
        ),
        (
            {"a": {"type": "openai"}, "b": {"type": "openai", "api_key_env": "OPENAI_API_KEY"}},
            "providers.b: 'b' reaches the same account as 'a' (type, host and api_key_env,",
        ),
        # Two keys, one account: name at one host: their state would mix.
        (
            {"a": {**COHERE, "account": "t"}, "b": {"type": "cohere", "account": "t"}},
            "providers.b: 'b' has the same account: name as 'a' at one host: their state"
            " would mix; give each its own account: name",
        ),
        # Account fields say the account, whatever account: names say.
        (
            {"a": {**BEDROCK, "account": "one"}, "b": {**BEDROCK, "account": "two"}},
            "providers.b: 'b' reaches the same account as 'a' (type, host and account fields,"
            " whatever account: names say)",
        ),
        (
            {
                "a": {"type": "fireworks", "account_id": "acme"},
                "b": {
                    "type": "fireworks",
                    "account_id": "acme",
                    "base_url": "https://api.fireworks.ai:443",
                },
            },
            "providers.b: 'b' reaches the same account as 'a' (type, host and account fields,",
        ),
        (
            {"aws": {"type": "bedrock", "regions": ["us-east-1", "eu-west-1"]}, "b": BEDROCK},
            "providers.b: 'b' reaches the same account as 'aws/us-east-1'",
        ),
    ],
)
def test_two_connections_of_one_account_are_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    providers: dict[str, dict[str, object]],
    says: str,
) -> None:
    found = problems(tmp_path, capsys, providers, '{provider: "*", match_all: true}')
    assert len(found) == 1 and says in found[0], found


def test_a_bare_type_and_a_declared_connection_of_one_account_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    declared = {"mine": {"type": "cohere", "account": "team"}}  # COHERE_API_KEY, like `cohere`
    found = problems(tmp_path, capsys, declared, "{provider: [mine, cohere], ids: [x]}")
    assert found == [
        ":7:27: jobs[0].targets[0].provider[1]: 'cohere' reaches the same account as 'mine'"
        " (type, host and api_key_env, whatever account: names say): each of its items would"
        " be planned twice; remove one"
    ]


@pytest.mark.parametrize(
    "providers",
    [
        {"a": COHERE, "b": {**COHERE, "api_key_env": "COHERE_B_KEY"}},  # two keys
        {"a": COHERE, "b": {**COHERE, "base_url": "https://eu.cohere.example"}},  # two hosts
        {
            "a": {"type": "fireworks", "account_id": "acme"},  # one key, two accounts
            "b": {"type": "fireworks", "account_id": "beta"},
        },
        {"a": BEDROCK, "b": {"type": "bedrock", "region": "eu-west-1"}},
    ],
)
def test_connections_of_different_accounts_are_fine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], providers: dict[str, dict[str, object]]
) -> None:
    assert problems(tmp_path, capsys, providers, '{provider: "*", match_all: true}') == []


# -- expiry dates at the edges --------------------------------------------------------------

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def verdict(value: str, now: datetime = NOW) -> tuple[bool, str, bool, bool]:
    found = ExpiresTag("expires").select(ModelRecord(id="m", tags={"expires": value}), now)
    return found.matched, found.reason, found.unknown, found.too_young


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("2026-06-01", (False, "expires 2026-06-02 00:00Z (tag 'expires')", False, True)),
        (
            "2026-05-31T23:59:59+00:00",
            (True, "expired 2026-05-31 23:59Z (tag 'expires')", False, False),
        ),
        (
            "2026-06-01T14:00:00+05:00",
            (True, "expired 2026-06-01 09:00Z (tag 'expires')", False, False),
        ),
        ("2038-01-20", (False, "expires 2038-01-21 00:00Z (tag 'expires')", False, True)),
        # The end of 9999-12-31, a common "never", is past what a datetime holds: kept
        # until then, not refused as a non-date.
        ("9999-12-31", (False, "expires 9999-12-31 23:59Z (tag 'expires')", False, True)),
        # Year 1 is written with four digits, as it was given.
        ("0001-01-01", (True, "expired 0001-01-02 00:00Z (tag 'expires')", False, False)),
    ],
)
def test_dates_at_the_edges_of_the_calendar(value: str, says: tuple[bool, str, bool, bool]) -> None:
    assert verdict(value) == says


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T00:00:00",  # no zone: whose midnight? never guessed
        "0000-01-01",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:00:00-05:00",  # after year 9999 in UTC
        "never",
        "",
        "1767225600",  # a number: seconds or milliseconds? never guessed
        "2026-02-30",
        "01/02/2026",
        "２０２６-01-01",
    ],
)
def test_an_unreadable_date_is_skipped_with_its_reason(value: str) -> None:
    assert expiry(value) is None
    matched, reason, unknown, _ = verdict(value)
    assert not matched and unknown
    assert reason == f"tag 'expires'={value!r} is not a date (RFC 3339 with a zone, or YYYY-MM-DD)"


@pytest.mark.parametrize(
    "now", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00", "10000-01-01T00:00:00Z"]
)
def test_a_clock_outside_the_calendar_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], now: str
) -> None:
    path = write_job(tmp_path, job_yaml(FLEET, one_job("j", ["{provider: gpt, match_all: true}"])))
    for command in ("plan", "run"):
        code, out, err = cli(capsys, command, path, "--now", now)
        assert code == 2 and out == ""
        assert len(err.strip().splitlines()) == 1 and "--now" in err and "internal" not in err


# -- owners ---------------------------------------------------------------------------------


@pytest.fixture
def owned(monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """OpenAI models whose owners are alice, bob, a literal "*", and hostile text."""
    monkeypatch.setenv("OPENAI_API_KEY", "sim-openai-owners")
    with Simulator(load_seed({"openai": OWNED_SEED}, SEED_NOW)) as server:
        yield server


OWNED = {
    f"{FT}:a1:AAAA0001": "alice",
    f"{FT}:b1:BBBB0001": "bob",
    f"{FT}:s1:SSSS0001": "*",  # the literal star: the "*" route's, like any unrouted owner
    f"{FT}:h1:HHHH0001": "<b>alice</b>\nbob\u2028https://evil.example/",
}
OWNED_SEED: list[dict[str, Any]] = [
    {"id": i, "age_days": 40, "metadata": {"owner": o}} for i, o in OWNED.items()
]


def owners_file(tmp_path: Path, sim: Simulator, routes: str) -> str:
    top = (
        f"owner_tag: owner\nnotify:\n  - {{name: owners, events: [deleted], by_owner: {routes}}}\n"
    )
    connection = {"base_url": sim.base_url("openai"), "requests_per_minute": TEST_PACE}
    return write_job(
        tmp_path,
        job_yaml(
            {"openai": connection}, one_job("j", ["{provider: openai, older_than: 30d}"]), top
        ),
    )


def test_a_missing_owner_variable_stops_the_run_before_anything_is_sent(
    tmp_path: Path,
    owned: Simulator,
    hooks: dict[str, Receiver],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = owners_file(tmp_path, owned, "{alice: ALICE_HOOK_URL, bob: NOBODY_HOOK_URL}")
    code, _, err = cli(capsys, "run", path, "--yes", "--now", NOW_ARG)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "notify owners: NOBODY_HOOK_URL is not set" in err
    assert owned.deleted == [] and not any(r.mutating for r in owned.requests)
    assert all(hook.requests == [] for hook in hooks.values())


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example/T0HOOK9/B0HOOK9/zz9SECRETzz9",  # plain http off loopback
        "ftp://127.0.0.1/T0HOOK9/B0HOOK9/zz9SECRETzz9",
        "https://127.0.0.1/T0HOOK9 B0HOOK9/zz9SECRETzz9",
        "https://user:zz9SECRETzz9@127.0.0.1/T0HOOK9",
        "https:///T0HOOK9/B0HOOK9/zz9SECRETzz9",
    ],
)
def test_a_malformed_owner_url_is_one_line_that_never_shows_it(
    tmp_path: Path,
    owned: Simulator,
    hooks: dict[str, Receiver],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    url: str,
) -> None:
    monkeypatch.setenv("BAD_HOOK_URL", url)
    path = owners_file(tmp_path, owned, '{alice: ALICE_HOOK_URL, "*": BAD_HOOK_URL}')
    code, out, err = cli(capsys, "run", path, "--yes", "--now", NOW_ARG)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "notify owners: BAD_HOOK_URL" in err
    assert not any(bit in out + err for bit in SECRET_BITS)
    assert owned.deleted == []


def test_owners_sharing_one_url_each_get_their_own_post(
    tmp_path: Path,
    owned: Simulator,
    hooks: dict[str, Receiver],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    routes = '{alice: ALICE_HOOK_URL, bob: ALICE_HOOK_URL, "*": REST_HOOK_URL}'
    code, out, err = cli(
        capsys, "run", owners_file(tmp_path, owned, routes), "--yes", "--now", NOW_ARG
    )
    assert code == 0, err
    # One POST per owner, each about that owner's items only, though both reach one URL.
    bodies = [{m["model_id"] for m in b["models"]} for b in hooks["alice"].bodies]
    mine = [{i for i, o in OWNED.items() if o == owner} for owner in ("alice", "bob")]
    assert len(bodies) == 2 and all(body in mine for body in bodies) and bodies[0] != bodies[1]
    keys = {r["headers"]["Idempotency-Key"] for r in hooks["alice"].requests}
    assert len(keys) == 2
    # The star and the hostile text are no one's own: "*" hears of them, and no text of
    # theirs is shown anywhere.
    assert told(hooks["*"]) == {i for i, o in OWNED.items() if o not in ("alice", "bob")}
    audit = (tmp_path / "audit" / "ftjanitor.jsonl").read_text()
    for text in (out, err, audit):
        assert not any(bit in text for bit in SECRET_BITS)
        assert "evil.example" not in text and "<b>" not in text


def test_an_owner_literally_named_star_without_a_star_route_is_unrouted(
    tmp_path: Path,
    owned: Simulator,
    hooks: dict[str, Receiver],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = owners_file(tmp_path, owned, "{alice: ALICE_HOOK_URL}")
    code, out, err = cli(capsys, "run", path, "--yes", "--now", NOW_ARG)
    assert code == 0, err
    assert told(hooks["alice"]) == {i for i, o in OWNED.items() if o == "alice"}
    assert "notify: 3 item(s) unrouted" in out


# -- protect_tags over what with_deployments reaches ---------------------------------------

HOSTED: dict[str, Any] = {
    "bedrock": {
        "model": [{"name": "ft-kept", "age_days": 40}, {"name": "ft-gone", "age_days": 40}],
        "deployment": [
            {"name": "pt-keep", "model": "ft-kept", "tags": {"keep": "true"}, "age_days": 3},
            {"name": "pt-temp", "model": "ft-gone", "tags": {"keep": "no"}, "age_days": 3},
        ],
    }
}


def test_protect_tags_keep_the_deployments_with_deployments_would_delete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = (
        '{provider: aws, older_than: 30d, with_deployments: true, protect_tags: {keep: "true"}}'
    )
    with Simulator(load_seed(HOSTED, SEED_NOW)) as sim:
        path = bedrock_job(tmp_path, sim, target)
        decided = {i: (d["decision"], d["reason"]) for i, d in plan_decisions(capsys, path).items()}
        # The tagged deployment stays, so the model it serves stays with it.
        assert decided["ft-kept"] == (
            "keep",
            "its deployment pt-keep is protected (protected by tag 'keep'='true')",
        )
        assert "pt-keep" not in decided
        assert decided["pt-temp"] == ("delete", "hosts ft-gone (with_deployments)")
        assert decided["ft-gone"][0] == "delete"
        assert run_now(path) == 0
        assert sorted(sim.deleted) == [
            ("bedrock", "ft-gone"),
            ("bedrock", "provisioned-model/pt-temp"),
        ]


# -- state through renames ------------------------------------------------------------------


def test_an_account_name_given_later_keeps_the_state_its_connection_had(
    tmp_path: Path, keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # The README's advice: give account: first (rows move to it), then rename. A state
    # written under the name's key (0.3, before account:) must move as one written under
    # the bare name (0.2) does, or the marks and first sightings are left behind.
    accounts = Accounts()
    accounts.add_cohere(
        cohere_model("exp-1", "exp-1", "STATUS_READY", datetime(2024, 1, 1, tzinfo=UTC))
    )
    with Simulator(accounts, cohere_key=COHERE_KEY) as sim:

        def job(name: str, **account: str) -> str:
            fields = {"type": "cohere", "base_url": sim.url, **account}
            providers = {name: {**fields, "requests_per_minute": TEST_PACE}}
            jobs = one_job("sweep", [f'{{provider: {name}, name: "exp-*"}}'], grace="7d")
            return write_job(tmp_path, job_yaml(providers, jobs))

        code, out, err = cli(capsys, "run", job("co"), "--yes")
        assert code == 0 and "marked 1" in out, err
        for name in ("co", "cohere-team-a"):  # account: first, then the rename
            code, out, err = cli(capsys, "plan", job(name, account="team-a"), "--json")
            assert code == 0, err
            (entry,) = json.loads(out)["jobs"]
            (decision,) = entry["decisions"]
            assert decision["decision"] == "pending", decision
        assert sim.deleted == []


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_key_had_before_account_was_given_moves_to_it_on_every_store(
    request: pytest.FixtureRequest, tmp_path: Path, store: str
) -> None:
    ref = (
        StateRef(path=tmp_path / "state.sqlite3")
        if store == "sqlite"
        else StateRef(url=request.getfixturevalue("pg_fresh_url"))
    )
    fireworks = {"type": "fireworks", "account_id": "acme"}
    (fw,) = connections(tmp_path, {"fw": fireworks})
    mark = Mark(ResourceRef.on("fw", "m-1"), T0, T0 + DAY)
    with closing(open_state(ref)) as raw:
        AccountKeyed(raw, [fw]).mark("sweep", mark)
    # Given account:, the connection takes the rows it had without one (no other
    # connection can have that key: it would reach the same account, which is invalid),
    # and keeps them through a rename.
    for name in ("fw", "fw-renamed"):
        (named,) = connections(tmp_path, {name: {**fireworks, "account": "prod"}})
        with closing(open_state(ref)) as raw:
            assert set(AccountKeyed(raw, [named]).marks("sweep")) == {ResourceRef.on(name, "m-1")}
            assert {m.account for m in raw.marks("sweep")} == {named.key}


# -- tags crafted to mislead ----------------------------------------------------------------


def test_jobs_disagreeing_on_a_models_metadata_leave_its_tags_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sim-openai-tags")
    kept, plain = f"{FT}:kept:KKKK0001", f"{FT}:plain:PPPP0001"
    seed = [
        {"id": kept, "age_days": 40, "metadata": {"keep": "true"}},
        {"id": plain, "age_days": 40, "metadata": {"team": "nlp"}},
    ]
    accounts = load_seed({"openai": seed}, SEED_NOW)
    # A newer job naming the protected model, without the tag: which one is believed?
    accounts.openai_jobs.insert(0, openai_job(accounts.openai[kept], {"team": "nlp"}))
    # A second job with the same metadata is no disagreement.
    accounts.openai_jobs.insert(0, openai_job(accounts.openai[plain], {"team": "nlp"}))
    with Simulator(accounts) as sim:
        target = '{provider: openai, older_than: 30d, protect_tags: {keep: "true"}}'
        path = simulator_job(tmp_path, sim, "openai", target)
        decided = {i: (d["decision"], d["reason"]) for i, d in plan_decisions(capsys, path).items()}
    assert decided[kept] == (
        "keep",
        "protect_tags: tags unknown (fine-tuning jobs that name it disagree on its metadata),"
        " so kept",
    )
    assert decided[plain][0] == "delete"


def test_arm_tag_names_are_found_whatever_their_case(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # ARM: "a tag name is case-insensitive". A deployment tagged Keep is tagged keep, and a
    # protect_tags: {keep: ...} that missed it would delete what it was told to keep.
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    deployments = [
        {
            "name": "dep-kept",
            "model": SERVED,
            "age_days": 40,
            "tags": {"Keep": "true", "team": "nlp"},
        },
        {"name": "dep-team", "model": SERVED, "age_days": 40, "tags": {"TEAM": "nlp"}},
        {
            "name": "dep-both",
            "model": SERVED,
            "age_days": 40,
            "tags": {"keep": "no", "KEEP": "true"},
        },
        {"name": "dep-other", "model": SERVED, "age_days": 40, "tags": {"team": "vision"}},
    ]
    seed = {"deployment": deployments, "config": [{"op_polls": 0}]}
    target = '{provider: az, kind: deployment, tags: {team: "*"}, protect_tags: {keep: "true"}}'
    with Simulator(
        load_seed({"azure_openai": seed}, SEED_NOW), keys={"azure_openai": AZURE_KEY}
    ) as sim:
        decided = plan_decisions(capsys, azure_job(tmp_path, sim, target))
        assert sim.mutations() == []
    assert {i: d["decision"] for i, d in decided.items()} == {
        "dep-kept": "keep",  # protected by Keep
        "dep-team": "delete",  # selected by TEAM
        "dep-both": "skip",  # keep and KEEP: one name given twice, so unknown: never selected
        "dep-other": "delete",
    }
    assert decided["dep-kept"]["reason"] == "protected by tag 'keep'='true'"
    assert "is given twice" in decided["dep-both"]["reason"]


@pytest.mark.parametrize(
    ("one", "two", "same"),
    [
        # Two Azure OpenAI resources are two accounts: the endpoint says which.
        ("https://one.openai.azure.com", "https://two.openai.azure.com", False),
        ("https://one.openai.azure.com", "https://ONE.openai.azure.com:443/", True),
    ],
)
def test_azure_connections_are_told_apart_by_their_endpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], one: str, two: str, same: bool
) -> None:
    providers = {
        "a": {"type": "azure_openai", "endpoint": one},
        "b": {"type": "azure_openai", "endpoint": two},
    }
    found = problems(tmp_path, capsys, providers, '{provider: "*", match_all: true}')
    assert bool(found) == same, found
    if same:
        assert "'b' reaches the same account as 'a'" in found[0]

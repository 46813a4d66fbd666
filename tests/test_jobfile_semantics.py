"""What the schema cannot say: per-type rules from provider facts, paths, state, folders."""

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner.jobfile import validate as validate_module
from runner.jobfile.diagnostics import Diagnostic, JobFileError, format_path
from runner.jobfile.loader import job_files
from runner.jobfile.model import JobFile
from runner.jobfile.validate import load_job_file
from runner.providers import REGISTRY
from runner.state import StateRef

ROOT = Path(__file__).resolve().parent.parent
INVALID = Path(__file__).parent / "invalid"
# Valid values for the connection fields some types require (field facts, not type names).
FIELD_VALUES = {
    "account_id": "acme-ml",
    "region": "us-east-1",
    "regions": ["us-east-1"],
    "role_arn": "arn:aws:iam::123456789012:role/janitor",
    "external_id": "xid-1",
    "profile": "ml",
    "endpoint_url": "https://example.com",
    "usage_key_env": "OPENAI_ADMIN_KEY",
    "endpoint": "https://example.com",
    "api_version": "2024-10-21",
    "subscription_id": "sub",
    "resource_group": "rg",
    "account": "acct",
    "management_url": "https://example.com",
    "management_token_env": "ARM_TOKEN",
}


def write(tmp_path: Path, data: dict[str, Any], name: str = "job.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def load(tmp_path: Path, data: dict[str, Any]) -> JobFile:
    return load_job_file(write(tmp_path, data))


def errors(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    with pytest.raises(JobFileError) as caught:
        load_job_file(write(tmp_path, data))
    return [f"{d.path}: {d.message}" for d in caught.value.diagnostics]


def connection_for(kind: str, **extra: Any) -> dict[str, Any]:
    spec = REGISTRY[kind]
    needed = (*spec.required_fields, *spec.hosting_fields)  # a target may reach hosting kinds
    return {"type": kind, **{f: FIELD_VALUES[f] for f in needed}, **extra}


def one_target(kind: str, **target: Any) -> dict[str, Any]:
    return {
        "version": 1,
        "providers": {"conn": connection_for(kind)},
        "jobs": [{"name": "j", "targets": [{"provider": "conn", **target}]}],
    }


# -- the model ----------------------------------------------------------------------------


def test_model_carries_the_new_fields(tmp_path: Path) -> None:
    job_file = load(
        tmp_path,
        {
            "version": 1,
            "providers": {
                "fw": {"type": "fireworks", "account_id": "acme-ml", "concurrency": 2},
                "aws": {"type": "bedrock", "region": "eu-west-1", "profile": "ml"},
            },
            "jobs": [
                {
                    "name": "j",
                    "grace": "7d",
                    "max_deletions_percent": 25,
                    "schedule": "every 6h",
                    "targets": [
                        {"provider": "fw", "base_model": "llama-*", "older_than": "30d"},
                        {"provider": "cohere", "unused_for": "60d", "status": ["STATUS_READY"]},
                        {"provider": "aws", "status": ["Failed"], "match_all": True},
                    ],
                }
            ],
        },
    )
    job = job_file.jobs[0]
    assert job.grace == timedelta(days=7) and job.grace_text == "7d"
    assert job.max_deletions_percent == 25 and job.max_deletions == 50
    assert job.schedule == "every 6h" and job.schedule_spec is not None
    fw_target, cohere_target, aws_target = job.targets
    assert fw_target.connection == "fw" and fw_target.base_model == "llama-*"
    assert cohere_target.unused_for == timedelta(days=60) and cohere_target.unused_for_text == "60d"
    assert aws_target.match_all and aws_target.status == ("Failed",)
    fw = job_file.connections["fw"]
    assert fw.options == {"account_id": "acme-ml"} and fw.concurrency == 2
    assert fw.api_key_env == REGISTRY["fireworks"].default_api_key_env
    assert fw.base_url == REGISTRY["fireworks"].default_base_url
    aws = job_file.connections["aws"]
    assert aws.api_key_env is None and aws.base_url is None
    assert aws.options == {"region": "eu-west-1", "profile": "ml"}
    assert aws.requests_per_minute == REGISTRY["bedrock"].default_requests_per_minute
    assert job_file.connections["cohere"].name == "cohere"  # a bare type: its defaults
    assert job_file.state == StateRef(path=tmp_path.resolve() / "state" / "ftjanitor.sqlite3")
    assert job_file.audit_log == tmp_path.resolve() / "audit" / "ftjanitor.jsonl"


def test_postgres_state_and_audit_in_state(tmp_path: Path) -> None:
    url = "postgresql://janitor@db.internal:5432/ftjanitor"
    base = one_target("cohere", older_than="1d")
    job_file = load(tmp_path, {**base, "state": url, "audit_log": "state"})
    assert job_file.state == StateRef(url=url) and job_file.audit_log is None
    job_file = load(tmp_path, {**base, "state": url})
    assert job_file.audit_log == tmp_path.resolve() / "audit" / "ftjanitor.jsonl"
    assert load(tmp_path, {**base, "state": "postgresql://db/ftjanitor"}).state.url


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("postgresql://janitor:hunter2@db:5432/ftj", "must not hold a password"),
        ("postgresql://janitor:@db/ftj", "must not hold a password"),
        ("postgresql://janitor@db/ftj?password=hunter2", "must not have a query string"),
        ("postgresql://janitor@db/ftj#hunter2", "must not have a query string"),
        ("postgresql://janitor@db:hunter2/ftj", "is not a postgresql://USER@HOST:PORT/DB URL"),
        ("postgresql://janitor@db:5432/", "it needs a host and a database"),
        ("mysql://root:hunter2@db/ftj", "other databases are not supported"),
        ("postgresql://[hunter2/ftj", "is not a postgresql://USER@HOST:PORT/DB URL"),
    ],
)
def test_state_url_problems_never_echo_the_url(tmp_path: Path, state: str, message: str) -> None:
    (only,) = errors(tmp_path, {**one_target("cohere", older_than="1d"), "state": state})
    assert only.startswith("state: ") and message in only
    assert "hunter2" not in only and "(value not shown)" in only


def test_state_of_the_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    data = {**one_target("cohere", older_than="1d"), "state": ["postgresql://u:hunter2@h/db"]}
    (only,) = errors(tmp_path, data)
    assert "hunter2" not in only and "(value not shown)" in only


def test_paths_must_differ(tmp_path: Path) -> None:
    base = one_target("cohere", older_than="1d")
    assert errors(tmp_path, {**base, "audit_log": "job.yaml"}) == [
        "audit_log: audit_log is the job file itself: it must be another file"
    ]
    job = str(tmp_path / "job.yaml")
    assert errors(tmp_path, {**base, "state": job}) == [
        "state: state is the job file itself: it must be another file"
    ]
    # Only state given, equal to the default audit log: reported at state.
    assert errors(tmp_path, {**base, "state": "./audit/x/../ftjanitor.jsonl"}) == [
        "state: audit_log and state are the same file (audit/ftjanitor.jsonl): they must differ"
    ]


def test_paths_compare_through_symlinks(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    data = {
        **one_target("cohere", older_than="1d"),
        "audit_log": "real/ftj.db",
        "state": "link/ftj.db",
    }
    assert errors(tmp_path, data) == [
        "audit_log: audit_log and state are the same file (real/ftj.db): they must differ"
    ]


# -- per-type rules, from each spec's facts ------------------------------------------------


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_status_rules_follow_the_spec(tmp_path: Path, kind: str) -> None:
    spec = REGISTRY[kind].kinds["model"]
    if not spec.statuses:
        assert errors(tmp_path, one_target(kind, status=["READY"])) == [
            f"jobs[0].targets[0].status: {kind} reports no status: a status rule could never match"
        ]
        return
    allowed = ", ".join(sorted(spec.statuses))
    assert errors(tmp_path, one_target(kind, status=[spec.statuses[0], "no-such-status"])) == [
        f"jobs[0].targets[0].status[1]: 'no-such-status' is not a {kind} status (allowed: {allowed})"
    ]
    every = load(tmp_path, one_target(kind, status=list(spec.statuses)))
    assert every.jobs[0].targets[0].status == spec.statuses


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_base_model_and_unused_for_follow_the_spec(tmp_path: Path, kind: str) -> None:
    spec = REGISTRY[kind].kinds["model"]
    data = one_target(kind, base_model="base-*", unused_for="30d")
    expected = []
    if not spec.has_base_model:
        expected.append(
            f"jobs[0].targets[0].base_model: {kind} reports no base model:"
            " a base_model rule could never match"
        )
    if not spec.has_last_used:
        able = ", ".join(
            sorted(s.type for s in REGISTRY.values() if s.kinds["model"].has_last_used)
        )
        expected.append(
            f"jobs[0].targets[0].unused_for: {kind} does not report last use:"
            f" an unused_for rule could never match (types that do: {able})"
        )
    if expected:
        assert errors(tmp_path, data) == expected
    else:
        assert load(tmp_path, data).jobs[0].targets[0].base_model == "base-*"


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_fields_of_other_types_are_refused(tmp_path: Path, kind: str) -> None:
    spec = REGISTRY[kind]
    foreign = {
        name: FIELD_VALUES.get(name, "https://example.com")
        for other in REGISTRY.values()
        for name in other.connection_fields
        if name not in spec.connection_fields
    }
    if not foreign:
        pytest.skip("every declared field belongs to this type")
    data = one_target(kind, older_than="1d")
    data["providers"]["conn"].update(foreign)
    found = errors(tmp_path, data)
    assert len(found) == len(foreign)
    for name, message in zip(sorted(foreign), sorted(found), strict=True):
        assert message.startswith(
            f"providers.conn.{name}: {name!r} is not a field of type {kind} (its fields: "
        )


@pytest.mark.parametrize("kind", sorted(k for k, s in REGISTRY.items() if s.required_fields))
def test_required_fields(tmp_path: Path, kind: str) -> None:
    spec = REGISTRY[kind]
    declared = {
        "version": 1,
        "providers": {"conn": {"type": kind}},
        "jobs": [{"name": "j", "targets": [{"provider": "conn", "older_than": "1d"}]}],
    }
    found = errors(tmp_path, declared)
    assert [m.split(" (")[0] for m in found] == [
        f"providers.conn: {kind} needs {field}" for field in spec.required_fields
    ]
    bare = {"version": 1, "jobs": [{"name": "j", "targets": [{"provider": kind, "name": "x"}]}]}
    found = errors(tmp_path, bare)
    assert all(m.startswith(f"jobs[0].targets[0].provider: {kind} needs ") for m in found)
    assert all(
        m.endswith(f"declare a connection under providers: with type: {kind}") for m in found
    )


@pytest.mark.parametrize(
    "kind", sorted(k for k, s in REGISTRY.items() if s.credential != "api_key")
)
def test_no_key_variable_where_the_credential_is_not_a_key(tmp_path: Path, kind: str) -> None:
    data = one_target(kind, older_than="1d")
    data["providers"]["conn"]["api_key_env"] = "SOME_KEY"
    (only,) = errors(tmp_path, data)
    assert only.startswith(
        f"providers.conn.api_key_env: 'api_key_env' is not a field of type {kind}"
    )


@pytest.mark.parametrize(
    "kind", sorted(k for k, s in REGISTRY.items() if s.default_base_url is None)
)
def test_no_base_url_where_the_spec_has_none(tmp_path: Path, kind: str) -> None:
    data = one_target(kind, older_than="1d")
    data["providers"]["conn"]["base_url"] = "https://example.com"
    (only,) = errors(tmp_path, data)
    assert only.startswith(f"providers.conn.base_url: 'base_url' is not a field of type {kind}")


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_ids_follow_the_spec_id_rule(tmp_path: Path, kind: str) -> None:
    spec = REGISTRY[kind].kinds["model"]
    for model_id in ("gpt-4o-mini", "ft:gpt-4o-mini:acme:x:AbC1", "my_model-1", "a" * 70):
        data = one_target(kind, ids=[model_id])
        reason = spec.id_rule(model_id)
        if reason is None:
            assert load(tmp_path, data).jobs[0].targets[0].ids == (model_id,)
        else:
            assert errors(tmp_path, data) == [f"jobs[0].targets[0].ids[0]: {model_id!r}: {reason}"]
    # The generic unsafe-ID rule holds for every type.
    found = errors(tmp_path, one_target(kind, ids=["ft:a/../b"]))
    assert found[0].startswith("jobs[0].targets[0].ids[0]: 'ft:a/../b': ID contains")


def test_openai_ids_must_be_fine_tunes() -> None:
    assert REGISTRY["openai"].kinds["model"].id_rule("gpt-4o-mini") is not None
    assert REGISTRY["openai"].kinds["model"].id_rule("ft:gpt-4o-mini:acme:exp:AbC123xy") is None


# -- checks see only what the schema accepted ----------------------------------------------


def test_semantic_checks_skip_rejected_nodes(tmp_path: Path) -> None:
    data = one_target("openai", ids=[5, "gpt-4o"], status=5, older_than=30)
    found = errors(tmp_path, data)
    assert "jobs[0].targets[0].ids[0]: 5 is a number, not a string:" in found[0]
    # the clean ID is still checked; status reports the type's lack, and nothing crashes
    assert any(m.startswith("jobs[0].targets[0].ids[1]: 'gpt-4o':") for m in found)
    assert not any("a target needs" in m for m in found)


@pytest.mark.parametrize(
    "broken",
    [
        {"jobs": 5},
        {"jobs": [5]},
        {"jobs": [{"name": "j", "targets": [5]}]},
        {"jobs": [{"name": ["j"], "targets": [{"provider": {"a": 1}}]}]},
        {"providers": [1]},
        {"providers": {"cohere": 5}},
        {"providers": {"x": {"type": 5}}},
        {"providers": {"x": {"type": "fireworks", "account_id": 5}}},
        {"state": 5, "audit_log": 5},
        {"notify": [{"name": 5}]},
        {"notify": "x"},
    ],
)
def test_wrong_types_are_reported_not_raised(tmp_path: Path, broken: dict[str, Any]) -> None:
    data = {**one_target("cohere", older_than="1d"), **broken}
    assert errors(tmp_path, data)


def test_a_bug_is_still_one_line_and_invalid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_doc: Any) -> JobFile:
        raise TypeError("boom")

    monkeypatch.setattr(validate_module, "validate_document", broken)
    path = write(tmp_path, one_target("cohere", older_than="1d"))
    with pytest.raises(JobFileError) as caught:
        load_job_file(path)
    (only,) = caught.value.diagnostics
    assert str(only) == (
        f"{path}:1:1: (document): internal error while validating (TypeError): please report it"
    )


def test_diagnostics_are_always_one_line() -> None:
    diagnostic = Diagnostic("f.yaml", 1, 2, format_path(("jobs", "a\nb")), "x\ry\u2028z")
    assert str(diagnostic) == "f.yaml:1:2: jobs['a\\nb']: x\\ry\\u2028z"
    assert format_path(("providers", "my conn", "type")) == "providers['my conn'].type"


# -- folders ------------------------------------------------------------------------------


def test_job_files_reports_broken_symlinks_and_yaml_folders(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(one_target("cohere", older_than="1d")))
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "missing.yaml")
    (tmp_path / "folder.yaml").mkdir()
    (tmp_path / "notes.txt").write_text("not a job file")
    found = job_files([str(tmp_path)])
    assert found == [str(tmp_path / n) for n in ("folder.yaml", "gone.yaml", "good.yaml")]
    load_job_file(str(good))
    with pytest.raises(JobFileError) as caught:
        load_job_file(str(tmp_path / "gone.yaml"))
    assert str(caught.value) == (
        f"{tmp_path}/gone.yaml:1:1: (document): broken symlink"
        f" (its target {str(tmp_path / 'missing.yaml')!r} does not exist)"
    )
    with pytest.raises(JobFileError) as caught:
        load_job_file(str(tmp_path / "folder.yaml"))
    assert str(caught.value).endswith("folder.yaml:1:1: (document): is a directory, not a job file")


def test_symlink_loop_is_reported(tmp_path: Path) -> None:
    loop = tmp_path / "loop.yaml"
    os.symlink(loop, loop)
    assert job_files([str(tmp_path)]) == [str(loop)]
    with pytest.raises(JobFileError, match="broken symlink"):
        load_job_file(str(loop))


def test_relative_paths_are_relative_to_the_job_file(tmp_path: Path) -> None:
    folder = tmp_path / "deep" / "er"
    folder.mkdir(parents=True)
    data = {**one_target("cohere", older_than="1d"), "audit_log": "../a.jsonl", "state": "s.db"}
    job_file = load_job_file(write(folder, data))
    assert job_file.audit_log == folder.resolve() / ".." / "a.jsonl"
    assert job_file.state.path == folder.resolve() / "s.db"


def test_targets_at_a_broken_connection_are_still_checked(tmp_path: Path) -> None:
    data = {
        "version": 1,
        "providers": {"oai": {"type": "openai", "region": "us-east-1"}},
        "jobs": [{"name": "j", "targets": [{"provider": "oai", "status": ["x"]}]}],
    }
    found = errors(tmp_path, data)
    assert [m.split(":")[0] for m in found] == [
        "providers.oai.region",
        "jobs[0].targets[0].status",
    ]

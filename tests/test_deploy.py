"""The deployment files: Dockerfile, .dockerignore and deploy/kubernetes/*.yaml.

Nothing is built or applied here (no container engine, no cluster, no network): the files
are parsed and checked against each other and against the real command line, job-file
validator and pyproject.toml, so a renamed flag or extra breaks this test, not a rollout.
"""

import argparse
import json
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from runner.cli import build_parser
from runner.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "kubernetes"
DOCKERFILE = ROOT / "Dockerfile"
NAMESPACE = "ftjanitor"

EXPECTED_KINDS = {
    "configmap.yaml": ["ConfigMap"],
    "secret.yaml": ["Secret"],
    "cronjob.yaml": ["CronJob"],
    "deployment.yaml": ["Deployment", "Service"],
}
# Where each workload kind keeps its pod spec.
POD_SPEC = {
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Pod": ("spec",),
}


# -- reading the manifests ------------------------------------------------------------------


def manifests() -> list[Path]:
    return sorted(K8S.glob("*.yaml"))


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def objects() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, doc) for path in manifests() for doc in documents(path)]


def one(kind: str) -> dict[str, Any]:
    found = [doc for _, doc in objects() if doc["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def dig(obj: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for file, doc in objects():
        if doc["kind"] in POD_SPEC:
            yield f"{file}:{doc['kind']}/{doc['metadata']['name']}", dig(doc, POD_SPEC[doc["kind"]])


def containers() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, container, its pod spec) for every container of every workload."""
    return [
        (f"{where}:{container['name']}", container, spec)
        for where, spec in pod_specs()
        for container in [*spec.get("initContainers", []), *spec["containers"]]
    ]


def container(kind: str) -> dict[str, Any]:
    spec = dig(one(kind), POD_SPEC[kind])
    assert len(spec["containers"]) == 1
    found: dict[str, Any] = spec["containers"][0]
    return found


def pod_spec(kind: str) -> dict[str, Any]:
    found: dict[str, Any] = dig(one(kind), POD_SPEC[kind])
    return found


def ftjanitor_argv(c: dict[str, Any]) -> list[str]:
    """The ftjanitor command line a container runs (the image's entry point is ftjanitor)."""
    command = [str(word) for word in c.get("command", [])]
    args = [str(word) for word in c.get("args", [])]
    if not command:
        return args
    if Path(command[0]).name == "ftjanitor":
        return command[1:] + args
    if command[1:3] == ["-m", "runner"]:
        return command[3:] + args
    raise AssertionError(f"container {c['name']} runs {command[0]}, not ftjanitor")


def option_value(argv: list[str], option: str) -> str:
    for i, word in enumerate(argv):
        if word == option:
            return argv[i + 1]
        if word.startswith(option + "="):
            return word.split("=", 1)[1]
    raise AssertionError(f"{option} not in {argv}")


def mount_for(c: dict[str, Any], path: str) -> dict[str, Any]:
    """The volume mount that holds a path (the deepest one, as in a real container)."""
    holding = [
        m
        for m in c.get("volumeMounts", [])
        if path == m["mountPath"] or path.startswith(m["mountPath"].rstrip("/") + "/")
    ]
    assert holding, f"{path} is on no volume of container {c['name']}"
    return max(holding, key=lambda m: len(m["mountPath"]))


def volume(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(v for v in spec["volumes"] if v["name"] == name)
    return found


def job_files_in_configmap() -> dict[str, str]:
    data: dict[str, str] = one("ConfigMap")["data"]
    return data


# -- the real command line --------------------------------------------------------------------


def option_strings(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def cli() -> tuple[set[str], dict[str, set[str]]]:
    """Top-level options, and each subcommand's options, read from ftjanitor's own parser."""
    parser = build_parser()
    subcommands: dict[str, set[str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                subcommands[name] = option_strings(subparser)
    assert subcommands, "build_parser() has no subcommands"
    return option_strings(parser), subcommands


# -- the Dockerfile ---------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        instruction, _, arguments = (pending + line).partition(" ")
        out.append((instruction.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction, arguments in dockerfile_instructions():
        if instruction == "FROM":
            found.append([])
        assert found, f"{instruction} before the first FROM"
        found[-1].append((instruction, arguments))
    return found


def final(instruction: str, stage: list[tuple[str, str]]) -> str:
    found = [arguments for name, arguments in stage if name == instruction]
    assert found, f"no {instruction} in the runtime stage"
    return found[-1]


def dockerfile_uid() -> int:
    user = final("USER", stages()[-1]).split(":")[0]
    assert user.isdigit(), f"USER {user}: use a numeric UID, so runAsNonRoot can check it"
    return int(user)


PIP_OPTIONS_WITH_VALUES = {
    "-r",
    "--requirement",
    "-c",
    "--constraint",
    "-e",
    "--editable",
    "-t",
    "--target",
    "--prefix",
    "--root",
    "-i",
    "--index-url",
    "--extra-index-url",
    "-f",
    "--find-links",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
}
PIP_INSTALL = re.compile(r"\bpip3? install\b")
SPEC = re.compile(r"^(?P<target>[^\[\]]+)\[(?P<extras>[^\]]*)\]")


def pip_install_targets(command: str) -> list[str]:
    """What `pip install` is asked to install in a shell command (specs, paths, wheels)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = list(lexer)
    targets: list[str] = []
    for i, word in enumerate(words):
        if not (word == "install" and i and Path(words[i - 1]).name.startswith("pip")):
            continue
        rest = words[i + 1 :]
        j = 0
        while j < len(rest) and rest[j] not in {"&&", "||", ";", "|", "&"}:
            if rest[j] in PIP_OPTIONS_WITH_VALUES:
                if rest[j] in {"-e", "--editable"}:
                    targets.append(rest[j + 1])
                j += 2
                continue
            if not rest[j].startswith("-"):
                targets.append(rest[j])
            j += 1
    return targets


def extras_of_this_package(target: str) -> set[str] | None:
    """The extras a pip target asks of ftjanitor, or None if it is another package."""
    match = SPEC.match(target)
    name = match["target"] if match else re.split(r"[<>=!~;@ ]", target)[0]
    ours = name in {".", "./", "ftjanitor"} or name.startswith(("/", "./"))
    ours = ours or (Path(name).name.startswith("ftjanitor-") and name.endswith(".whl"))
    if not ours:
        return None
    return {normalize(extra) for extra in match["extras"].split(",")} if match else set()


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def declared_extras() -> set[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {normalize(n) for n in pyproject["project"].get("optional-dependencies", {})}


# == 1. the manifests parse and have the expected shape ===========================================


def test_every_manifest_parses_and_names_its_objects() -> None:
    assert {path.name for path in manifests()} == set(EXPECTED_KINDS)
    for path in manifests():
        docs = documents(path)
        for doc in docs:
            assert isinstance(doc, dict), path.name
            for field in ("apiVersion", "kind"):
                assert doc.get(field), f"{path.name}: a document without {field}"
            assert doc.get("metadata", {}).get("name"), f"{path.name}: {doc['kind']} has no name"
            assert doc["metadata"].get("namespace") == NAMESPACE, (path.name, doc["kind"])
        assert [doc["kind"] for doc in docs] == EXPECTED_KINDS[path.name], path.name


def test_cronjob_never_overlaps_and_never_retries_a_failed_run() -> None:
    cronjob = one("CronJob")
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert isinstance(spec["startingDeadlineSeconds"], int)
    assert spec["startingDeadlineSeconds"] > 0
    assert isinstance(spec["successfulJobsHistoryLimit"], int)
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0
    assert pod_spec("CronJob")["restartPolicy"] == "Never"
    argv = ftjanitor_argv(container("CronJob"))
    assert argv[0] == "run"
    assert "--yes" in argv, "without a terminal and without --yes, run deletes nothing"


def test_deployment_probes_and_metrics_use_the_named_container_port() -> None:
    deployment = one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    c = container("Deployment")
    [port] = c["ports"]
    name, number = port["name"], port["containerPort"]
    assert name == "metrics"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] in (name, number), probe

    argv = ftjanitor_argv(c)
    assert argv[0] == "schedule"
    listen = option_value(argv, "--listen")
    assert int(listen.rsplit(":", 1)[1]) == number, "--listen and containerPort disagree"
    assert not listen.startswith(("127.", "localhost")), "probes cannot reach a loopback port"

    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(number)
    assert annotations["prometheus.io/path"] == "/metrics"

    service = one("Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    [service_port] = service["spec"]["ports"]
    assert service_port["targetPort"] in (name, number)
    assert service_port["port"] == number


def test_cronjob_pods_are_not_behind_the_metrics_service() -> None:
    selector = one("Service")["spec"]["selector"]
    labels = one("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert not selector.items() <= labels.items()


@pytest.mark.parametrize("kind", ["CronJob", "Deployment"])
def test_pods_run_as_the_images_non_root_user_on_a_read_only_root(kind: str) -> None:
    spec = pod_spec(kind)
    pod = spec.get("securityContext", {})
    c = container(kind)
    own = c.get("securityContext", {})
    assert own.get("runAsNonRoot", pod.get("runAsNonRoot")) is True
    assert own.get("runAsUser", pod.get("runAsUser")) == dockerfile_uid()
    assert own["readOnlyRootFilesystem"] is True
    assert own["allowPrivilegeEscalation"] is False
    assert own["capabilities"]["drop"] == ["ALL"]
    assert spec.get("automountServiceAccountToken") is False
    for resource in ("cpu", "memory"):
        assert c["resources"]["requests"][resource], resource
        assert c["resources"]["limits"][resource], resource
    # Writable paths are volumes (the root file system is read-only).
    for path in ("/var/lib/ftjanitor", "/tmp"):
        mount = mount_for(c, path)
        assert not mount.get("readOnly"), path
        assert "emptyDir" in volume(spec, mount["name"]), path


@pytest.mark.parametrize("kind", ["CronJob", "Deployment"])
def test_pods_get_the_job_files_and_keys_from_the_configmap_and_secret(kind: str) -> None:
    spec, c = pod_spec(kind), container(kind)
    argv = ftjanitor_argv(c)
    job_path = argv[1]
    mount = mount_for(c, job_path)
    assert mount.get("readOnly") is True, "job files are read-only in the pod"
    assert volume(spec, mount["name"])["configMap"]["name"] == one("ConfigMap")["metadata"]["name"]
    relative = job_path.removeprefix(mount["mountPath"]).strip("/")
    assert relative == "" or relative in job_files_in_configmap(), job_path

    secrets = [source["secretRef"]["name"] for source in c["envFrom"] if "secretRef" in source]
    assert secrets == [one("Secret")["metadata"]["name"]]


def test_metrics_file_is_written_to_a_writable_volume() -> None:
    c = container("CronJob")
    path = option_value(ftjanitor_argv(c), "--metrics-file")
    mount = mount_for(c, path)
    assert not mount.get("readOnly")
    # run writes the file atomically in its folder: the folder must exist in the pod.
    assert mount["mountPath"] == str(Path(path).parent)


def test_secret_is_a_placeholder_holding_every_key_the_job_files_name() -> None:
    secret = one("Secret")
    values = secret["stringData"]
    assert "data" not in secret, "no real (base64) values in the repository"
    assert set(values.values()) == {"replace-me"}
    for name, text in job_files_in_configmap().items():
        job_file = yaml.safe_load(text)
        for connection, fields in job_file.get("providers", {}).items():
            variable = (fields or {}).get("api_key_env")
            assert variable, f"{name}: say api_key_env for {connection}, so it can be checked"
            assert variable in values, f"{name}: {variable} is not in the Secret"
        state = job_file.get("state", "")
        if state.startswith(("postgresql://", "postgres://")):
            assert urlsplit(state).password is None, "a password never goes in the URL"
            assert "PGPASSWORD" in values


# == 2. every ftjanitor command line is one the real parser accepts =============================


@pytest.mark.parametrize("where", [where for where, _, _ in containers()])
def test_manifest_command_lines_use_only_real_subcommands_and_options(where: str) -> None:
    c = next(c for w, c, _ in containers() if w == where)
    argv = ftjanitor_argv(c)
    assert argv, f"{where}: no arguments (the image would only print --help)"
    top, subcommands = cli()

    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        assert argv[i] in top, f"{where}: ftjanitor has no option {argv[i]}"
        i += 1
    assert i < len(argv), f"{where}: no subcommand in {argv}"
    command = argv[i]
    assert command in subcommands, f"{where}: ftjanitor has no subcommand {command!r}"
    for word in argv[i + 1 :]:
        if word.startswith("-") and word != "-":
            option = word.split("=", 1)[0]
            # Exact names only: argparse would also take an abbreviation, a rename would not.
            assert option in subcommands[command], (
                f"{where}: `ftjanitor {command}` has no option {option} "
                f"(it has {', '.join(sorted(subcommands[command]))})"
            )
    try:
        build_parser().parse_args(argv)
    except ConfigError as exc:
        pytest.fail(f"{where}: ftjanitor {' '.join(argv)}: {exc}")


# == 3. the job file in the ConfigMap is valid ====================================================


def run_validate(*paths: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-m", "runner", "validate", "--json", *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    return result, json.loads(result.stdout)


def test_configmap_job_files_pass_ftjanitor_validate(tmp_path: Path) -> None:
    files = job_files_in_configmap()
    assert files
    paths = []
    for name, text in files.items():
        assert name.endswith((".yaml", ".yml")), f"{name}: schedule only reads *.yaml/*.yml"
        (tmp_path / name).write_text(text, encoding="utf-8")
        paths.append(tmp_path / name)
    result, report = run_validate(*paths)
    errors = [error for file in report["files"] for error in file["errors"]]
    if errors and all(error["path"] in {"state", "audit_log"} for error in errors):
        pytest.skip(
            "this ftjanitor does not accept PostgreSQL state / audit_log: state yet: "
            + "; ".join(f"{e['path']}: {e['message']}" for e in errors)
        )
    assert not errors, "\n".join(f"{e['path']}: {e['message']}" for e in errors)
    assert result.returncode == 0, result.stderr
    assert report["invalid"] == 0


def test_a_configmap_volume_yields_each_job_file_once(tmp_path: Path) -> None:
    """`schedule /etc/ftjanitor/jobs` reads a ConfigMap volume, which the kubelet lays out as
    NAME -> ..data/NAME, ..data -> ..TIMESTAMP/: each job file must be found once."""
    mount = tmp_path / "jobs"
    revision = mount / "..2026_11_23_03_00_00.000000001"
    revision.mkdir(parents=True)
    (mount / "..data").symlink_to(revision.name)
    for name, text in job_files_in_configmap().items():
        (revision / name).write_text(text, encoding="utf-8")
        (mount / name).symlink_to(f"..data/{name}")
    _, report = run_validate(mount)
    found = sorted(Path(file["file"]).relative_to(mount).as_posix() for file in report["files"])
    assert found == sorted(job_files_in_configmap())


# == 4. the Dockerfile ==========================================================================


def test_dockerfile_is_multi_stage_non_root_with_ftjanitor_as_entry_point() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2, "a builder stage and a runtime stage"
    runtime = all_stages[-1]
    assert runtime[0][1].split()[0] == "python:3.11-slim"
    assert any(name == "COPY" and arguments.startswith("--from=") for name, arguments in runtime), (
        "the runtime stage copies the built environment from the builder"
    )
    assert dockerfile_uid() != 0
    assert json.loads(final("ENTRYPOINT", runtime)) == ["ftjanitor"]
    assert json.loads(final("CMD", runtime)) == ["--help"]
    workdir = final("WORKDIR", runtime)
    assert workdir == "/var/lib/ftjanitor"


def test_dockerfile_bakes_in_no_secrets() -> None:
    for instruction, arguments in dockerfile_instructions():
        if instruction in {"ENV", "ARG"}:
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", arguments) or [arguments.split()[0]]
            for name in names:
                assert not re.search(r"KEY|PASSWORD|TOKEN|SECRET", name, re.I), (instruction, name)
        if instruction in {"COPY", "ADD"}:
            assert not re.search(r"\.env\b|keys|\.pgpass", arguments), (instruction, arguments)


def test_dockerfile_installs_the_package_with_the_bedrock_and_postgres_extras() -> None:
    targets = [
        target
        for instruction, arguments in dockerfile_instructions()
        if instruction == "RUN"
        for target in pip_install_targets(arguments)
    ]
    asked = [extras for t in targets if (extras := extras_of_this_package(t)) is not None]
    assert asked, f"no `pip install` of ftjanitor in the Dockerfile (targets: {targets})"
    assert any({"bedrock", "postgres"} <= extras for extras in asked), asked


@pytest.mark.parametrize("source", ["Dockerfile", "README.md", "Makefile"])
def test_every_install_of_this_package_names_only_declared_extras(source: str) -> None:
    """Each extra in `pip install '.[...]'` / `pip install 'ftjanitor[...]'` is declared in
    pyproject.toml: pip only warns about an unknown extra and installs without it."""
    declared = declared_extras()
    text = (ROOT / source).read_text(encoding="utf-8")
    if source == "Dockerfile":
        commands = [a for i, a in dockerfile_instructions() if i == "RUN"]
    elif source == "README.md":
        # Commands are in fenced blocks and `code spans`; prose around them is not shell.
        fenced = "\n".join(re.findall(r"^```[^\n]*\n(.*?)^```", text, re.M | re.S))
        commands = [line for line in fenced.splitlines() if PIP_INSTALL.search(line)]
        commands += [span for span in re.findall(r"`([^`\n]+)`", text) if PIP_INSTALL.search(span)]
    else:
        commands = [line for line in text.splitlines() if PIP_INSTALL.search(line)]
    for command in commands:
        for target in pip_install_targets(command.lstrip("$\t ")):
            extras = extras_of_this_package(target)
            if extras:
                missing = extras - declared
                assert not missing, (
                    f"{source}: {target} names extras that pyproject.toml does not declare: "
                    f"{sorted(missing)} (declared: {sorted(declared)})"
                )


def test_pip_install_targets_are_read_like_a_shell_would() -> None:
    assert pip_install_targets("/opt/v/bin/pip install '.[bedrock,postgres]' && x --version") == [
        ".[bedrock,postgres]"
    ]
    assert pip_install_targets("python -m pip install --no-cache-dir -r req.txt ftjanitor") == [
        "ftjanitor"
    ]
    assert pip_install_targets("pip install --quiet -e '.[test]'") == [".[test]"]
    assert extras_of_this_package("ftjanitor[Bedrock, postgres]==0.2.0") == {"bedrock", "postgres"}
    assert extras_of_this_package("dist/ftjanitor-0.2.0-py3-none-any.whl[postgres]") == {"postgres"}
    assert extras_of_this_package("boto3[crt]") is None
    assert extras_of_this_package(".") == set()


def test_dockerignore_keeps_local_clutter_out_but_not_what_the_build_copies() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in (".git", ".venv", ".demo", "build", "dist", "*.egg-info", ".pytest_cache"):
        assert entry in ignored, entry
    for instruction, arguments in dockerfile_instructions():
        if instruction == "COPY" and not arguments.startswith("--from="):
            *sources, _ = arguments.split()
            for source in sources:
                assert source.rstrip("/") not in ignored, f"COPY {source} but it is ignored"


# == 5. one image everywhere ====================================================================


def test_every_container_uses_the_same_pinned_image() -> None:
    images = {c["image"] for _, c, _ in containers()}
    assert len(images) == 1, images
    [image] = images
    name, _, tag = image.rpartition(":")
    assert name and "/" not in tag, f"{image}: give a tag"
    assert tag != "latest"
    dockerfile_version = re.search(r"^ARG VERSION=(\S+)$", DOCKERFILE.read_text(), re.M)
    assert dockerfile_version and dockerfile_version[1] == tag, "Dockerfile ARG VERSION vs tag"
    for _, doc in objects():
        version = doc["metadata"].get("labels", {}).get("app.kubernetes.io/version")
        assert version in (None, tag), (doc["kind"], version)

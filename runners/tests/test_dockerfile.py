"""The Dockerfile rules we care about, checked as text (hadolint is not installable here): each one is a hadolint rule
or a rule of this project, named in the test."""
import os
import re

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DOCKERFILES = [os.path.join(root, f) for root, _, files in os.walk(os.path.join(REPO, "runners"))
               for f in files if f == "Dockerfile" or f.endswith(".Dockerfile")]
PROJECT_DOCKERFILE = os.path.join(REPO, "runners", "Dockerfile")
# Stand-ins (runners/offline) for official images that run as root themselves: a build tool and a bare JRE.
ROOT_STAND_INS = {"maven", "jre"}


def instructions(path):
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    with open(path) as f:
        text = re.sub(r"\\\n", " ", "".join(line for line in f if not line.lstrip().startswith("#")))
    return [(m.group(1).upper(), m.group(2).strip())
            for m in (re.match(r"\s*(\w+)\s+(.*)", line) for line in text.splitlines()) if m]


def stages(path):
    """Each stage: its FROM arguments (build arguments declared before the first FROM replaced by their defaults)
    and its instructions."""
    result, defaults = [], {}
    for op, args in instructions(path):
        if op == "ARG" and not result:
            name, _, default = args.partition("=")
            defaults[name.strip()] = default.strip()
        elif op == "FROM":
            result.append((re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), args), []))
        elif result:
            result[-1][1].append((op, args))
    return result


def test_there_is_a_dockerfile():
    assert DOCKERFILES


@pytest.mark.parametrize("path", DOCKERFILES)
def test_every_base_image_is_pinned(path):  # hadolint DL3006, DL3007
    for from_args, _ in stages(path):
        image = from_args.split()[0]
        if image.startswith("--platform"):
            image = from_args.split()[1]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"FROM {image} is not pinned"


@pytest.mark.parametrize("path", DOCKERFILES)
def test_apt_get_installs_are_lean_and_clean(path):  # DL3008 (pinning aside), DL3009, DL3015
    for op, args in instructions(path):
        if op == "RUN" and "apt-get install" in args:
            assert "apt-get update" in args, "apt-get update in the same RUN as install"
            assert "--no-install-recommends" in args
            assert " -y " in f" {args} " or "--yes" in args
            assert "rm -rf /var/lib/apt/lists/*" in args


@pytest.mark.parametrize("path", DOCKERFILES)
def test_pip_keeps_no_cache_and_pins_versions(path):  # DL3013, DL3042
    for op, args in instructions(path):
        if op == "RUN" and "pip install" in args:
            assert "--no-cache-dir" in args
            words = args.split("pip install", 1)[1].split("&&")[0].split()
            # Options and the files -c / -r name are not packages.
            packages = [w.strip('"') for i, w in enumerate(words)
                        if not w.startswith("-") and (i == 0 or words[i - 1] not in ("-c", "-r", "--constraint"))]
            assert packages and all("==" in p for p in packages), packages


@pytest.mark.parametrize("path", DOCKERFILES)
def test_runtime_stages_do_not_run_as_root(path):  # DL3002
    for from_args, body in stages(path):
        if " AS build" in from_args or from_args.endswith(" AS build"):
            continue
        users = [args for op, args in body if op == "USER"]
        assert users, f"stage {from_args} names no USER"
        if users[-1] not in ("root", "0"):
            continue
        # A stand-in may start as root where its official image does: to own its data folder, then run the server
        # as its own user. Its entrypoint must drop to that user with gosu before it starts the server.
        stand_in = os.path.basename(os.path.dirname(path))
        assert os.path.dirname(os.path.dirname(path)).endswith(os.path.join("runners", "offline")), \
            f"stage {from_args} ends as root"
        if stand_in in ROOT_STAND_INS:
            continue
        sources = [args.split()[0] for op, args in body if op == "COPY" and "entrypoint" in args.split()[0]]
        assert sources, f"{path}: ends as root with no entrypoint script of its own"
        with open(os.path.join(REPO, sources[-1])) as f:
            assert "exec gosu " in f.read(), f"{sources[-1]} does not drop root with gosu"


@pytest.mark.parametrize("path", DOCKERFILES)
def test_copy_not_add_absolute_workdir_no_sudo(path):  # DL3020, DL3000, DL3004
    for op, args in instructions(path):
        assert op != "ADD", "use COPY for local files"
        if op == "WORKDIR":
            assert args.startswith("/")
        if op == "RUN":
            assert not re.search(r"\bsudo\b", args)


@pytest.mark.parametrize("path", DOCKERFILES)
def test_exec_form_entrypoint_and_cmd(path):  # DL3025
    for op, args in instructions(path):
        if op in ("ENTRYPOINT", "CMD"):
            assert args.startswith("["), f"{op} {args} is not in exec form"


def test_the_images_carry_the_one_jar_with_both_runners():
    # pipeline/pom.xml has no runner profiles left: a plain package builds the jar with the FlinkRunner in it.
    runs = " ".join(args for op, args in instructions(PROJECT_DOCKERFILE) if op == "RUN")
    assert "package" in runs and "-P " not in runs and "click-pipeline-bundled-" in runs


def test_the_rules_catch_a_bad_dockerfile(tmp_path, monkeypatch):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu\nRUN apt-get install curl\nADD . /app\nCMD java -jar app.jar\n")
    with pytest.raises(AssertionError):
        test_every_base_image_is_pinned(str(bad))
    with pytest.raises(AssertionError):
        test_apt_get_installs_are_lean_and_clean(str(bad))
    with pytest.raises(AssertionError):
        test_runtime_stages_do_not_run_as_root(str(bad))
    with pytest.raises(AssertionError):
        test_copy_not_add_absolute_workdir_no_sudo(str(bad))
    with pytest.raises(AssertionError):
        test_exec_form_entrypoint_and_cmd(str(bad))


# What each official image declares (its Dockerfile upstream), which the stand-in must declare alike: a service's
# `command:` replaces CMD and is handed to ENTRYPOINT, so both decide what a Compose file's command words do.
# apache/kafka's ENTRYPOINT is its base image's (eclipse-temurin's certificate pass-through, which execs its
# arguments): the stand-in has none, which behaves the same.
OFFICIAL_ENTRY_POINTS = {
    "kafka": (None, '["/etc/kafka/docker/run"]'),
    "flink": ('["/docker-entrypoint.sh"]', '["help"]'),
    "clickhouse": ('["/entrypoint.sh"]', None),
    "postgres": ('["docker-entrypoint.sh"]', '["postgres"]'),
    "redis": ('["docker-entrypoint.sh"]', '["redis-server"]'),
    "airflow": ('["/usr/bin/dumb-init", "--", "/entrypoint"]', "[]"),
}


@pytest.mark.parametrize("name", sorted(OFFICIAL_ENTRY_POINTS))
def test_each_stand_in_has_its_official_images_entry_point_and_command(name):
    final = stages(os.path.join(REPO, "runners", "offline", name, "Dockerfile"))[-1][1]
    declared = {op: args for op, args in final if op in ("ENTRYPOINT", "CMD")}
    assert (declared.get("ENTRYPOINT"), declared.get("CMD")) == OFFICIAL_ENTRY_POINTS[name]

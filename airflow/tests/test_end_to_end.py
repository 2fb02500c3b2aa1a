"""`airflow dags test streaming_pipeline` for real: the local Kafka and ClickHouse (services/local-stack.sh), the
real bundled jars, once on the DirectRunner and once on the FlinkRunner against the local Flink session cluster, a
ClickHouse user with a password made up for the test. The counts must equal
the generator's oracle; the same logical date again must change nothing; the next interval must add its windows and
change none of the previous ones; the password must appear in no output and no task log."""
import base64
import hashlib
import os
import re
import uuid
import subprocess
import sys
import time
import urllib.request

import pendulum
import pytest

import click_checks
from conftest import CLICKHOUSE, DAGS, FLINK_MASTER, REPO, require_stack

pytestmark = pytest.mark.services

RUN = format(int(time.time() * 1000), "x")
AIRFLOW = os.path.join(os.path.dirname(sys.executable), "airflow")
USER = f"e2e_{RUN}"
PASSWORD = f"pw-{uuid.uuid4()}"
USERS_FILE = os.path.join(os.environ.get("STACK_DIR", os.path.join(REPO, ".local-stack")), "clickhouse", "users.d",
                          f"{USER}.xml")


def can_log_in(password):
    request = urllib.request.Request(CLICKHOUSE, data=b"SELECT 1")
    request.add_header("Authorization", "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode())
    try:
        return urllib.request.urlopen(request, timeout=5).status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def clickhouse_user():
    """A password-protected ClickHouse user, in the stack's users.d (ClickHouse reloads it within seconds)."""
    digest = hashlib.sha256(PASSWORD.encode()).hexdigest()
    os.makedirs(os.path.dirname(USERS_FILE), exist_ok=True)
    with open(USERS_FILE, "w") as f:
        f.write(f"<yandex><users><{USER}><password_sha256_hex>{digest}</password_sha256_hex><networks><ip>127.0.0.1</ip>"
                f"<ip>::1</ip></networks><profile>default</profile><quota>default</quota></{USER}></users></yandex>\n")
    deadline = time.monotonic() + 60
    while not can_log_in(PASSWORD):
        assert time.monotonic() < deadline, f"ClickHouse did not load {USERS_FILE}"
        time.sleep(1)
    yield USER
    os.remove(USERS_FILE)


@pytest.fixture(scope="module", params=["DirectRunner", "FlinkRunner"])
def env(request, tmp_path_factory, clickhouse_user):
    runner = request.param
    require_stack(runner)
    home = tmp_path_factory.mktemp("airflow-home")
    run = f"{RUN}_{runner[:5].lower()}"
    env = {**os.environ,
           "CLICK_RUNNER": runner,
           **({"CLICK_FLINK_MASTER": FLINK_MASTER} if runner == "FlinkRunner" else {}),
           "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__DAGS_FOLDER": DAGS,
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "CLICK_INPUT_TOPIC": f"e2e_clicks_{run}",
           "CLICK_OUTPUT_TOPIC": f"e2e_agg_{run}",
           "CLICK_DEAD_LETTER_TOPIC": f"e2e_dlq_{run}",
           "CLICK_CLICKHOUSE_TABLE": f"analytics.e2e_{run}",
           "CLICK_ORACLE_DIR": str(home / "oracles"),
           "CLICK_CLICKHOUSE_USER": clickhouse_user,
           "CLICKHOUSE_PASSWORD": PASSWORD}
    airflow(env, "db", "migrate")
    return env


def airflow(env, *args):
    started = time.monotonic()
    result = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"airflow {' '.join(args)} failed:\n{output[-6000:]}"
    assert PASSWORD not in output, f"airflow {' '.join(args)} printed the ClickHouse password"
    return output, time.monotonic() - started


def run_dag(env, logical_date):
    output, seconds = airflow(env, "dags", "test", "streaming_pipeline", logical_date.isoformat())
    print(f"airflow dags test streaming_pipeline {logical_date.isoformat()} on {env['CLICK_RUNNER']}: {seconds:.1f} s")
    assert "state=success" in output, output[-6000:]
    return output


def counts(env, start, end):
    rows = click_checks.final_rows(CLICKHOUSE, env["CLICK_CLICKHOUSE_TABLE"],
                                   int(start.timestamp() * 1000), int(end.timestamp() * 1000),
                                   user=USER, password=PASSWORD)
    return {(p, w): c for p, w, _, c in rows}


def oracle(env, start, end):
    path = os.path.join(env["CLICK_ORACLE_DIR"], env["CLICK_INPUT_TOPIC"],
                        f"{int(start.timestamp() * 1000)}-{int(end.timestamp() * 1000)}.json")
    return path, click_checks.expected_counts(click_checks.load_oracle(path))


def test_runs_equal_the_oracle_rerun_changes_nothing_next_interval_adds_its_own(env):
    # A manual run at T covers the last whole interval before T: [T - 1 min, T).
    first_at = pendulum.now("UTC").start_of("minute").subtract(minutes=3)
    first = (first_at.subtract(minutes=1), first_at)
    second = (first_at, first_at.add(minutes=1))

    counted = run_dag(env, first_at)
    oracle_file, expected = oracle(env, *first)
    assert len(expected) > 0
    assert counts(env, *first) == expected
    generated_at = os.path.getmtime(oracle_file)

    rerun = run_dag(env, first_at)
    assert "were generated before" in rerun  # the interval's clicks are not written twice
    # Its minute was settled by the first run and is final: the rerun settles an empty range (and recounts the
    # early minutes after it, to the same counts).
    settled = re.findall(r"click-count settling run \[(\S+), (\S+)\)", rerun)
    assert len(settled) == 1 and settled[0][0] == settled[0][1], settled
    assert os.path.getmtime(oracle_file) == generated_at
    assert counts(env, *first) == expected

    run_dag(env, second[1])
    _, expected_second = oracle(env, *second)
    assert counts(env, *second) == expected_second
    assert counts(env, *first) == expected
    assert set(expected_second).isdisjoint(expected)

    # `airflow dags test` prints every task's log (no log files): the Beam task's holds the pipeline's own output,
    # and none of the three runs' output held the password (airflow() checks each).
    output = counted
    assert "clickHousePassword=(from the environment)" in output
    assert "click-count settling run [" in output
    # The pipeline JVM's own INFO lines reach the task log at INFO, not each as a WARNING.
    launcher = [line for line in output.splitlines() if "INFO Launcher - " in line]
    assert launcher and not [line for line in launcher if "warning" in line.lower()], launcher[:5]
    if env["CLICK_RUNNER"] == "FlinkRunner":  # the counts came from a job on the session cluster, not in-process
        assert "submitted Flink job" in output and f"to http://{FLINK_MASTER}/" in output

"""`airflow dags test streaming_pipeline` for real: the local Kafka and ClickHouse (services/local-stack.sh), the
real bundled jars on the DirectRunner. The counts must equal the generator's oracle; the same logical date again
must change nothing; the next interval must add its windows and change none of the previous ones."""
import os
import subprocess
import sys
import time
import urllib.request

import pendulum
import pytest

import click_checks
from conftest import DAGS

REPO = os.path.abspath(os.path.join(DAGS, "..", ".."))
RUN = format(int(time.time() * 1000), "x")
TOPIC = f"e2e_clicks_{RUN}"
TABLE = f"analytics.e2e_{RUN}"
CLICKHOUSE = os.environ.get("CLICK_CLICKHOUSE_HTTP", "http://127.0.0.1:8123/")
AIRFLOW = os.path.join(os.path.dirname(sys.executable), "airflow")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    try:
        urllib.request.urlopen(CLICKHOUSE + "ping", timeout=5).read()
    except OSError as e:
        pytest.fail(f"the local stack is not running ({e}): start it with services/local-stack.sh start")
    for jar in ("pipeline/target/click-pipeline-bundled-0.1.0-SNAPSHOT.jar",
                "generator/target/click-generator-bundled-0.1.0-SNAPSHOT.jar"):
        if not os.path.exists(os.path.join(REPO, jar)):
            pytest.fail(f"{jar} is missing: build it with mvn package first (scripts/test.sh does)")
    home = tmp_path_factory.mktemp("airflow-home")
    env = {**os.environ,
           "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__DAGS_FOLDER": DAGS,
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "CLICK_INPUT_TOPIC": TOPIC,
           "CLICK_OUTPUT_TOPIC": f"e2e_agg_{RUN}",
           "CLICK_DEAD_LETTER_TOPIC": f"e2e_dlq_{RUN}",
           "CLICK_CLICKHOUSE_TABLE": TABLE,
           "CLICK_ORACLE_DIR": str(home / "oracles")}
    airflow(env, "db", "migrate")
    return env


def airflow(env, *args):
    started = time.monotonic()
    result = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"airflow {' '.join(args)} failed:\n{output[-6000:]}"
    return output, time.monotonic() - started


def run_dag(env, logical_date):
    output, seconds = airflow(env, "dags", "test", "streaming_pipeline", logical_date.isoformat())
    print(f"airflow dags test streaming_pipeline {logical_date.isoformat()}: {seconds:.1f} s")
    assert "state=success" in output, output[-6000:]
    return output


def counts(start, end):
    rows = click_checks.final_rows(CLICKHOUSE, TABLE, int(start.timestamp() * 1000), int(end.timestamp() * 1000))
    return {(p, w): c for p, w, _, c in rows}


def oracle(env, start, end):
    path = os.path.join(env["CLICK_ORACLE_DIR"], TOPIC,
                        f"{int(start.timestamp() * 1000)}-{int(end.timestamp() * 1000)}.json")
    return path, click_checks.expected_counts(click_checks.load_oracle(path))


def test_runs_equal_the_oracle_rerun_changes_nothing_next_interval_adds_its_own(env):
    # A manual run at T covers the last whole interval before T: [T - 1 min, T).
    first_at = pendulum.now("UTC").start_of("minute").subtract(minutes=3)
    first = (first_at.subtract(minutes=1), first_at)
    second = (first_at, first_at.add(minutes=1))

    run_dag(env, first_at)
    oracle_file, expected = oracle(env, *first)
    assert len(expected) > 0
    assert counts(*first) == expected
    generated_at = os.path.getmtime(oracle_file)

    output = run_dag(env, first_at)
    assert "were generated before" in output  # the interval's clicks are not written twice
    assert os.path.getmtime(oracle_file) == generated_at
    assert counts(*first) == expected

    run_dag(env, second[1])
    _, expected_second = oracle(env, *second)
    assert counts(*second) == expected_second
    assert counts(*first) == expected
    assert set(expected_second).isdisjoint(expected)

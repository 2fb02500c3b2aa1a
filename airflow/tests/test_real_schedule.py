"""The DAG on its real schedule with a live producer (issue 10.1): clicks written in real time (Kafka timestamp = the
wall clock), late clicks sent physically after their window ended, `airflow dags test` started at each minute boundary
+ 2 s as the scheduler starts the runs, with generation off (real producers). Every minute a run settled must equal
the producers' oracles in ClickHouse, late clicks included; its early count must have been there one run before.

Allowed lateness 20 s and windows of 20 s keep it to about three minutes: each run settles the minute before the data
interval (20 s + 5 s + 10 s of delivery margin round up to one minute) and counts the data interval early.
"""
import json
import os
import subprocess
import sys
import time

import pendulum
import pytest

import click_checks
from conftest import DAGS

REPO = os.path.abspath(os.path.join(DAGS, "..", ".."))
RUN = format(int(time.time() * 1000), "x")
TOPIC = f"sched_clicks_{RUN}"
DEAD_LETTERS = f"sched_dlq_{RUN}"
TABLE = f"analytics.sched_{RUN}"
CLICKHOUSE = os.environ.get("CLICK_CLICKHOUSE_HTTP", "http://127.0.0.1:8123/")
KAFKA = os.environ.get("CLICK_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
AIRFLOW = os.path.join(os.path.dirname(sys.executable), "airflow")
GENERATOR_JAR = os.path.join(REPO, "generator", "target", "click-generator-bundled-0.1.0-SNAPSHOT.jar")
WINDOW, LATENESS = "PT20S", "PT20S"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    if not os.path.exists(GENERATOR_JAR):
        pytest.fail(f"{GENERATOR_JAR} is missing: build it with mvn package first (scripts/test.sh does)")
    home = tmp_path_factory.mktemp("airflow-home-schedule")
    env = {**os.environ,
           "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__DAGS_FOLDER": DAGS,
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "CLICK_GENERATE": "false",
           "CLICK_INPUT_TOPIC": TOPIC,
           "CLICK_OUTPUT_TOPIC": f"sched_agg_{RUN}",
           "CLICK_DEAD_LETTER_TOPIC": DEAD_LETTERS,
           "CLICK_CLICKHOUSE_TABLE": TABLE,
           "CLICK_WINDOW_SIZE": WINDOW,
           "CLICK_ALLOWED_LATENESS": LATENESS,
           "CLICK_ORACLE_DIR": str(home / "oracles")}
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return env


def producer(start, end, oracle, seed, *flags):
    """A live producer: each click sent when the wall clock reaches its arrival, stamped with it."""
    return subprocess.Popen(
        ["java", "-Xmx256m", "-jar", GENERATOR_JAR, "--bootstrap-servers", KAFKA, "--topic", TOPIC,
         "--pace", "real", "--start", start.to_iso8601_string(), "--duration", f"PT{int((end - start).total_seconds())}S",
         "--window-size", WINDOW, "--allowed-lateness", LATENESS, "--progress-interval", "PT30S",
         "--expected", str(oracle), "--seed", str(seed), *flags])


def ms(t):
    return int(t.timestamp() * 1000)


def counts(start, end):
    return {(p, w): c for p, w, _, c in click_checks.final_rows(CLICKHOUSE, TABLE, ms(start), ms(end))}


def wait_until(t):
    time.sleep(max(0.0, (t - pendulum.now("UTC")).total_seconds()))


def test_every_settled_minute_equals_the_oracle_late_clicks_included(env, tmp_path):
    t0 = pendulum.now("UTC").set(microsecond=0).add(seconds=1)
    b0 = t0.start_of("minute").add(minutes=1)
    b1 = b0.add(minutes=1)
    # Clicks from t0 to b1: 10% of them 15 s late (inside the 20 s lateness, sent after their window ended), and a
    # second producer whose late half comes 45 s late (too late: dead-lettered, not counted).
    producers = [producer(t0, b1, tmp_path / "on_time.json", 1, "--rate", "20", "--late-fraction", "0.1",
                          "--late-delay", "PT15S"),
                 producer(t0, b1, tmp_path / "too_late.json", 2, "--rate", "2", "--late-fraction", "0.5",
                          "--late-delay", "PT45S")]
    early = {}
    try:
        for boundary in (b0, b1, b1.add(minutes=1)):
            wait_until(boundary.add(seconds=2))  # the scheduler starts a run a moment after its interval ends
            started = time.monotonic()
            result = subprocess.run([AIRFLOW, "dags", "test", "streaming_pipeline", boundary.isoformat()], env=env,
                                    capture_output=True, text=True, timeout=600)
            output = result.stdout + result.stderr
            assert result.returncode == 0 and "state=success" in output, output[-6000:]
            print(f"run at {boundary}: {time.monotonic() - started:.1f} s")
            if boundary == b0:
                early = counts(b0.subtract(minutes=1), b0)  # the minute just ended, counted early
    finally:
        for p in producers:
            try:
                p.wait(timeout=120)
            except subprocess.TimeoutExpired:
                p.kill()
    assert all(p.returncode == 0 for p in producers), "a producer failed: Kafka did not acknowledge every click"

    expected = {}
    too_late = 0
    for name in ("on_time.json", "too_late.json"):
        oracle = click_checks.load_oracle(tmp_path / name)
        too_late += oracle["too_late"]
        for key, count in click_checks.expected_counts(oracle).items():
            expected[key] = expected.get(key, 0) + count
    assert too_late > 0 and len(expected) > 0
    # The two minutes the runs at b1 and b1 + 1 min settled: every click that arrived within the lateness, once.
    assert counts(t0.start_of("minute"), b1) == expected
    # The run at b0 showed the minute before it at once, early: never more than the final counts.
    assert early, "the run at the boundary wrote no early count of the minute that had just ended"
    assert all(c <= expected.get(k, 0) for k, c in early.items())
    print(f"early counts at {b0}: {sum(early.values())} clicks; settled: {sum(expected.values())}")

"""The DAG under Airflow's real scheduler, as a user runs it: `airflow standalone` (scheduler, DAG processor,
triggerer, API server) with the DAG unpaused on its every-minute schedule and generation off, fed by live producers
(Kafka timestamp = the wall clock, late clicks within the lateness, too-late ones), through two faults:

- ClickHouse frozen (SIGSTOP) for 100 s, so that a run overruns its minute and the scheduler skips the next runs;
- all of Airflow stopped for 2 minutes, then started again.

At the end every minute of the stream must be settled, ClickHouse's FINAL view must equal the producers' oracles
(late clicks included), and the dead-letter topic must hold each rejection exactly once. Once on the DirectRunner
and once on the local Flink session cluster.

Windows of 20 s and 20 s of lateness make SETTLE one minute: the run at T settles up to T - 1 min.
"""
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import pendulum
import pytest

import click_checks
from conftest import CLICKHOUSE, DAGS, FLINK_MASTER, GENERATOR_JAR, REPO, require_stack, skip_if_duplicated

pytestmark = pytest.mark.services

STACK_DIR = os.environ.get("STACK_DIR", os.path.join(REPO, ".local-stack"))
KAFKA = os.environ.get("CLICK_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
AIRFLOW = os.path.join(os.path.dirname(sys.executable), "airflow")
WINDOW, LATENESS = "PT20S", "PT20S"
STREAM = pendulum.duration(minutes=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["DirectRunner", "FlinkRunner"])
def env(request, tmp_path_factory):
    runner = request.param
    skip_if_duplicated(runner, "runners/tests/test_compose_up.py (Airflow's real scheduler, Celery, the DAG on "
                               "Compose's Flink cluster, Airflow and a TaskManager stopped mid-run)")
    require_stack(runner)
    run = format(int(time.time() * 1000), "x") + "_" + runner[:5].lower()
    home = tmp_path_factory.mktemp(f"airflow-real-{runner}")
    port = free_port()
    env = {**os.environ,
           "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__DAGS_FOLDER": DAGS,
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
           "AIRFLOW__API__HOST": "127.0.0.1",
           "AIRFLOW__API__PORT": str(port),
           # Tasks reach the API server's execution API through its base URL (default http://localhost:8080).
           "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""),
           "CLICK_RUNNER": runner,
           **({"CLICK_FLINK_MASTER": FLINK_MASTER} if runner == "FlinkRunner" else {}),
           "CLICK_GENERATE": "false",
           "CLICK_INPUT_TOPIC": f"real_clicks_{run}",
           "CLICK_OUTPUT_TOPIC": f"real_agg_{run}",
           "CLICK_DEAD_LETTER_TOPIC": f"real_dlq_{run}",
           "CLICK_CLICKHOUSE_TABLE": f"analytics.real_{run}",
           "CLICK_WINDOW_SIZE": WINDOW,
           "CLICK_ALLOWED_LATENESS": LATENESS,
           "CLICK_ORACLE_DIR": str(home / "oracles")}
    with open(home / "passwords.json", "w") as f:
        json.dump({"admin": "admin"}, f)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return env


class Airflow:
    """`airflow standalone` in its own process group, its output in a log file."""

    def __init__(self, env, log_path):
        self.env = env
        self.log_path = log_path
        self.process = None

    def start(self):
        log = open(self.log_path, "a")
        self.process = subprocess.Popen([AIRFLOW, "standalone"], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        log.close()

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        # Whatever the group left (a task's JVM), as after a machine's restart.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def tail(self, chars=6000):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-chars:]


def dag_runs(env):
    """(logical date, state, start, end) of every run of the DAG, from Airflow's own database."""
    db = sqlite3.connect(f"file:{env['AIRFLOW_HOME']}/airflow.db?mode=ro", uri=True, timeout=30)
    try:
        return db.execute("SELECT logical_date, state, start_date, end_date FROM dag_run "
                          "WHERE dag_id = 'streaming_pipeline' ORDER BY logical_date").fetchall()
    except sqlite3.OperationalError:
        return []  # not created yet
    finally:
        db.close()


def mark(env):
    try:
        return click_checks.settled_mark(CLICKHOUSE, env["CLICK_CLICKHOUSE_TABLE"], env["CLICK_INPUT_TOPIC"])
    except OSError:
        return None  # the table is not there yet, or ClickHouse is frozen


def wait_for(what, condition, timeout, airflow):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(5)
    pytest.fail(f"{what}: not within {timeout} s. Airflow's output:\n{airflow.tail()}")


def producer(env, start, oracle, seed, *flags):
    """A live producer: each click sent when the wall clock reaches its arrival, stamped with it."""
    return subprocess.Popen(
        ["java", "-Xmx256m", "-jar", GENERATOR_JAR, "--bootstrap-servers", KAFKA, "--topic", env["CLICK_INPUT_TOPIC"],
         "--pace", "real", "--start", start.to_iso8601_string(), "--duration", f"PT{int(STREAM.total_seconds())}S",
         "--window-size", WINDOW, "--allowed-lateness", LATENESS, "--progress-interval", "PT60S",
         "--expected", str(oracle), "--seed", str(seed), *flags])


def clickhouse_pid():
    with open(os.path.join(STACK_DIR, "clickhouse", "clickhouse.pid")) as f:
        return int(f.read().strip())


def dead_letters(env):
    """Every dead letter's (reason, source partition, source offset), read with Kafka's own console consumer."""
    out = subprocess.run(
        [os.path.join(REPO, "services", "local-stack.sh"), "kafka-tool", "org.apache.kafka.tools.consumer.ConsoleConsumer",
         "--bootstrap-server", KAFKA, "--topic", env["CLICK_DEAD_LETTER_TOPIC"], "--from-beginning",
         "--timeout-ms", "15000", "--property", "print.headers=true", "--property", "print.value=false"],
        capture_output=True, text=True, timeout=180)
    found = []
    for line in out.stdout.splitlines():
        reason = re.search(r"dlq\.reason:([a-z_]+)", line)
        partition = re.search(r"dlq\.source\.partition:(\d+)", line)
        offset = re.search(r"dlq\.source\.offset:(\d+)", line)
        if reason and partition and offset:
            found.append((reason.group(1), int(partition.group(1)), int(offset.group(1))))
    assert "Processed a total of" in out.stderr, out.stderr[-3000:]
    return found


def test_no_minute_is_lost_to_an_overrun_or_a_stopped_airflow(env, tmp_path):
    airflow = Airflow(env, tmp_path / "airflow-standalone.log")
    t0 = pendulum.now("UTC").set(microsecond=0).add(seconds=1)
    producers = [producer(env, t0, tmp_path / "a.json", 1, "--rate", "20", "--late-fraction", "0.1",
                          "--late-delay", "PT15S", "--malformed-fraction", "0.02"),
                 producer(env, t0, tmp_path / "b.json", 2, "--rate", "2", "--late-fraction", "0.5",
                          "--late-delay", "PT45S")]
    frozen = None
    try:
        airflow.start()
        # The first run: the scheduler creates it for the last whole minute once the DAG is parsed, unpaused.
        wait_for("a first successful run", lambda: any(r[1] == "success" for r in dag_runs(env)), 240, airflow)
        first = mark(env)
        assert first is not None, "the first run left no settled mark"

        # ClickHouse frozen just after a minute starts: that minute's run hangs in it and overruns.
        boundary = pendulum.now("UTC").start_of("minute").add(minutes=1, seconds=2)
        time.sleep(max(0.0, (boundary - pendulum.now("UTC")).total_seconds()))
        frozen = clickhouse_pid()
        os.kill(frozen, signal.SIGSTOP)
        time.sleep(100)
        os.kill(frozen, signal.SIGCONT)
        frozen = None
        thawed = pendulum.now("UTC")
        wait_for("a run that succeeded after ClickHouse came back",
                 lambda: any(r[1] == "success" and pendulum.parse(r[3]) > thawed for r in dag_runs(env) if r[3]),
                 300, airflow)

        # All of Airflow down for two minutes, then up again.
        airflow.stop()
        stopped = pendulum.now("UTC")
        time.sleep(120)
        airflow.start()
        restarted = pendulum.now("UTC")

        for p in producers:
            p.wait(timeout=STREAM.total_seconds() + 120)
        assert all(p.returncode == 0 for p in producers), "a producer failed: Kafka did not acknowledge every click"
        # The last window with clicks ends by t0 + STREAM (rounded up to a window); the runs settle whole minutes.
        last = pendulum.from_timestamp(
            -(-int((t0 + STREAM).timestamp()) // 20) * 20, tz="UTC").add(minutes=1).start_of("minute")
        wait_for(f"the settled mark at {last}", lambda: (m := mark(env)) and m["settled_to"] >= last.timestamp() * 1000,
                 420, airflow)
    finally:
        if frozen is not None:
            os.kill(frozen, signal.SIGCONT)
        for p in producers:
            if p.poll() is None:
                p.kill()
        airflow.stop()

    runs = dag_runs(env)
    print(f"{len(runs)} DAG runs on {env['CLICK_RUNNER']}:")
    for logical_date, state, start, end in runs:
        seconds = (pendulum.parse(end) - pendulum.parse(start)).total_seconds() if start and end else None
        print(f"  {logical_date} {state} {seconds if seconds is None else round(seconds, 1)} s")
    took = [(pendulum.parse(end) - pendulum.parse(start)).total_seconds() for _, _, start, end in runs if start and end]
    assert max(took) > 60, f"no run overran its minute while ClickHouse was frozen: {took}"
    minutes = {pendulum.parse(r[0]).start_of("minute") for r in runs}
    span = pendulum.parse(runs[0][0]).start_of("minute"), pendulum.parse(runs[-1][0]).start_of("minute")
    skipped = [span[0].add(minutes=i) for i in range(int((span[1] - span[0]).total_minutes()) + 1)
               if span[0].add(minutes=i) not in minutes]
    # The faults did what they are for: minutes with no run at all, while ClickHouse was frozen and Airflow down.
    assert skipped, f"no scheduled minute was skipped: the faults did not bite ({[r[0] for r in runs]})"
    # A minute's run is due when the minute ends: some were due while Airflow was down.
    assert any(stopped <= m.add(minutes=1) <= restarted.add(minutes=1) for m in skipped), \
        f"no run was due while Airflow was down ({stopped} to {restarted}): skipped {skipped}"

    oracles = [click_checks.load_oracle(tmp_path / name) for name in ("a.json", "b.json")]
    expected = {}
    for oracle in oracles:
        for key, count in click_checks.expected_counts(oracle).items():
            expected[key] = expected.get(key, 0) + count
    too_late = sum(o["too_late"] for o in oracles)
    malformed = sum(o["malformed"] for o in oracles)
    assert too_late > 0 and malformed > 0 and expected
    start_ms = int(t0.start_of("minute").timestamp() * 1000)
    rows = click_checks.final_rows(CLICKHOUSE, env["CLICK_CLICKHOUSE_TABLE"], start_ms, int(last.timestamp() * 1000))
    actual = {(p, w): c for p, w, _, c in rows}
    wrong = click_checks.differences(expected, rows)
    assert not wrong, f"{len(wrong)} of {len(expected)} counts differ:\n" + "\n".join(wrong[:20])
    assert actual == expected

    dead = dead_letters(env)
    sources = [(partition, offset) for _, partition, offset in dead]
    assert len(sources) == len(set(sources)), "a rejection was dead-lettered twice"
    reasons = {}
    for reason, _, _ in dead:
        reasons[reason] = reasons.get(reason, 0) + 1
    assert reasons.pop("too_late", 0) == too_late, reasons
    assert sum(reasons.values()) == malformed, reasons
    print(f"{sum(expected.values())} clicks counted in {len(expected)} cells, {too_late} too late and {malformed}"
          f" malformed dead-lettered once each; minutes skipped by the scheduler: {[str(m) for m in skipped]}")

"""streaming_pipeline: count the clicks of each minute with the Beam pipeline, every minute or by hand.

The run at T (data interval [T - 1 min, T)) settles every minute from the table's settled mark up to T - SETTLE (the
minutes whose late clicks are all in by now) and counts the minutes after them, up to T, early: one bounded pipeline
run with --settle, --to=T - SETTLE and --earlyTo=T. SETTLE is the allowed lateness + maxOutOfOrderness + a delivery
margin, rounded up to whole minutes (2 minutes by default). The mark lives beside the counts in ClickHouse
(<table>_settled) and only the pipeline moves it, once a run's counts and dead letters are written: a run that
overran, failed, or never ran (Airflow down, the DAG paused) leaves its minutes to the next run, which settles them.
A backlog longer than SETTLE_BOUND is settled SETTLE_BOUND at a time, and verify_counts fails while a minute older
than the bound is unsettled. The first run starts the mark at its own settled minute: nothing older is backfilled.
A settled minute is never counted again, so re-running or backfilling a date changes nothing that is settled. A run
triggered by hand with no logical date (Airflow 3's default) counts the minute that ended last before it, as if it were
that minute's scheduled run.
Rejected records are dead-lettered once, by the run that judges them.

    ensure_schema >> generate_clicks >> aggregate_clicks >> verify_counts

ensure_schema    the pipeline's own start-up step (topics, ClickHouse database and table from its DDL file)
generate_clicks  the click generator writes the interval's clicks and keeps its oracle; off with the DAG param
                 generate=false or CLICK_GENERATE=false (in production real producers write the clicks)
aggregate_clicks BeamRunJavaPipelineOperator: the bundled jar, DirectRunner locally, FlinkRunner when configured
verify_counts    each minute the run counted: equal to its oracle where its clicks were generated; else sanity checks

Settings come from environment variables (CLICK_*, below) with defaults that work against services/local-stack.sh.
This file does no I/O when it is imported.
"""
from __future__ import annotations

import math
import os
import re
import subprocess
from datetime import timedelta

import click_checks  # beside this file; standard library only
import pendulum
from airflow.providers.apache.beam.operators.beam import BeamRunJavaPipelineOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, Param
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.timetables.interval import CronDataIntervalTimetable

REPO = os.environ.get("CLICK_REPO", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
VERSION = "0.1.0-SNAPSHOT"
PIPELINE_JAR = os.environ.get(
    "CLICK_PIPELINE_JAR", os.path.join(REPO, "pipeline", "target", f"click-pipeline-bundled-{VERSION}.jar"))
GENERATOR_JAR = os.environ.get(
    "CLICK_GENERATOR_JAR", os.path.join(REPO, "generator", "target", f"click-generator-bundled-{VERSION}.jar"))
JOB_CLASS = "dev.clickstream.pipeline.ClickCountPipeline"
PREPARE_CLASS = "dev.clickstream.pipeline.PrepareSinks"
RUNNER = os.environ.get("CLICK_RUNNER", "DirectRunner")
FLINK_MASTER = os.environ.get("CLICK_FLINK_MASTER", "")  # host:port of the Flink JobManager, for FlinkRunner
FLINK_CHECKPOINT_INTERVAL_MS = os.environ.get("CLICK_FLINK_CHECKPOINT_INTERVAL_MS", "10000")
FLINK_PARALLELISM = os.environ.get("CLICK_FLINK_PARALLELISM", "2")
JAVA_HEAP = os.environ.get("CLICK_JAVA_HEAP", "1g")

KAFKA_BOOTSTRAP = os.environ.get("CLICK_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
# A Kafka client properties file (TLS, SASL, ...) for every Kafka client: the pipeline's --kafkaProperties and the
# generator's --command-config. The file holds the secrets; only its path is passed.
KAFKA_PROPERTIES = os.environ.get("CLICK_KAFKA_PROPERTIES", "")
INPUT_TOPIC = os.environ.get("CLICK_INPUT_TOPIC", "clicks")
OUTPUT_TOPIC = os.environ.get("CLICK_OUTPUT_TOPIC", "aggregation_clicks")
DEAD_LETTER_TOPIC = os.environ.get("CLICK_DEAD_LETTER_TOPIC", "clicks_dlq")
CLICKHOUSE_JDBC_URL = os.environ.get(
    "CLICK_CLICKHOUSE_JDBC_URL",
    "jdbc:clickhouse://127.0.0.1:8123/analytics"
    "?server_version=22.8.1&server_time_zone=UTC&custom_http_params=database%3Danalytics")
CLICKHOUSE_HTTP = os.environ.get("CLICK_CLICKHOUSE_HTTP", "http://127.0.0.1:8123/")
# For an https:// CLICK_CLICKHOUSE_HTTP: a PEM file of the certificates to trust (else the system's).
CLICKHOUSE_CA_FILE = os.environ.get("CLICK_CLICKHOUSE_CA_FILE") or None
CLICKHOUSE_TABLE = os.environ.get("CLICK_CLICKHOUSE_TABLE", "analytics.product_clicks")
# A ClickHouse user with a password (Compose): the password is read at run time from the environment variable
# CLICKHOUSE_PASSWORD by the pipeline and the checks, and never becomes an option or a log line.
CLICKHOUSE_USER = os.environ.get("CLICK_CLICKHOUSE_USER", "")
PASSWORD_VARIABLE = "CLICKHOUSE_PASSWORD"
WINDOW_SIZE = os.environ.get("CLICK_WINDOW_SIZE", "PT60S")  # the schedule's minute must be whole windows
ALLOWED_LATENESS = os.environ.get("CLICK_ALLOWED_LATENESS", "PT60S")
MAX_OUT_OF_ORDERNESS = os.environ.get("CLICK_MAX_OUT_OF_ORDERNESS", "PT5S")
# How long after a click's Kafka timestamp it may still be on its way into the topic (a producer's linger, retries).
DELIVERY_MARGIN = os.environ.get("CLICK_DELIVERY_MARGIN", "PT10S")
# The most event time one run settles, and how old an unsettled minute may get before verify_counts fails.
SETTLE_BOUND = os.environ.get("CLICK_SETTLE_BOUND", "PT60M")

GENERATE = os.environ.get("CLICK_GENERATE", "true").lower() == "true"
GENERATOR_RATE = os.environ.get("CLICK_GENERATOR_RATE", "1000")
ORACLE_DIR = os.environ.get("CLICK_ORACLE_DIR", os.path.join(REPO, ".local-stack", "oracles"))

SCHEDULE = timedelta(minutes=1)


def _seconds(iso_duration: str) -> float:
    """PT60S, PT1M30S, PT0.5S: the pipeline's ISO-8601 durations (hours, minutes, seconds), without I/O."""
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?", iso_duration)
    if not match or iso_duration == "PT":
        raise ValueError(f"not an ISO-8601 duration of hours, minutes and seconds: {iso_duration!r}")
    hours, minutes, seconds = (float(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


# A click of a window may arrive until the window's end + allowed lateness, and the bounded run reads Kafka timestamps
# maxOutOfOrderness beyond that; after the delivery margin every such click is in the topic. SETTLE is that deadline
# rounded up to whole schedule intervals: the run at T settles (counts in full, and dead-letters the rejections of)
# the minutes from the settled mark up to T - SETTLE, and counts the minutes after them, up to T, early.
SETTLE = SCHEDULE * math.ceil(
    (_seconds(ALLOWED_LATENESS) + _seconds(MAX_OUT_OF_ORDERNESS) + _seconds(DELIVERY_MARGIN))
    / SCHEDULE.total_seconds())
TIMETABLE = CronDataIntervalTimetable("* * * * *", timezone="UTC")
# Rendered by the click_time macro (below) from the run's interval, so a run with no data interval renders too.
SETTLED_FROM = f"{{{{ click_time(dag_run, 'start', {int(SETTLE.total_seconds())}) }}}}"
SETTLED_TO = f"{{{{ click_time(dag_run, 'end', {int(SETTLE.total_seconds())}) }}}}"
EARLY_TO = "{{ click_time(dag_run, 'end') }}"

SINK_OPTIONS = {
    "bootstrapServers": KAFKA_BOOTSTRAP,
    **({"kafkaProperties": KAFKA_PROPERTIES} if KAFKA_PROPERTIES else {}),
    "inputTopic": INPUT_TOPIC,
    "outputTopic": OUTPUT_TOPIC,
    "deadLetterTopic": DEAD_LETTER_TOPIC,
    "clickHouseUrl": CLICKHOUSE_JDBC_URL,
    "clickHouseTable": CLICKHOUSE_TABLE,
    **({"clickHouseUser": CLICKHOUSE_USER, "clickHousePasswordEnv": PASSWORD_VARIABLE} if CLICKHOUSE_USER else {}),
}
PIPELINE_OPTIONS = {
    **SINK_OPTIONS,
    "windowSize": WINDOW_SIZE,
    "allowedLateness": ALLOWED_LATENESS,
    "maxOutOfOrderness": MAX_OUT_OF_ORDERNESS,
    "settle": "true",
    "maxSettle": SETTLE_BOUND,
    "deliveryMargin": DELIVERY_MARGIN,
    "from": SETTLED_FROM,  # where the mark starts when the table has none yet
    "to": SETTLED_TO,
    "earlyTo": EARLY_TO,
    "exitWithParent": "true",  # a task that dies leaves no run behind to race its retry
    "createSchema": "false",  # ensure_schema did it; the pipeline still checks the live table
    **({"flinkMaster": FLINK_MASTER, "checkpointingInterval": FLINK_CHECKPOINT_INTERVAL_MS,
        "parallelism": FLINK_PARALLELISM} if RUNNER == "FlinkRunner" and FLINK_MASTER else {}),
}

SERVICE_TASK_ARGS = {"retries": 2, "retry_delay": timedelta(seconds=20)}


def _java(main_class_or_jar: list[str], args: list[str], heap: str) -> None:
    """Runs a JVM with an explicit heap; its output goes to the task log; a non-zero exit fails the task."""
    command = ["java", f"-Xmx{heap}", *main_class_or_jar, *args]
    print("running:", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def _run_interval(dag_run) -> tuple[pendulum.DateTime, pendulum.DateTime]:
    """The minute a run counts. A run triggered with no logical date (Airflow 3's default in the UI, the REST API and
    `airflow dags trigger`) has no data interval: it takes the one Airflow's timetable infers for a manual run, the
    schedule minute that ended last before it was triggered. It then does what that minute's scheduled run does, and
    doing it twice is harmless: a minute's clicks are generated once, and a settled minute is never counted again."""
    start, end = dag_run.data_interval_start, dag_run.data_interval_end
    if start is None or end is None:
        inferred = TIMETABLE.infer_manual_data_interval(run_after=pendulum.instance(dag_run.run_after))
        start, end = inferred.start, inferred.end
    return pendulum.instance(start).in_timezone("UTC"), pendulum.instance(end).in_timezone("UTC")


def _click_time(dag_run, edge: str, minus_seconds: int = 0) -> str:
    """The macro click_time: the start or end of the run's interval, less some seconds, as the pipeline reads it."""
    start, end = _run_interval(dag_run)
    return {"start": start, "end": end}[edge].subtract(seconds=minus_seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


def _interval_ms(context) -> tuple[int, int]:
    start, end = _run_interval(context["dag_run"])
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def _oracle_path(start_ms: int, end_ms: int) -> str:
    return os.path.join(ORACLE_DIR, INPUT_TOPIC, f"{start_ms}-{end_ms}.json")


def _ensure_schema() -> None:
    options = {**SINK_OPTIONS, "runner": RUNNER}  # a Flink-built jar has no DirectRunner to default to
    _java(["-cp", PIPELINE_JAR, PREPARE_CLASS], [f"--{k}={v}" for k, v in options.items()], "256m")


def _generate_clicks(**context) -> str:
    """Writes the interval's clicks once and keeps the oracle; a re-run of the interval finds the oracle and writes
    nothing, so the topic never holds an interval's clicks twice."""
    if not context["params"]["generate"]:
        raise AirflowSkipException("click generation is off (param generate / CLICK_GENERATE): real producers")
    start_ms, end_ms = _interval_ms(context)
    oracle = _oracle_path(start_ms, end_ms)
    if os.path.exists(oracle):
        print(f"the clicks of this interval were generated before; their oracle is {oracle}")
        return oracle
    os.makedirs(os.path.dirname(oracle), exist_ok=True)
    partial = oracle + ".partial"
    _java(["-jar", GENERATOR_JAR], [
        "--bootstrap-servers", KAFKA_BOOTSTRAP, *(["--command-config", KAFKA_PROPERTIES] if KAFKA_PROPERTIES else []),
        "--topic", INPUT_TOPIC,
        "--start", _click_time(context["dag_run"], "start"),
        "--duration", f"PT{(end_ms - start_ms) // 1000}S", "--rate", GENERATOR_RATE,
        "--popularity", "zipf:1.1", "--late-fraction", "0.05", "--late-delay", "PT90S",
        "--malformed-fraction", "0.01", "--seed", str(start_ms),
        "--window-size", WINDOW_SIZE, "--allowed-lateness", ALLOWED_LATENESS, "--expected", partial,
    ], "512m")
    os.replace(partial, oracle)  # only a complete run counts as generated
    return oracle


def _verify_counts(**context) -> dict:
    """Where the settled mark stands, and every minute from the first the last run settled up to the data interval's
    end: settled (final), early (its late clicks may still come) or overdue (ripe, unsettled). Counts equal their oracle
    where the minute's clicks were generated (all of them, late ones included, before any count), sane otherwise.
    Fails when a minute older than SETTLE_BOUND is still unsettled."""
    start_ms, end_ms = _interval_ms(context)
    settle_ms = int(SETTLE.total_seconds() * 1000)
    step_ms = end_ms - start_ms
    bound_ms = int(_seconds(SETTLE_BOUND) * 1000)
    credentials = {"user": CLICKHOUSE_USER or None, "password": os.environ.get(PASSWORD_VARIABLE),
                   "cafile": CLICKHOUSE_CA_FILE}
    mark = click_checks.settled_mark(CLICKHOUSE_HTTP, CLICKHOUSE_TABLE, INPUT_TOPIC, **credentials)
    if mark is None:
        raise AirflowFailException(f"{CLICKHOUSE_TABLE}_settled holds no settled mark for {INPUT_TOPIC}: the pipeline"
                                   f" writes one at its first settling run")
    ripe_ms = end_ms - settle_ms  # every minute before this is past its deadline
    first_ms = min(mark["settled_from"], start_ms - settle_ms)
    first_ms = max(first_ms, end_ms - settle_ms - bound_ms - step_ms)  # a report, not a scan of history
    rows = click_checks.final_rows(CLICKHOUSE_HTTP, CLICKHOUSE_TABLE, first_ms, end_ms, **credentials)
    window_ms = int(_seconds(WINDOW_SIZE) * 1000)
    checked = {}
    for minute_start in range(first_ms, end_ms, step_ms):
        minute_end = minute_start + step_ms
        minute_rows = [r for r in rows if minute_start <= r[1] < minute_end]
        state = ("settled" if minute_end <= mark["settled_to"] else "early" if minute_end > ripe_ms else "overdue")
        oracle_file = _oracle_path(minute_start, minute_end)
        if state != "overdue" and os.path.exists(oracle_file):
            expected = click_checks.expected_counts(click_checks.load_oracle(oracle_file))
            wrong = click_checks.differences(expected, minute_rows)
            if wrong:
                raise AirflowFailException(f"{len(wrong)} of {len(expected)} counts of [{minute_start}, {minute_end})"
                                           f" differ from the oracle {oracle_file}:\n" + "\n".join(wrong[:20]))
            checked[minute_start] = f"{state}, equal to the oracle"
        else:
            problems = click_checks.sanity_problems(minute_rows, window_ms, minute_start, minute_end)
            if problems:
                raise AirflowFailException(f"sanity checks of [{minute_start}, {minute_end}) failed:\n"
                                           + "\n".join(problems[:20]))
            checked[minute_start] = f"{state}, sane (no oracle)" if minute_rows else f"{state}, no clicks"
    lag_ms = max(0, ripe_ms - mark["settled_to"])
    summary = {"rows": len(rows), "clicks": sum(r[3] for r in rows), "settled_to": mark["settled_to"],
               "overdue_minutes": lag_ms // step_ms, "checked": checked}
    print(f"ClickHouse {CLICKHOUSE_TABLE} for [{first_ms}, {end_ms}): {summary}")
    if lag_ms > 0:
        overdue = (f"{lag_ms // step_ms} ripe minute(s) of {INPUT_TOPIC} are not settled yet: the settled mark is at"
                   f" {pendulum.from_timestamp(mark['settled_to'] / 1000).to_iso8601_string()}, minutes up to"
                   f" {pendulum.from_timestamp(ripe_ms / 1000).to_iso8601_string()} are past their deadline")
        if lag_ms > bound_ms:
            raise AirflowFailException(overdue + f"; more than {SETTLE_BOUND} behind. The next runs settle"
                                       f" {SETTLE_BOUND} each until they catch up")
        print("WARNING: " + overdue + "; the next run settles them")
    return summary


def _java_heap(context) -> None:
    # The Beam hook runs plain `java -cp jar class`; JAVA_TOOL_OPTIONS is how that JVM gets a heap limit. The hook
    # logs each line the JVM writes to stderr as a WARNING, and SLF4J's simple logger writes there by default: its
    # lines go to stdout instead (logged at INFO, each keeping its own level, INFO/WARN/ERROR, in its text).
    os.environ.setdefault("JAVA_TOOL_OPTIONS", f"-Xmx{JAVA_HEAP} -Dorg.slf4j.simpleLogger.logFile=System.out")


with DAG(
    dag_id="streaming_pipeline",
    description="Count clicks per product per minute with the Beam pipeline; Kafka + ClickHouse",
    schedule=TIMETABLE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=15),
    params={"generate": Param(GENERATE, type="boolean",
                              description="generate the interval's clicks (and keep their oracle) before counting")},
    tags=["clicks", "beam", "kafka", "clickhouse"],
    doc_md=__doc__,
    user_defined_macros={"click_time": _click_time},
) as dag:
    ensure_schema = PythonOperator(
        task_id="ensure_schema", python_callable=_ensure_schema, **SERVICE_TASK_ARGS)

    generate_clicks = PythonOperator(
        task_id="generate_clicks", python_callable=_generate_clicks, **SERVICE_TASK_ARGS)

    aggregate_clicks = BeamRunJavaPipelineOperator(
        task_id="aggregate_clicks",
        jar=PIPELINE_JAR,
        job_class=JOB_CLASS,
        runner=RUNNER,
        pipeline_options=PIPELINE_OPTIONS,
        pre_execute=_java_heap,
        trigger_rule="none_failed",  # runs when generation is skipped
        execution_timeout=timedelta(minutes=10),
        **SERVICE_TASK_ARGS,
    )

    verify_counts = PythonOperator(
        task_id="verify_counts", python_callable=_verify_counts, trigger_rule="none_failed", **SERVICE_TASK_ARGS)

    ensure_schema >> generate_clicks >> aggregate_clicks >> verify_counts

"""The streaming_pipeline DAG as Airflow sees it: it parses cleanly and cheaply, and its tasks say the right things."""
import builtins
import importlib.util
import socket
import subprocess
from types import SimpleNamespace

import pendulum
import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.timetables.interval import CronDataIntervalTimetable

from conftest import DAGS

DAG_FILE = f"{DAGS}/streaming_pipeline.py"


def load_module(name="streaming_pipeline_under_test"):
    spec = importlib.util.spec_from_file_location(name, DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dag():
    bag = DagBag(dag_folder=DAGS)
    assert bag.import_errors == {}
    return bag.dags["streaming_pipeline"]


def test_the_dag_file_imports_without_errors(dag):
    assert dag is not None
    assert dag.dag_id == "streaming_pipeline"


def test_importing_the_dag_does_no_io(monkeypatch):
    load_module()  # Airflow's own modules load (and read their config) first, outside the guard

    def forbidden(*args, **kwargs):
        raise AssertionError(f"I/O at import time: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.setattr(builtins, "open", forbidden)
    load_module("streaming_pipeline_no_io")


def test_schedule_every_minute_one_run_at_a_time_no_catchup(dag):
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.summary == "* * * * *"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.params["generate"] is True


def test_tasks_run_in_order(dag):
    order = ["ensure_schema", "generate_clicks", "aggregate_clicks", "verify_counts"]
    assert sorted(dag.task_ids) == sorted(order)
    for upstream, downstream in zip(order, order[1:]):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    # Generation may be switched off (skipped): counting and verifying still run.
    assert dag.get_task("aggregate_clicks").trigger_rule == "none_failed"
    assert dag.get_task("verify_counts").trigger_rule == "none_failed"


def test_tasks_that_talk_to_services_retry_with_a_delay(dag):
    for task_id in dag.task_ids:
        task = dag.get_task(task_id)
        assert task.retries >= 1, task_id
        assert task.retry_delay.total_seconds() >= 10, task_id


def scheduled_run(start):
    """The dag_run of the scheduled run for [start, start + 1 min), as a task sees it (the fields the DAG reads)."""
    start = pendulum.instance(start)
    return SimpleNamespace(data_interval_start=start, data_interval_end=start.add(minutes=1),
                           run_after=start.add(minutes=1), logical_date=start)


def manual_run(run_after):
    """A run triggered with no logical date (Airflow 3's default): no data interval, no logical date."""
    return SimpleNamespace(data_interval_start=None, data_interval_end=None, run_after=run_after, logical_date=None)


def render_options(task, logical_date=None, dag_run=None):
    dag_run = dag_run or scheduled_run(logical_date)
    context = {"dag_run": dag_run}
    if dag_run.data_interval_start is not None:  # as Airflow's task runner builds it: the keys exist only then
        context.update(data_interval_start=dag_run.data_interval_start, data_interval_end=dag_run.data_interval_end,
                       logical_date=dag_run.logical_date)
    return task.render_template(task.pipeline_options, context)


def test_the_beam_task_runs_the_bundled_jar_over_its_own_interval(dag):
    task = dag.get_task("aggregate_clicks")
    assert type(task).__name__ == "BeamRunJavaPipelineOperator"
    assert task.jar.endswith("pipeline/target/click-pipeline-bundled-0.1.0-SNAPSHOT.jar")
    assert task.job_class == "dev.clickstream.pipeline.ClickCountPipeline"
    assert task.runner == "DirectRunner"
    options = render_options(task, pendulum.datetime(2026, 11, 26, 10, 0, tz="UTC"))
    # The run for [10:00, 10:01) settles every minute from the table's settled mark up to the minutes whose late
    # clicks are all in by now: allowed lateness (60 s) + maxOutOfOrderness (5 s) + delivery margin (10 s), rounded up
    # to 2 minutes back; the minutes after it are counted early, up to the end of the data interval. --from is where
    # the mark starts when there is none yet: the run's own minute, so that a first run backfills nothing.
    assert options["settle"] == "true"
    assert options["maxSettle"] == "PT60M"
    assert options["deliveryMargin"] == "PT10S"
    assert options["from"] == "2026-11-26T09:58:00Z"
    assert options["to"] == "2026-11-26T09:59:00Z"
    assert options["earlyTo"] == "2026-11-26T10:01:00Z"
    # A task that dies (Airflow stopped, a worker lost) takes its pipeline run with it: its retry runs alone.
    assert options["exitWithParent"] == "true"
    assert options["maxOutOfOrderness"] == "PT5S"
    assert options["inputTopic"] == "clicks"
    assert options["clickHouseTable"] == "analytics.product_clicks"
    assert options["createSchema"] == "false"
    # A removed option, which the pipeline refuses at start.
    assert "kafkaExactlyOnce" not in options
    assert "flinkMaster" not in options and "checkpointingInterval" not in options


def test_consecutive_runs_leave_no_gap_and_no_overlap(dag):
    task = dag.get_task("aggregate_clicks")
    first = render_options(task, pendulum.datetime(2026, 11, 26, 10, 0, tz="UTC"))
    second = render_options(task, pendulum.datetime(2026, 11, 26, 10, 1, tz="UTC"))
    assert first["to"] == second["from"]
    assert (first["earlyTo"], second["earlyTo"]) == ("2026-11-26T10:01:00Z", "2026-11-26T10:02:00Z")


def test_the_settled_minute_follows_the_allowed_lateness(monkeypatch):
    monkeypatch.setenv("CLICK_ALLOWED_LATENESS", "PT20S")
    module = load_module("streaming_pipeline_short_lateness")
    assert module.SETTLE.total_seconds() == 60  # 20 s + 5 s + 10 s fits in one minute
    options = render_options(module.dag.get_task("aggregate_clicks"), pendulum.datetime(2026, 11, 26, 10, 0, tz="UTC"))
    assert (options["from"], options["to"], options["earlyTo"]) == (
        "2026-11-26T09:59:00Z", "2026-11-26T10:00:00Z", "2026-11-26T10:01:00Z")
    monkeypatch.setenv("CLICK_ALLOWED_LATENESS", "PT2M")
    assert load_module("streaming_pipeline_long_lateness").SETTLE.total_seconds() == 180


def test_a_run_triggered_with_no_logical_date_counts_the_minute_that_ended_last(dag, monkeypatch, tmp_path):
    # The UI's, the REST API's and `airflow dags trigger`'s default: Airflow 3 gives such a run no data interval.
    task = dag.get_task("aggregate_clicks")
    triggered = render_options(task, dag_run=manual_run(pendulum.datetime(2026, 11, 26, 10, 1, 27, tz="UTC")))
    assert triggered == render_options(task, pendulum.datetime(2026, 11, 26, 10, 0, tz="UTC"))
    # On the minute itself, that minute has just ended.
    assert render_options(task, dag_run=manual_run(pendulum.datetime(2026, 11, 26, 10, 1, tz="UTC"))) == triggered
    # Generation writes that minute's clicks (once) under that minute's oracle.
    module = load_module("streaming_pipeline_manual")
    commands = []
    monkeypatch.setattr(module, "_java", lambda main, args, heap: commands.append(args))
    monkeypatch.setattr(module, "ORACLE_DIR", str(tmp_path))
    monkeypatch.setattr(module.os, "replace", lambda a, b: None)
    oracle = module._generate_clicks(params={"generate": True},
                                     dag_run=manual_run(pendulum.datetime(2026, 11, 26, 10, 1, 27, tz="UTC")))
    start_ms = int(pendulum.datetime(2026, 11, 26, 10, 0, tz="UTC").timestamp() * 1000)
    assert oracle == str(tmp_path / "clicks" / f"{start_ms}-{start_ms + 60_000}.json")
    assert commands[0][commands[0].index("--start") + 1] == "2026-11-26T10:00:00Z"
    assert commands[0][commands[0].index("--duration") + 1] == "PT60S"


def test_a_non_utc_logical_date_is_rendered_in_utc(dag):
    options = render_options(dag.get_task("aggregate_clicks"),
                             pendulum.datetime(2026, 11, 26, 11, 0, tz="Europe/Paris"))
    assert options["earlyTo"] == "2026-11-26T10:01:00Z"


def test_runner_and_flink_master_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CLICK_RUNNER", "FlinkRunner")
    monkeypatch.setenv("CLICK_FLINK_MASTER", "jobmanager:8081")
    monkeypatch.setenv("CLICK_PIPELINE_JAR", "/opt/click/click-pipeline.jar")
    monkeypatch.setenv("CLICK_CLICKHOUSE_USER", "clicks")
    monkeypatch.setenv("CLICKHOUSE_PASSWORD", "s3cret-not-for-logs")
    module = load_module("streaming_pipeline_flink")
    task = module.dag.get_task("aggregate_clicks")
    assert task.runner == "FlinkRunner"
    assert task.jar == "/opt/click/click-pipeline.jar"
    assert task.pipeline_options["flinkMaster"] == "jobmanager:8081"
    assert task.pipeline_options["checkpointingInterval"] == "10000"
    assert task.pipeline_options["parallelism"] == "2"
    # The pipeline is told where the password is, never what it is.
    assert task.pipeline_options["clickHouseUser"] == "clicks"
    assert task.pipeline_options["clickHousePasswordEnv"] == "CLICKHOUSE_PASSWORD"
    assert "s3cret-not-for-logs" not in repr(task.pipeline_options)


def test_a_kafka_properties_file_reaches_every_kafka_client_by_path_only(monkeypatch, tmp_path):
    secrets = tmp_path / "client.properties"
    secrets.write_text('security.protocol=SASL_SSL\nsasl.jaas.config=... password="s3cret-kafka";\n')
    monkeypatch.setenv("CLICK_KAFKA_PROPERTIES", str(secrets))
    module = load_module("streaming_pipeline_sasl")
    options = module.dag.get_task("aggregate_clicks").pipeline_options
    assert options["kafkaProperties"] == str(secrets)
    assert "s3cret-kafka" not in repr(options)
    commands = []
    monkeypatch.setattr(module, "_java", lambda main, args, heap: commands.append(args))
    module._ensure_schema()
    assert f"--kafkaProperties={secrets}" in commands[0]
    start = pendulum.datetime(2026, 11, 26, 10, 0, tz="UTC")
    monkeypatch.setattr(module, "ORACLE_DIR", str(tmp_path / "oracles"))
    monkeypatch.setattr(module.os, "replace", lambda a, b: None)
    module._generate_clicks(params={"generate": True}, dag_run=scheduled_run(start))
    generator_args = commands[1]
    assert generator_args[generator_args.index("--command-config") + 1] == str(secrets)

"""Airflow reads its configuration when first imported: point it at a throw-away home and at our DAG folder first."""
import os
import sys
import tempfile

DAGS = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "dags"))
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = DAGS
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
sys.path.insert(0, DAGS)

REPO = os.path.abspath(os.path.join(DAGS, "..", ".."))
CLICKHOUSE = os.environ.get("CLICK_CLICKHOUSE_HTTP", "http://127.0.0.1:8123/")
FLINK_MASTER = os.environ.get("CLICK_FLINK_MASTER", "127.0.0.1:8081")
GENERATOR_JAR = os.path.join(REPO, "generator", "target", "click-generator-bundled-0.1.0-SNAPSHOT.jar")
PIPELINE_JAR = os.path.join(REPO, "pipeline", "target", "click-pipeline-bundled-0.1.0-SNAPSHOT.jar")


# scripts/test.sh --full (CLICK_TEST_FULL=1): the runner matrix in full. The default run runs every test, but a test
# whose FlinkRunner variant repeats what the Compose walk-through runs on Flink runs once, on the DirectRunner, when a
# Docker daemon is there to run the walk-through.
FULL_MATRIX = os.environ.get("CLICK_TEST_FULL") == "1"


def skip_if_duplicated(runner, duplicated_by):
    """Outside the full matrix, skip a test's FlinkRunner variant, saying so, when `duplicated_by` (a test on Docker
    that runs the same on Flink) can run. Asks Docker only when such a variant is about to run."""
    import pytest
    from docker_probe import docker_answers

    if runner == "FlinkRunner" and not FULL_MATRIX and docker_answers():
        pytest.skip(f"SKIPPED outside the full matrix (scripts/test.sh --full): {duplicated_by} runs this on a Flink "
                    f"session cluster")


def require_stack(runner):
    """Fail (never skip) a test of the DAG against the local stack when the stack or the jars the DAG runs are not
    there, saying how to get them."""
    import urllib.request

    import pytest

    for jar in (GENERATOR_JAR, PIPELINE_JAR):
        if not os.path.exists(jar):
            pytest.fail(f"{jar} is missing: build it with mvn package first (scripts/test.sh does)")
    try:
        urllib.request.urlopen(CLICKHOUSE + "ping", timeout=5).read()
        if runner == "FlinkRunner":
            urllib.request.urlopen(f"http://{FLINK_MASTER}/overview", timeout=5).read()
    except OSError as e:
        pytest.fail(f"the local stack is not running ({e}): start it with services/local-stack.sh start")

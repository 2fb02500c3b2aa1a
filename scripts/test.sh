#!/usr/bin/env bash
# Every test: the Java unit tests (generator, parser, settings, schema, TestStream timing), the Java integration
# tests on the real local Kafka and ClickHouse (bounded and continuous end-to-end runs checked against the oracle),
# then the Airflow DAG's tests (structure, rendered options, and `airflow dags test` end to end on the same stack),
# the checks of docker-compose.yml and the Dockerfile (no Docker engine needed) and the dashboard's browser test
# (headless chromium).
# The Compose walk-through (runners/tests/test_compose_up.py) needs a Docker daemon (DOCKER_HOST); without one it is
# skipped, saying so.
# Starts the local stack if it is not running, and stops it again at the end if it started it. Creates the Airflow
# virtualenv (.venv-airflow) if it is missing.
#   scripts/test.sh          every test; where two runners would run the same scenario twice, once
#   scripts/test.sh --full   the runner matrix in full: also the integration tests on FlinkRunner [local] and the
#                            real-scheduler test on the local Flink cluster (about 10 minutes more)
#   scripts/test.sh --fast   the unit tier, no services started: the Java unit tests (mvn test) and the Python tests
#                            marked neither `services` nor `docker` (pytest.ini)
set -euo pipefail
if [[ "${1:-}" == --help || "${1:-}" == -h ]]; then sed -n '2,/^set -/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0; fi  # the header above, nothing run
full=0
fast=0
case "${1:-}" in
  --full) full=1 ;;
  --fast) fast=1 ;;
  "") ;;
  *) echo "usage: scripts/test.sh [--full|--fast]" >&2; exit 2 ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
stack="$repo/services/local-stack.sh"

if ((fast)); then
  start=$SECONDS
  "$repo/scripts/flink-runner.sh"
  mvn -B test
  venv="$("$repo/scripts/airflow-venv.sh")"
  "$venv/bin/python" -m pytest -q -rs -p no:cacheprovider -m "not services and not docker" \
    airflow/tests runners/tests dashboard/tests
  echo "test command: the unit tier passed in $((SECONDS - start)) s (every test: scripts/test.sh)"
  exit 0
fi

started=0
if ! "$stack" status >/dev/null 2>&1; then
  "$stack" start
  started=1
fi
stop_stack() { if ((started)); then "$stack" stop; fi; }
trap stop_stack EXIT
eval "$("$stack" env)"

start=$SECONDS
"$repo/scripts/flink-runner.sh"  # the pipeline's jar carries the FlinkRunner too
# Failsafe merges each run's results into the summary a previous run left in target/: a failure fixed since would
# still fail this run.
rm -rf "$repo"/pipeline/target/failsafe-reports
mvn -B verify -Dkafka.bootstrap="$CLICK_KAFKA_BOOTSTRAP" -Dclickhouse.http="$CLICK_CLICKHOUSE_HTTP" \
  -Dkafka.sasl.bootstrap="$CLICK_KAFKA_SASL_BOOTSTRAP" -Dkafka.sasl.properties="$CLICK_KAFKA_SASL_PROPERTIES" \
  -Dclickhouse.https="$CLICK_CLICKHOUSE_HTTPS" -Dclickhouse.ca="$CLICK_CLICKHOUSE_CA_FILE" \
  -Dit.skip.flink-local="$( ((full)) && echo false || echo true )"
maven_done=$SECONDS
echo "test command: Maven tests passed in $((maven_done - start)) s"

venv="$("$repo/scripts/airflow-venv.sh")"
venv_done=$SECONDS
echo "test command: Airflow virtualenv ready in $((venv_done - maven_done)) s"
# The stack's CLICK_* settings (from `local-stack.sh env` above) are the DAG's and the dashboard's own names.
CLICK_TEST_FULL="$full" "$venv/bin/python" -m pytest -v -s -rs --durations=12 -p no:cacheprovider \
  airflow/tests runners/tests dashboard/tests
((full)) || echo "test command: the full runner matrix adds FlinkRunner [local] and the real scheduler on the local" \
  "Flink cluster: scripts/test.sh --full"
echo "test command: Airflow and Compose tests passed in $((SECONDS - venv_done)) s; all tests in $((SECONDS - start)) s"

#!/usr/bin/env bash
# Airflow on this machine, with the streaming_pipeline DAG against the local Kafka and ClickHouse:
# builds the jars, starts the local stack, creates the Airflow virtualenv if needed, then runs `airflow standalone`
# (SQLite, API server + UI on 127.0.0.1:${AIRFLOW_PORT:-8080}) in the foreground until Ctrl-C.
#
# Login: user "admin". Its password is read from CLICK_AIRFLOW_PASSWORD, or else generated once, stored (mode 600)
# in .local-stack/airflow/passwords.json and printed once, when it is created.
# The DAG starts unpaused and runs every minute: each run generates that minute's clicks, counts them and verifies
# ClickHouse against the generator's oracle. CLICK_GENERATE=false turns generation off.
set -euo pipefail
if [[ "${1:-}" == --help || "${1:-}" == -h ]]; then sed -n '2,/^set -/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0; fi  # the header above, nothing run
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
STACK_DIR="${STACK_DIR:-$repo/.local-stack}"
export STACK_DIR

"$repo/scripts/flink-runner.sh"  # the jar carries the FlinkRunner too
mvn -B -q install -DskipTests
"$repo/services/local-stack.sh" start
eval "$("$repo/services/local-stack.sh" env)"  # exports the CLICK_* settings the DAG reads
venv="$("$repo/scripts/airflow-venv.sh")"

export AIRFLOW_HOME="$STACK_DIR/airflow"
mkdir -p "$AIRFLOW_HOME"
export AIRFLOW__CORE__DAGS_FOLDER="$repo/airflow/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="${AIRFLOW_PORT:-8080}"
# Tasks reach the API server's execution API through its base URL, which defaults to port 8080 whatever the port.
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$AIRFLOW__API__PORT"

passwords="$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
if [[ -n "${CLICK_AIRFLOW_PASSWORD:-}" ]]; then
  (umask 077; "$venv/bin/python" -c 'import json, os, sys; json.dump({"admin": os.environ["CLICK_AIRFLOW_PASSWORD"]}, open(sys.argv[1], "w"))' "$passwords")
  login="password from CLICK_AIRFLOW_PASSWORD"
elif [[ ! -s "$passwords" ]]; then
  password="$("$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(18))')"
  (umask 077; "$venv/bin/python" -c 'import json, sys; json.dump({"admin": sys.argv[2]}, open(sys.argv[1], "w"))' "$passwords" "$password")
  login="password $password (generated now, shown once; stored in $passwords)"
else
  login="password unchanged (stored in $passwords)"
fi

cat <<EOM

Airflow UI: http://127.0.0.1:$AIRFLOW__API__PORT   user: admin   $login
DAG streaming_pipeline runs every minute against Kafka $CLICK_KAFKA_BOOTSTRAP and ClickHouse $CLICK_CLICKHOUSE_HTTP.
Its counts, live: $CLICK_DASHBOARD_URL
Ctrl-C stops Airflow; services/local-stack.sh stop stops Kafka, ClickHouse, Flink and the dashboard.

EOM
export PATH="$venv/bin:$PATH"  # standalone starts its components as `airflow ...`
exec airflow standalone

#!/usr/bin/env bash
# Every test: the unit tests (generator, parser, settings, schema, TestStream timing) and the integration tests
# on the real local Kafka and ClickHouse (bounded and continuous end-to-end runs checked against the oracle).
# Starts the local stack if it is not running, and stops it again at the end if it started it.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
stack="$repo/services/local-stack.sh"

started=0
if ! "$stack" status >/dev/null 2>&1; then
  "$stack" start
  started=1
fi
stop_stack() { if ((started)); then "$stack" stop; fi; }
trap stop_stack EXIT
eval "$("$stack" env)"

start=$SECONDS
mvn -B verify -Dkafka.bootstrap="$KAFKA_BOOTSTRAP" -Dclickhouse.http="$CLICKHOUSE_HTTP/"
echo "test command: all Maven tests passed in $((SECONDS - start)) s"

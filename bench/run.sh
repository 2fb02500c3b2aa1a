#!/usr/bin/env bash
# The performance benchmark: builds the jars, starts the local stack (Kafka, ClickHouse, Flink), then
# runs bench/bench.py, which prints a table with PASS/FAIL per target and writes a JSON file.
#   bench/run.sh quick    # about 1 M events per input, 3 repetitions, 2 latency runs: about 5 minutes
#   bench/run.sh full     # 10 M events per input, 3 repetitions, 3 latency runs: about 15 minutes
#   bench/run.sh quick --runner flink   # the pipeline on the local Flink session cluster (or flink-local: [local])
# On a Flink runner it also runs the native Flink DataStream job of bench/flink-native on the same input (built here),
# and with BENCH_PREVIOUS_REF=<git ref> (default: the last commit with the hand-written Kafka readers) the bounded runs
# of that commit's pipeline beside this one's (BENCH_PREVIOUS_REF= leaves them out).
# More flags: bench/run.sh --help. Not part of the tests (scripts/test.sh): it measures, it does not check code.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
extra=()
if [[ "${1:-}" != "--help" && "${1:-}" != "-h" ]]; then
  if [[ -z "${BENCH_SKIP_BUILD:-}" ]]; then
    echo "[bench] building the generator and the pipeline (mvn install -DskipTests)" >&2
    "$repo/scripts/flink-runner.sh"  # the jar carries the FlinkRunner too
    mvn -B -q install -DskipTests
    echo "[bench] building the native Flink job (bench/flink-native)" >&2
    mvn -B -q -f bench/flink-native/pom.xml package
  fi
  extra+=(--native-jar "$repo/bench/flink-native/target/click-count-native-flink.jar")
  previous_ref="${BENCH_PREVIOUS_REF-dc5d6a1}"
  if [[ -n "$previous_ref" ]]; then
    previous="$repo/.local-stack/bench/previous-$previous_ref"
    jar="$previous/pipeline/target/click-pipeline-bundled-0.1.0-SNAPSHOT.jar"
    if [[ ! -f "$jar" ]]; then
      echo "[bench] building the pipeline of $previous_ref (the previous graph) in $previous" >&2
      rm -rf "$previous"
      mkdir -p "$previous"
      git -C "$repo" archive "$previous_ref" | tar -x -C "$previous"
      # Older builds had the FlinkRunner in a profile of its own; name both so that the jar carries both runners.
      mvn -B -q -f "$previous/pom.xml" package -DskipTests -P direct-runner,flink-runner
    fi
    extra+=(--previous-jar "$jar")
  fi
  services/local-stack.sh start >&2
  eval "$(services/local-stack.sh env)"  # exports CLICK_KAFKA_BOOTSTRAP, CLICK_CLICKHOUSE_HTTP, CLICK_FLINK_MASTER
fi
exec python3 bench/bench.py "$@" "${extra[@]}"

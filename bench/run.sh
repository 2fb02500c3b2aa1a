#!/usr/bin/env bash
# The performance benchmark (issue 6): builds the jars, starts the local Kafka and ClickHouse, then runs
# bench/bench.py, which prints a table with PASS/FAIL per target and writes a JSON file.
#   bench/run.sh quick    # about 1 M events per input, 3 repetitions, 2 latency runs: about 5 minutes
#   bench/run.sh full     # 10 M events per input, 3 repetitions, 3 latency runs: about 15 minutes
# More flags: bench/run.sh --help. Not part of the tests (scripts/test.sh): it measures, it does not check code.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
if [[ "${1:-}" != "--help" && "${1:-}" != "-h" && -z "${BENCH_SKIP_BUILD:-}" ]]; then
  echo "[bench] building the generator and the pipeline (mvn install -DskipTests)" >&2
  mvn -B -q install -DskipTests
fi
[[ "${1:-}" == "--help" || "${1:-}" == "-h" ]] || services/local-stack.sh start >&2
eval "$(services/local-stack.sh env)"
export KAFKA_BOOTSTRAP CLICKHOUSE_HTTP
exec python3 bench/bench.py "$@"

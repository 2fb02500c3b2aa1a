#!/usr/bin/env bash
# The main job, end to end on this machine, no Docker:
#   build → start the local Kafka + ClickHouse → generate clicks (Zipf popularity, 5% late, 1% malformed)
#   → run the Beam pipeline with `mvn exec` (DirectRunner by default, or FlinkRunner), bounded to the generated interval
#   → show the top products per window from ClickHouse, what reached Kafka, the live dashboard's address
#     (http://127.0.0.1:8090/), and whether the counts equal the generator's oracle.
# Settings (environment): DEMO_WINDOWS (5 one-minute windows), DEMO_RATE (1000 clicks per second of event time),
# DEMO_KAFKA=sasl_ssl to run every Kafka client (generator, pipeline, offset checks) through the broker's SASL_SSL
# listener with the stack's client properties file, as against a secured production Kafka.
# DEMO_RUNNER: direct (default), flink-local (the FlinkRunner's embedded [local] cluster, in the pipeline's JVM) or
# flink (the local stack's Flink session cluster: the job shows on http://127.0.0.1:8081).
set -euo pipefail
if [[ "${1:-}" == --help || "${1:-}" == -h ]]; then sed -n '2,/^set -/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0; fi  # the header above, nothing run

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
WINDOWS="${DEMO_WINDOWS:-5}"
RATE="${DEMO_RATE:-1000}"
RUNNER="${DEMO_RUNNER:-direct}"
STACK_DIR="${STACK_DIR:-$repo/.local-stack}"
export STACK_DIR
stack="$repo/services/local-stack.sh"
demo_dir="$STACK_DIR/demo"
mkdir -p "$demo_dir"

step() { printf '\n== %s\n' "$*" >&2; }

# Built only when a source or build file is newer than the jars (DEMO_BUILD=always forces it): shading the 220 MB
# pipeline jar alone takes about 30 s.
jars=("$repo/pipeline/target/click-pipeline-bundled-0.1.0-SNAPSHOT.jar"
      "$repo/generator/target/click-generator-bundled-0.1.0-SNAPSHOT.jar")
stale=0
for jar in "${jars[@]}"; do
  if [[ ! -f "$jar" ]] || [[ -n "$(find "$repo/pom.xml" "$repo/pipeline/pom.xml" "$repo/generator/pom.xml" \
      "$repo/pipeline/src/main" "$repo/generator/src/main" -newer "$jar" -print -quit)" ]]; then
    stale=1
  fi
done
if [[ "${DEMO_BUILD:-}" == always ]] || ((stale)); then
  step "Building (Maven, Java 17)"
  "$repo/scripts/flink-runner.sh"  # the jar carries the FlinkRunner too
  mvn -B -q install -DskipTests
else
  step "The jars are newer than every source: not rebuilding (DEMO_BUILD=always to rebuild)"
fi

step "Starting the local Kafka, ClickHouse, Flink and the dashboard"
"$stack" start
eval "$("$stack" env)"
echo "Watch the counts arrive on the live dashboard: $CLICK_DASHBOARD_URL"
case "$RUNNER" in
  direct) runner_args=(); runner_name=DirectRunner ;;
  flink-local) runner_args=(--runner=FlinkRunner '--flinkMaster=[local]'); runner_name="FlinkRunner, [local]" ;;
  # A session cluster gets the job jar (the default would upload every jar of Maven's classpath).
  flink) runner_args=(--runner=FlinkRunner "--flinkMaster=$CLICK_FLINK_MASTER"
                      "--filesToStage=$repo/pipeline/target/click-pipeline-job-0.1.0-SNAPSHOT.jar")
         runner_name="FlinkRunner, session cluster $CLICK_FLINK_REST" ;;
  *) echo "DEMO_RUNNER must be direct, flink-local or flink, not '$RUNNER'" >&2; exit 2 ;;
esac
kafka_config=()  # Kafka's tools: --command-config FILE
if [[ "${DEMO_KAFKA:-plaintext}" == sasl_ssl ]]; then
  CLICK_KAFKA_BOOTSTRAP="$CLICK_KAFKA_SASL_BOOTSTRAP"
  kafka_config=(--command-config "$CLICK_KAFKA_SASL_PROPERTIES")
fi

# Each demo run takes the minutes after the previous run's, so that the topic never holds two runs' clicks for
# the same window (the oracle would not know about the first ones).
now_min=$(( $(date +%s) / 60 ))
from_min=$(( now_min - WINDOWS ))
if [[ -f "$demo_dir/last-to-minute" ]] && (( $(cat "$demo_dir/last-to-minute") > from_min )); then
  from_min=$(cat "$demo_dir/last-to-minute")
fi
to_min=$(( from_min + WINDOWS ))
(( to_min <= now_min + 50 )) || { echo "too many demo runs in the last hour: wait, or delete $STACK_DIR" >&2; exit 1; }
from="$(date -u -d "@$(( from_min * 60 ))" +%Y-%m-%dT%H:%M:%SZ)"
to="$(date -u -d "@$(( to_min * 60 ))" +%Y-%m-%dT%H:%M:%SZ)"

offsets() { # offsets <topic>: the sum of the topic's end offsets (0 if it does not exist yet)
  { "$stack" kafka-tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$CLICK_KAFKA_BOOTSTRAP" \
    ${kafka_config[@]+"${kafka_config[@]}"} --topic "$1" 2>/dev/null || true; } | awk -F: '{ s += $3 } END { print s + 0 }'
}
aggregates_before=$(offsets aggregation_clicks)
dead_before=$(offsets clicks_dlq)

step "Generating $WINDOWS minutes of clicks at $RATE/s of event time, [$from, $to)"
mvn -B -q -pl generator exec:exec -Dgenerator.args="--bootstrap-servers $CLICK_KAFKA_BOOTSTRAP ${kafka_config[*]-} --start $from \
  --duration PT${WINDOWS}M --rate $RATE --popularity zipf:1.1 --late-fraction 0.05 --late-delay PT90S \
  --malformed-fraction 0.01 --expected $demo_dir/expected.json"
echo "$to_min" > "$demo_dir/last-to-minute"

step "Running the pipeline ($runner_name, bounded to [$from, $to))"
mvn -B -q -pl pipeline exec:exec \
  -Dpipeline.args="--bootstrapServers=$CLICK_KAFKA_BOOTSTRAP ${kafka_config[1]+--kafkaProperties=${kafka_config[1]}} \
'--clickHouseUrl=$CLICK_CLICKHOUSE_JDBC_URL' --from=$from --to=$to ${runner_args[*]+${runner_args[*]@Q}}"

step "Top 3 products per window in ClickHouse (analytics.product_clicks FINAL)"
from_ms=$(( from_min * 60000 )); to_ms=$(( to_min * 60000 ))
clickhouse-client --port "$CLICK_CLICKHOUSE_TCP_PORT" --format PrettyCompactMonoBlock --query "
  SELECT toDateTime(intDiv(timestamp, 1000)) AS window_start, product_id, count
  FROM analytics.product_clicks FINAL
  WHERE timestamp >= $from_ms AND timestamp < $to_ms
  ORDER BY window_start, count DESC, product_id
  LIMIT 3 BY window_start"

step "Kafka"
echo "aggregates written to aggregation_clicks: $(( $(offsets aggregation_clicks) - aggregates_before ))"
echo "records dead-lettered to clicks_dlq:     $(( $(offsets clicks_dlq) - dead_before ))"

step "The live dashboard"
echo "$CLICK_DASHBOARD_URL?windows=$WINDOWS shows these $WINDOWS windows (charts, the newest window's table, dead letters, lag)"

step "Checking ClickHouse against the generator's oracle ($demo_dir/expected.json)"
python3 "$repo/airflow/dags/click_checks.py" "$demo_dir/expected.json" --clickhouse "$CLICK_CLICKHOUSE_HTTP"

#!/usr/bin/env bash
# The local stack the demo and the integration tests run against, without Docker:
#   - a real Apache Kafka broker (KRaft, broker + controller in one JVM) from Maven Central's jars, with a plain
#     listener and a SASL_SSL one (SASL/PLAIN over TLS; its certificate made with the JDK's keytool at first start);
#   - a real ClickHouse server (Debian's clickhouse-server, installed if missing);
#   - a Flink 1.19.3 session cluster (a JobManager with REST API and web UI, and a TaskManager with 2 slots) from
#     Maven Central's jars, set up like docker-compose.yml's Flink services; checkpoints and savepoints in its folder;
#   - the live dashboard of the counts (dashboard/, built with Maven if its jar is missing or older than its sources)
#     on http://127.0.0.1:8090/.
# All listen on 127.0.0.1 only. All their data lives in one folder ($STACK_DIR) that can be deleted.
#
# Usage: services/local-stack.sh start|stop [kafka|clickhouse|flink|taskmanager|taskmanager2|dashboard] | status | env
#        | kafka-tool CLASS [ARGS...]
#   start       starts what is not running (starting twice is harmless) and waits until it answers
#   stop        stops them (SIGTERM, then SIGKILL after 20 s); the fault tests stop and start one at a time
#               (`stop taskmanager` stops only Flink's TaskManager; `start flink` brings back what is missing;
#               `start taskmanager2` adds a second TaskManager of 2 slots, `stop taskmanager2` takes it away)
#   status      says what runs, exit 0 only if all answer
#   env         prints the stack's addresses as `export CLICK_...=` lines, the names the DAG, the dashboard, the demo and
#               the tests all read: `eval "$(services/local-stack.sh env)"` points each of them at this stack
#   kafka-tool  runs one of Kafka's command-line tools from the broker's jars, e.g.
#               kafka-tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server 127.0.0.1:9092 --topic clicks
#
# Settings (environment): STACK_DIR (default <repo>/.local-stack), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
# KAFKA_SASL_PORT (9094),
# CLICKHOUSE_HTTP_PORT (8123), CLICKHOUSE_TCP_PORT (9000), KAFKA_HEAP (1g), KAFKA_PARTITIONS (2),
# FLINK_REST_PORT (8081; REST API and web UI), FLINK_RPC_PORT (6123; and the next three: blob server, TaskManager RPC
# and data), FLINK_JM_HEAP (512m), FLINK_TM_TASK_HEAP (1024m; the TaskManager's heap is 128m more),
# DASHBOARD_PORT (8090).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
STACK_DIR="${STACK_DIR:-$repo/.local-stack}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-9094}"
CLICKHOUSE_HTTP_PORT="${CLICKHOUSE_HTTP_PORT:-8123}"
CLICKHOUSE_TCP_PORT="${CLICKHOUSE_TCP_PORT:-9000}"
CLICKHOUSE_HTTPS_PORT="${CLICKHOUSE_HTTPS_PORT:-8443}"
KAFKA_HEAP="${KAFKA_HEAP:-1g}"
KAFKA_PARTITIONS="${KAFKA_PARTITIONS:-2}"
FLINK_REST_PORT="${FLINK_REST_PORT:-8081}"
FLINK_RPC_PORT="${FLINK_RPC_PORT:-6123}"
FLINK_JM_HEAP="${FLINK_JM_HEAP:-512m}"
FLINK_TM_TASK_HEAP="${FLINK_TM_TASK_HEAP:-1024m}"
DASHBOARD_PORT="${DASHBOARD_PORT:-8090}"

kafka_dir="$STACK_DIR/kafka"
ch_dir="$STACK_DIR/clickhouse"
flink_dir="$STACK_DIR/flink"
dashboard_dir="$STACK_DIR/dashboard"

log() { echo "[local-stack] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A killed process whose parent has not reaped it yet (a zombie) still answers kill -0: it counts as gone.
pid_running() { local state; state="$(ps -o stat= -p "$1" 2>/dev/null)" && [[ -n "$state" && "$state" != Z* ]]; }
pid_alive() { [[ -f "$1" ]] && pid_running "$(cat "$1")"; }

wait_for() { # wait_for <what> <seconds> <command...>
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.3
  done
  log "$what is up"
}

# The classpath of services/NAME/pom.xml's jars, resolved with Maven once into DIR/classpath.txt.
maven_classpath() { # NAME DIR WHAT
  local pom="$here/$1/pom.xml" cp_file="$2/classpath.txt"
  if [[ ! -s "$cp_file" || "$pom" -nt "$cp_file" ]]; then
    log "resolving $3 with Maven (once)"
    mkdir -p "$2"
    mvn -q -B -f "$pom" dependency:build-classpath -Dmdep.outputFile="$cp_file" >&2 \
      || die "could not resolve $3 (services/$1/pom.xml)"
  fi
  cat "$cp_file"
}

kafka_classpath() { maven_classpath kafka "$kafka_dir" "the Kafka broker's jars"; }

# The SASL_SSL listener's secrets, made once and kept (mode 600) in $kafka_dir/tls: a self-signed certificate for
# 127.0.0.1 (keytool), the keystore's password, and the password of the user "clicks". Clients get
# $kafka_dir/tls/client.properties, a Kafka properties file (--kafkaProperties, --command-config) holding them.
ensure_kafka_tls() {
  local tls="$kafka_dir/tls"
  [[ -s "$tls/client.properties" && -s "$tls/broker.p12" ]] && return
  command -v keytool >/dev/null || die "keytool (the JDK's) is missing: install a JDK"
  mkdir -p "$tls"
  chmod 700 "$tls"
  local store_password user_password
  store_password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
  user_password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
  rm -f "$tls"/*.p12 "$tls"/*.pem
  keytool -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 3650 -dname "CN=127.0.0.1" \
    -ext "SAN=ip:127.0.0.1,dns:localhost" -keystore "$tls/broker.p12" -storetype PKCS12 \
    -storepass "$store_password" -keypass "$store_password" >/dev/null 2>&1 || die "keytool could not make a key pair"
  keytool -exportcert -alias broker -keystore "$tls/broker.p12" -storepass "$store_password" -rfc \
    -file "$tls/broker.pem" >/dev/null 2>&1 || die "keytool could not export the certificate"
  keytool -importcert -noprompt -alias broker -file "$tls/broker.pem" -keystore "$tls/truststore.p12" \
    -storetype PKCS12 -storepass "$store_password" >/dev/null 2>&1 || die "keytool could not make the truststore"
  (umask 077
   printf '%s\n' "$store_password" > "$tls/store.password"
   printf '%s\n' "$user_password" > "$tls/clicks.password"
   cat > "$tls/client.properties" <<EOF
# Kafka client settings for the local broker's SASL_SSL listener (127.0.0.1:$KAFKA_SASL_PORT). Holds secrets.
security.protocol=SASL_SSL
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="clicks" password="$user_password";
ssl.truststore.location=$tls/truststore.p12
ssl.truststore.type=PKCS12
ssl.truststore.password=$store_password
EOF
  )
  log "made the SASL_SSL listener's certificate and passwords in $tls"
}

start_kafka() {
  if pid_alive "$kafka_dir/kafka.pid" && port_open "$KAFKA_PORT"; then
    log "Kafka already runs on 127.0.0.1:$KAFKA_PORT"
    return
  fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process; set KAFKA_PORT"
  port_open "$KAFKA_SASL_PORT" && die "port $KAFKA_SASL_PORT is taken by another process; set KAFKA_SASL_PORT"
  local cp; cp="$(kafka_classpath)"
  mkdir -p "$kafka_dir/data" "$kafka_dir/logs"
  ensure_kafka_tls
  local tls="$kafka_dir/tls" store_password user_password
  store_password="$(cat "$tls/store.password")"; user_password="$(cat "$tls/clicks.password")"
  (umask 077; cat > "$kafka_dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_clicks="$user_password";
ssl.keystore.location=$tls/broker.p12
ssl.keystore.type=PKCS12
ssl.keystore.password=$store_password
ssl.key.password=$store_password
inter.broker.listener.name=PLAINTEXT
log.dirs=$kafka_dir/data
num.partitions=$KAFKA_PARTITIONS
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=168
EOF
  )
  if [[ ! -f "$kafka_dir/data/meta.properties" ]]; then
    local id; id="$(java -cp "$cp" kafka.tools.StorageTool random-uuid)"
    java -cp "$cp" -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -Dkafka.logs.dir="$kafka_dir/logs" \
      kafka.tools.StorageTool format -t "$id" -c "$kafka_dir/server.properties" --standalone >/dev/null \
      || die "could not format the Kafka log directory $kafka_dir/data"
  fi
  log "starting Kafka on 127.0.0.1:$KAFKA_PORT (logs: $kafka_dir/logs)"
  nohup java "-Xmx$KAFKA_HEAP" -Xms256m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -Dkafka.logs.dir="$kafka_dir/logs" \
    -cp "$cp" kafka.Kafka "$kafka_dir/server.properties" > "$kafka_dir/logs/stdout.log" 2>&1 &
  echo $! > "$kafka_dir/kafka.pid"
  wait_for "Kafka" 60 port_open "$KAFKA_PORT" || { tail -20 "$kafka_dir/logs/"*.log >&2; die "Kafka did not start"; }
}

ensure_clickhouse_installed() {
  command -v clickhouse-server >/dev/null && return
  log "installing Debian's clickhouse-server and clickhouse-client"
  [[ $(id -u) == 0 ]] || die "clickhouse-server is missing; install it: sudo apt-get install clickhouse-server clickhouse-client"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q clickhouse-server clickhouse-client >&2 \
    || die "apt-get could not install clickhouse-server"
}

clickhouse_ping() { [[ "$(curl -s -m 2 "http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/ping" 2>/dev/null)" == "Ok." ]]; }

start_clickhouse() {
  if pid_alive "$ch_dir/clickhouse.pid" && clickhouse_ping; then
    log "ClickHouse already runs on 127.0.0.1:$CLICKHOUSE_HTTP_PORT"
    return
  fi
  port_open "$CLICKHOUSE_HTTP_PORT" && die "port $CLICKHOUSE_HTTP_PORT is taken by another process; set CLICKHOUSE_HTTP_PORT"
  ensure_clickhouse_installed
  mkdir -p "$ch_dir"/{data,tmp,user_files,format_schemas,log}
  if [[ ! -s "$ch_dir/tls/server.crt" ]]; then
    mkdir -p "$ch_dir/tls"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=127.0.0.1" \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$ch_dir/tls/server.key" \
      -out "$ch_dir/tls/server.crt" >/dev/null 2>&1 || die "openssl could not make ClickHouse's certificate"
    chmod 600 "$ch_dir/tls/server.key"
  fi
  sed -e "s#@DATA_DIR@#$ch_dir#g" -e "s#@HTTP_PORT@#$CLICKHOUSE_HTTP_PORT#g" -e "s#@TCP_PORT@#$CLICKHOUSE_TCP_PORT#g" \
    -e "s#@HTTPS_PORT@#$CLICKHOUSE_HTTPS_PORT#g" \
    "$here/clickhouse/config.xml.template" > "$ch_dir/config.xml"
  cp "$here/clickhouse/users.xml" "$ch_dir/users.xml"
  rm -rf "$ch_dir/users.d" && cp -r "$here/clickhouse/users.d" "$ch_dir/users.d"
  log "starting ClickHouse on 127.0.0.1:$CLICKHOUSE_HTTP_PORT (logs: $ch_dir/log)"
  # The dashboard's read-only user has no password here: like 'default', only this machine can reach the server.
  CLICKHOUSE_DASHBOARD_PASSWORD="" nohup clickhouse-server --config-file="$ch_dir/config.xml" \
    > "$ch_dir/log/stdout.log" 2>&1 &
  echo $! > "$ch_dir/clickhouse.pid"
  wait_for "ClickHouse" 60 clickhouse_ping || { tail -20 "$ch_dir/log/"*.log >&2; die "ClickHouse did not start"; }
}

flink_classpath() { maven_classpath flink "$flink_dir" "Flink's jars"; }

mebibytes() { # 512m / 1g / 1024 -> MiB
  local v="${1,,}"
  case "$v" in
    *g) echo $(( ${v%g} * 1024 )) ;;
    *m) echo "${v%m}" ;;
    *) echo "$v" ;;
  esac
}

flink_overview() { curl -s -m 2 "http://127.0.0.1:$FLINK_REST_PORT/overview" 2>/dev/null; }
flink_jobmanager_up() { [[ "$(flink_overview)" == *'"slots-total"'* ]]; }
flink_slots_up() { [[ "$(flink_overview)" =~ \"slots-total\":([0-9]+) ]] && (( BASH_REMATCH[1] >= 2 )); }
# The TaskManager this script started has registered (a killed one's slots stay listed until its heartbeat times out).
flink_taskmanager_registered() { # [name: taskmanager (default) or taskmanager2]
  local name="${1:-taskmanager}"
  [[ -s "$flink_dir/$name.id" ]] \
    && curl -s -m 2 "http://127.0.0.1:$FLINK_REST_PORT/taskmanagers" 2>/dev/null | grep -q "\"$(cat "$flink_dir/$name.id")\""
}

# JVM flags every Flink process gets: its own log file (shown by the web UI) and Flink's Java 17 module openings.
flink_jvm() { # flink_jvm <log name>
  local opens=(--add-exports=java.base/sun.net.util=ALL-UNNAMED --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
    --add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED
    --add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.nio=ALL-UNNAMED
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens=java.base/java.text=ALL-UNNAMED --add-opens=java.base/java.time=ALL-UNNAMED
    --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
    --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED)
  echo "${opens[*]} -Djava.awt.headless=true -Dlog.file=$flink_dir/log/$1.log \
-Dlog4j.configurationFile=file:$here/flink/log4j2.properties -Dlog4j2.configurationFile=file:$here/flink/log4j2.properties"
}

write_flink_conf() {
  local task_heap; task_heap="$(mebibytes "$FLINK_TM_TASK_HEAP")"
  mkdir -p "$flink_dir"/{conf,log,tmp,checkpoints,savepoints}
  sed -e "s#@FLINK_DIR@#$flink_dir#g" -e "s#@REST_PORT@#$FLINK_REST_PORT#g" -e "s#@RPC_PORT@#$FLINK_RPC_PORT#g" \
    -e "s#@BLOB_PORT@#$((FLINK_RPC_PORT + 1))#g" -e "s#@TM_RPC_PORT@#$((FLINK_RPC_PORT + 2))#g" \
    -e "s#@TM_DATA_PORT@#$((FLINK_RPC_PORT + 3))#g" -e "s#@JM_HEAP@#$(mebibytes "$FLINK_JM_HEAP")m#g" \
    -e "s#@TM_TASK_HEAP@#${task_heap}m#g" -e "s#@TM_HEAP@#$((task_heap + 128))m#g" \
    "$here/flink/flink-conf.yaml.template" > "$flink_dir/conf/flink-conf.yaml"
}

start_flink() {
  local cp; cp="$(flink_classpath)"
  write_flink_conf
  if pid_alive "$flink_dir/jobmanager.pid" && flink_jobmanager_up; then
    log "Flink's JobManager already runs on 127.0.0.1:$FLINK_REST_PORT"
  else
    port_open "$FLINK_REST_PORT" && die "port $FLINK_REST_PORT is taken by another process; set FLINK_REST_PORT"
    log "starting Flink's JobManager, REST API and web UI on http://127.0.0.1:$FLINK_REST_PORT (logs: $flink_dir/log)"
    # shellcheck disable=SC2046
    nohup java "-Xmx$FLINK_JM_HEAP" "-Xms$FLINK_JM_HEAP" -XX:MaxMetaspaceSize=256m -XX:MaxDirectMemorySize=128m \
      $(flink_jvm jobmanager) -cp "$cp" org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint \
      --configDir "$flink_dir/conf" > "$flink_dir/log/jobmanager.out" 2>&1 &
    echo $! > "$flink_dir/jobmanager.pid"
    wait_for "Flink's JobManager" 60 flink_jobmanager_up \
      || { tail -20 "$flink_dir/log/jobmanager".* >&2; die "Flink's JobManager did not start"; }
  fi
  start_taskmanager taskmanager
}

# start_taskmanager <taskmanager|taskmanager2>: the second TaskManager (for tests that rescale a job onto four slots)
# takes the two ports after the first one's.
start_taskmanager() {
  local name="$1" cp; cp="$(flink_classpath)"
  local ports=() label="Flink's TaskManager"
  if [[ "$name" == taskmanager2 ]]; then
    pid_alive "$flink_dir/jobmanager.pid" && flink_jobmanager_up || die "start flink first: taskmanager2 joins its JobManager"
    ports=(-D "taskmanager.rpc.port=$((FLINK_RPC_PORT + 4))" -D "taskmanager.data.port=$((FLINK_RPC_PORT + 5))"
      -D "taskmanager.log.path=$flink_dir/log/$name.log")
    label="Flink's second TaskManager"
  fi
  if pid_alive "$flink_dir/$name.pid"; then
    log "$label already runs"
  else
    local heap=$(( $(mebibytes "$FLINK_TM_TASK_HEAP") + 128 )) id="local-$name-$(date +%s%N)"
    [[ "$name" == taskmanager ]] && id="local-tm-$(date +%s%N)"
    log "starting $label $id (2 slots, heap ${heap}m)"
    echo "$id" > "$flink_dir/$name.id"
    # shellcheck disable=SC2046
    nohup java "-Xmx${heap}m" "-Xms${heap}m" -XX:MaxMetaspaceSize=768m -XX:MaxDirectMemorySize=320m \
      $(flink_jvm "$name") -cp "$cp" org.apache.flink.runtime.taskexecutor.TaskManagerRunner \
      --configDir "$flink_dir/conf" -D "taskmanager.resource-id=$id" "${ports[@]}" >> "$flink_dir/log/$name.out" 2>&1 &
    echo $! > "$flink_dir/$name.pid"
  fi
  wait_for "$label with 2 slots" 90 flink_taskmanager_registered "$name" \
    || { tail -20 "$flink_dir/log/$name".* >&2; die "$label did not register its slots"; }
}

dashboard_up() { [[ "$(curl -s -m 2 "http://127.0.0.1:$DASHBOARD_PORT/healthz" 2>/dev/null)" == ok ]]; }

start_dashboard() {
  if pid_alive "$dashboard_dir/dashboard.pid" && dashboard_up; then
    log "the dashboard already runs on http://127.0.0.1:$DASHBOARD_PORT/"
    return
  fi
  port_open "$DASHBOARD_PORT" && die "port $DASHBOARD_PORT is taken by another process; set DASHBOARD_PORT"
  local jar="$repo/dashboard/target/click-dashboard-bundled-0.1.0-SNAPSHOT.jar"
  if [[ ! -f "$jar" || -n "$(find "$repo/dashboard/pom.xml" "$repo/dashboard/src/main" -newer "$jar" -print -quit)" ]]; then
    log "building the dashboard (mvn -pl dashboard package)"
    (cd "$repo" && mvn -B -q -pl dashboard package -DskipTests) >&2 || die "the dashboard did not build"
  fi
  mkdir -p "$dashboard_dir"
  # A copy: a later `mvn package` rewrites the jar under target/, which a running JVM must not see change.
  cp "$jar" "$dashboard_dir/click-dashboard.jar"
  log "starting the dashboard on http://127.0.0.1:$DASHBOARD_PORT/ (log: $dashboard_dir/dashboard.log)"
  eval "$(print_env)"
  nohup java -Xmx128m -jar "$dashboard_dir/click-dashboard.jar" "--port=$DASHBOARD_PORT" --bind=127.0.0.1 \
    > "$dashboard_dir/dashboard.log" 2>&1 &
  echo $! > "$dashboard_dir/dashboard.pid"
  wait_for "the dashboard" 60 dashboard_up || { tail -20 "$dashboard_dir/dashboard.log" >&2; die "the dashboard did not start"; }
}

stop_one() { # stop_one <name> <pid file>
  local name="$1" pidfile="$2"
  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile"
    return
  fi
  local pid; pid="$(cat "$pidfile")"
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while pid_running "$pid"; do
    if ((SECONDS >= deadline)); then
      log "$name did not stop in 20 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
}

print_env() {
  # The names the DAG (airflow/dags/streaming_pipeline.py), the dashboard, the demo and the tests read. Quoted, so
  # that `eval "$(local-stack.sh env)"` takes the JDBC URL's '&' literally.
  cat <<EOF
export CLICK_KAFKA_BOOTSTRAP='127.0.0.1:$KAFKA_PORT'
export CLICK_KAFKA_SASL_BOOTSTRAP='127.0.0.1:$KAFKA_SASL_PORT'
export CLICK_KAFKA_SASL_PROPERTIES='$kafka_dir/tls/client.properties'
export CLICK_CLICKHOUSE_HTTP='http://127.0.0.1:$CLICKHOUSE_HTTP_PORT/'
export CLICK_CLICKHOUSE_JDBC_URL='jdbc:clickhouse://127.0.0.1:$CLICKHOUSE_HTTP_PORT/analytics?server_version=22.8.1&server_time_zone=UTC&custom_http_params=database%3Danalytics'
export CLICK_CLICKHOUSE_TCP_PORT='$CLICKHOUSE_TCP_PORT'
export CLICK_CLICKHOUSE_HTTPS='https://127.0.0.1:$CLICKHOUSE_HTTPS_PORT/'
export CLICK_CLICKHOUSE_CA_FILE='$ch_dir/tls/server.crt'
export CLICK_FLINK_MASTER='127.0.0.1:$FLINK_REST_PORT'
export CLICK_FLINK_REST='http://127.0.0.1:$FLINK_REST_PORT'
export CLICK_FLINK_SAVEPOINTS='$flink_dir/savepoints'
export CLICK_ORACLE_DIR='$STACK_DIR/oracles'
export CLICK_DASHBOARD_URL='http://127.0.0.1:$DASHBOARD_PORT/'
EOF
}

case "${1:-}" in
  start)
    case "${2:-all}" in
      all) start_kafka; start_clickhouse; start_flink; start_dashboard ;;
      kafka) start_kafka ;;
      clickhouse) start_clickhouse ;;
      flink) start_flink ;;
      taskmanager2) start_taskmanager taskmanager2 ;;
      dashboard) start_dashboard ;;
      *) die "start takes kafka, clickhouse, flink, taskmanager2 or dashboard, not ${2}" ;;
    esac
    ;;
  stop)
    case "${2:-all}" in
      all) stop_one "the dashboard" "$dashboard_dir/dashboard.pid"
           stop_one "Flink's second TaskManager" "$flink_dir/taskmanager2.pid"
           stop_one "Flink's TaskManager" "$flink_dir/taskmanager.pid"
           stop_one "Flink's JobManager" "$flink_dir/jobmanager.pid"
           stop_one Kafka "$kafka_dir/kafka.pid"; stop_one ClickHouse "$ch_dir/clickhouse.pid" ;;
      kafka) stop_one Kafka "$kafka_dir/kafka.pid" ;;
      clickhouse) stop_one ClickHouse "$ch_dir/clickhouse.pid" ;;
      flink) stop_one "Flink's second TaskManager" "$flink_dir/taskmanager2.pid"
             stop_one "Flink's TaskManager" "$flink_dir/taskmanager.pid"
             stop_one "Flink's JobManager" "$flink_dir/jobmanager.pid" ;;
      taskmanager) stop_one "Flink's TaskManager" "$flink_dir/taskmanager.pid" ;;
      taskmanager2) stop_one "Flink's second TaskManager" "$flink_dir/taskmanager2.pid" ;;
      dashboard) stop_one "the dashboard" "$dashboard_dir/dashboard.pid" ;;
      *) die "stop takes kafka, clickhouse, flink, taskmanager, taskmanager2 or dashboard, not ${2}" ;;
    esac
    ;;
  status)
    ok=0
    if port_open "$KAFKA_PORT"; then log "Kafka: up on 127.0.0.1:$KAFKA_PORT"; else log "Kafka: down"; ok=1; fi
    if clickhouse_ping; then log "ClickHouse: up on 127.0.0.1:$CLICKHOUSE_HTTP_PORT"; else log "ClickHouse: down"; ok=1; fi
    if flink_slots_up; then
      log "Flink: up, REST API and web UI on http://127.0.0.1:$FLINK_REST_PORT, $(flink_overview | grep -o '"slots-total":[0-9]*' | cut -d: -f2) slots"
    elif flink_jobmanager_up; then log "Flink: JobManager up on 127.0.0.1:$FLINK_REST_PORT, no TaskManager"; ok=1
    else log "Flink: down"; ok=1; fi
    if dashboard_up; then log "dashboard: up on http://127.0.0.1:$DASHBOARD_PORT/"; else log "dashboard: down"; ok=1; fi
    exit $ok
    ;;
  env)
    print_env
    ;;
  kafka-tool)
    shift
    [[ $# -ge 1 ]] || die "kafka-tool needs a class name"
    cp="$(kafka_classpath)"
    exec java -Xmx512m -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" -Dkafka.logs.dir="$kafka_dir/logs" \
      -cp "$cp" "$@"
    ;;
  *)
    echo "usage: $0 start|stop [kafka|clickhouse|flink|taskmanager|taskmanager2|dashboard]|status|env|kafka-tool CLASS [ARGS...]" >&2
    exit 2
    ;;
esac

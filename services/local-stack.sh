#!/usr/bin/env bash
# The local stack the demo and the integration tests run against, without Docker:
#   - a real Apache Kafka broker (KRaft, broker + controller in one JVM) from Maven Central's jars, with a plain
#     listener and a SASL_SSL one (SASL/PLAIN over TLS; its certificate made with the JDK's keytool at first start);
#   - a real ClickHouse server (Debian's clickhouse-server, installed if missing).
# Both listen on 127.0.0.1 only. All their data lives in one folder ($STACK_DIR) that can be deleted.
#
# Usage: services/local-stack.sh start|stop [kafka|clickhouse] | status | env | kafka-tool CLASS [ARGS...]
#   start       starts what is not running (starting twice is harmless) and waits until it answers
#   stop        stops them (SIGTERM, then SIGKILL after 20 s); the fault tests stop and start one at a time
#   status      says what runs, exit 0 only if both answer
#   env         prints the settings the demo and the tests read (KAFKA_BOOTSTRAP, CLICKHOUSE_HTTP, ...)
#   kafka-tool  runs one of Kafka's command-line tools from the broker's jars, e.g.
#               kafka-tool org.apache.kafka.tools.GetOffsetShell --bootstrap-server 127.0.0.1:9092 --topic clicks
#
# Settings (environment): STACK_DIR (default <repo>/.local-stack), KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
# KAFKA_SASL_PORT (9094),
# CLICKHOUSE_HTTP_PORT (8123), CLICKHOUSE_TCP_PORT (9000), KAFKA_HEAP (1g), KAFKA_PARTITIONS (2).
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

kafka_dir="$STACK_DIR/kafka"
ch_dir="$STACK_DIR/clickhouse"

log() { echo "[local-stack] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() { # wait_for <what> <seconds> <command...>
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.3
  done
  log "$what is up"
}

kafka_classpath() {
  local cp_file="$kafka_dir/classpath.txt"
  if [[ ! -s "$cp_file" || "$here/kafka/pom.xml" -nt "$cp_file" ]]; then
    log "resolving the Kafka broker's jars with Maven (once)"
    mkdir -p "$kafka_dir"
    mvn -q -B -f "$here/kafka/pom.xml" dependency:build-classpath -Dmdep.outputFile="$cp_file" >&2 \
      || die "could not resolve the Kafka broker's jars (services/kafka/pom.xml)"
  fi
  cat "$cp_file"
}

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
  log "starting ClickHouse on 127.0.0.1:$CLICKHOUSE_HTTP_PORT (logs: $ch_dir/log)"
  nohup clickhouse-server --config-file="$ch_dir/config.xml" > "$ch_dir/log/stdout.log" 2>&1 &
  echo $! > "$ch_dir/clickhouse.pid"
  wait_for "ClickHouse" 60 clickhouse_ping || { tail -20 "$ch_dir/log/"*.log >&2; die "ClickHouse did not start"; }
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
  while kill -0 "$pid" 2>/dev/null; do
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
  # Quoted, so that `eval "$(local-stack.sh env)"` takes the JDBC URL's '&' literally.
  cat <<EOF
KAFKA_BOOTSTRAP='127.0.0.1:$KAFKA_PORT'
KAFKA_SASL_BOOTSTRAP='127.0.0.1:$KAFKA_SASL_PORT'
KAFKA_SASL_PROPERTIES='$kafka_dir/tls/client.properties'
CLICKHOUSE_HTTP='http://127.0.0.1:$CLICKHOUSE_HTTP_PORT'
CLICKHOUSE_TCP_PORT='$CLICKHOUSE_TCP_PORT'
CLICKHOUSE_HTTPS='https://127.0.0.1:$CLICKHOUSE_HTTPS_PORT'
CLICKHOUSE_CA_FILE='$ch_dir/tls/server.crt'
CLICKHOUSE_JDBC_URL='jdbc:clickhouse://127.0.0.1:$CLICKHOUSE_HTTP_PORT/analytics?server_version=22.8.1&server_time_zone=UTC&custom_http_params=database%3Danalytics'
EOF
}

case "${1:-}" in
  start)
    case "${2:-all}" in
      all) start_kafka; start_clickhouse ;;
      kafka) start_kafka ;;
      clickhouse) start_clickhouse ;;
      *) die "start takes kafka or clickhouse, not ${2}" ;;
    esac
    ;;
  stop)
    case "${2:-all}" in
      all) stop_one Kafka "$kafka_dir/kafka.pid"; stop_one ClickHouse "$ch_dir/clickhouse.pid" ;;
      kafka) stop_one Kafka "$kafka_dir/kafka.pid" ;;
      clickhouse) stop_one ClickHouse "$ch_dir/clickhouse.pid" ;;
      *) die "stop takes kafka or clickhouse, not ${2}" ;;
    esac
    ;;
  status)
    ok=0
    if port_open "$KAFKA_PORT"; then log "Kafka: up on 127.0.0.1:$KAFKA_PORT"; else log "Kafka: down"; ok=1; fi
    if clickhouse_ping; then log "ClickHouse: up on 127.0.0.1:$CLICKHOUSE_HTTP_PORT"; else log "ClickHouse: down"; ok=1; fi
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
    echo "usage: $0 start|stop|status|env|kafka-tool CLASS [ARGS...]" >&2
    exit 2
    ;;
esac

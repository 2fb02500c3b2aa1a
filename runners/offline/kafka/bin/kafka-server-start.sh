#!/usr/bin/env bash
# The stand-in's kafka-server-start.sh: the broker with the server.properties given, 1 GB of heap unless
# KAFKA_HEAP_OPTS says otherwise (as the distribution's script), logging by /opt/kafka/config/log4j2.yaml.
set -euo pipefail
[[ $# -ge 1 ]] || { echo "USAGE: $0 server.properties [--override property=value]*" >&2; exit 1; }
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}"
export KAFKA_LOG4J_OPTS="${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml}"
exec /opt/kafka/bin/kafka-run-class.sh kafka.Kafka "$@"

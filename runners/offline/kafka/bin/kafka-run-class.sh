#!/usr/bin/env bash
# The stand-in's kafka-run-class.sh: runs a class of Kafka's jars (in /opt/kafka/libs) with the environment variables
# the distribution's script reads: KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_LOG4J_OPTS, KAFKA_OPTS.
set -euo pipefail
# shellcheck disable=SC2086  # the *_OPTS variables hold several JVM flags each
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} ${KAFKA_JVM_PERFORMANCE_OPTS:--XX:+UseG1GC -Djava.awt.headless=true} \
  ${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.yaml} ${KAFKA_OPTS:-} \
  -cp "/opt/kafka/libs/*" "$@"

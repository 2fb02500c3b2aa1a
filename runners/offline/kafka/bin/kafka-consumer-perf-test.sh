#!/usr/bin/env bash
# The stand-in for the distribution's kafka-consumer-perf-test.sh.
exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.ConsumerPerformance "$@"

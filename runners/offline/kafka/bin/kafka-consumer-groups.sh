#!/usr/bin/env bash
# The stand-in for the distribution's kafka-consumer-groups.sh.
exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@"

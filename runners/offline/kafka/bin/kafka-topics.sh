#!/usr/bin/env bash
# The stand-in for the distribution's kafka-topics.sh.
exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.TopicCommand "$@"

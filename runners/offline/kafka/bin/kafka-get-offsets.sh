#!/usr/bin/env bash
# The stand-in for the distribution's kafka-get-offsets.sh.
exec /opt/kafka/bin/kafka-run-class.sh org.apache.kafka.tools.GetOffsetShell "$@"

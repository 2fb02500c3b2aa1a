#!/usr/bin/env bash
# The stand-in for the distribution's kafka-configs.sh.
exec /opt/kafka/bin/kafka-run-class.sh kafka.admin.ConfigCommand "$@"
